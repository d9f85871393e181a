"""Shared fixtures: the tiny models (built once per session by GWEN's own builder) and a fresh GWEN_HOME per test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach the Hub
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """``python -m gwen models make-tiny DIR`` output, built through the project's own code."""
    from gwen.tiny_models import build_tiny_sd

    root = tmp_path_factory.mktemp("models")
    return {"dir": root, "sd": build_tiny_sd(root / "tiny-sd")}


@pytest.fixture(scope="session")
def tiny_sd(tiny_models) -> str:
    return str(tiny_models["sd"])


@pytest.fixture(scope="session")
def shared_engine(tmp_path_factory):
    from gwen.engine import Engine

    return Engine(tmp_path_factory.mktemp("engine-models"), device="cpu")


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home"
    monkeypatch.setenv("GWEN_HOME", str(path))
    for var in ("GWEN_MODEL", "GWEN_DEVICE", "GWEN_DTYPE", "GWEN_MAX_BATCH"):
        monkeypatch.delenv(var, raising=False)
    return path


@pytest.fixture
def studio(home, shared_engine):
    from gwen.studio import Studio

    s = Studio(home, engine=shared_engine)
    yield s
    s.close()


@pytest.fixture
def grid(studio, tiny_sd):
    """A cataloged grid of 4 tiny images with seeds 100..103."""
    return studio.generate("a lighthouse at dusk", model=tiny_sd, n=4, seed=100, steps=3, guidance=5.0,
                           width=64, height=64, scheduler="Euler a")


def run_cli(*args: str, home: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -m gwen --home HOME ARGS`` as a real subprocess."""
    env = {**os.environ, "GWEN_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "gwen", "--home", str(home), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def nothing_written(home: Path) -> bool:
    """No image file and no catalog row under ``home``."""
    pngs = list((home / "images").glob("**/*.png")) if (home / "images").exists() else []
    if pngs:
        return False
    db = home / "gwen.duckdb"
    if not db.exists():
        return True
    import duckdb

    con = duckdb.connect(str(db))  # not read-only: a studio of this process may hold the file (lingering)
    try:
        return con.execute("SELECT count(*) FROM images").fetchone()[0] == 0
    finally:
        con.close()
