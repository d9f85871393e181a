"""A small tmpfs to fill, for the disk-full tests: ``with small_tmpfs(folder) as mount: ...``.

Mounting needs the right to mount (root in CI, where it is always there). Where it is missing the test is
skipped with the reason; in CI (``CI`` set) that is a failure instead, so the disk-full behaviour is never
silently untested there.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def small_tmpfs(mount: Path, size: str = "8m"):
    mount.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        reason = f"a disk-full run needs to mount a tmpfs, which is not permitted here: {done.stderr.strip()}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)
