""""Stealth" PNG info: metadata hidden in the lowest bits of the pixels (sd-webui-stealth-pnginfo, Forge, NovelAI).

Contract:
- ``read_stealth(image)`` returns ``(signature, text)`` or None when the image carries no stealth signature. Layout
  (as the extension writes it): bits are taken column by column (x outer, y inner), from the alpha channel (1 bit
  a pixel, signatures ``stealth_pnginfo`` / ``stealth_pngcomp``) or from R, G, B in turn (3 bits a pixel,
  ``stealth_rgbinfo`` / ``stealth_rgbcomp``); each byte most significant bit first. After the 15-byte signature
  comes a 32-bit big-endian length in bits, then the payload: UTF-8 text, gzip-compressed for ``*comp``.
- Only RGBA (alpha, then RGB) and RGB images are looked at, and only the columns needed: the signature check reads
  152 bits, the payload at most ``MAX_METADATA_CHARS`` bytes (compressed or not; the decompressed text is bounded
  too). A signature followed by an absurd or truncated length, bad gzip or bad UTF-8 raises ``Damaged``.
"""

from __future__ import annotations

import zlib

import numpy as np
from PIL import Image

from gwen.formats.common import MAX_METADATA_CHARS, Damaged

_HEADER_BITS = 15 * 8 + 32
_MODES = {"alpha": ((3,), (b"stealth_pnginfo", b"stealth_pngcomp")),
          "rgb": ((0, 1, 2), (b"stealth_rgbinfo", b"stealth_rgbcomp"))}
WHAT = "stealth metadata in the pixels"


def read_stealth(image: Image.Image) -> tuple[str, str] | None:
    if image.mode not in ("RGBA", "RGB") or image.width < 1 or image.height < 1:
        return None
    kinds = ("alpha", "rgb") if image.mode == "RGBA" else ("rgb",)
    for kind in kinds:
        channels, signatures = _MODES[kind]
        header = _bits(image, channels, _HEADER_BITS)
        if header is None:
            continue
        signature = np.packbits(header[:120]).tobytes()
        if signature not in signatures:
            continue
        return signature.decode(), _payload(image, channels, signature, header)
    return None


def _payload(image: Image.Image, channels: tuple[int, ...], signature: bytes, header: np.ndarray) -> str:
    length = int.from_bytes(np.packbits(header[120:152]).tobytes(), "big")
    capacity = image.width * image.height * len(channels) - _HEADER_BITS
    if length == 0 or length % 8:
        raise Damaged(WHAT, f"a length of {length} bits, not a whole number of bytes")
    if length > MAX_METADATA_CHARS * 8:
        raise Damaged(WHAT, f"a length of {length // 8:,} bytes, over the limit of {MAX_METADATA_CHARS:,}")
    if length > capacity:
        raise Damaged(WHAT, f"truncated: {length // 8:,} bytes announced, room for {max(capacity, 0) // 8:,}")
    bits = _bits(image, channels, _HEADER_BITS + length)
    data = np.packbits(bits[_HEADER_BITS:]).tobytes()
    if signature.endswith(b"comp"):
        data = _gunzip(data)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Damaged(WHAT, f"not UTF-8 text at byte {exc.start}") from None


def _gunzip(data: bytes) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    limit = MAX_METADATA_CHARS * 4  # UTF-8: at most 4 bytes a character
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise Damaged(WHAT, f"bad gzip data: {exc}") from None
    if len(out) > limit:
        raise Damaged(WHAT, f"over {limit:,} bytes once decompressed")
    if not inflater.eof:
        raise Damaged(WHAT, "truncated gzip data")
    return out


def _bits(image: Image.Image, channels: tuple[int, ...], count: int) -> np.ndarray | None:
    """The first ``count`` low bits of ``channels``, column-major; None when the image holds fewer."""
    height = image.height
    pixels = -(-count // len(channels))
    columns = -(-pixels // height)
    if columns > image.width:
        return None
    block = np.asarray(image.crop((0, 0, columns, height)))  # (height, columns, bands)
    lows = block.transpose(1, 0, 2)[:, :, list(channels)].reshape(-1) & 1
    return lows[:count].astype(np.uint8)
