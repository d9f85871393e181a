"""Metadata text in a JPEG/WebP (or PNG eXIf) EXIF block, read with Pillow (no piexif).

Contract:
- ``exif_texts(image)`` returns the metadata-bearing EXIF fields as text: ``user_comment`` (Exif-IFD 0x9286, else
  IFD0 0x9286 as Fooocus writes it), ``software`` (0x0131), ``maker_note`` (0x927C), ``description`` (0x010E),
  ``model`` (0x0110) and ``make`` (0x010F); absent fields are left out. An image without EXIF gives ``{}`` without
  reading anything (for a PNG, Pillow's ``getexif`` would decode the pixels to look for a late eXIf chunk, so it is
  only called when the block is already known). An EXIF block Pillow cannot parse raises ``Damaged``.
- ``decode_user_comment(raw)`` reads the EXIF character-code prefix: ``UNICODE\\0`` + UTF-16 (big-endian as
  A1111 writes it through piexif, little-endian as some other tools do: the byte order is taken from where the
  zero bytes of ASCII text fall, then from the TIFF byte order), ``ASCII\\0\\0\\0``, eight zero bytes (undefined:
  UTF-8), or no prefix at all (Fooocus). Undecodable bytes raise ``Damaged``.
"""

from __future__ import annotations

from typing import Any

from PIL import Image

from gwen.formats.common import MAX_METADATA_CHARS, Damaged

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_TAGS = {"software": 0x0131, "maker_note": 0x927C, "description": 0x010E, "model": 0x0110, "make": 0x010F}
WHAT = "EXIF UserComment"


def exif_texts(image: Image.Image) -> dict[str, str]:
    block = image.info.get("exif")
    if not isinstance(block, (bytes, bytearray)) or not block:
        return {}
    tiff = bytes(block).removeprefix(b"Exif\x00\x00")
    if tiff[:4] not in (b"MM\x00*", b"II*\x00"):
        raise Damaged("EXIF block", f"no TIFF header: starts {tiff[:8]!r}")
    try:
        exif = image.getexif()
        sub = exif.get_ifd(_EXIF_IFD)
    except Exception as exc:  # Pillow raises SyntaxError, struct.error, ValueError... on a garbage TIFF
        raise Damaged("EXIF block", f"not readable: {type(exc).__name__}") from None
    big_endian = tiff[:2] == b"MM"
    out: dict[str, str] = {}
    raw = sub.get(_USER_COMMENT, exif.get(_USER_COMMENT))
    if raw is not None:
        out["user_comment"] = decode_user_comment(raw, big_endian)
    for name, tag in _TAGS.items():
        value = exif.get(tag)
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value.strip("\x00 "):
            out[name] = value.rstrip("\x00")
    return out


def decode_user_comment(raw: Any, big_endian: bool = True) -> str:
    if isinstance(raw, str):
        return raw.rstrip("\x00")
    if not isinstance(raw, (bytes, bytearray)):
        raise Damaged(WHAT, f"a {type(raw).__name__}, not bytes")
    data = bytes(raw)
    if len(data) > 2 * MAX_METADATA_CHARS + 8:
        raise Damaged(WHAT, f"{len(data):,} bytes, over the limit")
    prefix, body = data[:8], data[8:]
    if prefix == b"UNICODE\x00":
        return _utf16(body, big_endian)
    try:
        if prefix == b"ASCII\x00\x00\x00" or prefix == b"\x00" * 8:
            return body.decode("utf-8").rstrip("\x00")
        return data.decode("utf-8").rstrip("\x00")  # no prefix: some writers store the bare text
    except UnicodeDecodeError as exc:
        raise Damaged(WHAT, f"not UTF-8 text at byte {exc.start}") from None


def _utf16(body: bytes, big_endian: bool) -> str:
    if len(body) % 2:
        if body.endswith(b"\x00"):
            body = body[:-1]
        else:
            raise Damaged(WHAT, f"UTF-16 text of an odd length ({len(body)} bytes)")
    high_first = body[0::2].count(0)  # ASCII in UTF-16BE: the zero byte comes first
    high_last = body[1::2].count(0)
    if high_first != high_last:
        big_endian = high_first > high_last
    try:
        return body.decode("utf-16-be" if big_endian else "utf-16-le").rstrip("\x00")
    except UnicodeDecodeError as exc:
        raise Damaged(WHAT, f"not UTF-16 text at byte {exc.start}") from None
