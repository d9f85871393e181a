"""NovelAI: PNG text chunks ``Description`` (the prompt), ``Software`` = ``NovelAI``, ``Source`` (the model and a
short hash, e.g. ``Stable Diffusion XL C1E1DE52``) and ``Comment`` (JSON with the settings); the same fields in
its stealth pixels (a JSON object of those chunks) and in its WebP/JPEG EXIF (UserComment = the Comment JSON).

Contract:
- ``is_novelai(chunks)``: ``Software`` is ``NovelAI``, or ``Comment`` is a JSON object with NovelAI's keys
  (``uc`` or ``request_type``).
- ``read_novelai(chunks, size)`` returns ``Fields``: prompt (Comment ``prompt``, V4's ``v4_prompt`` base caption,
  else ``Description``), negative_prompt (``uc``, else V4's negative base caption), steps, guidance (``scale``),
  seed, scheduler (``sampler`` such as ``k_euler_ancestral`` + ``noise_schedule``), width/height (else the image
  ``size``), model and model_hash (``Source``, split at a trailing 8-hex-digit hash). A damaged ``Comment`` with
  a ``Description`` still gives the prompt (the damage in ``problems``); with neither, ``Damaged``.
"""

from __future__ import annotations

import re
from typing import Any

from gwen.formats.common import Damaged, Fields, json_object, looks_like_json_object

WHAT = "NovelAI 'Comment' JSON"
_RE_SOURCE = re.compile(r"^(.*?)\s+([0-9A-Fa-f]{8})$")


def is_novelai(chunks: dict[str, str]) -> bool:
    if chunks.get("Software", "").strip() == "NovelAI":
        return True
    comment = looks_like_json_object(chunks.get("Comment", ""))
    return comment is not None and ("uc" in comment or "request_type" in comment)


def read_novelai(chunks: dict[str, str], size: tuple[int, int] | None = None) -> Fields:
    found = Fields()
    try:
        comment = json_object(chunks.get("Comment", ""), WHAT)
    except Damaged as exc:
        if not chunks.get("Description"):
            raise
        comment = {}
        found.problems.append(f"{exc.what} is damaged ({exc.reason}); only the prompt (Description) was read")
    found.text("prompt", comment.get("prompt") or _caption(comment.get("v4_prompt")) or chunks.get("Description"))
    found.text("negative_prompt", comment.get("uc") or _caption(comment.get("v4_negative_prompt")), "uc")
    found.int("steps", comment.get("steps"))
    found.float("guidance", comment.get("scale"), "scale")
    found.int("seed", comment.get("seed"))
    found.scheduler(comment.get("sampler"), comment.get("noise_schedule"))
    if "width" in comment or "height" in comment:
        found.size(comment.get("width"), comment.get("height"))
    elif size:
        found.params["width"], found.params["height"] = size
    source = chunks.get("Source", "").strip()
    if source:
        named = _RE_SOURCE.match(source)
        found.params["model"] = named.group(1) if named else source
        if named:
            found.params["model_hash"] = named.group(2)
    if not found.params.get("prompt") and "seed" not in found.params:
        raise found.nothing_found(WHAT)
    return found


def _caption(value: Any) -> str | None:
    """V4's ``{"caption": {"base_caption": ...}}``."""
    caption = value.get("caption") if isinstance(value, dict) else None
    base = caption.get("base_caption") if isinstance(caption, dict) else None
    return base if isinstance(base, str) and base else None
