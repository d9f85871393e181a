"""Planning an edit of a catalog image: Vary (Region), Pan, Zoom Out. Every input is checked here, before anything
renders or is written.

Contract:
- ``plan_region(planner, image_id, box=, mask=, ...)``, ``plan_pan(planner, image_id, side, fraction, ...)`` and
  ``plan_zoom(planner, image_id, factor, ...)`` return an ``EditPlan``: the parent's record, the children's
  params (the parent's settings, its prompt unless a new one is given, seeds ``seed, seed+1, ...``, the parent
  as ``init_image_id``, the strength as ``denoise``, the new size, and the ``edit``: ``gwen.edit_spec``), the
  mask's PNG bytes (by ``gwen.edit_render.mask_key``) and what the catalog records of how they were made.
- Refused with ``InvalidInput`` naming the value and the rule: a box outside the image or empty, a mask that is
  not the image's size or marks nothing or everything, neither or both of box and mask, a side not in
  left/right/up/down, a fraction outside (0, 1], a zoom factor outside (1, 4], a canvas over the size limits, a
  strength outside (0, 1], a bad n, seed, prompt or mask blur; ``NotFound`` for an unknown image. An image
  without complete generation parameters (an import from elsewhere, an upscale) cannot be edited: its params
  say which model and prompt to redraw with.
- Nothing here renders or writes.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import Any

from PIL import Image

from gwen.edit_render import mask_key
from gwen.edit_spec import DEFAULT_MASK_BLUR, build_spec
from gwen.editing import box_mask, check_size, geometry, mask_for, mask_png, read_mask, sha256
from gwen.errors import InvalidInput
from gwen.params import MAX_IMAGES_PER_REQUEST, MAX_SEED, SIZE_MULTIPLE, ImageParams, check_prompt
from gwen.planning import check_n
from gwen.records import ImageRecord

INPAINT_STRENGTH = 0.75  # A1111's default denoising strength for inpainting
OUTPAINT_STRENGTH = 0.9  # pan and zoom: the new area is redrawn from its stretched edges, nearly from scratch
PLACEHOLDER_SHA = "0" * 64  # the spec is checked before its mask exists


@dataclass(frozen=True)
class EditPlan:
    parent: ImageRecord
    children: list[ImageParams]
    masks: dict[str, bytes]
    plan: dict[str, Any]


def plan_region(planner, image_id: str, *, box=None, mask: bytes | None = None, prompt: str | None = None,
                n: int = 4, strength: float | None = None, seed: int | None = None,
                mask_blur: int | None = None) -> EditPlan:
    if (box is None) == (mask is None):
        raise InvalidInput("vary region: give either a box (x, y, w, h in the image's pixels) or a mask (a PNG of "
                           f"the image's size, white = redraw), not {'both' if box is not None else 'neither'}")
    parent, params = _source(planner, image_id)
    box = tuple(box) if isinstance(box, (list, tuple)) else box
    spec = build_spec(kind="inpaint", mask_sha256=PLACEHOLDER_SHA, box=box, mask_blur=_blur(mask_blur))
    size = (parent.width, parent.height)
    if box is not None:
        drawn = box_mask(size, spec.box)
    elif isinstance(mask, (bytes, bytearray)):
        drawn = read_mask(bytes(mask), size)
    else:
        raise InvalidInput(f"mask of type {type(mask).__name__}: must be the bytes of a PNG the image's size")
    return _plan(parent, params, spec, drawn, prompt, n, strength, seed, INPAINT_STRENGTH)


def plan_pan(planner, image_id: str, side: str, fraction: float, *, prompt: str | None = None, n: int = 4,
             strength: float | None = None, seed: int | None = None, mask_blur: int | None = None) -> EditPlan:
    spec = build_spec(kind="pan", mask_sha256=PLACEHOLDER_SHA, side=side, fraction=fraction,
                      mask_blur=_blur(mask_blur))
    parent, params = _source(planner, image_id)
    return _plan(parent, params, spec, None, prompt, n, strength, seed, OUTPAINT_STRENGTH)


def plan_zoom(planner, image_id: str, factor: float, *, prompt: str | None = None, n: int = 4,
              strength: float | None = None, seed: int | None = None, mask_blur: int | None = None) -> EditPlan:
    spec = build_spec(kind="zoom", mask_sha256=PLACEHOLDER_SHA, factor=factor, mask_blur=_blur(mask_blur))
    parent, params = _source(planner, image_id)
    return _plan(parent, params, spec, None, prompt, n, strength, seed, OUTPAINT_STRENGTH)


def _source(planner, image_id: str) -> tuple[ImageRecord, ImageParams]:
    parent = planner.library.get(image_id)  # NotFound first
    params = planner.params_of(parent)  # InvalidInput: no complete generation parameters
    if parent.width % SIZE_MULTIPLE or parent.height % SIZE_MULTIPLE:
        raise InvalidInput(f"image {parent.id} is {parent.width}x{parent.height}: an edit needs sides that are "
                           f"multiples of {SIZE_MULTIPLE}")
    return parent, params


def _plan(parent: ImageRecord, params: ImageParams, spec, drawn: Image.Image | None, prompt, n, strength, seed,
          default_strength: float) -> EditPlan:
    size = (parent.width, parent.height)
    found = geometry(spec, size)
    check_size(spec, found)
    check_n(n)
    strength = default_strength if strength is None else _strength(strength)
    if prompt is not None:
        check_prompt(prompt)
    seed = _seed(seed, n)
    png = mask_png(drawn if drawn is not None else mask_for(spec, size))
    spec = spec.model_copy(update={"mask_sha256": sha256(png)})
    new_prompt = prompt is not None and prompt != params.prompt
    base = params.replace(prompt=prompt if prompt is not None else params.prompt, seed=seed, variations=(),
                          init_image_id=parent.id, denoise=strength, width=found.size[0], height=found.size[1],
                          edit=spec.to_dict(), styles=() if new_prompt else params.styles)  # a new prompt: as typed
    children = [base] + [base.replace(seed=seed + i) for i in range(1, n)]
    plan = {"modes": [spec.kind], "strength": strength, "edit": spec.describe(), "remix": prompt is not None}
    return EditPlan(parent, children, {mask_key(spec): png}, plan)


def _strength(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or not (0 < value <= 1):
        raise InvalidInput(f"strength={value!r}: must be greater than 0 and at most 1 (how much of it is redrawn)")
    return float(value)


def _blur(value: Any) -> int:
    return DEFAULT_MASK_BLUR if value is None else value


def _seed(seed: Any, n: int) -> int:
    if seed is None:
        return secrets.randbelow(MAX_SEED - MAX_IMAGES_PER_REQUEST)
    if isinstance(seed, bool) or not isinstance(seed, int) or not (0 <= seed <= MAX_SEED - n + 1):
        raise InvalidInput(f"seed={seed!r}: must be an integer from 0 to {MAX_SEED - n + 1} (the {n} images take "
                           "seed, seed+1, ...)")
    return seed
