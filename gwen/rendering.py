"""Rendering images and storing them: the crash-safe path from params to files and rows.

Contract:
- ``render(params, op, parent, plan, ...)`` checks every model can load (``engine.check_available``: no torch,
  one short Hub probe at most) and every LoRA file is there (``gwen.lora.with_hashes``, which also records each
  LoRA's A1111 hash in the params), renders through the renderer it was given (this process's engine, or a Ray Serve
  pool: ``gwen.renderers``), then writes every image's file (atomically, side by side) *before* the rows, which
  go in one transaction, committed behind the call (``Catalog.insert_later``: every later read sees them). A full
  disk or a busy catalog (``GwenError``) before the call returns undoes the files: nothing was written. A full
  disk after it keeps the rows pending (logged) until they can commit.
- With a queue ``job`` (``gwen.queue.JobRun``), image ids and batch ids are derived from the job, images already
  cataloged (by an earlier, interrupted run) are neither rewritten nor re-inserted, and the rows commit in the
  transaction that marks the job done.
- ``verify(record)`` re-renders a generated image from its record in its recorded batch layout, writes nothing,
  and compares pixels (``VerifyResult``).
- Edits (Vary Region, Pan, Zoom Out: params with an ``edit``) carry their mask in the order beside the edited
  image's PNG (``gwen.edit_masks``); each image's mask is written beside it (``<id>.mask.png``), atomically,
  before the image, and both before the rows.
- ``on_step(done, total)``, ``cancel`` (a ``threading.Event``) and ``on_preview(first, images)`` reach the
  renderer; a cancelled render raises ``Cancelled`` and writes nothing. Renders may run side by side (a pool's
  queue keeps several in flight); each renderer serializes its own device work.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np
from PIL import Image

from gwen import files
from gwen.errors import GwenError
from gwen.params import ImageParams
from gwen.records import ImageRecord, VerifyResult
from gwen.renderers import RenderedFile, RenderOrder

WRITERS = 4  # files of one grid written (fsynced) side by side


class Rendering:
    def __init__(self, library, planner, boundary, renderer, chunk_size: int | None = None):
        self.library = library
        self.planner = planner
        self.boundary = boundary
        self.renderer = renderer
        self.chunk_size = chunk_size  # images per pipeline call; a pool fixes it so any split renders alike

    def render(self, params: list[ImageParams], op: str, parent: ImageRecord | None, plan: dict | None, *,
               on_step: Callable | None = None, cancel: threading.Event | None = None, job=None,
               on_preview: Callable | None = None, masks: dict[str, bytes] | None = None) -> list[ImageRecord]:
        from gwen.lora import with_hashes
        from gwen.models import check_available

        for model in dict.fromkeys(p.model for p in params):
            check_available(model, self.boundary)  # fails fast (no torch import) when it cannot load
        params = with_hashes(params, self.boundary)  # a missing LoRA file fails here; records carry the hashes
        ids = [job.image_id(k) if job else files.new_id() for k in range(len(params))]
        inits = self._init_pngs(params, [parent], masks)
        order = RenderOrder(params, op, parent, plan, ids, job.job.id if job else files.new_id(), inits,
                            self.chunk_size, order_id=ids[0])
        # a job re-run after a crash: the images whose files are there may be cataloged (reindex adopts files)
        existing = self.library.get_many([i for i in ids if files.image_path(self.library.home, i).exists()]
                                         ) if job else {}
        rendered = self.renderer.render(order, on_step=on_step, cancel=cancel, on_preview=on_preview)
        fresh = [item for item in rendered if item.record.id not in existing]
        records = [existing.get(item.record.id, item.record) for item in rendered]
        self._store(fresh, records, job, inits)
        return records

    def _store(self, fresh: list[RenderedFile], every: list[ImageRecord], job, inits: dict[str, bytes]) -> None:
        """Files first (atomically, side by side; an edit's mask before its image), then the rows; a GwenError in
        between undoes the files."""
        try:
            # a queue job's files are fsynced by its group commit, beside the next render (gwen.queue_group)
            self._write_files(fresh, inits, durable=job is None)
            if job is None:
                self.library.insert_later([item.record for item in fresh])
            else:
                job.commit([item.record for item in fresh], every)
        except GwenError:  # a full disk, a busy catalog: nothing of this grid stays behind
            for item in fresh:
                self.library.path_of(item.record).unlink(missing_ok=True)
                files.mask_path(self.library.path_of(item.record)).unlink(missing_ok=True)
            raise

    def _write_files(self, items: list[RenderedFile], inits: dict[str, bytes], durable: bool = True) -> None:
        def write(item: RenderedFile) -> None:
            path = self.library.path_of(item.record)
            edit = item.record.params.get("edit")
            if edit:  # the mask first: an edited image never exists without it
                files.write_bytes_atomic(files.mask_path(path), inits[f"mask:{edit['mask_sha256']}"], durable)
            files.write_bytes_atomic(path, item.png, durable)
        if len(items) <= 1:
            for item in items:
                write(item)
            return
        with ThreadPoolExecutor(max_workers=min(len(items), WRITERS)) as pool:
            for future in [pool.submit(write, item) for item in items]:
                future.result()  # the first failure, after the others finished

    def _init_pngs(self, params: list[ImageParams], records=(), masks: dict[str, bytes] | None = None
                   ) -> dict[str, bytes]:
        """The PNG bytes of every img2img source and edited image, by id, and of every edit's mask (by
        ``gwen.edit_render.mask_key``: given, stored beside one of ``records``, or rebuilt)."""
        from gwen.edit_masks import masks_for

        out = {}
        for init_id in {p.init_image_id for p in params if p.init_image_id}:
            out[init_id] = self.library.path_of(self.library.get(init_id)).read_bytes()
        return {**out, **masks_for(params, out, records, self.library.path_of, masks)}

    def verify(self, record: ImageRecord) -> VerifyResult:
        params = self.planner.params_of(record)
        batch, index, siblings = [params], 0, []
        if record.batch and (record.batch.get("size") or 1) > 1:
            siblings = self.library.batch(record.batch["id"])
            if len(siblings) == record.batch["size"]:
                batch = [self.planner.params_of(s) for s in siblings]
                index = record.batch["index"]
        pngs = self._init_pngs(batch, [record, *siblings])
        inits = {key: Image.open(io.BytesIO(data)).convert("RGB") for key, data in pngs.items()}
        images = self.renderer.render_exact(batch, inits)
        return compare_pixels(self.library.path_of(record), record.id, images[index], len(batch))

    def status(self) -> dict[str, Any]:
        return self.renderer.status()


def compare_pixels(path, image_id: str, fresh: Image.Image, batch_size: int) -> VerifyResult:
    with Image.open(path) as stored:
        stored_px = np.asarray(stored.convert("RGB"), dtype=np.int16)
    diff = np.abs(stored_px - np.asarray(fresh.convert("RGB"), dtype=np.int16))
    return VerifyResult(image_id, int(diff.max()), float(diff.mean()), batch_size)
