"""The one place an ``ImageRecord`` is made: for a rendered, an upscaled or an imported image, or from a file.

Contract:
- ``rendered(...)``, ``upscaled(...)``, ``imported(...)`` build the record of a new image from what made it:
  its id fixes its path (``images/YYYY/MM/DD/<id>.png``), a root is its own ``root_id``, a child inherits its
  parent's, ``params_hash`` is the sha256 of the canonical params, and every record carries the ``versions``
  of the software and the ``worker`` that made it.
- ``from_file(data, home)`` reads back the record a PNG's GWEN chunk carries (``reindex``, importing a GWEN
  file), checked as strictly as the catalog would store it; a malformed one raises ``ValueError`` saying which
  field.
- ``infotext_extra(record)`` is what GWEN adds to A1111's infotext of every image it writes.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gwen import files
from gwen.params import ImageParams, canonical_json
from gwen.provenance import versions
from gwen.records import OPS, ImageRecord


def _path(home: Path, image_id: str) -> str:
    return str(files.image_path(home, image_id).relative_to(home))


def rendered(*, image_id: str, home: Path, width: int, height: int, op: str, parent: ImageRecord | None,
             params: ImageParams, plan: dict | None, batch: dict[str, Any], model_hash: str | None,
             duration_ms: float, device: str, dtype: str, worker: str) -> ImageRecord:
    return ImageRecord(
        id=image_id, created_at=datetime.now(timezone.utc), path=_path(home, image_id), width=width, height=height,
        op=op, parent_id=parent.id if parent else None, root_id=parent.root_id if parent else image_id,
        params=params.to_dict(), params_hash=params.params_hash(), variation=plan, batch=batch,
        model_hash=model_hash, duration_ms=round(duration_ms, 1), device=device, dtype=dtype, versions=versions(),
        worker=worker)


def upscaled(*, image_id: str, home: Path, parent: ImageRecord, width: int, height: int, upscale: dict[str, Any],
             model_hash: str, duration_ms: float, device: str, dtype: str, worker: str) -> ImageRecord:
    params = {"prompt": parent.params.get("prompt"), "negative_prompt": parent.params.get("negative_prompt"),
              "source_id": parent.id, "width": width, "height": height, "upscale": upscale}
    return ImageRecord(
        id=image_id, created_at=datetime.now(timezone.utc), path=_path(home, image_id), width=width, height=height,
        op="upscale", parent_id=parent.id, root_id=parent.root_id, params=params,
        params_hash=hashlib.sha256(canonical_json(params).encode()).hexdigest(), model_hash=model_hash,
        duration_ms=round(duration_ms, 1), device=device, dtype=dtype, versions=versions(), worker=worker)


def imported(*, image_id: str, home: Path, width: int, height: int, params: dict[str, Any], source: str, name: str,
             sha256: str, model_hash: str | None) -> ImageRecord:
    return ImageRecord(
        id=image_id, created_at=datetime.now(timezone.utc), path=_path(home, image_id), width=width, height=height,
        op="import", parent_id=None, root_id=image_id, params=params,
        params_hash=hashlib.sha256(canonical_json(params).encode()).hexdigest(), model_hash=model_hash,
        versions=versions(), file_sha256=sha256, import_source=f"{source}:{Path(name).name}")


def from_file(data: dict[str, Any], home: Path) -> ImageRecord:
    """The record a GWEN PNG carries; ValueError naming the first field that does not hold together."""
    image_id = files.check_id(str(data.get("id", "")))
    if not isinstance(data.get("params"), dict):
        raise ValueError(f"params is a {type(data.get('params')).__name__}, not a table")
    if data.get("op") not in OPS:
        raise ValueError(f"op={data.get('op')!r} is not one of {', '.join(OPS)}")
    for key in ("width", "height"):
        if isinstance(data.get(key), bool) or not isinstance(data.get(key), int) or data[key] < 1:
            raise ValueError(f"{key}={data.get(key)!r} is not a positive integer")
    record = ImageRecord.from_file_record(data, _path(home, image_id), data.get("file_sha256"))
    if record.created_at.tzinfo is None:
        raise ValueError(f"created_at={data.get('created_at')!r} has no time zone")
    return record


def infotext_extra(record: ImageRecord) -> dict[str, Any]:
    return {"Model hash": record.model_hash, "GWEN id": record.id,
            "Version": f"GWEN {record.versions.get('gwen', '')}".strip()}
