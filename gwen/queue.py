"""The queue's runner: persistent jobs worked through unattended, crash-safe, one or several in flight.

Contract:
- ``QueueRunner(studio, jobs, concurrency)`` runs pending jobs oldest first, ``concurrency`` at a time (on a
  local studio ``GWEN_QUEUE_IN_FLIGHT``, by default 2 on a CUDA GPU and 1 elsewhere: its engine renders one at a
  time, and a second job only overlaps the last one's writes; the number of render replicas of a pool), through
  the studio's public methods only. It is crash-safe: a job's image ids are derived from the job id (``JobRun``),
  its files are written (atomically) before its rows, and the rows commit in the same transaction that marks the
  job done, together with the other jobs that finished close to it and the claim of the next ones (group
  commit, ``gwen.queue_group``): a job is counted done only once that transaction commits. After a kill -9 the next
  runner puts interrupted jobs back to pending (their attempt given back) and re-renders them deterministically
  into the same paths; nothing cataloged is replaced. A failing job records its error and the queue moves on;
  transient errors retry up to ``max_attempts``, input errors do not; a full disk stops the runner and gives the
  job back (pending, its attempt not counted) in one journaled change, or, when not even that fits on the disk,
  leaves it "running" for the next runner to recover like a crashed one.
- One runner per ``GWEN_HOME`` (an OS file lock, released when the process dies). The catalog file itself is
  shared in turns (see ``gwen.catalog``), so a dashboard, a runner and CLI calls can work on the same home.
- Batch files are read and planned by ``gwen.batches``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Callable

from gwen import files
from gwen.batches import _locks
from gwen.errors import Cancelled, DiskFull, GwenError, ImageRejected, InvalidInput, ModelUnavailable, NotFound
from gwen.params import ImageParams
from gwen.queue_group import Group, cancel_signal
from gwen.records import JobRecord

NON_RETRYABLE = (InvalidInput, NotFound, ModelUnavailable, ImageRejected)  # retrying cannot fix these


# --- running --------------------------------------------------------------------
class JobRun:
    """What the studio needs to run one job crash-safely: derived ids, and a commit that the runner makes with its
    group (``gwen.queue_group``): ``commit`` keeps it in ``finished``."""

    def __init__(self, job: JobRecord, jobs):
        self.job = job
        self.jobs = jobs
        self.finished: tuple | None = None

    def image_id(self, index: int) -> str:
        return files.derived_id(self.job.id, "image", index)

    def derived_id(self, *parts: Any) -> str:
        return files.derived_id(self.job.id, *parts)

    def commit(self, fresh, every=None) -> None:
        """Insert ``fresh`` rows and finish the job; follow-ups are planned for ``every`` image of the job."""
        every = every if every is not None else fresh
        self.finished = (self.job, list(fresh), list(every), self._follow_ups(every))

    def _follow_ups(self, records) -> list[JobRecord]:
        out = []
        for k, record in enumerate(records):
            for f, follow in enumerate(self.job.spec.get("then") or []):
                spec = {key: value for key, value in follow.items() if key != "kind"}
                spec["image"] = record.id
                if follow["kind"] in ("vary", "reroll"):
                    spec.setdefault("n", 4)
                    # a fixed sampler seed per (job, image, follow-up): re-planning after a crash gives the same jobs
                    spec["seed"] = _seed_from(self.job.id, k, f)
                if follow["kind"] == "vary":
                    spec.setdefault("strength", "subtle")
                    spec.setdefault("mode", "mix")
                out.append(JobRecord(id=files.new_id(), kind=follow["kind"], spec=spec,  # to the back of the queue
                                     max_attempts=self.job.max_attempts, parent_job_id=self.job.id,
                                     source=f"follow-up of {self.job.id}"))
        return out


def _seed_from(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("/".join(map(str, parts)).encode()).digest()[:4], "big")


@dataclass
class RunSummary:
    done: int = 0
    failed: int = 0
    cancelled: int = 0
    retried: int = 0
    recovered: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def count(self, outcome: str) -> None:
        with self._lock:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def to_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


class _Inline:
    """One job at a time runs in the runner's own thread: no hand-over to a worker and back for every job."""

    def __enter__(self) -> "_Inline":
        return self

    def __exit__(self, *exc) -> None:
        return None

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # as a worker's future would carry it (a full disk: the runner stops)
            future.set_exception(exc)
        return future


