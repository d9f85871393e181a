"""Past one GPU: render replicas on Ray Serve, behind ``python -m gwen serve --replicas N``.

Contract:
- ``start_pool(home, config)`` starts Ray on this machine (or joins ``--ray-address``), deploys ``N`` render
  replicas as one Ray Serve deployment (no HTTP proxy: the serve process calls them through a handle), waits for
  them within ``GWEN_POOL_TIMEOUT`` seconds, and returns the ``Pool`` and a ``Studio`` that renders on it. Each
  replica (``RenderReplica``) loads its model once and keeps it; on CUDA a replica takes one GPU by default.
- The serve process stays the single owner of the catalog and the queue. Replicas render and return finished
  PNG bytes plus records (``gwen.renderers.render_order``); the owner writes the files, then the rows, exactly
  as a local studio does. Every record names the replica (and host) that made it (``worker``).
- ``PoolRenderer`` splits an order into pipeline calls of ``chunk_size`` images (``gwen.engine.plan_chunks``),
  sends them to the replicas at once and reassembles them in order: the batch layout does not depend on how
  many replicas there are, so a grid split across replicas has the seeds and pixels of a one-replica render.
  A part whose replica dies (``kill -9``) is sent again (to a survivor or the replacement Ray Serve starts);
  nothing is written until every part is back, so each image exists exactly once.
- ``Pool.health()`` reports the deployment's state, its replicas by state, and each replica's identity.
- Ray is imported only here, only on the ``--replicas`` path: it is an optional install
  (``requirements-scale.txt``).
"""

from __future__ import annotations

import hashlib
import math
import os
import queue
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gwen.errors import Cancelled, GwenError, InvalidInput
from gwen.provenance import worker
from gwen.renderers import RenderedFile, RenderOrder

DEPLOYMENT = "RenderReplica"
DEFAULT_CHUNK = 4
PART_ATTEMPTS = 3


@dataclass(frozen=True)
class PoolConfig:
    replicas: int
    ray_address: str | None = None
    replica_gpus: float = 0.0
    replica_cpus: float = 1.0
    min_replicas: int | None = None
    max_replicas: int | None = None
    chunk_size: int = DEFAULT_CHUNK

    @classmethod
    def from_flags(cls, replicas, ray_address, gpus, cpus, min_replicas, max_replicas, chunk_size) -> "PoolConfig":
        from gwen.memory import likely_device

        if not isinstance(replicas, int) or replicas < 1:
            raise InvalidInput(f"--replicas {replicas!r}: must be a whole number of at least 1")
        if (min_replicas is None) != (max_replicas is None):
            raise InvalidInput("autoscaling needs both --min-replicas and --max-replicas")
        if min_replicas is not None and not (1 <= min_replicas <= replicas <= max_replicas):
            raise InvalidInput(f"--min-replicas {min_replicas}, --replicas {replicas}, --max-replicas {max_replicas}: "
                               "need 1 <= min <= replicas <= max")
        if cpus is not None and cpus <= 0:
            raise InvalidInput(f"--replica-cpus {cpus!r}: must be greater than 0")
        if gpus is None:
            gpus = 1.0 if likely_device() == "cuda" else 0.0
        if gpus < 0:
            raise InvalidInput(f"--replica-gpus {gpus!r}: must not be negative")
        chunk = chunk_size if chunk_size is not None else int(os.environ.get("GWEN_MAX_BATCH") or DEFAULT_CHUNK)
        if chunk < 1:
            raise InvalidInput(f"--chunk-size {chunk!r}: must be at least 1")
        return cls(replicas, ray_address, float(gpus), float(cpus or 1.0), min_replicas, max_replicas, chunk)

    def describe(self) -> str:
        where = f"on the Ray cluster at {self.ray_address}" if self.ray_address else "on a Ray instance of this machine"
        count = (f"{self.replicas} render replicas (autoscaling {self.min_replicas}..{self.max_replicas})"
                 if self.min_replicas else f"{self.replicas} render replica{'s' if self.replicas > 1 else ''}")
        return (f"{count} {where}, each {self.replica_cpus:g} CPU and {self.replica_gpus:g} GPU, "
                f"{self.chunk_size} images per pipeline call")

    @property
    def most_replicas(self) -> int:
        return self.max_replicas or self.replicas


