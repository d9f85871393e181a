"""Provenance of an image: which software made it, and where.

Contract:
- ``versions()``: the versions of gwen, diffusers, torch and transformers, looked up once per process (14 ms
  each time otherwise) and recorded on every image.
- ``worker(replica=None)``: the name of what renders here: ``host:pid`` for a local studio, ``host:replica`` for a
  render replica of a pool. Every record carries it (the ``worker`` field), so an image says where it was made.
"""

from __future__ import annotations

import functools
import os
import socket


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    import importlib.metadata as md

    out = {}
    for pkg in ("gwen", "diffusers", "torch", "transformers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "unknown"
    if out["gwen"] == "unknown":
        from gwen import __version__
        out["gwen"] = __version__
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Versions of gwen, diffusers, torch and transformers."""
    return dict(_versions())


def worker(replica: str | None = None) -> str:
    return f"{socket.gethostname()}:{replica or os.getpid()}"
