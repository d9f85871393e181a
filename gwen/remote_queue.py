"""The queue of a remote ``gwen serve``: its runner driven from here, its progress streamed back.

Contract:
- ``RemoteQueueRunner`` has the local ``QueueRunner``'s interface (``run``, ``stop_event``, ``current``,
  ``progress``): ``run`` asks the server's runner to start, then follows ``/api/runner`` — each job that starts
  is reported to ``on_job``, its steps to ``on_step`` — until the queue is empty (``until_empty``) or
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
        seen: set[str] = set()
        try:
            while not self.stop_event.is_set():
                self._state = state
                for flight in state.get("in_flight", []):
                    job = JobRecord.from_dict(flight["job"])
                    if job.id not in seen:
                        seen.add(job.id)
                        if on_job:
                            on_job(job, len(seen), len(seen) + state["counts"].get("pending", 0))
                    if on_step and flight.get("total"):
                        on_step(flight["done"], flight["total"])
                counts = state.get("counts", {})
                idle = not counts.get("pending") and not counts.get("running")
                if (until_empty and idle) or (max_jobs is not None and len(seen) >= max_jobs and idle) \
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
