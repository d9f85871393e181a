"""The catalog file itself: DuckDB opened on demand (and migrated), shared between processes in turns.

Contract:
- DuckDB lets one process at a time open the file. ``session()`` (re-entrant) opens it if needed, retrying for
  up to ``lock_timeout`` seconds (``GWEN_LOCK_TIMEOUT``, default 30) while another process has it and asking
  that process for it (``gwen.catalog_hold``); only if it stays locked that long does it raise ``CatalogBusy``
  naming the holder's pid. Within one process, access is serialized by a lock.
- After the outermost session the file stays open for ``GWEN_CATALOG_LINGER`` seconds (default 5; 0: closed at
  once) and is closed as soon as another process asks; ``GWEN_CATALOG_HOLD=1`` keeps it until ``close()``.
- A file opened for the first time, or found missing (deleted since), gets its tables (``gwen.migrations``).
- A full disk at open or close is ``DiskFull`` naming the folder.
- At exit (``atexit``, in the main thread) every file this process holds is closed, its pending rows committed
  first, and a session that ends after that closes at once: a lingering file left to its daemon watcher could be
  closing, inside DuckDB, when Python finalizes, and a thread stopped there aborts the process (exit code 134)
  after work that succeeded.
"""

from __future__ import annotations

import atexit
import os
import re
import threading
import time
import weakref
from contextlib import contextmanager
from pathlib import Path

import duckdb

from gwen.catalog_hold import Lingering, ask, linger_seconds
from gwen.errors import CatalogBusy, disk_full
from gwen.migrations import migrate

EXIT_WAIT = 10.0  # seconds the exit waits for an operation of another thread to end before it leaves its file

_opened: weakref.WeakSet = weakref.WeakSet()  # every CatalogFile of this process that has opened its file
_exiting = threading.Event()


class CatalogFile:
    """The catalog file: opened (and migrated) on demand, kept open while it lingers, handed over when asked."""

    def __init__(self, path: Path, lock_timeout: float | None = None, hold: bool | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock_timeout = float(os.environ.get("GWEN_LOCK_TIMEOUT", 30)) if lock_timeout is None else lock_timeout
        self.hold = os.environ.get("GWEN_CATALOG_HOLD") == "1" if hold is None else hold
        self._lock = threading.RLock()
        self._con = None
        self._depth = 0
        self._migrated = False
        self._lingering = Lingering(self.path, linger_seconds(), self._release_if_idle)
        self._retry_release_at = 0.0

    @contextmanager
    def session(self, settle: bool = True):
        """Hold the file open for a block of operations (re-entrant); closed when the outermost block ends. The
        outermost block first ``_settle``s the file (a ``Catalog`` commits its pending rows), unless ``settle``
        is False."""
        with self._lock:
            opened = self._con is None
            if opened:
                self._con = self._open()
            self._depth += 1
            try:
                if self._depth == 1:
                    self._settle(opened, settle)
                yield self._con
            finally:
                self._depth -= 1
                if self._depth == 0 and not self.hold:
                    if self._lingering.linger > 0 and self._con is not None and not _exiting.is_set():
                        self._lingering.used()  # kept open; handed over when asked (gwen.catalog_hold)
                    else:
                        self._close_now()

    def _settle(self, opened: bool, settle: bool) -> None:
        """Run at the start of every outermost session (``opened``: the file was just opened)."""

    def _before_close(self) -> None:
        """Run before the file is closed (handed over, lingered out, or ``close()``); the lock is held."""

    def _close_now(self) -> None:
        if self._con is None:
            return
        failure = None
        try:
            self._before_close()
        except Exception as exc:  # closed all the same (what it could not do waits for the next session)
            failure = exc
        con, self._con = self._con, None
        try:
            con.close()  # a checkpoint: it writes
        except duckdb.Error as exc:
            full = disk_full(exc, self.path.parent)
            if full is None:
                raise
            raise full from None
        if failure is not None:
            raise failure

    def _release_if_idle(self) -> bool:
        """Close the lingering file unless an operation runs (then False); never waits for the lock."""
        if time.monotonic() < self._retry_release_at or not self._lock.acquire(blocking=False):
            return False
        try:
            if self._depth:
                return False
            if self._con is None:
                return True
            try:
                self._before_close()
            except Exception:  # rows that could not be committed: keep the file, try again in a second
                self._retry_release_at = time.monotonic() + 1.0
                return False
            try:
                self._close_now()
            except Exception:  # a full disk at checkpoint: the next operation reports it; the file is closed
                pass
            return True
        finally:
            self._lock.release()

    @property
    def con(self):
        """The open connection; only valid inside ``session()``."""
        if self._con is None:
            raise RuntimeError("Catalog.con used outside a session()")
        return self._con

    def _open(self):
        deadline = time.monotonic() + self.lock_timeout
        delay = 0.01
        if not self.path.exists():  # new, or deleted since (reindex rebuilds it): it needs its tables again
            self._migrated = False
        while True:
            try:
                con = duckdb.connect(str(self.path))
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise disk_full(exc, self.path.parent) or exc
                ask(self.path)  # the holder hands it over between its operations
                if time.monotonic() >= deadline:
                    raise CatalogBusy(f"catalog {self.path} stayed locked by another process for "
                                      f"{self.lock_timeout:g} s (DuckDB allows one process at a time); "
                                      f"{_holder(str(exc))}try again, or raise GWEN_LOCK_TIMEOUT") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        if not self._migrated:
            try:
                migrate(con)
            except duckdb.Error as exc:
                con.close()
                raise disk_full(exc, self.path.parent) or exc
            self._migrated = True
        self._lingering.opened()
        _opened.add(self)
        return con

    def close(self, wait: float = -1) -> None:
        """Close the file if it is held (lingering, or ``hold``) and no operation runs; ``wait``: the most seconds
        to wait for another thread's operation (-1: as long as it takes)."""
        if not self._lock.acquire(timeout=wait):
            return
        try:
            if self._con is not None and self._depth == 0:
                self._close_now()
        finally:
            self._lock.release()


def _close_all_at_exit() -> None:
    """Registered at import, so it runs after ``gwen.pending_rows``' own exit flush (atexit runs last first)."""
    _exiting.set()
    for file in list(_opened):
        try:
            file.close(wait=EXIT_WAIT)
        except Exception:  # a full disk at checkpoint: committed work is in DuckDB's log all the same
            pass


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_opened.clear)  # a forked child never closes (checkpoints) its parent's files


def _holder(message: str) -> str:
    match = re.search(r"PID (\d+)", message)
    return f"it is held by process {match.group(1)}; " if match else ""