class RunnerBusy(GwenError):
    """Another queue runner already works on this GWEN_HOME."""


class QueueRunner:
    """Works through pending jobs, ``concurrency`` at a time, until stopped (or the queue is empty)."""

    def __init__(self, studio, jobs, poll_seconds: float = 1.0, concurrency: int = 1):
        self.studio = studio
        self.jobs = jobs
        self.home = studio.home
        self.poll_seconds = poll_seconds
        self.concurrency = max(1, int(concurrency))
        self.stop_event = threading.Event()
        self._in_flight: dict[str, list] = {}  # job id -> [job, (done, total)]
        self._started: list[str] = []  # ids of the jobs this runner started, in order (a remote follower's record)
        self._state = threading.Lock()
        self._lock_handle = None

    @property
    def current(self) -> JobRecord | None:
        """The oldest job in flight (None when idle)."""
        with self._state:
            return next(iter(self._in_flight.values()))[0] if self._in_flight else None

    @property
    def progress(self) -> tuple[int, int]:
        with self._state:
            return next(iter(self._in_flight.values()))[1] if self._in_flight else (0, 0)

    def in_flight(self) -> list[tuple[JobRecord, tuple[int, int]]]:
        with self._state:
            return [(job, progress) for job, progress in self._in_flight.values()]

    def started_ids(self) -> list[str]:
        """Every job this runner started, in order, also those already finished (so a follower that polls
        misses none)."""
        with self._state:
            return list(self._started)

    # one runner per home --------------------------------------------------------
    def _acquire(self) -> None:
        path = self.home / "queue.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip()
            handle.close()
            raise RunnerBusy(f"another queue runner is already working on {self.home} (pid {holder or '?'});"
                             " jobs you add are picked up by it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    def _release(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle.fileno(), fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def run(self, until_empty: bool = True, on_job: Callable[[JobRecord, int, int], None] | None = None,
            on_step: Callable[[int, int], None] | None = None, max_jobs: int | None = None) -> RunSummary:
        """Run jobs; ``on_job(job, index, total_pending)`` before each; returns counts."""
        self._acquire()
        summary = RunSummary()
        try:
            files.remove_stale_temp_files(self.home)
            summary.recovered = self.jobs.recover_interrupted()
            with (ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="gwen-job")
                  if self.concurrency > 1 else _Inline()) as pool:
                self._loop(pool, summary, until_empty, on_job, on_step, max_jobs)
        finally:
            self._release()
        return summary

    def _loop(self, pool, summary: RunSummary, until_empty: bool, on_job, on_step, max_jobs) -> None:
        group = Group(self.jobs, summary, self.home, count=on_job is not None)
        running: dict = {}
        started = 0
        try:
            while True:
                room = not self.stop_event.is_set() and (max_jobs is None or started < max_jobs)
                if room and len(running) < self.concurrency and not group.waiting:
                    limit = None if max_jobs is None else max_jobs - started
                    group.commit(claim=group.claim_size(self.concurrency - len(running), limit))
                elif group.due():
                    group.commit()
                while room and len(running) < self.concurrency and group.waiting:
                    group.refresh_cancels()  # a cancel since the last commit (the signal file changed)
                    if group.due(group.waiting[0]):
                        group.commit()
                    job = group.waiting.popleft()
                    if job.id in group.cancel:  # a cancel reached it while it waited its turn
                        self.jobs.set_status(job.id, "cancelled", "cancelled by the user")
                        summary.count("cancelled")
                        continue
                    started += 1
                    if on_job:
                        on_job(job, started, started + len(group.waiting) + group.pending)
                    running[pool.submit(self._run_one, job, summary, on_step)] = job
                    room = max_jobs is None or started < max_jobs
                if not running:
                    group.commit()
                    if room and not group.drained:  # jobs claimed ahead were all cancelled: claim again
                        continue
                    if until_empty or self.stop_event.is_set() or (max_jobs is not None and started >= max_jobs):
                        return
                    self.stop_event.wait(self.poll_seconds)
                    continue
                timeout = group.wait_seconds()
                if room and len(running) < self.concurrency:  # a free worker: look for new jobs now and then
                    timeout = self.poll_seconds if timeout is None else min(timeout, self.poll_seconds)
                finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in finished:
                    running.pop(future)
                    group.add(future.result())  # a full disk stops the runner (the other jobs finish first)
        except BaseException:
            self.stop_event.set()  # the jobs still running stop at their next step
            raise
        finally:
            for future in running:  # only after a failure: let the others end before the group is wound down
                try:
                    group.add(future.result())
                except Exception:
                    pass
            group.wind_down()

    def _run_one(self, job: JobRecord, summary: RunSummary, on_step) -> tuple | None:
        """Run one job; its rendered, written and not yet committed result (None when it ended otherwise)."""
        cancel = threading.Event()
        last_check = [time.monotonic()]  # asked again after each second of rendering, and whenever signalled
        signal = [cancel_signal(self.jobs)]
        with self._state:
            self._in_flight[job.id] = [job, (0, 0)]
            self._started.append(job.id)

        def step(done: int, total: int) -> None:
            with self._state:
                if job.id in self._in_flight:
                    self._in_flight[job.id][1] = (done, total)
            if on_step:
                on_step(done, total)
            if self.stop_event.is_set():
                cancel.set()
            now, seen = time.monotonic(), cancel_signal(self.jobs)
            if now - last_check[0] > 1.0 or seen != signal[0]:
                last_check[0], signal[0] = now, seen
                if self.jobs.cancel_requested(job.id):
                    cancel.set()
        step.on_device_thread = True  # thread-safe bookkeeping (and a tqdm bar): run inside the render
        try:
            return self._execute(job, step, cancel)
        except DiskFull:  # every job would fail the same way: stop, and keep this one for when there is room
            self.stop_event.set()
            try:
                self.jobs.give_back(job.id)
            except DiskFull:  # not even that line fits: it stays "running", and the next runner recovers it
                pass
            raise
        except KeyboardInterrupt:  # Ctrl-C in a runner that renders in its own thread: resume later
            self.stop_event.set()
            self.jobs.give_back(job.id)
            raise
        except Cancelled:
            if self.stop_event.is_set() and not self.jobs.cancel_requested(job.id):
                self.jobs.give_back(job.id)  # stopped: resume later; being stopped is not a failure
            else:
                self.jobs.set_status(job.id, "cancelled", "cancelled by the user")
                summary.count("cancelled")
        except Exception as exc:  # a failing job must not stop the queue
            message = f"{type(exc).__name__}: {exc}" if not isinstance(exc, GwenError) else str(exc)
            retry = not isinstance(exc, NON_RETRYABLE) and job.attempts < job.max_attempts
            self.jobs.set_status(job.id, "pending" if retry else "failed", message[:2000])
            summary.count("retried" if retry else "failed")
        finally:
            with self._state:
                self._in_flight.pop(job.id, None)
        return None

    def _execute(self, job: JobRecord, on_step, cancel: threading.Event) -> tuple | None:
        run = JobRun(job, self.jobs)
        spec = job.spec
        if job.kind == "generate":
            params = [ImageParams.from_json(p) for p in spec["params"]]
            self.studio.render_params(params, on_step=on_step, cancel=cancel, job=run)
        elif job.kind == "reroll":
            self.studio.reroll(spec["image"], spec["n"], spec["seed"], on_step=on_step, cancel=cancel, job=run)
        elif job.kind == "vary":
            self.studio.vary(spec["image"], strength=spec["strength"], modes=spec["mode"], n=spec["n"],
                             prompt=spec.get("prompt"), locks=_locks(spec.get("lock")), seed=spec["seed"],
                             on_step=on_step, cancel=cancel, job=run)
        elif job.kind == "upscale":
            self.studio.upscale(spec["image"], model=spec.get("model"), scale=spec.get("scale"),
                                tile=spec.get("tile"), pre_shrink=spec.get("pre_shrink", 1.0), job=run)
        else:
            raise InvalidInput(f"job {job.id}: unknown kind {job.kind!r}")
        return run.finished
