"""Group commit for the queue runner: finished jobs are committed together, and the next jobs claimed with them.

Contract:
- A job the runner finished (rendered, its files written atomically) waits in the group, still
  "running", until the group commits: its rows, its "done" state and its follow-ups go in one transaction with
  the other finished jobs' and with the claim of the next jobs (``JobStore.finish_and_claim``, one journal
  append). Only then is it counted done. A kill -9 before that leaves it "running": the next runner gives it back
  and renders it again into the same files, so nothing that was reported done is lost.
- A finished job's files are written without their fsyncs; the group fsyncs them on a thread of its own while the
  next job renders (the wait is the disk's, not the CPU's), and waits for that before it commits.
- A finished job waits at most ``WINDOW`` (2) seconds (less when the next job would end later than that, as the
  last jobs' pace predicts; a job of another kind is not predicted: the group commits before it starts), and at
  most ``MAX_GROUP`` wait together. Claims are sized so that the claimed jobs end within about one window
  (one job at a time until the first has been timed; at least as many as there are free workers).
- The jobs claimed ahead wait in ``waiting`` ("running" in the catalog). A cancel requested for one of them is
  seen before it starts (``refresh_cancels``, or the next commit); a stopped runner gives them back
  (``wind_down``).
- A commit that fails (a full disk, a busy catalog) undoes the group's new files and gives its jobs back, then
  raises: nothing of the group stays half written; so does any failure to make its files durable. A row or state
  DuckDB refuses (``duckdb.Error``) commits the group's jobs one by one instead, and the job that fails alone is
  failed (its files undone) while the others are done.
- ``cancel_signal(jobs)`` is the mtime of ``queue.cancel`` beside the catalog, which every cancel request
  touches: the runner asks the catalog about cancels (of a job claimed ahead, or running) only when it changed,
  and otherwise once a second of rendering.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb

from gwen import files
from gwen.errors import GwenError
from gwen.records import JobRecord

WINDOW = 2.0  # seconds a finished job may wait for its group
MAX_GROUP = 16


def cancel_signal(jobs) -> int:
    """When a cancel was last requested on this home (``JobStore.signal_cancel``), in ns; 0 if never."""
    try:
        return Path(jobs.cancel_signal_path).stat().st_mtime_ns
    except (OSError, AttributeError):
        return 0


class Group:
    def __init__(self, jobs, summary, home, count: bool = False):
        self.jobs = jobs
        self.count = count  # keep ``pending`` (the jobs left in the queue) up to date
        self.summary = summary
        self.home = home
        self.finished: list[tuple] = []
        self.waiting: deque[JobRecord] = deque()
        self.cancel: set[str] = set()
        self.pending = 0
        self._oldest = 0.0
        self._last_finish: float | None = None
        self.interval: float | None = None  # seconds between two finished jobs, lately
        self.drained = False  # the last claim found fewer pending jobs than it asked for
        self._signal = cancel_signal(jobs)
        self._syncs: list = []  # the fsyncs of the finished jobs' files, running beside the next render
        self._syncer: ThreadPoolExecutor | None = None

    def refresh_cancels(self) -> None:
        """Ask the catalog which waiting jobs have a cancel request, if one was signalled since last asked."""
        seen = cancel_signal(self.jobs)
        if seen != self._signal and self.waiting:
            self._signal = seen
            self.cancel |= self.jobs.cancel_requested_among([j.id for j in self.waiting])

    def add(self, entry: tuple | None) -> None:
        now = time.monotonic()
        if self._last_finish is not None:
            gap = now - self._last_finish
            self.interval = gap if self.interval is None else 0.5 * (self.interval + gap)
        self._last_finish = now
        if entry is None:
            return
        if not self.finished:
            self._oldest = now
        self.finished.append(entry)
        if self._syncer is None:
            self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gwen-fsync")
        self._syncs.append(self._syncer.submit(files.make_durable, self._paths([entry])))

    def _paths(self, entries: list[tuple]) -> list[Path]:
        out = []
        for _, fresh, _, _ in entries:
            for record in fresh:
                path = self.home / record.path
                if record.params.get("edit"):
                    out.append(files.mask_path(path))
                out.append(path)
        return out

    def claim_size(self, free: int, limit: int | None) -> int:
        size = free if self.interval is None else max(free, min(MAX_GROUP, int(WINDOW / max(self.interval, 1e-3))))
        return size if limit is None else max(0, min(size, limit))

    def due(self, next_job: JobRecord | None = None) -> bool:
        """Commit now? Yes when the oldest finished job would wait past the window for ``next_job`` to end, or
        when ``next_job`` is of another kind than the finished ones (its pace is unknown)."""
        if not self.finished:
            return False
        if next_job is not None and next_job.kind != self.finished[-1][0].kind:
            return True
        if len(self.finished) >= MAX_GROUP or self.interval is None:
            return True
        return time.monotonic() - self._oldest + self.interval > WINDOW

    def wait_seconds(self) -> float | None:
        """How long the runner may wait for its running jobs before this group is due (None: no job waits). A
        stop reaches a running job at its next step (its future then ends); the runner polls only while it has a
        free worker (new jobs), so a render on 2 cores is not woken for nothing."""
        if not self.finished:
            return None
        return max(0.0, self._oldest + WINDOW - time.monotonic())

    def commit(self, claim: int = 0) -> None:
        if not self.finished and claim <= 0:
            return
        entries, self.finished = self.finished, []
        syncs, self._syncs = self._syncs, []
        watch = [j.id for j in self.waiting]
        try:
            for sync in syncs:  # every file of the group is durable before a row refers to it
                sync.result()
        except BaseException:
            for sync in syncs:
                sync.exception()  # every fsync has ended before the files go
            self._undo(entries)
            raise
        try:
            claimed, pending, cancel = self.jobs.finish_and_claim(entries, claim, watch, count=self.count)
        except GwenError:
            self._undo(entries)
            raise
        except duckdb.Error:  # a row or state the catalog refuses: find the job it belongs to, fail it alone
            self._one_by_one(entries)
            entries = []
            claimed, pending, cancel = self.jobs.finish_and_claim([], claim, watch, count=self.count)
        if claim > 0:
            self.drained = len(claimed) < claim
        for _ in entries:
            self.summary.count("done")
        self.pending = self.pending if pending is None else pending
        self.waiting.extend(claimed)
        self.cancel |= cancel
        if claimed:
            self._last_finish = time.monotonic()  # the next interval starts now, not before the commit

    def _one_by_one(self, entries: list[tuple]) -> None:
        for k, entry in enumerate(entries):
            try:
                self.jobs.finish_and_claim([entry])
                self.summary.count("done")
            except GwenError:
                self._undo(entries[k:])
                raise
            except duckdb.Error as exc:
                self._undo([entry], give_back=False)
                self.jobs.set_status(entry[0].id, "failed", f"{type(exc).__name__}: {exc}"[:2000])
                self.summary.count("failed")

    def _undo(self, entries: list[tuple], give_back: bool = True) -> None:
        for job, fresh, _, _ in entries:
            for record in fresh:
                path = self.home / record.path
                path.unlink(missing_ok=True)
                files.mask_path(path).unlink(missing_ok=True)
            if give_back:
                self._give_back(job.id)

    def _give_back(self, job_id: str) -> None:
        try:
            self.jobs.give_back(job_id)
        except GwenError:  # not even that fits: it stays "running", and the next runner recovers it
            pass

    def wind_down(self) -> None:
        """The runner ends: commit what finished (after a failure, best effort), give back what waits."""
        try:
            self.commit()
        except GwenError:
            pass
        while self.waiting:
            self._give_back(self.waiting.popleft().id)
        if self._syncer is not None:
            self._syncer.shutdown(wait=True)
