"""Routes of the queue: add a batch (as text), plan one, list, cancel, retry; start, stop and watch the server's
runner (one per home, a thread of the service: it keeps going when clients leave).
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from gwen.service.bodies import QueueBody


class RunnerBox:
    """The service's queue runner thread and its last error."""

    def __init__(self, studio):
        self.studio = studio
        self.runner = None
        self.thread: threading.Thread | None = None
        self.error: str | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self.runner = self.studio.queue_runner(poll_seconds=0.5)
        self.error = None

        def work() -> None:
            try:
                self.runner.run(until_empty=False)
            except Exception as exc:  # shown by /api/runner
                self.error = str(exc)
        self.thread = threading.Thread(target=work, daemon=True, name="gwen-service-runner")
        self.thread.start()

    def stop(self) -> None:
        if self.runner is not None:
            self.runner.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=60)

    def state(self) -> dict[str, Any]:
        running = self.running
        flying = self.runner.in_flight() if running else []
        current = flying[0][0] if flying else None
        done, total = flying[0][1] if flying else (0, 0)
        return {"running": running, "current": current.to_dict() if current else None, "done": done, "total": total,
                "in_flight": [{"job": job.to_dict(), "done": d, "total": t} for job, (d, t) in flying],
                "started": self.runner.started_ids() if self.runner is not None else [],
                "last_error": self.error, "counts": self.studio.queue_counts()}


def router(studio, box: RunnerBox) -> APIRouter:
    api = APIRouter(prefix="/api")

    def batch(body: QueueBody) -> tuple[str, str]:
        name = Path(body.filename).name or "batch"
        return name, Path(name).suffix or ".txt"

    @api.post("/queue")
    def queue_add(body: QueueBody) -> dict[str, Any]:
        name, suffix = batch(body)
        jobs = studio.queue_add_text(body.content, suffix, dict(body.defaults), name, then=body.then)
        return {"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}

    @api.post("/queue/plan")
    def queue_plan(body: QueueBody) -> dict[str, Any]:
        name, suffix = batch(body)
        with tempfile.TemporaryDirectory() as tmp:  # messages name the file by ``name``, never this folder
            path = Path(tmp) / f"batch{suffix}"
            path.write_text(body.content, encoding="utf-8")
            jobs = studio.queue_plan(path, dict(body.defaults), name)
        return {"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}

    @api.get("/queue")
    def queue_list(status: str | None = None) -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in studio.queue_list(status)], "counts": studio.queue_counts()}

    @api.post("/queue/{job_id}/cancel")
    def queue_cancel(job_id: str) -> dict[str, Any]:
        return studio.queue_cancel(job_id).to_dict()

    @api.post("/queue/{job_id}/retry")
    def queue_retry(job_id: str) -> dict[str, Any]:
        return studio.queue_retry(job_id).to_dict()

    @api.get("/runner")
    def runner_state() -> dict[str, Any]:
        return box.state()

    @api.post("/runner/start")
    def runner_start() -> dict[str, Any]:
        box.start()
        return box.state()

    @api.post("/runner/stop")
    def runner_stop() -> dict[str, Any]:
        box.stop()
        return box.state()

    return api
