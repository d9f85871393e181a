"""Keeping the catalog file open between operations, and handing it over within milliseconds when asked.

Contract:
- DuckDB lets one process at a time open the catalog file. A ``Catalog`` keeps it open after an operation for
  up to ``linger`` seconds (``GWEN_CATALOG_LINGER``, default 5; 0 closes it after every operation), so a process
  that works in bursts (a grid, a queue run, a dashboard rerun) pays DuckDB's open and close (~40 ms) once per
  burst instead of once per operation.
- A process that finds the file locked asks for it (``ask(path)``: it touches ``<catalog>.want``) and keeps
  retrying. The holder's ``Lingering`` watches that file from a daemon thread that lives only while the file is
  held (one ``stat`` every ``POLL`` seconds) and has it closed as soon as no operation is running: the asker
  gets the file within about ``POLL`` plus one checkpoint.
- Holding risks nothing committed: a DuckDB transaction is durable (its write-ahead log) when it commits;
  closing only checkpoints.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

POLL = 0.02
DEFAULT_LINGER = 5.0


def linger_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("GWEN_CATALOG_LINGER", DEFAULT_LINGER)))
    except ValueError:
        return DEFAULT_LINGER


def want_path(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".want")


def ask(catalog: Path) -> None:
    """Tell whoever holds ``catalog`` that this process wants it (best effort: a read-only folder just waits)."""
    try:
        want = want_path(catalog)
        want.touch()
        os.utime(want)
    except OSError:
        pass


class Lingering:
    """Watches a held catalog: ``release()`` is called once it lingered ``linger`` seconds unused, or once
    another process asked for it after this one opened it. ``release`` returns False while an operation runs
    (the watcher tries again at the next poll) and True once the file is closed (the watcher ends)."""

    def __init__(self, catalog: Path, linger: float, release: Callable[[], bool]):
        self.want = want_path(catalog)
        self.linger = linger
        self.release = release
        self.opened_at = 0.0
        self.last_used = 0.0
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def opened(self) -> None:
        self.opened_at = time.time()
        self.last_used = time.monotonic()

    def used(self) -> None:
        """An operation ended: the file is held from now on, and watched."""
        self.last_used = time.monotonic()
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="gwen-catalog-linger", daemon=True)
                self._thread.start()

    def asked(self) -> bool:
        try:
            return self.want.stat().st_mtime >= self.opened_at
        except OSError:
            return False

    def _watch(self) -> None:
        while True:
            time.sleep(POLL)
            if time.monotonic() - self.last_used < self.linger and not self.asked():
                continue
            with self._guard:  # decided under the guard, so a file opened again gets a watcher of its own
                if self.release():  # never blocks on the catalog's lock (it skips while an operation runs)
                    self._thread = None
                    return
