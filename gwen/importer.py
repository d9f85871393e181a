"""Reading an image file for import: every check, no writes (the facade writes once all files pass).

Contract:
- ``plan_import(name, data, home)`` opens an untrusted file (PNG, JPEG or WebP: ``files.open_image_checked``),
  reads its metadata (``gwen.pnginfo`` / ``gwen.formats``) and returns an ``ImportPlan``: the record to catalog (a
  GWEN file keeps its own record and id; any other gets a new id, ``op=import`` and the parameters its tool
  wrote), the text chunks to carry into the stored PNG (its own PNG text chunks, and metadata found in EXIF or
  stealth pixels written as the chunks its tool writes in a PNG: A1111 text as ``parameters``), and notes for the
  user (metadata that was damaged or partly unreadable, and why). It raises ``ImageRejected`` / ``InvalidInput``
  naming the file (its name as the user gave it, never a temporary path) and the rule:
  * not an image, truncated, a decompression bomb;
  * a GWEN record that does not hold together (a bad ``created_at``, ``params`` that is not a table, a bad id);
  * metadata over the limits typed input obeys: a metadata text over ``MAX_METADATA_CHARS`` characters, a
    prompt or negative prompt over ``MAX_PROMPT_CHARS``.
- Foreign text chunks are carried into the stored PNG only up to ``MAX_COPIED_CHUNK`` characters each; longer
  ones are left out and said so in the plan's notes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from gwen import files, recording
from gwen.errors import ImageRejected, InvalidInput
from gwen.formats.common import MAX_METADATA_CHARS
from gwen.params import MAX_PROMPT_CHARS, ImageParams
from gwen.pnginfo import GWEN_CHUNK, chunks_for, read_metadata
from gwen.records import ImageRecord

__all__ = ["MAX_COPIED_CHUNK", "MAX_METADATA_CHARS", "ImportPlan", "plan_import", "stored_text"]
MAX_COPIED_CHUNK = 64 * 1024


@dataclass
class ImportPlan:
    name: str
    data: bytes
    image: Image.Image
    sha256: str
    source: str  # gwen, a1111, comfyui, invokeai, fooocus, novelai or none
    record: ImageRecord
    own_record: bool  # a GWEN file: its record (and id) is kept, its bytes stored as they are
    text: dict[str, str] = field(default_factory=dict)  # chunks for the stored PNG (not for GWEN files)
    notes: list[str] = field(default_factory=list)


def plan_import(name: str, data: bytes, home: Path) -> ImportPlan:
    image = files.open_image_checked(data, name=name)
    text = _text_of(image)
    for key, value in text.items():
        if key in _METADATA_KEYS and len(value) > MAX_METADATA_CHARS:
            raise InvalidInput(f"{name}: its {key!r} metadata is {len(value):,} characters; imported metadata may "
                               f"have at most {MAX_METADATA_CHARS:,}")
    meta = read_metadata(image)
    sha = hashlib.sha256(data).hexdigest()
    for key in ("prompt", "negative_prompt"):
        value = meta.params.get(key)
        if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
            raise InvalidInput(f"{name}: its {key.replace('_', ' ')} is {len(value):,} characters; a prompt may have "
                               f"at most {MAX_PROMPT_CHARS:,} (the same rule as a typed one)")
    if meta.source == "gwen" and meta.record is not None:
        record = _own_record(name, meta.record, home)
        return ImportPlan(name, data, image, sha, "gwen", record, True)
    record = _new_record(name, image, meta, sha, home)
    kept, notes = {}, list(meta.notes)
    for key, value in {**meta.recovered, **text}.items():
        if key == GWEN_CHUNK:
            continue
        if len(value) > MAX_COPIED_CHUNK:
            notes.append(f"its {key!r} text ({len(value):,} characters) was not copied: over {MAX_COPIED_CHUNK:,}")
        else:
            kept[key] = value
    if meta.source == "none":
        notes.append("no generation parameters found: imported as a plain image")
    return ImportPlan(name, data, image, sha, meta.source, record, False, kept, notes)


def stored_text(plan: ImportPlan, infotext: str | None) -> dict[str, str]:
    """The text chunks of the PNG GWEN stores for a foreign file: its own (within limits), then GWEN's."""
    return {**plan.text, **chunks_for(plan.record.file_record(), plan.text.get("parameters") or infotext)}


_METADATA_KEYS = ("parameters", "prompt", "workflow", "invokeai_metadata", "invokeai_graph", "invokeai_workflow",
                  "sd-metadata", "Dream", "Comment", "Description", GWEN_CHUNK)


def _text_of(image: Image.Image) -> dict[str, str]:
    """The file's PNG text chunks (tEXt, zTXt, iTXt; the image is loaded, so those after the pixels too). Not the
    rest of ``info`` (EXIF, ICC profile, JPEG internals): those are binary, not text to carry."""
    out = {}
    for key, value in (getattr(image, "text", None) or {}).items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            out.setdefault(str(key), value)
    return out


def _own_record(name: str, data: dict[str, Any], home: Path) -> ImageRecord:
    """A GWEN file's record, checked as strictly as the catalog would store it."""
    try:
        return recording.from_file(data, home)
    except Exception as exc:  # any malformed field: refuse this file, name it, write nothing
        raise ImageRejected(f"{name}: its GWEN record is damaged ({str(exc).splitlines()[0][:200]}); nothing was "
                            "imported") from None


def _new_record(name: str, image: Image.Image, meta, sha: str, home: Path) -> ImageRecord:
    params = dict(meta.params)
    params.setdefault("width", image.width)  # the generation size, when the metadata has none
    params.setdefault("height", image.height)
    return recording.imported(image_id=files.new_id(), home=home, width=image.width, height=image.height,
                              params=_checked(params), source=meta.source, name=name, sha256=sha,
                              model_hash=meta.params.get("model_hash"))


def _checked(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` through ``ImageParams`` where they are complete (canonical names, defaults), keys it does not know
    kept. Incomplete ones are kept as found: the image can be rated and searched, not re-rendered.

    ImageParams rebuilds ``loras`` from the prompt's ``<lora:...>`` tags; InvokeAI, Fooocus and ComfyUI name their
    LoRAs outside the prompt (and InvokeAI's hashes are not A1111's), so the tool's own list is kept when the
    checked params have none, and a list ImageParams refuses does not cost the other fields their check."""
    known = {k: v for k, v in params.items() if k in ImageParams.model_fields}
    extra = {k: v for k, v in params.items() if k not in ImageParams.model_fields}
    for attempt in (known, {k: v for k, v in known.items() if k != "loras"}):
        try:
            checked = ImageParams.from_json(attempt).to_dict()
        except InvalidInput:
            continue
        if params.get("loras") and not checked.get("loras"):
            checked["loras"] = params["loras"]
        return checked | extra
    return params
