"""THE FACADE: everything a front end (CLI, pages, HTTP service) may ask of a local GWEN.

Contract:
- ``Studio`` implements ``gwen.api.StudioAPI`` and nothing else; each method hands the call to the service that
  does one job: ``Planner`` (what to render), ``Rendering`` (render and store, verify), ``Upscaling``,
  ``Library`` (records, search, lineage, marks), ``Archive`` (import, reindex, export), ``QueueControl`` and
  ``Preferences``. Front ends call the facade and nothing below it; ``gwen.remote.RemoteStudio`` offers the same
  members over HTTP, and a ``gwen serve --replicas N`` studio renders on a Ray Serve pool (``gwen.scale``).
- Methods validate first (``InvalidInput`` / ``NotFound`` / ``ModelUnavailable`` before any write). Durability:
  every new image is written as a complete PNG (atomic rename) *before* its catalog row (which a grid commits
  just behind the call, before any later read: ``gwen.pending_rows``); marks and queue states
  go to their journals before their rows; ``reindex`` rebuilds the catalog from ``images/`` and the journals.
- The engine (torch, diffusers) is created lazily, on the first render, and keeps one model resident; the
  catalog file is opened per operation (``gwen.catalog``).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable, Iterable

from gwen.archive import Archive
from gwen.boundary import ModelBoundary
from gwen.catalog import Catalog, JobStore
from gwen.config import Settings, gwen_home
from gwen.journal import JobJournal, Journal
from gwen.library import Library
from gwen.params import ImageParams
from gwen.planning import Planner
from gwen.preferences import Preferences
from gwen.provenance import worker
from gwen.queue_control import QueueControl
from gwen.records import ImageRecord, JobRecord, SearchQuery, VerifyResult
from gwen.renderers import LocalRenderer
from gwen.rendering import Rendering
from gwen.studio_edits import EditsMixin
from gwen.upscaling import Upscaling
from gwen.variation import VariationPlan

ProgressFn = Callable[[int, int], None]
PreviewFn = Callable[[int, list], None]  # (index of the first image, cheap previews)
Cancel = threading.Event | None


class Studio(EditsMixin):  # vary_region, pan, zoom: gwen.studio_edits
    def __init__(self, home: str | Path | None = None, settings: Settings | None = None, engine=None,
                 confine_models: bool = False, renderer=None, concurrency: int | None = None,
                 chunk_size: int | None = None):
        """``engine``: share one ``gwen.engine.Engine`` between studios (tests, benchmarks). ``confine_models``:
        open model files only inside ``$GWEN_HOME/models`` (``gwen serve``). ``renderer``: render elsewhere (a
        ``gwen.scale.PoolRenderer``), ``concurrency`` queue jobs in flight (default: ``queue_in_flight``; 2 lets one
        render while the one before writes its files and rows), ``chunk_size`` images per pipeline
        call."""
        self.home = gwen_home(home)
        self.boundary = ModelBoundary(self.home / "models", confined=confine_models)
        self.preferences = Preferences(self.home, self.boundary, settings or Settings.load(self.home))
        self.catalog = Catalog(self.home / "gwen.duckdb")
        self.journal = Journal(self.home / "journal.jsonl")
        self.jobs = JobStore(self.catalog, JobJournal(self.home / "jobs.jsonl"))
        self.library = Library(self.home, self.catalog, self.journal)
        self.archive = Archive(self.library, self.jobs)
        self.planner = Planner(self.library, self.boundary, self.preferences)
        self.renderer = renderer or LocalRenderer(lambda: engine or self._new_engine(), self.home, worker())
        self.rendering = Rendering(self.library, self.planner, self.boundary, self.renderer, chunk_size)
        self.upscaling = Upscaling(self.library, self.archive, self.boundary, self.preferences,
                                   self.preferences.settings.device, worker())
        self.queue = QueueControl(self, self.jobs, concurrency or queue_in_flight(self.settings.device))

    def _new_engine(self):
        from gwen.engine import Engine

        s = self.preferences.settings
        return Engine(self.boundary, device=s.device, dtype=s.dtype, max_batch=s.max_batch)

    @property
    def engine(self):
        """This studio's engine (local rendering only)."""
        return self.renderer.engine

    @property
    def settings(self) -> Settings:
        return self.preferences.settings

    def close(self) -> None:
        self.catalog.close()

    # --- preferences -------------------------------------------------------------------
    def default_model(self) -> str:
        return self.preferences.default_model()

    def default_upscaler(self) -> str:
        return self.preferences.default_upscaler()

    def set_default_model(self, ref: str) -> str:
        return self.preferences.set_default_model(ref)

    def set_default_upscaler(self, ref: str) -> str:
        return self.preferences.set_default_upscaler(ref)

    def check_model(self, ref: str | None) -> None:
        self.preferences.check_model(ref)

    def check_upscaler(self, ref: str | None) -> None:
        self.preferences.check_upscaler(ref)

    def model_status(self, ref: str | None = None) -> dict[str, Any]:
        return self.preferences.model_status(ref)

    def list_models(self) -> list[dict[str, Any]]:
        return self.preferences.list_models()

    def list_upscalers(self) -> list[dict[str, Any]]:
        return self.preferences.list_upscalers()

    def list_loras(self) -> list[dict[str, Any]]:
        return self.preferences.list_loras()

    def list_styles(self) -> list[dict[str, Any]]:
        return self.preferences.list_styles()

    def save_style(self, name: str, prompt: str, negative_prompt: str = "") -> dict[str, Any]:
        return self.preferences.save_style(name, prompt, negative_prompt)

    def import_styles(self, text: str | bytes, name: str = "styles.csv") -> dict[str, Any]:
        return self.preferences.import_styles(text, name)

    def engine_status(self) -> dict[str, Any]:
        """Which model is resident, on which device, and the workers that render; loads and imports nothing."""
        status = {**self.rendering.status(), "location": str(self.home), "vram_free_gib": None,
                  "vram_total_gib": None}
        if status.get("device") and str(status["device"]).startswith("cuda"):
            import torch
            free, total = torch.cuda.mem_get_info()
            status.update(vram_free_gib=free / 2**30, vram_total_gib=total / 2**30)
        return status

    # --- planning ----------------------------------------------------------------------
    def plan_generate(self, prompt: str, **options: Any) -> list[ImageParams]:
        return self.planner.plan_generate(prompt, **options)

    def plan_variations(self, image_id: str, **options: Any) -> tuple[ImageRecord, list[ImageParams], VariationPlan]:
        return self.planner.plan_variations(image_id, **options)

    def params_of(self, record: ImageRecord) -> ImageParams:
        return self.planner.params_of(record)

    # --- rendering ---------------------------------------------------------------------
    def generate(self, prompt: str, *, on_step: ProgressFn | None = None, cancel: Cancel = None,
                 on_preview: PreviewFn | None = None, **options: Any) -> list[ImageRecord]:
        """A grid; with ``init_image_id`` and ``denoise``, img2img from that catalog image (its children)."""
        params = self.planner.plan_generate(prompt, **options)
        return self.render_params(params, on_step=on_step, cancel=cancel, on_preview=on_preview)

    def render_params(self, params: list[ImageParams], *, on_step: ProgressFn | None = None, cancel: Cancel = None,
                      on_preview: PreviewFn | None = None, job=None) -> list[ImageRecord]:
        """Render already-planned params (a queued generate job) as ``op=generate``; params that all start from
        one catalog image (``init_image_id``: the A1111 API's img2img) as ``op=img2img``, children of it."""
        sources = {p.init_image_id for p in params}
        if len(sources) == 1 and None not in sources:
            return self.rendering.render(params, "img2img", self.library.get(sources.pop()), None, on_step=on_step,
                                         cancel=cancel, job=job, on_preview=on_preview)
        return self.rendering.render(params, "generate", None, None, on_step=on_step, cancel=cancel, job=job,
                                     on_preview=on_preview)

    def reroll(self, image_id: str, n: int = 4, seed: int | None = None, *, on_step: ProgressFn | None = None,
               cancel: Cancel = None, on_preview: PreviewFn | None = None, job=None) -> list[ImageRecord]:
        parent, children = self.planner.plan_reroll(image_id, n, seed)
        return self.rendering.render(children, "reroll", parent, {"modes": ["reroll"]}, on_step=on_step,
                                     cancel=cancel, job=job, on_preview=on_preview)

    def vary(self, image_id: str, *, on_step: ProgressFn | None = None, cancel: Cancel = None,
             on_preview: PreviewFn | None = None, job=None, **options: Any) -> list[ImageRecord]:
        parent, children, plan = self.planner.plan_variations(image_id, **options)
        return self.rendering.render(children, "vary", parent, plan.to_dict(), on_step=on_step, cancel=cancel,
                                     job=job, on_preview=on_preview)

    def render_planned(self, parent_id: str, children: list[ImageParams], plan: VariationPlan, *,
                       on_step: ProgressFn | None = None, cancel: Cancel = None,
                       on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        """Render children previewed with ``plan_variations`` (exactly those params)."""
        return self.rendering.render(children, "vary", self.library.get(parent_id), plan.to_dict(),
                                     on_step=on_step, cancel=cancel, on_preview=on_preview)

    def upscale(self, source: str | Path, model: str | None = None, scale: float | None = None,
                tile: int | None = None, pre_shrink: float = 1.0, job=None) -> ImageRecord:
        return self.upscaling.upscale(source, model, scale, tile, pre_shrink, job)

    def verify(self, image_id: str) -> VerifyResult:
        """Re-render an image from its record (same batch layout), write nothing, compare pixels."""
        record = self.library.get(image_id)
        return self.upscaling.verify(record) if record.op == "upscale" else self.rendering.verify(record)

    # --- the library --------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        return self.library.get(image_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, ImageRecord]:
        return self.library.get_many(ids)

    def resolve(self, image_id: str) -> str:
        return self.library.resolve(image_id)

    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        return self.library.search(query)

    def lineage(self, image_id: str) -> dict[str, Any]:
        return self.library.lineage(image_id)

    def stats(self) -> dict[str, Any]:
        return self.library.stats()

    def rating_stats(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        return self.library.rating_stats(by, query)

    def tags(self) -> list[tuple[str, int]]:
        return self.library.tags()

    def compare(self, ids: Iterable[str]) -> dict[str, Any]:
        return self.library.compare(ids)

    def infotext(self, record: ImageRecord) -> str:
        return self.library.infotext(record)

    def path_of(self, record: ImageRecord) -> Path:
        return self.library.path_of(record)

    def location_of(self, record: ImageRecord) -> str:
        return self.library.location_of(record)

    def thumbnail(self, record: ImageRecord) -> Path:
        return self.library.thumbnail(record)

    def rate(self, image_id: str, stars: int) -> ImageRecord:
        return self.library.rate(image_id, stars)

    def favorite(self, image_id: str, on: bool = True) -> ImageRecord:
        return self.library.favorite(image_id, on)

    def tag(self, image_id: str, tags: Iterable[str], remove: bool = False) -> ImageRecord:
        return self.library.tag(image_id, tags, remove)

    def delete(self, image_id: str) -> ImageRecord:
        return self.library.delete(image_id)

    def restore(self, image_id: str) -> ImageRecord:
        return self.library.restore(image_id)

    # --- import, reindex, export -----------------------------------------------------------
    def import_paths(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        return self.archive.import_paths(paths)

    def import_files(self, items: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        return self.archive.import_files(items)

    def reindex(self) -> dict[str, Any]:
        return self.archive.reindex()

    def export(self, query: SearchQuery, target: str | Path) -> dict[str, Any]:
        return self.archive.export(query, target)

    # --- the queue ----------------------------------------------------------------------------
    def queue_plan(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
                   ) -> list[JobRecord]:
        return self.queue.plan(path, defaults, name)

    def queue_add(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
                  ) -> list[JobRecord]:
        return self.queue.add(path, defaults, name)

    def queue_add_text(self, text: str, suffix: str = ".txt", defaults: dict[str, Any] | None = None,
                       name: str = "typed prompts", then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
        return self.queue.add_text(text, suffix, defaults, name, then)

    def queue_list(self, status: str | None = None) -> list[JobRecord]:
        return self.queue.list(status)

    def queue_counts(self) -> dict[str, int]:
        return self.queue.counts()

    def queue_cancel(self, job_id: str) -> JobRecord:
        return self.queue.cancel(job_id)

    def queue_retry(self, job_id: str) -> JobRecord:
        return self.queue.retry(job_id)

    def queue_runner(self, poll_seconds: float = 1.0):
        return self.queue.runner(poll_seconds)


def queue_in_flight(device: str | None = None) -> int:
    """Queue jobs a local studio keeps in flight (``GWEN_QUEUE_IN_FLIGHT``; by default 2 on a CUDA GPU, else 1).
    Renders take turns on the engine's device thread; a second job overlaps the last one's PNG encoding, fsyncs and
    commit. On a CPU those take cores from the render itself (tiny model, 2 cores: 0.93x a bare loop with two,
    0.99x with one, bench/queue_throughput.py); a GPU renders without the CPU's cores, so there the overlap is
    free (bench/gpu.py measures both)."""
    import os

    from gwen.memory import likely_device

    try:
        return max(1, int(os.environ["GWEN_QUEUE_IN_FLIGHT"]))
    except (KeyError, ValueError):
        return 2 if likely_device(device).startswith("cuda") else 1
