"""Group commit for the queue runner: finished jobs are committed together, and the next jobs claimed with them.

Contract:
- A job the runner finished (rendered, its files written atomically and fsynced) waits in the group, still
  "running", until the group commits: its rows, its "done" state and its follow-ups go in one transaction with
  the other finished jobs' and with the claim of the next jobs (``JobStore.finish_and_claim``, one journal
  append). Only then is it counted done. A kill -9 before that leaves it "running": the next runner gives it back
  and renders it again into the same files, so nothing that was reported done is lost.
- A finished job waits at most ``WINDOW`` seconds (less when the next job would end later than that), and at
  most ``MAX_GROUP`` wait together. Claims are sized so that the claimed jobs end within about one window
  (one job at a time until the first has been timed; at least as many as there are free workers).
- The jobs claimed ahead wait in ``waiting`` ("running" in the catalog). A cancel requested for one of them is
  seen at the next commit (``cancel``); a stopped runner gives them back (``wind_down``).
- A commit that fails (a full disk, a busy catalog) undoes the group's new files and gives its jobs back, then
  raises: nothing of the group stays half written.
"""

from __future__ import annotations

import time
from collections import deque

from gwen import files
from gwen.errors import GwenError
from gwen.records import JobRecord

WINDOW = 1.0  # seconds a finished job may wait for its group
MAX_GROUP = 16


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

    def claim_size(self, free: int, limit: int | None) -> int:
        size = free if self.interval is None else max(free, min(MAX_GROUP, int(WINDOW / max(self.interval, 1e-3))))
        return size if limit is None else max(0, min(size, limit))

    def due(self) -> bool:
        if not self.finished:
            return False
        if len(self.finished) >= MAX_GROUP or self.interval is None:
            return True
        return time.monotonic() - self._oldest + self.interval > WINDOW

    def wait_seconds(self, poll: float) -> float:
        if not self.finished:
            return poll
        return min(poll, max(0.0, self._oldest + WINDOW - time.monotonic()))

    def commit(self, claim: int = 0) -> None:
        if not self.finished and claim <= 0:
            return
        entries, self.finished = self.finished, []
        try:
            claimed, pending, cancel = self.jobs.finish_and_claim(entries, claim, [j.id for j in self.waiting],
                                                                   count=self.count)
        except GwenError:
            self._undo(entries)
            raise
        for _ in entries:
            self.summary.count("done")
        self.pending = self.pending if pending is None else pending
        self.waiting.extend(claimed)
        self.cancel |= cancel
        if claimed:
            self._last_finish = time.monotonic()  # the next interval starts now, not before the commit

    def _undo(self, entries: list[tuple]) -> None:
        for job, fresh, _, _ in entries:
            for record in fresh:
                path = self.home / record.path
                path.unlink(missing_ok=True)
                files.mask_path(path).unlink(missing_ok=True)
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
