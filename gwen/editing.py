"""The pixels of an edit (Vary Region, Pan, Zoom Out): canvas sizes, masks, the starting canvas, the feather, the
blend.

Contract:
- Pure and deterministic: PIL and numpy only (no torch, no files); the same inputs give the same bytes, so
  ``verify`` re-renders an edit exactly.
- ``geometry(spec, parent_size)`` is the new canvas (size and where the parent sits on it): an inpaint keeps the
  parent's size; a pan adds ``fraction`` of the parent's width (left/right) or height (up/down) on one side; a
  zoom adds the same margin on both sides of each axis so the canvas is about ``factor`` times larger. Margins
  are multiples of 8 (at least 8), so the sizes stay multiples of 8. ``check_size`` refuses a canvas over the
  params' limits (``MAX_SIDE`` per side, ``MAX_PIXELS`` in all) with ``InvalidInput`` saying so.
- Masks are the canvas's size, white (255) = redrawn, black (0) = kept: ``box_mask`` (a rectangle),
  ``outpaint_mask`` (the new area plus an overlap band into the parent's edges that border it), ``read_mask``
  (a painted mask: its alpha when it has transparency, else its luminance; binarized at 128; refused when it is
  not the image's size, all black or all white). ``mask_png`` encodes a mask the same way every time.
- ``start_canvas`` is what the pipeline starts from: the parent, or for pan/zoom the new canvas with the
  parent's edge pixels stretched outwards and blurred (its colours, not a blank), the parent pasted in place.
- ``feather(mask, blur)`` ramps from 0 at the mask's edge to 1 about ``2 × blur`` pixels inside it, and is 0
  everywhere outside; ``blend(base, generated, weight)`` pastes the base back: outside the mask the result is
  the base, pixel for pixel.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from gwen.edit_spec import EditSpec
from gwen.errors import InvalidInput
from gwen.params import MAX_PIXELS, MAX_SIDE, SIZE_MULTIPLE

MIN_OVERLAP = 8  # pixels of the parent redrawn along an edge that borders a pan's or zoom's new area


@dataclass(frozen=True)
class Geometry:
    size: tuple[int, int]  # the new canvas (width, height)
    offset: tuple[int, int]  # where the parent's top-left corner sits on it
    parent: tuple[int, int]  # the parent's size


def _margin(length: int, fraction: float) -> int:
    return max(SIZE_MULTIPLE, int(round(length * fraction / SIZE_MULTIPLE)) * SIZE_MULTIPLE)


def geometry(spec: EditSpec, parent: tuple[int, int]) -> Geometry:
    w, h = parent
    if spec.kind == "pan":
        grow = _margin(w if spec.side in ("left", "right") else h, spec.fraction)
        size = (w + grow, h) if spec.side in ("left", "right") else (w, h + grow)
        offset = {"left": (grow, 0), "right": (0, 0), "up": (0, grow), "down": (0, 0)}[spec.side]
        return Geometry(size, offset, parent)
    if spec.kind == "zoom":
        mx, my = _margin(w, (spec.factor - 1) / 2), _margin(h, (spec.factor - 1) / 2)
        return Geometry((w + 2 * mx, h + 2 * my), (mx, my), parent)
    return Geometry(parent, (0, 0), parent)


def check_size(spec: EditSpec, found: Geometry) -> None:
    (w, h), (pw, ph) = found.size, found.parent
    if w > MAX_SIDE or h > MAX_SIDE or w * h > MAX_PIXELS:
        raise InvalidInput(f"{spec.describe()} of the {pw}x{ph} image would make {w}x{h}: over the limit of "
                           f"{MAX_SIDE} pixels per side and {MAX_PIXELS:,} pixels in all; choose a smaller "
                           f"{'fraction' if spec.kind == 'pan' else 'factor'}, or edit a smaller image")


def check_box(box: tuple[int, int, int, int], size: tuple[int, int]) -> None:
    x, y, w, h = box
    if x + w > size[0] or y + h > size[1]:
        raise InvalidInput(f"box=({x}, {y}, {w}, {h}): must lie inside the {size[0]}x{size[1]} image "
                           f"(x + w ≤ {size[0]}, y + h ≤ {size[1]})")


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    check_box(box, size)
    mask = Image.new("L", size, 0)
    x, y, w, h = box
    mask.paste(255, (x, y, x + w, y + h))
    return _not_empty_or_full(mask, f"box=({x}, {y}, {w}, {h})")


def outpaint_mask(found: Geometry, blur: int) -> Image.Image:
    """White where the canvas is new, plus a band of the parent along each edge that borders new area."""
    (cw, ch), (ox, oy), (pw, ph) = found.size, found.offset, found.parent
    overlap = min(max(MIN_OVERLAP, 2 * blur), pw // 4, ph // 4)
    left = ox + (overlap if ox > 0 else 0)
    top = oy + (overlap if oy > 0 else 0)
    right = ox + pw - (overlap if ox + pw < cw else 0)
    bottom = oy + ph - (overlap if oy + ph < ch else 0)
    mask = Image.new("L", (cw, ch), 255)
    mask.paste(0, (left, top, right, bottom))
    return mask


def mask_for(spec: EditSpec, parent: tuple[int, int]) -> Image.Image | None:
    """The mask an edit's geometry defines (box, pan, zoom); None for a painted mask."""
    if spec.kind == "inpaint":
        return box_mask(parent, spec.box) if spec.box else None
    return outpaint_mask(geometry(spec, parent), spec.mask_blur)


