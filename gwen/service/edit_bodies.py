"""Request bodies of the edit routes (``gwen.service.routes_edits``); unknown fields are refused with 422, bad values
(a side, a fraction, a box outside the image) by the studio with 400."""

from __future__ import annotations

from gwen.service.bodies import Body


class EditBody(Body):
    prompt: str | None = None  # None: the image's own prompt
    n: int = 4
    strength: float | None = None  # None: 0.75 for a region, 0.9 for pan and zoom
    seed: int | None = None
    mask_blur: int | None = None  # None: 4 pixels


class VaryRegionBody(EditBody):
    box: list[int] | None = None  # x, y, w, h in the image's pixels ...
    mask: str | None = None  # ... or a mask: base64 of a PNG the image's size, white = redraw


class PanBody(EditBody):
    side: str  # left, right, up, down
    fraction: float = 0.5


class ZoomBody(EditBody):
    factor: float = 2.0
