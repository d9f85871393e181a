"""PNG metadata: write A1111 ``parameters`` + GWEN JSON; read every tool's (``gwen.formats``).

Contract:
- ``chunks_for(record, infotext)`` returns the text chunks every GWEN PNG
  carries: ``parameters`` (A1111 infotext, read by A1111's PNG Info and
  Civitai) and ``gwen`` (the full catalog record as JSON, so the catalog can
  be rebuilt from the file alone).
- ``read_metadata(image)`` returns ``Metadata(source, params, record, notes, recovered)``: ``source`` is
  ``gwen``, ``a1111``, ``comfyui``, ``invokeai``, ``fooocus``, ``novelai`` or ``none``; ``params`` is a plain
  dict with the keys of ``ImageParams`` that could be found (plus ``model_hash``, ``loras``, ...); ``record`` is
  the GWEN record when there is one. Unknown or damaged metadata never raises: it yields fewer keys and a note.
  The readers live in ``gwen.formats`` (one module per tool); the names here are kept for the modules and tests
  that import them from ``gwen.pnginfo``.
"""

from __future__ import annotations

from typing import Any

from gwen.formats import (A1111_CHUNK, GWEN_CHUNK, Metadata, parse_a1111, parse_comfyui, parse_invokeai,
                          read_metadata)
from gwen.params import canonical_json

__all__ = ["A1111_CHUNK", "GWEN_CHUNK", "Metadata", "chunks_for", "parse_a1111", "parse_comfyui", "parse_invokeai",
           "read_metadata"]


def chunks_for(record: dict[str, Any], infotext: str | None) -> dict[str, str]:
    chunks = {GWEN_CHUNK: canonical_json(record)}
    if infotext:
        chunks[A1111_CHUNK] = infotext
    return chunks
