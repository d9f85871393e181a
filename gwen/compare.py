"""Compare 2–4 images: which of their settings differ (pure: records in, rows out; no I/O).

Contract:
- ``compare(records)`` takes 2 to 4 ``ImageRecord``s (distinct) and returns
  ``{"ids": [...], "differences": [{"parameter", "values"}], "same": [...]}``:
  every generation parameter (prompt, negative prompt, model, scheduler, steps,
  guidance, size, seed, noise chain, img2img source and denoise, edit, upscaler
  settings) and the record's facts (operation, parent, model hash, rating,
  favorite, tags), flattened to readable text; ``differences`` keeps only the
  rows where the images disagree, in a fixed order, and ``same`` names the
  settings they share (settings none of them has are left out). A value an
  image does not have is ``None``.
- Bad input (fewer than 2, more than 4, the same image twice) raises
  ``InvalidInput`` naming the rule.
"""

from __future__ import annotations

from typing import Any, Iterable

from gwen.errors import InvalidInput
from gwen.records import ImageRecord

MIN_IMAGES, MAX_IMAGES = 2, 4
ORDER = ("prompt", "negative_prompt", "model", "model_hash", "scheduler", "steps", "guidance", "size", "seed",
         "noise chain", "init_image_id", "denoise", "edit", "upscaler", "op", "parent_id", "rating", "favorite", "tags")


def check_count(ids: Iterable[str]) -> list[str]:
    ids = [str(i) for i in ids]
    if not (MIN_IMAGES <= len(ids) <= MAX_IMAGES):
        count = f"{len(ids)} image" if len(ids) == 1 else f"{len(ids)} images"
        raise InvalidInput(f"compare {count}: choose from {MIN_IMAGES} to {MAX_IMAGES}")
    return ids



def _edit_text(edit: Any) -> str | None:
    """An edit (Vary Region, Pan, Zoom Out) in words: ``pan right 0.5``."""
    from gwen.edit_spec import EditSpec

    try:
        return EditSpec(**edit).describe() if isinstance(edit, dict) else None
    except (TypeError, ValueError):
        return "edit"


def flatten(record: ImageRecord) -> dict[str, Any]:
    """One image's comparable settings as name → readable value."""
    p = record.params
    chain = p.get("variations") or []
    upscale = p.get("upscale") if isinstance(p.get("upscale"), dict) else None
    row: dict[str, Any] = {
        "prompt": p.get("prompt"), "negative_prompt": p.get("negative_prompt") or None, "model": p.get("model"),
        "model_hash": record.model_hash, "scheduler": p.get("scheduler"), "steps": p.get("steps"),
        "guidance": p.get("guidance"), "size": f"{record.width}×{record.height}", "seed": p.get("seed"),
        "noise chain": " → ".join(f"{v.get('seed')} @ {v.get('strength'):g}" for v in chain
                                  if isinstance(v, dict) and isinstance(v.get("strength"), (int, float))) or None,
        "init_image_id": p.get("init_image_id"), "denoise": p.get("denoise"), "edit": _edit_text(p.get("edit")),
        "upscaler": (f"{upscale.get('model')} ×{upscale.get('scale'):g}" if upscale and
                     isinstance(upscale.get("scale"), (int, float)) else None),
        "op": record.op, "parent_id": record.parent_id, "rating": record.rating, "favorite": record.favorite,
        "tags": ", ".join(record.tags) or None,
    }
    for key, value in p.items():  # anything else a record carries (imported metadata, future fields)
        if key not in row and key not in ("variations", "upscale", "width", "height") and \
                isinstance(value, (str, int, float, bool)):
            row[key] = value
    return row


def compare(records: list[ImageRecord]) -> dict[str, Any]:
    ids = check_count(r.id for r in records)
    if len(set(ids)) != len(ids):
        raise InvalidInput("compare: the same image is named twice; choose different images")
    rows = [flatten(r) for r in records]
    names = list(ORDER) + sorted({k for row in rows for k in row} - set(ORDER))
    differences, same = [], []
    for name in names:
        values = [row.get(name) for row in rows]
        if all(v is None for v in values):
            continue  # a setting none of them has
        if all(v == values[0] for v in values):
            same.append(name)
        else:
            differences.append({"parameter": name, "values": values})
    return {"ids": ids, "differences": differences, "same": same}
