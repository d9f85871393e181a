"""Which tool wrote an image's metadata, and where: the dispatcher behind ``read_metadata``.

Contract:
- ``read_metadata(image)`` returns ``Metadata(source, params, record, notes, recovered)``. It looks, in order, at:
  1. GWEN's own ``gwen`` chunk (a record with an id): source ``gwen``, nothing else is read;
  2. PNG text chunks: ``parameters`` (Fooocus JSON when ``fooocus_scheme`` says so or it is Fooocus's object,
     else A1111/Forge text: Fooocus's ``a1111`` scheme reads as ``a1111``), ``prompt`` (ComfyUI),
     ``invokeai_metadata`` (InvokeAI 3+), ``sd-metadata`` / ``Dream`` (InvokeAI 2), NovelAI's chunks;
  3. EXIF (JPEG/WebP): Fooocus (MakerNote / Software), ComfyUI (``Model`` = ``prompt:{...}``), A1111's
     UserComment infotext, NovelAI's UserComment JSON;
  4. only when none of those gave parameters (none there, or all damaged), and the image is RGBA or RGB: stealth
     bits in the pixels (a few columns of them; see ``stealth``).
  The first format that yields parameters wins; values of the wrong type it left out are notes. Damaged metadata
  of a format is a note naming the format and the fault, and the search goes on; ``none`` (with the image size)
  when nothing could be read. Never raises.
- ``text_chunks(image)`` reads the chunks Pillow has from the file header without decoding pixels when one this
  module understands is among them (``KNOWN_CHUNKS``, or ``Software`` = ``NovelAI``: a reindex of GWEN files opens
  thousands); otherwise also ``image.text``, which holds the chunks written after the pixels.
"""

from __future__ import annotations

import json
from typing import Any, Callable

from PIL import Image

from gwen.formats import a1111, comfyui, exif, fooocus, invokeai, novelai, stealth
from gwen.formats.common import (A1111_CHUNK, GWEN_CHUNK, Damaged, Fields, Metadata, NotParameters,
                                 looks_like_json_object)

KNOWN_CHUNKS = (GWEN_CHUNK, A1111_CHUNK, "prompt", "invokeai_metadata", "sd-metadata", "Dream", "fooocus_scheme")
_NOVELAI_KEYS = ("Description", "Software", "Source", "Generation time", "Comment")


def read_metadata(image: Image.Image) -> Metadata:
    chunks = text_chunks(image)
    own = _gwen(chunks)
    if own is not None:
        return own
    notes: list[str] = []
    for step, where in ((_from_chunks, "PNG text"), (_from_exif, "EXIF"), (_from_stealth, "pixel (stealth)")):
        try:
            found = step(image, chunks, notes)
        except Damaged as exc:
            notes.append(str(exc))
            continue
        except Exception as exc:  # an untrusted file must never crash an import or a reindex
            notes.append(f"its {where} metadata could not be read ({type(exc).__name__}: {str(exc)[:80]})")
            continue
        if found is not None:
            return found
    return Metadata("none", {"width": image.width, "height": image.height}, notes=notes)


def text_chunks(image: Image.Image) -> dict[str, str]:
    """Text chunks of the file. Those before the pixel data are in ``info`` as soon as the file is open;
    ``image.text`` (which decodes every pixel to reach chunks written after them) is read only when none
    of the chunks this module understands came first (3× faster for a reindex of GWEN's own files)."""
    sources = [image.info]
    known = any(key in image.info for key in KNOWN_CHUNKS) or image.info.get("Software") == "NovelAI"
    if not known:  # (``Software`` and ``Comment`` alone are any program's: they do not say the rest came first)
        sources.insert(0, getattr(image, "text", None) or {})
    chunks: dict[str, str] = {}
    for source in sources:
        for key, value in source.items():
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            if isinstance(value, str):
                chunks.setdefault(str(key), value)
    return chunks


def _gwen(chunks: dict[str, str]) -> Metadata | None:
    if GWEN_CHUNK not in chunks:
        return None
    try:
        record = json.loads(chunks[GWEN_CHUNK])
    except (ValueError, RecursionError):
        return None
    if isinstance(record, dict) and "id" in record:
        params = record.get("params")
        return Metadata("gwen", dict(params) if isinstance(params, dict) else {}, record)
    return None


def _attempt(notes: list[str], source: str, what: str, read: Callable[[], Fields],
             recovered: dict[str, str] | None = None) -> Metadata | None:
    """Run one reader: its parameters as ``Metadata``, or None with the damage noted (never an exception)."""
    try:
        found = read()
    except Damaged as exc:
        notes.append(str(exc))
        return None
    except Exception as exc:  # an untrusted file must not crash an import; say which reader gave up
        notes.append(f"its {what} could not be read ({type(exc).__name__}: {str(exc)[:80]})")
        return None
    if not found.params:
        return None
    problems = [f"its {what}: {problem}" for problem in found.problems]
    return Metadata(source, found.params, None, notes + problems, dict(recovered or {}))


