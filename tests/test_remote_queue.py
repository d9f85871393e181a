"""The remote queue follower reports every job the server's runner started, also one that started and ended
between two of its polls (the race that made the contract's queue test flaky on the remote backend)."""

from __future__ import annotations

from gwen.records import JobRecord
from gwen.remote_queue import RemoteQueueRunner


class FakeServer:
    """``/api/runner`` answers in a scripted order; ``queue_list`` is the server's queue."""

    def __init__(self, states: list[dict], jobs: list[JobRecord]):
        self.states = states
        self.jobs = jobs
        self.calls: list[str] = []

    def queue_counts(self) -> dict:
        return {"done": 0}

    def queue_list(self, status=None) -> list[JobRecord]:
        return list(self.jobs)

    def _json(self, method: str, path: str, **_kwargs) -> dict:
        self.calls.append(f"{method} {path}")
        if path == "/api/runner/stop":
            return {}
        return self.states.pop(0) if len(self.states) > 1 else self.states[0]


def state(running: bool, started: list[str], flying: list[JobRecord], pending: int) -> dict:
    return {"running": running, "started": started, "counts": {"pending": pending, "running": len(flying)},
            "in_flight": [{"job": j.to_dict(), "done": 1, "total": 2} for j in flying], "last_error": None}


def test_a_job_that_started_and_ended_between_two_polls_is_reported():
    a, b, c = (JobRecord(id=f"job-{k}", kind="generate", spec={"prompt": k}) for k in "abc")
    server = FakeServer([
        state(False, [], [], 3),                    # GET: not running yet
        state(True, ["job-a"], [a], 2),              # POST start: a is rendering
        state(True, ["job-a", "job-b", "job-c"], [c], 0),  # b started and ended between the polls
        state(True, ["job-a", "job-b", "job-c"], [], 0),   # all done
    ], [a, b, c])
    reported: list[str] = []
    RemoteQueueRunner(server, poll_seconds=0.2).run(until_empty=True, on_job=lambda job, i, n: reported.append(job.id))
    assert reported == ["job-a", "job-b", "job-c"]
    assert server.calls[-1] == "POST /api/runner/stop"  # it started the runner, so it stops it again


def test_jobs_started_before_the_follower_came_are_not_reported_again():
    a, b = (JobRecord(id=f"job-{k}", kind="generate", spec={"prompt": k}) for k in "ab")
    server = FakeServer([state(True, ["job-a", "job-b"], [b], 0), state(True, ["job-a", "job-b"], [], 0)], [a, b])
    reported: list[str] = []
    RemoteQueueRunner(server, poll_seconds=0.2).run(until_empty=True, on_job=lambda job, i, n: reported.append(job.id))
    assert reported == ["job-b"]  # a ended before this follower came; b was in flight when it came
    assert "POST /api/runner/stop" not in server.calls  # a runner it did not start keeps running
