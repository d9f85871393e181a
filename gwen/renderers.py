"""Rendering an order into finished files, in this process or on the render replicas of a pool.

Contract:
- A ``RenderOrder`` is everything needed to render some images and describe them, and nothing that needs the
  catalog: the params, the op, the parent's record, the variation plan, the ids the images will have, the seed
  of their batch ids, the PNG bytes of any img2img source or edited image (by id) and of any edit's mask (by
  ``gwen.edit_render.mask_key``), and the images per pipeline call. It pickles, so a Ray replica can take it.
- ``render_order(engine, order, home, worker, ...)`` renders it on an engine and returns one ``RenderedFile``
  per image: its ``ImageRecord`` (built by ``gwen.recording``, the only place records are made) and its
  finished PNG bytes (the A1111 infotext and the GWEN record embedded), encoded side by side. It writes nothing:
  the owner of the catalog writes the files, then the rows.
- ``LocalRenderer`` runs orders on this process's engine. ``gwen.scale.PoolRenderer`` (the Ray Serve pool)
  has the same three methods (``render``, ``render_exact``, ``status``), so the rendering service does not
  know which one it drives.
- Batch ids are ``derived_id(batch_seed, "batch", chunk)``: fixed by the order, so a job re-run after a crash,
  or a grid split across replicas, records the same layout.
"""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from gwen import files, recording
from gwen.params import ImageParams
from gwen.pnginfo import chunks_for
from gwen.records import ImageRecord

ENCODERS = 4  # PNGs of one grid encoded side by side (the GIL is released while zlib works)


@dataclass
class RenderOrder:
    params: list[ImageParams]
    op: str
    parent: ImageRecord | None
    plan: dict | None
    image_ids: list[str]
    batch_seed: str
    init_images: dict[str, bytes] = field(default_factory=dict)  # PNG bytes of img2img sources and edit masks
    chunk_size: int | None = None  # images per pipeline call; None: as the renderer's memory allows
    first_chunk: int = 0  # number of this order's first chunk in the whole grid (a pool sends parts)
    order_id: str = ""  # what a cancel names

    def part(self, start: int, stop: int, first_chunk: int) -> "RenderOrder":
        return RenderOrder(self.params[start:stop], self.op, self.parent, self.plan, self.image_ids[start:stop],
                           self.batch_seed, self.init_images, self.chunk_size, first_chunk, self.order_id)


@dataclass
class RenderedFile:
    record: ImageRecord
    png: bytes


def encode_png(image: Image.Image, text: dict[str, str]) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()


def decode_inits(order: RenderOrder) -> dict[str, Image.Image]:
    return {key: Image.open(io.BytesIO(data)).convert("RGB") for key, data in order.init_images.items()}


def render_order(engine, order: RenderOrder, home: Path, worker: str, on_step=None, cancel=None,
                 on_preview=None) -> list[RenderedFile]:
    rendered = engine.render(order.params, decode_inits(order), on_step, cancel, on_preview,
                             chunk_size=order.chunk_size)
    loaded = engine.loaded
    records = []
    for item, image_id in zip(rendered, order.image_ids):
        chunk = order.first_chunk + item.chunk
        records.append(recording.rendered(
            image_id=image_id, home=home, width=item.image.width, height=item.image.height, op=order.op,
            parent=order.parent, params=item.params, plan=order.plan,
            batch={"id": files.derived_id(order.batch_seed, "batch", chunk), "index": item.index, "size": item.size},
            model_hash=loaded.model_hash if loaded else None, duration_ms=item.chunk_ms / item.size,
            device=engine.device, dtype=engine.dtype_name, worker=worker))

    def encode(pair) -> bytes:
        record, item = pair
        info = item.params.infotext(recording.infotext_extra(record))
        return encode_png(item.image, chunks_for(record.file_record(), info))
    pairs = list(zip(records, rendered))
    if len(pairs) == 1:  # one image: a thread pool would cost more (~2 ms) than it overlaps
        pngs = [encode(pairs[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(len(pairs), ENCODERS)) as pool:
            pngs = list(pool.map(encode, pairs))
    return [RenderedFile(record, png) for record, png in zip(records, pngs)]


class LocalRenderer:
    """Orders rendered on this process's engine (created on first use: torch is imported then)."""

    def __init__(self, engine_factory: Callable[[], object], home: Path, worker: str):
        self._factory = engine_factory
        self._engine = None
        self._lock = threading.Lock()
        self.home = home
        self.worker = worker

    @property
    def engine(self):
        with self._lock:
            if self._engine is None:
                self._engine = self._factory()
            return self._engine

    def render(self, order: RenderOrder, on_step=None, cancel=None, on_preview=None) -> list[RenderedFile]:
        return render_order(self.engine, order, self.home, self.worker, on_step, cancel, on_preview)

    def render_exact(self, params: list[ImageParams], init_images: dict[str, Image.Image]) -> list[Image.Image]:
        return self.engine.render_exact(params, init_images)

    def status(self) -> dict:
        """Which model is resident and on which device, without loading or importing anything."""
        engine = self._engine
        if engine is None:
            return {"loaded_model": None, "device": None, "workers": [{"worker": self.worker, "state": "idle"}]}
        loaded = engine.loaded
        return {"loaded_model": engine.loaded_model, "device": engine.device if engine._device else None,
                "compiled": loaded.compiled if loaded is not None else None,
                "workers": [{"worker": self.worker, "state": "ready"}]}
