"""Fooocus (2.2+) in its own ``fooocus`` scheme: a JSON object in the PNG ``parameters`` chunk (with a
``fooocus_scheme`` chunk saying ``fooocus``), or in the EXIF UserComment of its JPEG/WebP files (IFD0, with
MakerNote = the scheme and Software = ``Fooocus v2.x``). Its ``a1111`` scheme is A1111 text: see ``a1111``.

Contract:
- ``is_fooocus_json(meta, scheme)``: whether a JSON object is Fooocus's (the scheme says so, its ``version``
  starts with ``Fooocus``, or it has both ``prompt`` and ``base_model``).
- ``read_fooocus(meta)`` returns ``Fields``: prompt and negative_prompt (the user's text; the expanded
  ``full_prompt`` is not the prompt), seed (written as a string), steps, guidance (``guidance_scale``),
  scheduler (``sampler`` + ``scheduler`` ids), width/height (``resolution``, a ``"(1024, 1024)"`` string),
  model / model_hash (``base_model`` / ``base_model_hash``), ``styles`` (a list of names, from its
  ``"['Fooocus V2', ...]"`` string) and ``loras`` (``[[name, weight, hash], ...]``, else ``lora_combined_N`` =
  ``"name : weight"``). Raises ``Damaged`` when none of these is there.
"""

from __future__ import annotations

import re
from typing import Any

from gwen.formats.common import Fields

WHAT = "Fooocus 'parameters' JSON"
_RE_RESOLUTION = re.compile(r"^\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_RE_QUOTED_NAME = re.compile(r"'((?:[^'\\]|\\.)*)'" + r'|"((?:[^"\\]|\\.)*)"')


def is_fooocus_json(meta: dict[str, Any], scheme: str | None = None) -> bool:
    version = meta.get("version")
    return scheme == "fooocus" or (isinstance(version, str) and version.startswith("Fooocus")) \
        or ("prompt" in meta and "base_model" in meta)


def read_fooocus(meta: dict[str, Any]) -> Fields:
    found = Fields()
    found.text("prompt", meta.get("prompt"))
    found.text("negative_prompt", meta.get("negative_prompt"))
    found.int("seed", meta.get("seed"))
    found.int("steps", meta.get("steps"))
    found.float("guidance", meta.get("guidance_scale"), "guidance_scale")
    found.scheduler(meta.get("sampler"), meta.get("scheduler"))
    resolution = meta.get("resolution")
    if resolution is not None:
        size = _RE_RESOLUTION.match(resolution) if isinstance(resolution, str) else None
        if size:
            found.size(size.group(1), size.group(2))
        else:
            found.problems.append(f"resolution={str(resolution)[:40]!r} is not '(width, height)'; left out")
    found.text("model", meta.get("base_model"), "base_model")
    found.text("model_hash", meta.get("base_model_hash"), "base_model_hash")
    styles = meta.get("styles")
    if isinstance(styles, str):
        found.params["styles"] = [a or b for a, b in _RE_QUOTED_NAME.findall(styles)]
    elif isinstance(styles, list) and all(isinstance(s, str) for s in styles):
        found.params["styles"] = list(styles)
    loras = _loras(meta, found)
    if loras:
        found.params["loras"] = loras
    if not found.params:
        raise found.nothing_found(WHAT)
    return found


def _loras(meta: dict[str, Any], found: Fields) -> list[dict[str, Any]]:
    entries = meta.get("loras")
    if isinstance(entries, list):
        out = []
        for entry in entries:
            if isinstance(entry, list) and len(entry) >= 2 and isinstance(entry[0], str) \
                    and isinstance(entry[1], (int, float)) and not isinstance(entry[1], bool):
                lora_hash = entry[2] if len(entry) > 2 and isinstance(entry[2], str) else None
                out.append({"name": entry[0], "weight": float(entry[1]), "hash": lora_hash})
            else:
                found.problems.append(f"a LoRA entry {str(entry)[:60]!r} is not [name, weight, hash]; left out")
        return out
    out = []
    for key in sorted((k for k in meta if k.startswith("lora_combined_")), key=lambda k: k.rsplit("_", 1)[-1].zfill(4)):
        parts = [p.strip() for p in str(meta[key]).split(" : ")]
        try:
            out.append({"name": parts[-2], "weight": float(parts[-1]), "hash": None})
        except (IndexError, ValueError):
            found.problems.append(f"{key}={str(meta[key])[:40]!r} is not 'name : weight'; left out")
    return out
