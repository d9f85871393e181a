"""The queue of a remote ``gwen serve``: its runner driven from here, its progress streamed back.

Contract:
- ``RemoteQueueRunner`` has the local ``QueueRunner``'s interface (``run``, ``stop_event``, ``current``,
  ``progress``): ``run`` asks the server's runner to start, then follows ``/api/runner`` — each job that starts
  is reported to ``on_job`` (from the runner's list of started jobs, so a job that starts and ends between two
  polls is reported too), its steps to ``on_step`` — until the queue is empty (``until_empty``) or
  ``stop_event`` is set; a runner it started itself is stopped again when it returns. The summary counts what
  the server's queue finished meanwhile.
- ``RemoteRunner``: the Queue page's start/stop/state controls for a remote service.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any, Callable

from gwen.records import JobRecord


class RemoteQueueRunner:
    def __init__(self, studio, poll_seconds: float = 1.0):
        self.studio = studio
        self.poll_seconds = max(0.2, poll_seconds)
        self.stop_event = threading.Event()
        self._state: dict[str, Any] = {}

    @property
    def current(self) -> JobRecord | None:
        return JobRecord.from_dict(self._state["current"]) if self._state.get("current") else None

    @property
    def progress(self) -> tuple[int, int]:
        return self._state.get("done", 0), self._state.get("total", 0)

    def run(self, until_empty: bool = True, on_job: Callable[[JobRecord, int, int], None] | None = None,
            on_step: Callable[[int, int], None] | None = None, max_jobs: int | None = None):
        from gwen.queue import RunSummary

        before = self.studio.queue_counts()
        state = self.studio._json("GET", "/api/runner")
        started_here = not state["running"]
        if started_here:
            state = self.studio._json("POST", "/api/runner/start")
        flying_now = {f["job"]["id"] for f in state.get("in_flight", [])}
        seen: set[str] = set() if started_here else set(state.get("started", [])) - flying_now
        reported = len(seen)
        try:
            while not self.stop_event.is_set():
                self._state = state
                for job in self._new_jobs(state, seen):  # also the ones that started and ended between two polls
                    if on_job:
                        on_job(job, len(seen) - reported, len(seen) - reported + state["counts"].get("pending", 0))
                for flight in state.get("in_flight", []):
                    if on_step and flight.get("total"):
                        on_step(flight["done"], flight["total"])
                counts = state.get("counts", {})
                idle = not counts.get("pending") and not counts.get("running")
                if (until_empty and idle) or (max_jobs is not None and len(seen) - reported >= max_jobs and idle) \
                        or not state["running"]:
                    break
                self.stop_event.wait(self.poll_seconds)
                state = self.studio._json("GET", "/api/runner")
        finally:
            if started_here:
                self.studio._json("POST", "/api/runner/stop", render=True)
        after = self.studio.queue_counts()
        summary = RunSummary()
        for outcome in ("done", "failed", "cancelled"):
            setattr(summary, outcome, max(0, after.get(outcome, 0) - before.get(outcome, 0)))
        if state.get("last_error"):
            from gwen.errors import GwenError
            raise GwenError(f"the server's queue runner stopped: {state['last_error']}")
        return summary


    def _new_jobs(self, state: dict[str, Any], seen: set[str]) -> list[JobRecord]:
        """The jobs the server's runner started that this follower has not reported yet, in order."""
        flying = {f["job"]["id"]: JobRecord.from_dict(f["job"]) for f in state.get("in_flight", [])}
        new_ids = [i for i in dict.fromkeys([*state.get("started", []), *flying]) if i not in seen]
        known = dict(flying)
        if any(i not in known for i in new_ids):  # started and already ended: read it from the queue
            known.update({job.id: job for job in self.studio.queue_list()})
        seen.update(new_ids)
        return [known[i] for i in new_ids if i in known]


class RemoteRunner:
    """The Queue page's runner controls, for a remote service (the interface of ``gwen.ui.state.RunnerThread``)."""

    def __init__(self, studio):
        self.studio = studio

    def _state(self) -> dict[str, Any]:
        return self.studio._json("GET", "/api/runner")

    @property
    def running(self) -> bool:
        return self._state()["running"]

    @property
    def last_error(self) -> str | None:
        return self._state().get("last_error")

    def start(self) -> None:
        self.studio._json("POST", "/api/runner/start")

    def stop(self, wait: float = 30.0) -> None:
        self.studio._json("POST", "/api/runner/stop", render=True)

    @property
    def runner(self):
        state = self._state()
        current = JobRecord.from_dict(state["current"]) if state.get("current") else None
        return SimpleNamespace(current=current, progress=(state["done"], state["total"]))