class RenderReplica:
    """One render replica: a process of its own with an engine that keeps its model loaded."""

    def __init__(self, home: str, device: str | None, dtype: str | None, threads: int):
        import torch

        from gwen.boundary import ModelBoundary
        from gwen.engine import Engine

        from gwen.device_thread import device_thread

        self.threads = max(1, threads)
        torch.set_num_threads(self.threads)
        device_thread().run(torch.set_num_threads, self.threads)  # the thread that renders (OpenMP: per thread)
        self.home = Path(home)
        self.engine = Engine(ModelBoundary(self.home / "models", confined=True), device=device, dtype=dtype)
        self.cancels: dict[str, threading.Event] = {}
        self.name = worker(_replica_tag())

    def render(self, order: RenderOrder, previews: bool = False):
        """A stream (Ray Serve ``stream=True``): ``("step", done, total)`` and ``("preview", first, images)``
        while it renders, then ``("done", [RenderedFile, ...])``."""
        from gwen.renderers import render_order

        events: queue.Queue = queue.Queue()
        outcome: dict[str, Any] = {}
        cancel = self.cancels.setdefault(order.order_id, threading.Event())

        def work() -> None:
            try:
                outcome["files"] = render_order(
                    self.engine, order, self.home, self.name, cancel=cancel,
                    on_step=lambda done, total: events.put(("step", done, total)),
                    on_preview=(lambda first, images: events.put(("preview", first, images))) if previews else None)
            except BaseException as exc:  # raised again below, in the stream
                outcome["error"] = exc
            finally:
                events.put(None)
        thread = threading.Thread(target=work, name="gwen-replica-render", daemon=True)
        thread.start()
        try:
            while (event := events.get()) is not None:
                yield event
            thread.join()
        finally:
            self.cancels.pop(order.order_id, None)
        if "error" in outcome:
            raise outcome["error"]
        yield ("done", outcome["files"])

    def render_exact(self, params: list, init_pngs: dict[str, bytes]) -> list[bytes]:
        import io

        from PIL import Image

        inits = {k: Image.open(io.BytesIO(v)).convert("RGB") for k, v in init_pngs.items()}
        out = []
        for image in self.engine.render_exact(params, inits):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            out.append(buffer.getvalue())
        return out

    async def whoami(self) -> dict[str, Any]:  # async: answered even while a render runs
        return {"worker": self.name, "pid": os.getpid(), "host": socket.gethostname(),
                "loaded_model": self.engine.loaded_model, "device": self.engine.device,
                "threads": self.threads}

    async def cancel(self, order_id: str) -> None:
        self.cancels.setdefault(order_id, threading.Event()).set()


class PoolRenderer:
    """The renderer of a pool's studio: orders split into parts, rendered by the replicas side by side."""

    def __init__(self, pool: "Pool", chunk_size: int):
        self.pool = pool
        self.chunk_size = chunk_size

    def render(self, order: RenderOrder, on_step=None, cancel=None, on_preview=None) -> list[RenderedFile]:
        parts = self._parts(order)
        starts = [sum(len(p.params) for p in parts[:k]) for k in range(len(parts))]
        progress = {k: (0, _steps(part.params[0])) for k, part in enumerate(parts)}
        events: queue.Queue = queue.Queue()
        stop = threading.Event()
        for k, part in enumerate(parts):
            threading.Thread(target=self._follow, args=(k, part, on_preview is not None, events, stop),
                             name=f"gwen-pool-part-{k}", daemon=True).start()
        results: dict[int, list[RenderedFile]] = {}
        try:
            while len(results) < len(parts):
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the user; nothing from this job was written")
                try:
                    k, kind, payload = events.get(timeout=0.25)
                except queue.Empty:
                    continue
                if kind == "error":
                    raise payload
                if kind == "done":
                    results[k] = payload
                    progress[k] = (progress[k][1], progress[k][1])
                elif kind == "preview" and on_preview is not None:
                    on_preview(starts[k] + payload[0], payload[1])
                if kind == "step":
                    progress[k] = payload
                if kind in ("step", "done") and on_step is not None:
                    on_step(sum(d for d, _t in progress.values()), sum(t for _d, t in progress.values()))
        except BaseException:
            stop.set()
            self.pool.cancel(order.order_id)
            raise
        return [item for k in sorted(results) for item in results[k]]

    def _follow(self, k: int, part: RenderOrder, previews: bool, events: queue.Queue, stop: threading.Event):
        """Follow one part's stream into ``events``; send it again if its replica dies (``kill -9``): renders
        are deterministic, and nothing of it was kept, so the image still exists exactly once."""
        for attempt in range(1, PART_ATTEMPTS + 1):
            try:
                for event in self.pool.handle.options(stream=True).render.remote(part, previews):
                    if stop.is_set():
                        return
                    events.put((k, event[0], event[1] if event[0] == "done" else tuple(event[1:])))
                    if event[0] == "done":
                        return
                raise GwenError("a render replica ended its stream without a result")
            except Exception as exc:
                if stop.is_set():
                    return
                if _replica_died(exc) and attempt < PART_ATTEMPTS:
                    self.pool.parts_resent += 1
                    events.put((k, "step", (0, _steps(part.params[0]))))  # starting over elsewhere
                    continue
                events.put((k, "error", _as_gwen_error(exc)))
                return

    def _parts(self, order: RenderOrder) -> list[RenderOrder]:
        from gwen.engine import plan_chunks

        parts, start = [], 0
        for number, chunk in enumerate(plan_chunks(order.params, lambda _first: self.chunk_size)):
            parts.append(order.part(start, start + len(chunk), number))
            start += len(chunk)
        for part in parts:
            part.chunk_size = self.chunk_size
        return parts

    def render_exact(self, params, init_images) -> list:
        import io

        from PIL import Image

        pngs = {}
        for key, image in init_images.items():
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            pngs[key] = buffer.getvalue()
        out = self.pool.handle.render_exact.remote(params, pngs).result(timeout_s=3600)
        return [Image.open(io.BytesIO(data)) for data in out]

    def status(self) -> dict[str, Any]:
        workers = self.pool.workers()
        loaded = next((w.get("loaded_model") for w in workers if w.get("loaded_model")), None)
        return {"loaded_model": loaded, "device": workers[0].get("device") if workers else None,
                "workers": [{**w, "state": "RUNNING"} for w in workers]}


