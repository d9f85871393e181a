"""THE FACADE: everything a front end (CLI, pages, HTTP service) may ask of GWEN.

Contract:
- Front ends call ``Studio`` and nothing below it. Methods take plain values,
  validate them first (``InvalidInput``/``NotFound`` before any write), and
  return ``ImageRecord``s or plain dicts.
- Durability: every new image is written as a complete PNG (atomic rename)
  *before* its catalog row; user marks go to the journal before the row. So
  ``reindex`` can rebuild the whole catalog from ``images/`` + the journal.
- The engine (torch, diffusers) is created lazily, on the first render, and
  keeps one model resident; the catalog opens on first use.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from PIL import Image

from gwen import files, variation
from gwen.catalog import Catalog, ImageRecord, SearchQuery
from gwen.boundary import ModelBoundary
from gwen.config import Settings, gwen_home, save_setting
from gwen.errors import GwenError, ImageRejected, InvalidInput, ModelUnavailable
from gwen.importer import plan_import, stored_text
from gwen.journal import JobJournal, Journal, apply_marks
from gwen.params import MAX_IMAGES_PER_REQUEST, MAX_SEED, ImageParams, canonical_json
from gwen.pnginfo import chunks_for, read_metadata
from gwen.presets import default_model, preset_for, preset_named

ProgressFn = Callable[[int, int], None]
PreviewFn = Callable[[int, list[Image.Image]], None]  # (index of the first image, cheap previews)
IMPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_WRITERS = 4  # files of one grid written side by side


@dataclass(frozen=True)
class VerifyResult:
    image_id: str
    max_diff: int  # 0..255
    mean_diff: float
    batch_size: int  # layout re-rendered (1 = single run)

    @property
    def identical(self) -> bool:
        return self.max_diff == 0


class Studio:
    def __init__(self, home: str | Path | None = None, settings: Settings | None = None, engine=None,
                 confine_models: bool = False):
        """``engine``: share one ``gwen.engine.Engine`` (and its resident model) between studios.
        ``confine_models``: open model and upscaler files only inside ``$GWEN_HOME/models`` (``gwen serve``)."""
        self.home = gwen_home(home)
        self.boundary = ModelBoundary(self.home / "models", confined=confine_models)
        self.settings = settings or Settings.load(self.home)
        self.journal = Journal(self.home / "journal.jsonl")
        self._catalog: Catalog | None = None
        self._engine = engine
        self._upscaler = None
        self._lock = threading.RLock()

    # --- plumbing -----------------------------------------------------------
    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            self._catalog = Catalog(self.home / "gwen.duckdb")
        return self._catalog

    @property
    def engine(self):
        if self._engine is None:
            from gwen.engine import Engine

            self._engine = Engine(self.boundary, device=self.settings.device, dtype=self.settings.dtype,
                                  max_batch=self.settings.max_batch)
        return self._engine

    @property
    def upscaler(self):
        if self._upscaler is None:
            from gwen.upscale import Upscaler

            self._upscaler = Upscaler(device=self.settings.device)
        return self._upscaler

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None

    def default_model(self) -> str:
        if self.settings.model:
            return self.settings.model
        from gwen.memory import likely_device

        return default_model(likely_device(self.settings.device))

    def default_upscaler(self) -> str:
        from gwen.upscale import DEFAULT_UPSCALER

        return self.settings.upscaler or DEFAULT_UPSCALER

    def set_default_model(self, ref: str) -> str:
        """Make ``ref`` the default model from now on (this process, and ``settings.toml`` for the next)."""
        from gwen.engine import resolve_model

        ref = str(ref or "").strip()
        if not ref:
            raise InvalidInput("model='': name a preset, a Hugging Face id, a folder or a checkpoint file")
        if preset_named(ref) is None:
            resolve_model(ref, self.boundary)  # a path that may be opened, or a well-formed Hub id
        save_setting(self.home, "model", ref)
        self.settings = replace(self.settings, model=ref)
        return ref

    def set_default_upscaler(self, ref: str) -> str:
        """Make ``ref`` (a preset or a model file) the default upscaler from now on."""
        from gwen.upscale import UPSCALER_PRESETS

        ref = str(ref or "").strip()
        if ref not in UPSCALER_PRESETS:
            located = self.boundary.locate(ref, "upscaler") if ref else None
            if located is None or not located.is_file():
                raise InvalidInput(f"upscaler {ref!r}: not a preset ({', '.join(UPSCALER_PRESETS)}) and no such file")
        save_setting(self.home, "upscaler", ref)
        self.settings = replace(self.settings, upscaler=ref)
        return ref

    def check_model(self, ref: str | None) -> None:
        """Refuse now (InvalidInput/ModelUnavailable) a model reference that could never load here: a path this
        studio may not open, a folder that is no pipeline; no network, no torch (a queue batch's check)."""
        from gwen.engine import resolve_model

        if ref and preset_named(ref) is None:
            resolve_model(ref, self.boundary)

    def check_upscaler(self, ref: str | None) -> None:
        """Like ``check_model`` for an upscaler: a preset (downloaded when it runs) or a file that may be opened."""
        from gwen.upscale import UPSCALER_PRESETS

        if ref and ref not in UPSCALER_PRESETS:
            located = self.boundary.locate(ref, "upscaler")
            if located is None or not located.is_file():
                raise ModelUnavailable(f"upscaler {ref!r}: not a preset ({', '.join(UPSCALER_PRESETS)}) and no "
                                       "such file", model=ref, reason="missing")

    def model_status(self, ref: str | None = None) -> dict[str, Any]:
        """What rendering with ``ref`` (default: the default model) needs first, without network or torch:
        ``ready``, ``download``, ``builds`` (the tiny demo) or ``missing``."""
        from gwen import hub

        ref = ref or self.default_model()
        preset = preset_for(ref)
        return {"model": ref, "label": preset.label if preset else ref,
                "availability": hub.availability(ref, self.boundary),
                "from_environment": bool(os.environ.get("GWEN_MODEL")) and ref == os.environ.get("GWEN_MODEL")}

    def path_of(self, record: ImageRecord) -> Path:
        return self.home / record.path

    def location_of(self, record: ImageRecord) -> str:
        """Where the image's file is, as shown to a user (a path here; a URL for the remote studio)."""
        return str(self.path_of(record))

    def thumbnail(self, record: ImageRecord) -> Path:
        """A cached WebP thumbnail (256 px) of the image, made on first use."""
        return files.make_thumbnail(self.home, record.id, self.path_of(record))

    # --- making images ------------------------------------------------------------
    def plan_generate(self, prompt: str, *, negative: str = "", model: str | None = None, n: int = 4,
                      seed: int | None = None, steps: int | None = None, guidance: float | None = None,
                      width: int | None = None, height: int | None = None,
                      scheduler: str | None = None, variations: Iterable[dict] | None = None) -> list[ImageParams]:
        """The validated params of a grid: seeds ``seed, seed+1, ...``; unset values from the model's preset.
        ``variations``: a noise chain to keep (``[{"seed", "strength"}, ...]``, as "use these settings" of a
        variation carries it): every image of the grid then starts from its seed's noise slerped along it."""
        _check_n(n)
        model = model or self.default_model()
        preset = preset_for(model)
        if seed is None:
            seed = secrets.randbelow(MAX_SEED - MAX_IMAGES_PER_REQUEST)
        base = ImageParams.build(
            prompt=prompt, negative_prompt=negative, model=model,
            steps=steps if steps is not None else (preset.steps if preset else 25),
            guidance=guidance if guidance is not None else (preset.guidance if preset else 7.0),
            width=width if width is not None else (preset.size if preset else 512),
            height=height if height is not None else (preset.size if preset else 512),
            scheduler=scheduler or (preset.scheduler if preset else "Euler a"), seed=seed,
            variations=tuple(variations or ()))
        return [base] + [base.replace(seed=seed + i) for i in range(1, n)]

    def generate(self, prompt: str, *, on_step: ProgressFn | None = None, cancel: threading.Event | None = None,
                 on_preview: PreviewFn | None = None, **options: Any) -> list[ImageRecord]:
        params = self.plan_generate(prompt, **options)
        return self._render_and_store(params, "generate", None, None, on_step, cancel, on_preview=on_preview)

    def render_params(self, params: list[ImageParams], *, on_step: ProgressFn | None = None,
                      cancel: threading.Event | None = None, job=None) -> list[ImageRecord]:
        """Render already-planned root params (e.g. a queued generate job) as ``op=generate``."""
        return self._render_and_store(params, "generate", None, None, on_step, cancel, job)

    def reroll(self, image_id: str, n: int = 4, seed: int | None = None, *, on_step: ProgressFn | None = None,
               cancel: threading.Event | None = None, job=None, on_preview: PreviewFn | None = None
               ) -> list[ImageRecord]:
        parent = self.catalog.get(image_id)
        children = variation.reroll(self._params_of(parent), n, seed)
        return self._render_and_store(children, "reroll", parent, {"modes": ["reroll"]}, on_step, cancel, job,
                                      on_preview=on_preview)

    def plan_variations(self, image_id: str, strength: str | float = "subtle", modes: str | Iterable[str] = "mix",
                        n: int = 4, prompt: str | None = None, locks: Iterable[str] = (),
                        guidance_range: tuple[float, float] | None = None,
                        steps_range: tuple[int, int] | None = None, schedulers: Iterable[str] | None = None,
                        seed: int | None = None, model: str | None = None
                        ) -> tuple[ImageRecord, list[ImageParams], variation.VariationPlan]:
        """Sample (without rendering) the children of ``image_id``: the UI's preview table. ``model`` renders
        the children with another model than the parent's (an imported image whose model is not here)."""
        parent = self.catalog.get(image_id)
        value, preset = variation.parse_strength(strength)
        plan = variation.VariationPlan(value, variation.parse_modes(modes), preset, prompt)
        ranges_kwargs: dict[str, Any] = {"locks": frozenset(locks)}
        if guidance_range is not None:
            ranges_kwargs["guidance"] = tuple(guidance_range)
        if steps_range is not None:
            ranges_kwargs["steps"] = tuple(steps_range)
        if schedulers is not None:
            from gwen.params import canonical_scheduler
            ranges_kwargs["schedulers"] = tuple(canonical_scheduler(s) for s in schedulers)
        ranges = variation.JitterRanges(**ranges_kwargs)
        if seed is None:
            seed = secrets.randbelow(MAX_SEED)
        children = variation.sample_children(self._params_of(parent), parent.id, n, plan, ranges, seed)
        if model:
            children = [child.replace(model=model) for child in children]
        return parent, children, plan

    def vary(self, image_id: str, *, on_step: ProgressFn | None = None, cancel: threading.Event | None = None,
             job=None, on_preview: PreviewFn | None = None, **options: Any) -> list[ImageRecord]:
        parent, children, plan = self.plan_variations(image_id, **options)
        return self._render_and_store(children, "vary", parent, plan.to_dict(), on_step, cancel, job,
                                      on_preview=on_preview)

    def render_planned(self, parent_id: str, children: list[ImageParams], plan: variation.VariationPlan, *,
                       on_step: ProgressFn | None = None, cancel: threading.Event | None = None,
                       on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        """Render children previewed with ``plan_variations`` (exactly those params)."""
        parent = self.catalog.get(parent_id)
        return self._render_and_store(children, "vary", parent, plan.to_dict(), on_step, cancel,
                                      on_preview=on_preview)

    def _params_of(self, record: ImageRecord) -> ImageParams:
        """The generation params of a record (an imported record's extra metadata, such as its model hash or
        the sampler name another tool wrote, is kept on the record but is not a parameter)."""
        try:
            params = ImageParams.from_json({k: v for k, v in record.params.items() if k in ImageParams.model_fields})
        except InvalidInput as exc:
            raise InvalidInput(f"image {record.id} has no complete generation parameters "
                               f"(op={record.op}, imported from {record.import_source or 'GWEN'}): {exc}") from None
        return self._local_model(params, record)

    def _local_model(self, params: ImageParams, record: ImageRecord) -> ImageParams:
        """A record made elsewhere may name a model path of that machine (an imported PNG): render with the
        copy in this models folder, found by name or by its A1111 hash, or refuse (``gwen.boundary``)."""
        if preset_named(params.model) is not None:
            return params
        located = self.boundary.locate(params.model, "model",
                                       model_hash=record.params.get("model_hash") or record.model_hash)
        return params if located is None or str(located) == params.model else params.replace(model=str(located))

    def _init_images(self, params: list[ImageParams]) -> dict[str, Image.Image]:
        images = {}
        for init_id in {p.init_image_id for p in params if p.init_image_id}:
            record = self.catalog.get(init_id)
            with Image.open(self.path_of(record)) as im:
                images[init_id] = im.convert("RGB")
        return images

    def _render_and_store(self, params: list[ImageParams], op: str, parent: ImageRecord | None,
                          plan: dict | None, on_step: ProgressFn | None,
                          cancel: threading.Event | None, job=None, *,
                          on_preview: PreviewFn | None = None) -> list[ImageRecord]:
        """Render, write every file (atomically), then insert the rows in one transaction.

        With a queue ``job``, ids are derived from the job (a re-run after a crash writes the same paths),
        images already cataloged are neither rewritten nor re-inserted, and the rows commit together
        with the job's completion.
        """
        from gwen.engine import check_available, versions

        for model in dict.fromkeys(p.model for p in params):
            check_available(model, self.boundary)  # fails fast (no torch import) when it cannot load
        with self._lock:
            init_images = self._init_images(params)
            engine = self.engine
            rendered = engine.render(params, init_images, on_step, cancel, on_preview)
            loaded = engine._loaded
            ids = [job.image_id(k) if job else files.new_id() for k in range(len(rendered))]
            existing = self.catalog.get_many(ids) if job else {}
            batch_ids: dict[int, str] = {}
            records, fresh = [], []
            for item, image_id in zip(rendered, ids):
                batch_id = batch_ids.setdefault(item.chunk, job.derived_id("batch", item.chunk) if job
                                                else files.new_id())
                if image_id in existing:
                    records.append(existing[image_id])
                    continue
                record = ImageRecord(
                    id=image_id, created_at=datetime.now(timezone.utc),
                    path=str(files.image_path(self.home, image_id).relative_to(self.home)),
                    width=item.image.width, height=item.image.height, op=op,
                    parent_id=parent.id if parent else None, root_id=parent.root_id if parent else image_id,
                    params=item.params.to_dict(), params_hash=item.params.params_hash(), variation=plan,
                    batch={"id": batch_id, "index": item.index, "size": item.size},
                    model_hash=loaded.model_hash if loaded else None, duration_ms=round(item.chunk_ms / item.size, 1),
                    device=engine.device, dtype=engine.dtype_name, versions=versions())
                records.append(record)
                fresh.append((record, item))
            written = [record for record, _ in fresh]
            try:
                self._write_files([(record, item.image, item.params.infotext(self._infotext_extra(record)))
                                   for record, item in fresh])
                # rows after files: a crash in between leaves files that reindex adopts
                self._commit(written, job, records)
            except GwenError:  # a full disk, a busy catalog: undo this grid's files, so nothing was written
                for record in written:
                    self.path_of(record).unlink(missing_ok=True)
                raise
            return records

    def _commit(self, fresh: list[ImageRecord], job, every: list[ImageRecord] | None = None) -> None:
        if job is None:
            self.catalog.insert(fresh)
        else:
            job.commit(fresh, every)

    def _infotext_extra(self, record: ImageRecord) -> dict[str, Any]:
        return {"Model hash": record.model_hash, "GWEN id": record.id,
                "Version": f"GWEN {record.versions.get('gwen', '')}".strip()}

    def _write_file(self, record: ImageRecord, image: Image.Image, infotext: str | None) -> None:
        files.write_png_atomic(self.path_of(record), image, chunks_for(record.file_record(), infotext))

    def _write_files(self, items: list[tuple[ImageRecord, Image.Image, str | None]]) -> None:
        """Write a grid's files side by side: PNG encoding (~45 ms for 512², the GIL released) and the two
        fsyncs per file would otherwise add up, one image after another. Every file is on disk when this
        returns; the first failure is raised after the others have finished."""
        if len(items) <= 1:
            for item in items:
                self._write_file(*item)
            return
        with ThreadPoolExecutor(max_workers=min(len(items), _WRITERS)) as pool:
            for future in [pool.submit(self._write_file, *item) for item in items]:
                future.result()

    # --- upscaling ----------------------------------------------------------------
    def upscale(self, source: str | Path, model: str | None = None, scale: float | None = None,
                tile: int | None = None, pre_shrink: float = 1.0, job=None) -> ImageRecord:
        """Upscale a catalog image (or a file, imported first) into a new child image (op=upscale).
        ``model``: a preset or a file; None = the default upscaler (settings.toml, GWEN_UPSCALER, x4plus)."""
        from gwen.upscale import UpscaleSettings, resolve_upscaler

        model = model or self.default_upscaler()
        settings = UpscaleSettings(tile=tile, pre_shrink=pre_shrink, scale=scale)  # validate before any work
        path = Path(str(source))
        if not files.ID_PATTERN.match(str(source).strip().upper()) and path.is_file():
            parent = self._import_or_existing(path)
        else:
            parent = self.catalog.get(str(source))
        image = files.open_image_checked(self.path_of(parent))
        if job is not None:
            done = self.catalog.get_many([job.image_id(0)])
            if done:  # cataloged before a crash (e.g. adopted by reindex): finish the job, rewrite nothing
                job.commit([], list(done.values()))
                return next(iter(done.values()))
        model_file = resolve_upscaler(model, self.boundary)
        with self._lock:
            loaded = self.upscaler.load(model_file, name=model)
            settings.check_against(loaded.scale, image.width, image.height)
            started = datetime.now(timezone.utc)
            result, tile_used = self.upscaler.upscale(image, loaded, settings)
            elapsed_ms = (datetime.now(timezone.utc) - started).total_seconds() * 1000
            return self._store_upscale(parent, result, loaded, settings, tile_used, elapsed_ms, job)

    def _import_or_existing(self, path: Path) -> ImageRecord:
        outcome = self.import_paths([path])
        if outcome["imported"]:
            return outcome["imported"][0]
        return self.catalog.get(outcome["skipped"][0]["id"])

    def _store_upscale(self, parent: ImageRecord, result: Image.Image, loaded, settings, tile_used: int,
                       elapsed_ms: float, job=None) -> ImageRecord:
        from gwen.engine import versions

        upscale = {"model": loaded.name, "model_file": loaded.path.name, "model_sha256": loaded.sha256,
                   "model_scale": loaded.scale, "scale": result.width / parent.width, "tile": tile_used,
                   "overlap": settings.overlap, "pre_shrink": settings.pre_shrink}
        params = {"prompt": parent.params.get("prompt"), "negative_prompt": parent.params.get("negative_prompt"),
                  "source_id": parent.id, "width": result.width, "height": result.height, "upscale": upscale}
        image_id = job.image_id(0) if job else files.new_id()
        record = ImageRecord(
            id=image_id, created_at=datetime.now(timezone.utc),
            path=str(files.image_path(self.home, image_id).relative_to(self.home)), width=result.width,
            height=result.height, op="upscale", parent_id=parent.id, root_id=parent.root_id, params=params,
            params_hash=hashlib.sha256(canonical_json(params).encode()).hexdigest(), model_hash=loaded.sha256[:10],
            duration_ms=round(elapsed_ms, 1), device=self.upscaler.device, dtype=self.upscaler.dtype_name(loaded), versions=versions())
        parent_info = self.infotext(parent) if parent.params.get("prompt") else ""
        info = (parent_info + (", " if parent_info else "") +
                f"Postprocess upscaler: {loaded.name}, Postprocess upscale by: {upscale['scale']:g}, "
                f"GWEN id: {image_id}")
        self._write_file(record, result, info)
        try:
            self._commit([record], job)
        except GwenError:  # the row could not be written (a full disk, a busy catalog): neither is the file
            self.path_of(record).unlink(missing_ok=True)
            raise
        return record

    # --- queue -----------------------------------------------------------------------
    @property
    def jobs(self):
        from gwen.catalog import JobStore

        return JobStore(self.catalog, JobJournal(self.home / "jobs.jsonl"))

    def queue_plan(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None) -> list:
        """Every job of a batch file, resolved and validated, not yet enqueued; ``name`` is how messages and
        the jobs' sources name the file (an upload's name rather than its temporary path)."""
        from gwen.queue import plan_batch

        return plan_batch(path, defaults or {}, self, name=name)

    def queue_add_text(self, text: str, suffix: str = ".txt", defaults: dict[str, Any] | None = None,
                       name: str = "typed prompts", then: list[dict[str, Any]] | None = None) -> list:
        """Enqueue a batch given as text (typed prompts, an upload's content): parsed as a ``suffix`` batch file,
        named ``name`` in messages and sources; ``then`` adds follow-ups to every generate job."""
        from gwen.queue import parse_batch, plan_entries

        jobs = plan_entries(*parse_batch(text, suffix, name), defaults or {}, self, then=then)
        self.jobs.add(jobs)
        return jobs

    def queue_add(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None) -> list:
        """Plan every job of a batch file (all validated first), then enqueue them together."""
        jobs = self.queue_plan(path, defaults, name)
        self.jobs.add(jobs)
        return jobs

    def queue_list(self, status: str | None = None) -> list:
        return self.jobs.list(status)

    def queue_counts(self) -> dict[str, int]:
        return self.jobs.counts()

    def queue_cancel(self, job_id: str):
        job = self.jobs.resolve(job_id)
        if job.status == "pending":
            if self.jobs.set_status(job.id, "cancelled", "cancelled by the user", only_from=("pending",)):
                return self.jobs.resolve(job.id)
            job = self.jobs.resolve(job.id)  # it started meanwhile
        if job.status == "running":
            self.jobs.request_cancel(job.id)  # the runner stops it at its next step
            return self.jobs.resolve(job.id)
        raise InvalidInput(f"job {job.id} is {job.status}: only pending or running jobs can be cancelled")

    def queue_retry(self, job_id: str):
        job = self.jobs.resolve(job_id)
        if job.status not in ("failed", "cancelled"):
            raise InvalidInput(f"job {job.id} is {job.status}: only failed or cancelled jobs can be retried")
        self.jobs.reset_attempts(job.id)
        self.jobs.set_status(job.id, "pending", only_from=("failed", "cancelled"))
        return self.jobs.resolve(job.id)

    def queue_runner(self, poll_seconds: float = 1.0):
        from gwen.queue import QueueRunner

        return QueueRunner(self, poll_seconds)

    # --- looking ----------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        return self.catalog.get(image_id)

    def get_many(self, ids: list[str]) -> dict[str, ImageRecord]:
        return self.catalog.get_many(list(ids))

    def resolve(self, image_id: str) -> str:
        """The full id of an image id or unique prefix; NotFound otherwise."""
        return self.catalog.resolve(image_id)

    def engine_status(self) -> dict[str, Any]:
        """Which model is resident and on which device, without loading or importing anything."""
        engine = self._engine
        status = {"loaded_model": engine.loaded_model if engine else None,
                  "device": engine.device if engine is not None and engine._device else None,
                  "location": str(self.home), "vram_free_gib": None, "vram_total_gib": None}
        if status["device"] and status["device"].startswith("cuda"):
            import torch
            free, total = torch.cuda.mem_get_info()
            status.update(vram_free_gib=free / 2**30, vram_total_gib=total / 2**30)
        return status

    def infotext(self, record: ImageRecord) -> str:
        """The A1111 infotext stored in the PNG (what A1111/Civitai will read), else one made from the params."""
        try:
            with Image.open(self.path_of(record)) as im:
                stored = (getattr(im, "text", None) or {}).get("parameters")
            if stored:
                return stored
        except OSError:
            pass
        try:
            return ImageParams.from_json(record.params).infotext(self._infotext_extra(record))
        except InvalidInput:
            return "\n".join(f"{k}: {v}" for k, v in record.params.items())

    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        return self.catalog.search(query)

    def lineage(self, image_id: str) -> dict[str, Any]:
        ancestors, descendants = self.catalog.lineage(image_id)
        nodes = ancestors + descendants
        ids = {r.id for r in nodes}
        edges = [{"parent": r.parent_id, "child": r.id, "op": r.op, "strength": _edge_strength(r)}
                 for r in nodes if r.parent_id in ids]
        return {"root": ancestors[0].id if ancestors else image_id, "image": ancestors[-1].id,
                "nodes": [_node(r) for r in nodes], "edges": edges}

    def stats(self) -> dict[str, Any]:
        return self.catalog.stats()

    def rating_stats(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        """Mean rating and count of rated images grouped by a setting (guidance band, steps, scheduler, model),
        among the images ``query`` matches (the Gallery's filters), or all."""
        return self.catalog.rating_by(by, query)

    def compare(self, ids: Iterable[str]) -> dict[str, Any]:
        """2–4 images side by side: their records and only the settings that differ (``gwen.compare``)."""
        from gwen.compare import check_count, compare

        records = [self.catalog.get(i) for i in check_count(ids)]
        return {**compare(records), "images": records}

    def tags(self) -> list[tuple[str, int]]:
        """Tags in use, most used first, with their counts (the tag pickers' suggestions)."""
        return self.catalog.tag_counts()

    def verify(self, image_id: str) -> VerifyResult:
        """Re-render ``image_id`` from its record (same batch layout), write nothing, compare pixels."""
        record = self.catalog.get(image_id)
        if record.op == "upscale":
            return self._verify_upscale(record)
        params = self._params_of(record)
        batch = [params]
        index = 0
        if record.batch and record.batch.get("size", 1) > 1:
            siblings = self.catalog.batch(record.batch["id"])
            if len(siblings) == record.batch["size"]:
                batch = [self._params_of(s) for s in siblings]
                index = record.batch["index"]
        images = self.engine.render_exact(batch, self._init_images(batch))
        return self._compare(record, images[index], len(batch))

    def _verify_upscale(self, record: ImageRecord) -> VerifyResult:
        from gwen.upscale import UpscaleSettings, resolve_upscaler

        up = record.params["upscale"]
        parent = self.catalog.get(record.parent_id)
        model_file = resolve_upscaler(up["model"], self.boundary, download=False)
        loaded = self.upscaler.load(model_file, name=up["model"])
        settings = UpscaleSettings(tile=up["tile"], pre_shrink=up["pre_shrink"], scale=up["scale"],
                                   overlap=up["overlap"])
        with Image.open(self.path_of(parent)) as source:
            fresh, _tile = self.upscaler.upscale(source, loaded, settings)
        return self._compare(record, fresh, 1)

    def _compare(self, record: ImageRecord, fresh: Image.Image, batch_size: int) -> VerifyResult:
        with Image.open(self.path_of(record)) as stored:
            stored_px = np.asarray(stored.convert("RGB"), dtype=np.int16)
        diff = np.abs(stored_px - np.asarray(fresh.convert("RGB"), dtype=np.int16))
        return VerifyResult(record.id, int(diff.max()), float(diff.mean()), batch_size)

    # --- marks (journal first, then row) ---------------------------------------
    def rate(self, image_id: str, stars: int) -> ImageRecord:
        if isinstance(stars, bool) or not isinstance(stars, int) or not (0 <= stars <= 5):
            raise InvalidInput(f"rating={stars!r}: must be an integer from 0 to 5")
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, "rate", stars)
            self.catalog.set_rating(full, stars)
            return self.catalog.get(full)

    def favorite(self, image_id: str, on: bool = True) -> ImageRecord:
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, "favorite", bool(on))
            self.catalog.set_favorite(full, bool(on))
            return self.catalog.get(full)

    def tag(self, image_id: str, tags: Iterable[str], remove: bool = False) -> ImageRecord:
        clean = sorted({_check_tag(t) for t in tags})
        if not clean:
            raise InvalidInput("tags: give at least one tag")
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, "untag" if remove else "tag", clean)
            (self.catalog.remove_tags if remove else self.catalog.add_tags)(full, clean)
            return self.catalog.get(full)

    def delete(self, image_id: str) -> ImageRecord:
        """Soft delete: hidden from search, file and row kept, ``restore`` brings it back."""
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, "delete")
            self.catalog.set_deleted(full, True)
            return self.catalog.get(full)

    def restore(self, image_id: str) -> ImageRecord:
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, "restore")
            self.catalog.set_deleted(full, False)
            return self.catalog.get(full)

    # --- import / reindex / export ------------------------------------------------
    def import_paths(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        """Import image files or folders (see ``import_files``)."""
        return self.import_files([(str(path), path.read_bytes()) for path in _expand(paths)])

    def import_files(self, items: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        """Import images given as (name, bytes), all or nothing: every file is opened and its metadata checked
        first (``gwen.importer``), and if one is refused the error names it and nothing is written. A GWEN file
        keeps its id; a file already in the catalog (same id, or the same bytes imported before) is skipped."""
        from gwen.engine import versions

        plans = [plan_import(name, data, self.home, versions()) for name, data in items]
        imported, skipped, notes = [], [], []
        with self.catalog.session():
            known = self.catalog.all_ids()
            try:
                for plan in plans:
                    record = plan.record
                    existing = record.id if plan.own_record and record.id in known else \
                        self.catalog.find_by_sha256(plan.sha256)
                    if existing or any(r.id == record.id for r in imported):
                        skipped.append({"path": plan.name, "id": existing or record.id,
                                        "reason": f"already in the catalog as {existing or record.id}"})
                        continue
                    if plan.own_record:
                        files.write_bytes_atomic(self.path_of(record), plan.data)
                    else:
                        record = replace(record, file_sha256=plan.sha256)
                        files.write_png_atomic(self.path_of(record), _storable(plan.image),
                                               stored_text(plan, self._maybe_infotext(record)))
                    imported.append(record)
                    notes += [{"path": plan.name, "id": record.id, "note": note} for note in plan.notes]
                self.catalog.insert(imported)  # every row in one transaction, after every file
            except GwenError:  # a full disk half-way: take the files back, so nothing was imported
                for record in imported:
                    self.path_of(record).unlink(missing_ok=True)
                raise
        return {"imported": imported, "skipped": skipped, "notes": notes}

    def _maybe_infotext(self, record: ImageRecord) -> str | None:
        try:
            return ImageParams.from_json({k: v for k, v in record.params.items()
                                          if k in ImageParams.model_fields}).infotext()
        except InvalidInput:
            return None

    def reindex(self) -> dict[str, Any]:
        """Rebuild the catalog from the PNGs' GWEN chunks and replay the journal's marks."""
        removed_tmp = files.remove_stale_temp_files(self.home)
        records, skipped = [], []
        for png in sorted((self.home / "images").glob("**/*.png")):
            try:
                with Image.open(png) as im:
                    meta = read_metadata(im)
            except Exception as exc:  # a damaged file must not stop the rebuild
                skipped.append({"path": str(png), "reason": f"unreadable ({exc})"})
                continue
            if meta.source != "gwen" or meta.record is None or meta.record.get("id") != png.stem:
                skipped.append({"path": str(png), "reason": "no GWEN record matching its file name"})
                continue
            records.append(ImageRecord.from_file_record(meta.record, str(png.relative_to(self.home)),
                                                        meta.record.get("file_sha256")))
        events, skipped_lines = self.journal.read()
        marks = apply_marks(events)
        ids = {r.id for r in records}
        final = []
        for r in records:
            m = marks.get(r.id)
            if m is not None:
                r = ImageRecord(**{**r.__dict__, "rating": m.rating, "favorite": m.favorite,
                                   "tags": tuple(sorted(m.tags)), "deleted": m.deleted})
            final.append(r)
        self.catalog.replace_all(final)
        jobs = self.jobs.restore()
        return {"images": len(final), "marked": len(set(marks) & ids), "skipped": skipped,
                "removed_temp_files": removed_tmp, "journal_lines_skipped": skipped_lines, "jobs": jobs["jobs"],
                "jobs_journal_lines_skipped": jobs["skipped_lines"]}

    def export(self, query: SearchQuery, target: str | Path) -> dict[str, Any]:
        """Matching images as a zip of PNGs, or their params as Parquet/CSV (no paging)."""
        target = Path(target)
        suffix = target.suffix.lower()
        if suffix not in (".zip", ".parquet", ".csv"):
            raise InvalidInput(f"export target {str(target)!r}: must end in .zip, .parquet or .csv")
        if suffix in (".parquet", ".csv"):
            target.parent.mkdir(parents=True, exist_ok=True)
            count = self.catalog.export_rows(query, target, suffix[1:])
            return {"path": str(target), "images": count}
        count, offset = 0, 0
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            while True:
                page, total = self.catalog.search(SearchQuery(**{**query.__dict__, "limit": 500, "offset": offset}))
                for record in page:
                    archive.write(self.path_of(record), f"{record.id}.png")
                    count += 1
                offset += len(page)
                if not page or offset >= total:
                    break
        files.write_bytes_atomic(target, buffer.getvalue())
        return {"path": str(target), "images": count}


def _check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not (1 <= n <= MAX_IMAGES_PER_REQUEST):
        raise InvalidInput(f"n={n!r}: must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}")


def _check_tag(tag: str) -> str:
    clean = str(tag).strip()
    if not clean or len(clean) > 64 or any(c in clean for c in ",\n\r\t"):
        raise InvalidInput(f"tag={tag!r}: 1–64 characters, no commas, tabs or newlines")
    return clean


def _expand(paths: Iterable[str | Path]) -> list[Path]:
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMPORT_SUFFIXES and p.is_file())
        elif path.is_file():
            out.append(path)
        else:
            raise ImageRejected(f"{raw}: no such file or folder")
    if not out:
        raise ImageRejected(f"{', '.join(map(str, paths))}: no images (.png, .jpg, .jpeg, .webp) found")
    return out


def _storable(image: Image.Image) -> Image.Image:
    return image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "I", "I;16", "1") else image.convert("RGBA")


def _edge_strength(record: ImageRecord) -> float | None:
    if record.variation and record.variation.get("strength") is not None:
        return record.variation["strength"]
    return record.params.get("denoise")


def _node(r: ImageRecord) -> dict[str, Any]:
    return {"id": r.id, "op": r.op, "parent_id": r.parent_id, "rating": r.rating, "favorite": r.favorite,
            "prompt": r.params.get("prompt"), "seed": r.params.get("seed"), "path": r.path, "deleted": r.deleted}

