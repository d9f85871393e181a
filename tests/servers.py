"""`gwen serve` subprocesses for tests: started on a free 127.0.0.1 port, waited for, stopped.

Imports nothing heavy (the light-install test uses it too).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "service-test-token-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(home: Path, token_file: Path, *extra: str, python: str = sys.executable, timeout: float = 90,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen, str]:
    """``python -m gwen --home HOME serve --port P --token-file F EXTRA...``; returns (process, url) once
    ``/api/health`` answers."""
    port = free_port()
    environ = {**os.environ, "HF_HUB_OFFLINE": "1", "GWEN_HOME": str(home), **(env or {})}
    environ.pop("GWEN_TOKEN", None)
    log = open(token_file.parent / f"serve-{port}.log", "w")  # noqa: SIM115  (read back if it fails to start)
    proc = subprocess.Popen([python, "-m", "gwen", "--home", str(home), "serve", "--port", str(port),
                             "--token-file", str(token_file), *extra], cwd=ROOT, env=environ,
                            stdout=log, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
        if proc.poll() is not None:
            break
    stop(proc)
    raise RuntimeError(f"gwen serve did not start:\n{Path(log.name).read_text()[-4000:]}")


def stop(proc: subprocess.Popen, wait: float = 20) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:  # uvicorn waits for a request still rendering: do not wait for it
        proc.kill()
        proc.wait(timeout=20)


def served_home(root: Path, sd_model: Path) -> tuple[Path, Path]:
    """A home with the tiny SD model and the tiny upscaler in its models folder, and a token file beside it."""
    from gwen.upscale import build_tiny_esrgan

    home = root / "home"
    shutil.copytree(sd_model, home / "models" / "tiny-sd")
    build_tiny_esrgan(home / "models" / "tiny-esrgan-x4.pth")
    token_file = root / "token"
    token_file.write_text(TOKEN)
    return home, token_file