def read_mask(data: bytes, size: tuple[int, int], name: str = "mask") -> Image.Image:
    """A painted mask (PNG or any image Pillow reads) as a binary L image of ``size``; InvalidInput otherwise."""
    from gwen.errors import ImageRejected
    from gwen.files import open_image_checked

    try:
        image = open_image_checked(data, name=name)
    except ImageRejected as exc:  # not an image, cut, a bomb: bad input like any other
        raise InvalidInput(str(exc)) from None
    if image.size != tuple(size):
        raise InvalidInput(f"{name} is {image.width}x{image.height}: must be the image's size, {size[0]}x{size[1]}")
    alpha = image.getchannel("A") if "A" in image.getbands() else None
    source = alpha if alpha is not None and alpha.getextrema()[0] < 255 else image.convert("L")
    mask = source.point(lambda v: 255 if v >= 128 else 0).convert("L")
    return _not_empty_or_full(mask, name)


def _not_empty_or_full(mask: Image.Image, name: str) -> Image.Image:
    low, high = mask.getextrema()
    if high == 0:
        raise InvalidInput(f"{name}: marks nothing to redraw (all black); mark the region in white")
    if low == 255:
        raise InvalidInput(f"{name}: covers the whole image (all white); keep some of it, or use V·s / V·S "
                           "(variations) to redraw everything")
    return mask


def mask_png(mask: Image.Image) -> bytes:
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def start_canvas(parent: Image.Image, found: Geometry) -> Image.Image:
    """The parent on the new canvas, the new area filled with its edge pixels stretched outwards and blurred."""
    parent = parent.convert("RGB")
    if found.size == found.parent:
        return parent
    (cw, ch), (ox, oy), (pw, ph) = found.size, found.offset, found.parent
    pads = ((oy, ch - oy - ph), (ox, cw - ox - pw), (0, 0))
    stretched = Image.fromarray(np.pad(np.asarray(parent), pads, mode="edge"))
    canvas = stretched.filter(ImageFilter.GaussianBlur(max(2, max(max(p) for p in pads[:2]) // 4)))
    canvas.paste(parent, (ox, oy))
    return canvas


def feather(mask: Image.Image, blur: int) -> np.ndarray:
    """Weights (H×W float32, 0..1) of the generated pixels: 0 outside the mask, rising to 1 inside it."""
    inside = np.asarray(mask.convert("L"), dtype=np.float32) >= 128
    if blur <= 0:
        return inside.astype(np.float32)
    blurred = np.asarray(mask.convert("L").filter(ImageFilter.GaussianBlur(blur)), dtype=np.float32) / 255.0
    return (np.clip(2.0 * blurred - 1.0, 0.0, 1.0) * inside).astype(np.float32)


def blend(base: Image.Image, generated: Image.Image, weight: np.ndarray) -> Image.Image:
    """``generated`` where ``weight`` is 1, ``base`` where it is 0 (exactly), mixed in between."""
    a = np.asarray(base.convert("RGB"), dtype=np.float32)
    b = np.asarray(generated.convert("RGB").resize(base.size, Image.LANCZOS) if generated.size != base.size
                   else generated.convert("RGB"), dtype=np.float32)
    w = weight[..., None]
    return Image.fromarray(np.rint(a * (1.0 - w) + b * w).clip(0, 255).astype(np.uint8))