def _from_chunks(image: Image.Image, chunks: dict[str, str], notes: list[str]) -> Metadata | None:
    size = (image.width, image.height)
    found = None
    if A1111_CHUNK in chunks:
        try:
            found = _parameters(chunks[A1111_CHUNK], chunks.get("fooocus_scheme"), notes)
        except Damaged as exc:
            notes.append(str(exc))
    if found is None and "prompt" in chunks:
        found = _attempt(notes, "comfyui", comfyui.WHAT, lambda: comfyui.read_comfyui(chunks["prompt"], size))
    if found is None and "invokeai_metadata" in chunks:
        found = _attempt(notes, "invokeai", invokeai.WHAT, lambda: invokeai.read_invokeai(chunks["invokeai_metadata"]))
    if found is None and ("sd-metadata" in chunks or "Dream" in chunks):
        found = _attempt(notes, "invokeai", "InvokeAI 2 metadata",
                         lambda: invokeai.read_invokeai2(chunks.get("sd-metadata"), chunks.get("Dream")))
    if found is None and novelai.is_novelai(chunks):
        found = _attempt(notes, "novelai", novelai.WHAT, lambda: novelai.read_novelai(chunks, size))
    return found


def _parameters(text: str, scheme: str | None, notes: list[str],
                recovered: dict[str, str] | None = None) -> Metadata | None:
    """A ``parameters`` text: Fooocus's JSON scheme or A1111 infotext."""
    scheme = (scheme or "").strip().lower() or None
    meta = looks_like_json_object(text)
    if meta is not None and fooocus.is_fooocus_json(meta, scheme):
        return _attempt(notes, "fooocus", fooocus.WHAT, lambda: fooocus.read_fooocus(meta), recovered)
    if scheme == "fooocus":
        raise Damaged(fooocus.WHAT, "not a JSON object")
    if meta is not None:
        raise NotParameters("'parameters' text", "a JSON object of a tool GWEN does not know")
    return _attempt(notes, "a1111", "A1111 'parameters' text", lambda: a1111.read_a1111(text), recovered)


def _from_exif(image: Image.Image, chunks: dict[str, str], notes: list[str]) -> Metadata | None:
    texts = exif.exif_texts(image)
    comment, maker = texts.get("user_comment", ""), texts.get("maker_note", "").strip().lower()
    model = texts.get("model", "")
    if model.startswith("prompt:"):
        make = texts.get("make", "")
        recovered = {"prompt": model[len("prompt:"):]}
        if make.startswith("workflow:"):
            recovered["workflow"] = make[len("workflow:"):]
        return _attempt(notes, "comfyui", "ComfyUI graph in EXIF",
                        lambda: comfyui.read_comfyui(recovered["prompt"], image.size), recovered)
    if not comment.strip():
        return None
    if maker in ("fooocus", "a1111") or texts.get("software", "").startswith("Fooocus"):
        recovered = {A1111_CHUNK: comment, "fooocus_scheme": maker or "fooocus"}
        if maker == "a1111":
            return _infotext(comment, notes, recovered, exif.WHAT)
        return _parameters(comment, maker or None, notes, recovered)
    meta = looks_like_json_object(comment)
    if meta is not None:
        return _json_comment(meta, comment, texts, image, notes)
    return _infotext(comment, notes, {A1111_CHUNK: comment}, exif.WHAT)


def _json_comment(meta: dict[str, Any], comment: str, texts: dict[str, str], image: Image.Image,
                  notes: list[str]) -> Metadata | None:
    """A JSON UserComment: NovelAI's Comment (or its whole chunk set), else Fooocus's object."""
    if "Comment" in meta:  # the whole set of NovelAI chunks
        chunks = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items() if k in _NOVELAI_KEYS}
    elif "uc" in meta or "request_type" in meta:
        chunks = {"Comment": comment, "Software": "NovelAI"}
        if texts.get("description"):
            chunks["Description"] = texts["description"]
        if texts.get("software") and texts["software"] != "NovelAI":
            chunks["Source"] = texts["software"]  # NovelAI's EXIF keeps Source in the Software tag
    elif fooocus.is_fooocus_json(meta):
        return _attempt(notes, "fooocus", fooocus.WHAT, lambda: fooocus.read_fooocus(meta),
                        {A1111_CHUNK: comment, "fooocus_scheme": "fooocus"})
    else:
        raise NotParameters(exif.WHAT, "a JSON object of a tool GWEN does not know")
    chunks.setdefault("Software", "NovelAI")
    return _attempt(notes, "novelai", f"NovelAI {exif.WHAT}", lambda: novelai.read_novelai(chunks, image.size),
                    chunks)


def _infotext(text: str, notes: list[str], recovered: dict[str, str], where: str) -> Metadata | None:
    """A1111 text found outside a ``parameters`` chunk: only with its settings line (else it is not infotext)."""
    if not a1111.has_settings(text):
        raise NotParameters(where, "no A1111 settings line (Steps, Sampler, Seed, ...) in its text")
    return _attempt(notes, "a1111", f"A1111 text in the {where}", lambda: a1111.read_a1111(text), recovered)


def _from_stealth(image: Image.Image, chunks: dict[str, str], notes: list[str]) -> Metadata | None:
    hidden = stealth.read_stealth(image)
    if hidden is None:
        return None
    _, text = hidden
    meta = looks_like_json_object(text)
    if meta is not None:
        chunks = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items() if k in _NOVELAI_KEYS}
        if not novelai.is_novelai(chunks):
            raise NotParameters(stealth.WHAT, "a JSON object of a tool GWEN does not know")
        return _attempt(notes, "novelai", f"NovelAI {stealth.WHAT}",
                        lambda: novelai.read_novelai(chunks, image.size), chunks)
    return _infotext(text, notes, {A1111_CHUNK: text}, stealth.WHAT)
