"""Upscaling catalog images (Real-ESRGAN and any spandrel model) into new child images, and verifying them.

Contract:
- ``upscale(source, model, scale, tile, pre_shrink)``: ``source`` is an image id, or a file (imported first);
  ``model`` a preset (``tiny`` builds locally) or a file the studio's ``ModelBoundary`` lets it open; None is
  the default upscaler. Settings are validated before any work (``InvalidInput``). The result is a new image
  (``op=upscale``, its parent the source) whose params record the model file, its sha256, the scale, tile,
  overlap and pre-shrink: the file is written first, then the row (with a queue ``job``: in the transaction that
  marks it done; a re-run after a crash finds the image already cataloged and writes nothing).
- ``verify(record)`` re-runs an upscale from its record and compares pixels.
- One upscaler model resident at a time; device work is serialized.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from PIL import Image

from gwen import files, recording
from gwen.errors import GwenError
from gwen.records import ImageRecord, VerifyResult
from gwen.renderers import encode_png
from gwen.pnginfo import chunks_for


class Upscaling:
    def __init__(self, library, archive, boundary, preferences, device: str | None, worker: str):
        self.library = library
        self.archive = archive
        self.boundary = boundary
        self.preferences = preferences
        self.device = device
        self.worker = worker
        self._upscaler = None
        self._lock = threading.RLock()

    @property
    def upscaler(self):
        if self._upscaler is None:
            from gwen.upscale import Upscaler

            self._upscaler = Upscaler(device=self.device)
        return self._upscaler

    def upscale(self, source: str | Path, model: str | None = None, scale: float | None = None,
                tile: int | None = None, pre_shrink: float = 1.0, job=None) -> ImageRecord:
        from gwen.upscale import UpscaleSettings, resolve_upscaler

        model = model or self.preferences.default_upscaler()
        settings = UpscaleSettings(tile=tile, pre_shrink=pre_shrink, scale=scale)  # validate before any work
        parent = self._source(source)
        image = files.open_image_checked(self.library.path_of(parent))
        if job is not None:
            done = self.library.get_many([job.image_id(0)])
            if done:  # cataloged before a crash (e.g. adopted by reindex): finish the job, rewrite nothing
                job.commit([], list(done.values()))
                return next(iter(done.values()))
        model_file = resolve_upscaler(model, self.boundary)
        with self._lock:
            loaded = self.upscaler.load(model_file, name=model)
            settings.check_against(loaded.scale, image.width, image.height)
            started = time.perf_counter()
            result, tile_used = self.upscaler.upscale(image, loaded, settings)
            elapsed_ms = (time.perf_counter() - started) * 1000
        upscale = {"model": loaded.name, "model_file": loaded.path.name, "model_sha256": loaded.sha256,
                   "model_scale": loaded.scale, "scale": result.width / parent.width, "tile": tile_used,
                   "overlap": settings.overlap, "pre_shrink": settings.pre_shrink}
        record = recording.upscaled(
            image_id=job.image_id(0) if job else files.new_id(), home=self.library.home, parent=parent,
            width=result.width, height=result.height, upscale=upscale, model_hash=loaded.sha256[:10],
            duration_ms=elapsed_ms, device=self.upscaler.device, dtype=self.upscaler.dtype_name(loaded),
            worker=self.worker)
        self._store(record, result, parent, job)
        return record

    def _source(self, source: str | Path) -> ImageRecord:
        path = Path(str(source))
        if not files.ID_PATTERN.match(str(source).strip().upper()) and path.is_file():
            outcome = self.archive.import_paths([path])  # a file outside the catalog is imported first
            if outcome["imported"]:
                return outcome["imported"][0]
            return self.library.get(outcome["skipped"][0]["id"])
        return self.library.get(str(source))

    def _store(self, record: ImageRecord, result: Image.Image, parent: ImageRecord, job) -> None:
        parent_info = self.library.infotext(parent) if parent.params.get("prompt") else ""
        up = record.params["upscale"]
        info = (parent_info + (", " if parent_info else "") +
                f"Postprocess upscaler: {up['model']}, Postprocess upscale by: {up['scale']:g}, GWEN id: {record.id}")
        files.write_bytes_atomic(self.library.path_of(record), encode_png(result, chunks_for(record.file_record(),
                                                                                               info)))
        try:
            if job is None:
                self.library.insert([record])
            else:
                job.commit([record])
        except GwenError:  # the row could not be written (a full disk, a busy catalog): neither is the file
            self.library.path_of(record).unlink(missing_ok=True)
            raise

    def verify(self, record: ImageRecord) -> VerifyResult:
        from gwen.rendering import compare_pixels
        from gwen.upscale import UpscaleSettings, resolve_upscaler

        up = record.params["upscale"]
        parent = self.library.get(record.parent_id)
        model_file = resolve_upscaler(up["model"], self.boundary, download=False)
        with self._lock:
            loaded = self.upscaler.load(model_file, name=up["model"])
            settings = UpscaleSettings(tile=up["tile"], pre_shrink=up["pre_shrink"], scale=up["scale"],
                                       overlap=up["overlap"])
            with Image.open(self.library.path_of(parent)) as source:
                fresh, _tile = self.upscaler.upscale(source, loaded, settings)
        return compare_pixels(self.library.path_of(record), record.id, fresh, 1)
