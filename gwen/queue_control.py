"""Queue control: adding batches, listing, cancelling and retrying jobs, and making the runner.

Contract:
- ``add`` / ``add_text`` plan a whole batch (``gwen.batches``: every job and follow-up validated first) and
  enqueue it together, or raise naming ``file:line`` and enqueue nothing.
- ``cancel`` stops a pending job at once and asks a running one to stop at its next step; ``retry`` puts a failed
  or cancelled job back to pending with its attempts reset. Both refuse other states with ``InvalidInput``.
- ``runner(poll_seconds)`` is a ``QueueRunner`` over this home's journaled job store, with as many jobs in
  flight as the studio can render side by side.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gwen.batches import parse_batch, plan_batch, plan_entries
from gwen.errors import InvalidInput
from gwen.records import JobRecord


class QueueControl:
    def __init__(self, studio, jobs, concurrency: int = 1):
        self.studio = studio  # planning uses its public methods only
        self.jobs = jobs
        self.concurrency = concurrency

    def plan(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
             ) -> list[JobRecord]:
        return plan_batch(path, defaults or {}, self.studio, name=name)

    def add(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
            ) -> list[JobRecord]:
        jobs = self.plan(path, defaults, name)
        self.jobs.add(jobs)
        return jobs

    def add_text(self, text: str, suffix: str = ".txt", defaults: dict[str, Any] | None = None,
                 name: str = "typed prompts", then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
        jobs = plan_entries(*parse_batch(text, suffix, name), defaults or {}, self.studio, then=then)
        self.jobs.add(jobs)
        return jobs

    def list(self, status: str | None = None) -> list[JobRecord]:
        return self.jobs.list(status)

    def counts(self) -> dict[str, int]:
        return self.jobs.counts()

    def cancel(self, job_id: str) -> JobRecord:
        job = self.jobs.resolve(job_id)
        if job.status == "pending":
            if self.jobs.set_status(job.id, "cancelled", "cancelled by the user", only_from=("pending",)):
                return self.jobs.resolve(job.id)
            job = self.jobs.resolve(job.id)  # it started meanwhile
        if job.status == "running":
            self.jobs.request_cancel(job.id)  # the runner stops it at its next step
            return self.jobs.resolve(job.id)
        raise InvalidInput(f"job {job.id} is {job.status}: only pending or running jobs can be cancelled")

    def retry(self, job_id: str) -> JobRecord:
        job = self.jobs.resolve(job_id)
        if job.status not in ("failed", "cancelled"):
            raise InvalidInput(f"job {job.id} is {job.status}: only failed or cancelled jobs can be retried")
        self.jobs.reset_attempts(job.id)
        self.jobs.set_status(job.id, "pending", only_from=("failed", "cancelled"))
        return self.jobs.resolve(job.id)

    def runner(self, poll_seconds: float = 1.0):
        from gwen.queue import QueueRunner

        return QueueRunner(self.studio, self.jobs, poll_seconds, self.concurrency)
