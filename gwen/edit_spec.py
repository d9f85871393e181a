"""What an edit (Vary Region, Pan, Zoom Out) did, as it is stored in an image's params: ``EditSpec``.

Contract:
- ``EditSpec`` is frozen and rejects unknown fields; a bad value raises (through ``ImageParams.build``)
  ``InvalidInput`` naming the field, the value and the rule.
- ``kind`` is ``inpaint`` (a region of the parent redrawn: a ``box`` x, y, w, h in the parent's pixels, or a
  painted mask), ``pan`` (the canvas extended on one ``side`` by ``fraction`` of the parent's width or height)
  or ``zoom`` (every side extended: the canvas is ``factor`` times larger). The parent is the params'
  ``init_image_id`` and the strength their ``denoise``.
- ``mask_sha256`` names the mask PNG stored beside the image (``<id>.mask.png``: white = redrawn, the size of
  the image); ``mask_blur`` is the feather in pixels (A1111's "Mask blur").
- ``to_dict()`` leaves out the fields that do not apply, so the params' canonical JSON holds only what was used.

No torch, no I/O.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

EDIT_KINDS = ("inpaint", "pan", "zoom")
SIDES = ("left", "right", "up", "down")
MIN_ZOOM, MAX_ZOOM = 1.0, 4.0  # zoom out: factor > 1 and at most 4
MAX_MASK_BLUR = 64
DEFAULT_MASK_BLUR = 4  # A1111's default


class EditSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    mask_sha256: str
    mask_blur: int = DEFAULT_MASK_BLUR
    box: tuple[int, int, int, int] | None = None
    side: str | None = None
    fraction: float | None = None
    factor: float | None = None

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in EDIT_KINDS:
            raise ValueError(f"edit kind={v!r}: must be one of {', '.join(EDIT_KINDS)}")
        return v

    @field_validator("mask_sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError(f"mask_sha256={v!r}: must be 64 lower-case hexadecimal digits")
        return v

    @field_validator("mask_blur", mode="before")
    @classmethod
    def _blur(cls, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not (0 <= v <= MAX_MASK_BLUR):
            raise ValueError(f"mask_blur={v!r}: must be an integer from 0 to {MAX_MASK_BLUR} (pixels)")
        return v

    @field_validator("side")
    @classmethod
    def _side(cls, v: str | None) -> str | None:
        if v is not None and v not in SIDES:
            raise ValueError(f"side={v!r}: must be one of {', '.join(SIDES)}")
        return v

    @field_validator("fraction", mode="before")
    @classmethod
    def _fraction(cls, v: Any) -> float | None:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or not (0 < v <= 1):
            raise ValueError(f"fraction={v!r}: must be greater than 0 and at most 1 (of the image's width or height)")
        return float(v)

    @field_validator("factor", mode="before")
    @classmethod
    def _factor(cls, v: Any) -> float | None:
        if v is None:
            return v
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) \
                or not (MIN_ZOOM < v <= MAX_ZOOM):
            raise ValueError(f"zoom factor={v!r}: must be greater than {MIN_ZOOM:g} and at most {MAX_ZOOM:g} "
                             "(e.g. 1.5 or 2)")
        return float(v)

    @field_validator("box", mode="before")
    @classmethod
    def _box(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, (list, tuple)) or len(v) != 4 or \
                any(isinstance(x, bool) or not isinstance(x, int) for x in v):
            raise ValueError(f"box={v!r}: must be four whole numbers x, y, w, h")
        if v[0] < 0 or v[1] < 0 or v[2] < 1 or v[3] < 1:
            raise ValueError(f"box={tuple(v)!r}: x and y must be at least 0, w and h at least 1")
        return tuple(v)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> "EditSpec":
        wanted = {"inpaint": set(), "pan": {"side", "fraction"}, "zoom": {"factor"}}[self.kind]
        allowed = wanted | ({"box"} if self.kind == "inpaint" else set())
        given = {k for k in ("box", "side", "fraction", "factor") if getattr(self, k) is not None}
        if wanted - given or given - allowed:
            need = ", ".join(sorted(allowed)) or "no box, side, fraction or factor"
            raise ValueError(f"edit kind={self.kind!r}: takes {need}; got {', '.join(sorted(given)) or 'none'}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump(mode="json").items() if v is not None}

    def describe(self) -> str:
        """``inpaint box 8,8,32,32``, ``inpaint mask``, ``pan right 0.5``, ``zoom out 2``."""
        if self.kind == "pan":
            return f"pan {self.side} {self.fraction:g}"
        if self.kind == "zoom":
            return f"zoom out {self.factor:g}"
        return "inpaint " + ("box " + ",".join(map(str, self.box)) if self.box else "mask")


def build_spec(**fields: Any) -> EditSpec:
    """An ``EditSpec``, or ``InvalidInput`` naming each bad value and its rule."""
    from pydantic import ValidationError

    from gwen.errors import InvalidInput

    try:
        return EditSpec(**fields)
    except ValidationError as exc:
        raise InvalidInput("; ".join(str(e.get("msg", "")).removeprefix("Value error, ")
                                     for e in exc.errors())) from None
