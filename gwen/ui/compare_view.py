"""Pictures for the Compare page (pure Pillow): the same display size for every image, and a wipe overlay.

Contract:
- ``same_size(images)`` scales every image to the largest one's size, so that
  side by side they are shown at one display size whatever their pixels
  (a source next to its upscale).
- ``wipe(a, b, position)``: ``a`` on the left of ``position`` (0–100 % of the
  width), ``b`` on the right, with a thin line where they meet; both at the
  larger one's size.
"""

from __future__ import annotations

from PIL import Image, ImageDraw


def same_size(images: list[Image.Image]) -> list[Image.Image]:
    if not images:
        return []
    size = max((im.size for im in images), key=lambda wh: wh[0] * wh[1])
    return [im.convert("RGB") if im.size == size else im.convert("RGB").resize(size, Image.LANCZOS) for im in images]


def wipe(a: Image.Image, b: Image.Image, position: float) -> Image.Image:
    a, b = same_size([a, b])
    cut = round(a.width * min(100.0, max(0.0, position)) / 100)
    out = b.copy()
    out.paste(a.crop((0, 0, cut, a.height)), (0, 0))
    if 0 < cut < a.width:
        ImageDraw.Draw(out).line([(cut, 0), (cut, a.height)], fill=(255, 255, 255), width=max(1, a.width // 256))
    return out
