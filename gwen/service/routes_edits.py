"""Routes that edit an image: Vary (Region), Pan, Zoom Out (``gwen.studio_edits``), each the watched render.

``POST /api/images/{id}/vary-region`` (``box`` or base64 ``mask``), ``/pan`` (``side``, ``fraction``) and
``/zoom`` (``factor``), each with ``prompt``, ``n``, ``strength``, ``seed``, ``mask_blur``; they answer
``{"images": [...]}`` like every render. Bad values are the studio's ``InvalidInput`` (400), checked before
anything renders.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter

from gwen.errors import InvalidInput
from gwen.service.edit_bodies import PanBody, VaryRegionBody, ZoomBody
from gwen.service.progress import Progress
from gwen.service.routes_images import images


def decode_mask(text: str | None) -> bytes | None:
    if text is None:
        return None
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("mask: must be base64 of a PNG the image's size (white = redraw)") from None


def router(studio, progress: Progress) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.post("/images/{image_id}/vary-region")
    def vary_region(image_id: str, body: VaryRegionBody) -> dict[str, Any]:
        options = body.model_dump(exclude={"box", "mask"})
        mask = decode_mask(body.mask)
        box = tuple(body.box) if body.box is not None else None
        return images(progress.run("inpaint", lambda s, c, v: studio.vary_region(
            image_id, box=box, mask=mask, on_step=s, cancel=c, on_preview=v, **options)))

    @api.post("/images/{image_id}/pan")
    def pan(image_id: str, body: PanBody) -> dict[str, Any]:
        options = body.model_dump(exclude={"side", "fraction"})
        return images(progress.run("pan", lambda s, c, v: studio.pan(
            image_id, body.side, body.fraction, on_step=s, cancel=c, on_preview=v, **options)))

    @api.post("/images/{image_id}/zoom")
    def zoom(image_id: str, body: ZoomBody) -> dict[str, Any]:
        options = body.model_dump(exclude={"factor"})
        return images(progress.run("zoom", lambda s, c, v: studio.zoom(
            image_id, body.factor, on_step=s, cancel=c, on_preview=v, **options)))

    return api
