"""Image rows written behind: the file is on disk and the call has returned; the row commits a moment later.

Contract:
- A ``Catalog`` that holds its file between operations (``gwen.catalog_hold``) may take new image rows as
  *pending* (``Catalog.insert_later``): their files are already written (atomically, fsynced), each record is
  appended to this process's log (``<catalog>.pending/<pid>-<start>.jsonl``, one JSON line, no fsync: a killed
  process leaves it in the page cache) and kept in memory. The append is the last step of the call.
- Pending rows commit together, in one transaction, before any other operation of this process on the same
  catalog file (every ``session()`` starts with them, whichever ``Catalog`` object opens it), before the file is
  handed to another process or closed, and at the latest ``FLUSH_AFTER`` seconds after the oldest was added (a
  daemon thread). So every reader, in this process or another, sees every row that a returned call made.
- A process that dies with rows pending leaves its log behind. Whoever opens the catalog next adopts the logs of
  dead processes (a live one holds an ``flock`` on its own log): it inserts the rows that are missing, then
  deletes the log. Nothing a call returned is lost to a kill -9; after a power cut, the fsynced PNGs are still
  there and ``reindex`` adopts them. A process that exits normally commits its rows on the way out.
- One registry per catalog file per process (a forked child starts its own). Rows the catalog refuses (not a full
  disk: that keeps them pending, and the file is not handed over until they commit) are dropped with a warning,
  their PNGs kept for ``reindex``; an orphan log whose rows are refused is set aside as ``.bad``.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Callable

from gwen.records import ImageRecord

FLUSH_AFTER = 1.0  # seconds a row may stay pending while nothing else touches the catalog


def folder_of(catalog: Path) -> Path:
    return catalog.with_name(catalog.name + ".pending")


class PendingRows:
    """This process's pending rows of one catalog file: in memory and in a log a crash leaves behind."""

    def __init__(self, catalog: Path):
        self.folder = folder_of(catalog)
        self.lock = threading.RLock()  # held while rows are taken *and* committed: readers wait for the commit
        self._records: list[ImageRecord] = []
        self._oldest = 0.0
        self._log = None
        self._flusher: threading.Thread | None = None
        self._flush: Callable[[], None] | None = None

    def __bool__(self) -> bool:
        return bool(self._records)

    def add(self, records: list[ImageRecord], flush: Callable[[], None]) -> None:
        """Log ``records`` and keep them; ``flush()`` (a catalog's) commits them later. OSError (a full disk)
        leaves nothing pending."""
        lines = "".join(json.dumps(r.to_dict(), ensure_ascii=False, default=str) + "\n" for r in records)
        with self.lock:
            log = self._open_log()
            end = log.tell()
            try:
                data = memoryview(lines.encode("utf-8"))
                while data:  # unbuffered: each write reaches the page cache, which survives the process
                    data = data[log.write(data):]
            except OSError:  # a full disk: no torn line stays behind to spoil the next one
                _truncate(log, end)
                raise
            if not self._records:
                self._oldest = time.monotonic()
            self._records.extend(records)
            self._flush = flush
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_when_due, name="gwen-pending-rows", daemon=True)
                self._flusher.start()

    def take(self) -> list[ImageRecord]:
        """The pending records (call under ``lock``, then ``committed()`` once they are in the catalog)."""
        return list(self._records)

    def committed(self, count: int) -> None:
        """The first ``count`` pending records are committed; the log is emptied once none are left."""
        with self.lock:
            del self._records[:count]
            if not self._records and self._log is not None:
                self._log.seek(0)
                self._log.truncate()
            elif self._records:
                self._oldest = time.monotonic()

    def _open_log(self):
        if self._log is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = f"{os.getpid()}-{time.time_ns()}"
            log = open(self.folder / f"{name}.new", "w+b", buffering=0)
            fcntl.flock(log.fileno(), fcntl.LOCK_EX)  # held for this process's life: "I am alive"
            os.replace(self.folder / f"{name}.new", self.folder / f"{name}.jsonl")  # visible once locked
            self._log = log
        return self._log

    def _flush_when_due(self) -> None:
        while True:
            with self.lock:
                if not self._records:
                    self._flusher = None
                    return
                wait = self._oldest + FLUSH_AFTER - time.monotonic()
                flush = self._flush
            if wait > 0:
                time.sleep(wait)
                continue
            try:
                flush()
            except Exception:  # a full disk, a busy file: the rows stay pending and logged; try again later
                time.sleep(FLUSH_AFTER)


def _truncate(log, size: int) -> None:
    try:
        log.truncate(size)
        log.seek(size)
    except OSError:
        pass


_registry: dict[tuple[int, str], PendingRows] = {}
_registry_lock = threading.Lock()


def _after_fork_in_child() -> None:
    """A forked child starts with no pending rows; its copies of the parent's logs are closed, so the parent's
    flock ends with the parent (whose rows the next opener then adopts)."""
    global _registry_lock
    _registry_lock = threading.Lock()
    for pending in _registry.values():
        if pending._log is not None:
            try:
                pending._log.close()
            except OSError:
                pass
    _registry.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def pending_for(catalog: Path) -> PendingRows:
    """The registry of ``catalog`` in this process, shared by every ``Catalog`` object on that file."""
    key = (os.getpid(), str(Path(catalog).resolve()))
    with _registry_lock:
        found = _registry.get(key)
        if found is None:
            if not _registry:
                atexit.register(flush_all)
            found = _registry[key] = PendingRows(Path(catalog))
        return found


def flush_all() -> None:
    """Commit every pending row of this process (at exit: a CLI call leaves none behind when it ends normally)."""
    for (pid, _), pending in list(_registry.items()):
        if pid == os.getpid() and pending and pending._flush is not None:
            try:
                pending._flush()
            except Exception:  # the log stays behind; the next process to open the catalog adopts it
                pass


def orphans(catalog: Path) -> list[tuple[Path, list[ImageRecord], object]]:
    """The logs left by dead processes: (path, its records, its locked handle: pass it to ``forget``)."""
    folder = folder_of(catalog)
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    found = []
    for entry in entries:
        if not entry.name.endswith(".jsonl"):
            continue
        try:
            handle = open(entry.path, "r+b")
        except OSError:
            continue
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # its process is alive (this one included)
            handle.close()
            continue
        records = []
        for raw in handle.read().splitlines():
            try:
                records.append(ImageRecord.from_dict(json.loads(raw.decode("utf-8"))))
            except (ValueError, KeyError, TypeError, UnicodeDecodeError):
                continue  # a line torn by the crash: its file is still there for reindex
        found.append((Path(entry.path), records, handle))
    return found


def forget(path: Path, handle) -> None:
    """An orphan log whose rows are committed: deleted, then unlocked."""
    path.unlink(missing_ok=True)
    handle.close()