def app_name(home: Path) -> str:
    """The Serve application of the pool that renders for ``home``: two GWEN homes can share a Ray cluster, and
    one home has one pool (its serve process is the single owner of its catalog)."""
    return "gwen-" + hashlib.sha256(str(Path(home).resolve()).encode()).hexdigest()[:8]


class Pool:
    def __init__(self, config: PoolConfig, handle, app: str, owns_ray: bool):
        self.config = config
        self.handle = handle
        self.app = app
        self.owns_ray = owns_ray  # Ray started here: shut it down on stop; else leave the cluster as found
        self.parts_resent = 0  # parts sent again because their replica died

    def workers(self) -> list[dict[str, Any]]:
        try:
            return sorted(self.handle.broadcast("whoami").results(timeout_s=10, return_exceptions=True),
                          key=lambda w: str(w.get("worker")) if isinstance(w, dict) else "")
        except Exception:  # a replica starting or dying: report what Serve says instead
            return []

    def cancel(self, order_id: str) -> None:
        try:
            self.handle.broadcast("cancel", order_id).results(timeout_s=10, return_exceptions=True)
        except Exception:  # a replica starting or dying: it has nothing of this order to stop
            pass

    def health(self) -> dict[str, Any]:
        """What ``/api/health`` (public) says: the deployment's state, its replicas by state, autoscaling, and
        the replicas that answer (by name; pids and devices are in the token-guarded ``/api/engine``)."""
        from ray import serve

        app = serve.status().applications.get(self.app)
        deployment = app.deployments.get(DEPLOYMENT) if app else None
        replicas = {str(getattr(k, "value", k)): n for k, n in deployment.replica_states.items()} if deployment else {}
        return {"pool": {"status": app.status.value if app else "absent",
                         "deployment": deployment.status.value if deployment else None,
                         "replicas": replicas, "parts_resent": self.parts_resent,
                         "autoscaling": {"min": self.config.min_replicas, "max": self.config.max_replicas}
                         if self.config.min_replicas else None},
                "workers": [{"worker": w.get("worker"), "state": "RUNNING"} for w in self.workers()
                            if isinstance(w, dict)]}

    def stop(self) -> None:
        import ray
        from ray import serve

        if not ray.is_initialized():
            return
        if self.owns_ray:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(self.app)


def start_pool(home, config: PoolConfig, timeout: float | None = None):
    """(the running ``Pool``, a ``Studio`` that renders on it)."""
    from gwen.config import gwen_home
    from gwen.studio import Studio

    home = gwen_home(home)
    app = app_name(home)
    handle, owns_ray = _deploy(home, app, config, timeout or float(os.environ.get("GWEN_POOL_TIMEOUT", 900)))
    pool = Pool(config, handle, app, owns_ray)
    studio = Studio(home, confine_models=True, renderer=PoolRenderer(pool, config.chunk_size),
                    concurrency=config.most_replicas, chunk_size=config.chunk_size)
    return pool, studio


def deployment_options(config: PoolConfig) -> dict[str, Any]:
    """The Ray Serve options of the replicas: one render at a time each (``max_ongoing_requests=1``, so a grid's
    parts spread over the replicas), a quick health check (a dead replica is replaced within seconds), and either
    a fixed number of replicas or autoscaling on the number of renders waiting."""
    options: dict[str, Any] = {
        "ray_actor_options": {"num_cpus": config.replica_cpus, "num_gpus": config.replica_gpus},
        "max_ongoing_requests": 1, "health_check_period_s": 2, "graceful_shutdown_timeout_s": 5,
        "graceful_shutdown_wait_loop_s": 0.5, "max_constructor_retry_count": 3}
    if config.min_replicas:
        options["autoscaling_config"] = {"min_replicas": config.min_replicas, "max_replicas": config.max_replicas,
                                         "initial_replicas": config.replicas, "target_ongoing_requests": 1,
                                         "upscale_delay_s": 5, "downscale_delay_s": 120}
    else:
        options["num_replicas"] = config.replicas
    return options


def connect(config: PoolConfig) -> bool:
    """Join ``config.ray_address``, or start Ray on this machine with room for the replicas (small memory
    settings), unless this process already runs Ray. True when Ray was started here."""
    try:
        import ray
    except ImportError:
        raise InvalidInput("--replicas needs Ray Serve: pip install -r requirements-scale.txt") from None
    if ray.is_initialized():
        return False
    import gwen

    env = {k: v for k, v in os.environ.items() if k.startswith(("GWEN_", "HF_", "HUGGINGFACE_", "TRANSFORMERS_"))}
    if not config.replica_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ""  # Ray no longer hides GPUs from a replica that asked for none
    runtime_env = {"py_modules": [str(Path(gwen.__file__).parent)], "env_vars": env}
    if config.ray_address:
        ray.init(address=config.ray_address, runtime_env=runtime_env, log_to_driver=False)
        return False
    for key, value in (("RAY_memory_monitor_refresh_ms", "0"), ("RAY_prestart_worker_first_driver", "0"),
                       ("RAY_USAGE_STATS_ENABLED", "0")):
        os.environ.setdefault(key, value)
    cpus = max(1, math.ceil(config.most_replicas * config.replica_cpus))
    ray.init(address="local", num_cpus=cpus, object_store_memory=256 * 2**20, include_dashboard=False,
             log_to_driver=False, runtime_env=runtime_env)
    return True


def _deploy(home: Path, app_name: str, config: PoolConfig, timeout: float):
    from ray import serve

    owns_ray = connect(config)
    try:
        serve.start(proxy_location="Disabled")
        deployment = serve.deployment(RenderReplica, name=DEPLOYMENT).options(**deployment_options(config))
        threads = max(1, int(config.replica_cpus))
        device = "cpu" if not config.replica_gpus else None
        app = deployment.bind(str(home), device, os.environ.get("GWEN_DTYPE"), threads)
        [handle] = serve.run_many([serve.RunTarget(app, name=app_name, route_prefix=None)],
                                  wait_for_applications_running=False)
        _wait_running(serve, app_name, timeout)
    except BaseException:  # nothing left behind: no replicas holding GPUs, no Ray of ours
        Pool(config, None, app_name, owns_ray).stop()
        raise
    return handle, owns_ray


def _wait_running(serve, app_name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        app = serve.status().applications.get(app_name)
        status = app.status.value if app else "absent"
        if status == "RUNNING":
            return
        if status == "DEPLOY_FAILED":
            raise GwenError(f"the render replicas failed to start: {app.message}")
        if time.monotonic() > deadline:
            raise GwenError(f"the render replicas were not running after {timeout:g} s (status {status}); are there "
                            "enough CPUs/GPUs for --replicas × --replica-cpus/--replica-gpus? (GWEN_POOL_TIMEOUT)")
        time.sleep(0.5)


def _replica_tag() -> str:
    try:
        from ray import serve

        return serve.get_replica_context().replica_tag
    except Exception:  # outside a replica (a test building one by hand)
        return str(os.getpid())


def _replica_died(exc: Exception) -> bool:
    try:
        from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
    except ImportError:
        return False
    return isinstance(exc, (RayActorError, ActorDiedError, ActorUnavailableError))


def _as_gwen_error(exc: Exception) -> Exception:
    """A replica's GwenError arrives wrapped by Ray; unwrap it, so the service answers as it would locally."""
    cause = getattr(exc, "cause", None)
    if isinstance(exc, GwenError):
        return exc
    if isinstance(cause, GwenError):
        return cause
    return exc


def _steps(params) -> int:
    if params.is_img2img:
        return max(1, min(int(params.steps * params.denoise), params.steps))
    return params.steps
