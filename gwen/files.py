"""Image files on disk: ids, paths, atomic writes, thumbnails, safe opening.

Contract:
- Ids are ULIDs (26 Crockford base-32 characters, sortable by creation time).
  ``check_id`` rejects anything else, so no id can reach outside the images
  folder (no ``..``, no slashes).
- ``write_png_atomic`` writes to a temporary file in the target folder, fsyncs
  it, renames it into place and fsyncs the folder: a reader sees either no
  file or the whole file, never half of one.
- ``open_image_checked`` opens an untrusted file: it refuses non-images,
  truncated files and decompression bombs with ``ImageRejected``.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import threading
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from gwen.errors import ImageRejected, NotFound, disk_full

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
ID_PATTERN = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
MAX_IMPORT_PIXELS = 64 * 1024 * 1024  # bigger than any real generation; Pillow's bomb guard is ~89 MP
THUMB_SIZE = 256

_id_lock = threading.Lock()
_last_id: tuple[int, int] = (0, 0)


def new_id(now_ms: int | None = None) -> str:
    """A monotonic ULID: 48-bit millisecond time + 80 random bits."""
    global _last_id
    with _id_lock:
        ms = int(time.time() * 1000) if now_ms is None else now_ms
        last_ms, last_rand = _last_id
        rand = last_rand + 1 if ms <= last_ms else secrets.randbits(80)
        ms = max(ms, last_ms)
        _last_id = (ms, rand)
    value = (ms << 80) | (rand & ((1 << 80) - 1))
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def derived_id(seed: str, *parts: object) -> str:
    """A ULID-shaped id fixed by ``seed`` (a job id, an order id): the seed's time prefix + 16 characters of a hash,
    so a job re-run after a crash names its images and batches exactly as the first run did."""
    import hashlib

    digest = int.from_bytes(hashlib.sha256("/".join([seed, *map(str, parts)]).encode()).digest()[:10], "big")
    tail = "".join(_CROCKFORD[(digest >> (5 * i)) & 31] for i in reversed(range(16)))
    return seed[:10] + tail


def id_time(image_id: str) -> datetime:
    value = 0
    for ch in image_id:
        value = value * 32 + _CROCKFORD.index(ch)
    return datetime.fromtimestamp((value >> 80) / 1000, tz=timezone.utc)


def check_id(image_id: str) -> str:
    """Return the id upper-cased if it is a well-formed ULID, else raise NotFound."""
    candidate = str(image_id).strip().upper()
    if not ID_PATTERN.match(candidate):
        raise NotFound(f"image id {image_id!r}: not a GWEN image id (26 letters and digits)")
    return candidate


def image_path(home: Path, image_id: str) -> Path:
    """``images/YYYY/MM/DD/<id>.png`` under ``home``, dated by the id's timestamp (UTC)."""
    image_id = check_id(image_id)
    day = id_time(image_id)
    return home / "images" / f"{day:%Y}" / f"{day:%m}" / f"{day:%d}" / f"{image_id}.png"


def mask_path(image: Path) -> Path:
    """The mask of an edited image (Vary Region, Pan, Zoom Out), beside it: ``<id>.mask.png``."""
    return image.with_name(f"{image.stem}.mask.png")


def is_mask(path: Path) -> bool:
    """A mask beside an image (never an image of its own: reindex, import and export leave it out)."""
    return path.name.lower().endswith(".mask.png")


def thumb_path(home: Path, image_id: str) -> Path:
    return home / "thumbs" / f"{check_id(image_id)}.webp"


def write_bytes_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename; a full disk raises ``DiskFull``
    and leaves neither the temporary file nor a partial ``path``. With ``durable=False`` the fsyncs are left to a
    later ``make_durable`` (which must return before anything refers to the file: a queue's group commit)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise disk_full(exc, path.parent) or exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        full = disk_full(exc, path.parent)
        if full is not None:
            raise full from None
        raise
    if durable:
        _fsync_dir(path.parent)


def make_durable(paths: list[Path]) -> None:
    """fsync each file, then each folder holding them, once (files written with ``durable=False``)."""
    try:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        for folder in dict.fromkeys(p.parent for p in paths):
            _fsync_dir(folder)
    except OSError as exc:
        raise disk_full(exc, paths[0].parent if paths else Path(".")) or exc


def write_png_atomic(path: Path, image: Image.Image, text_chunks: dict[str, str]) -> None:
    """Encode ``image`` as PNG with ``text_chunks`` (iTXt, UTF-8) and write it atomically."""
    info = PngImagePlugin.PngInfo()
    for key, value in text_chunks.items():
        info.add_itxt(key, value)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    write_bytes_atomic(path, buffer.getvalue())


def remove_stale_temp_files(home: Path) -> int:
    """Delete ``.*.tmp`` leftovers of interrupted writes; return how many."""
    count = 0
    for tmp in (home / "images").glob("**/.*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count


def open_image_checked(source: str | os.PathLike | bytes, name: str | None = None) -> Image.Image:
    """Open and fully decode an untrusted image, or raise ImageRejected naming the file (``name``: how the user
    knows it, e.g. an upload's own name) and the problem."""
    name = name or ("upload" if isinstance(source, bytes) else str(source))
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(stream)
            if image.width * image.height > MAX_IMPORT_PIXELS:
                raise ImageRejected(f"{name}: {image.width}x{image.height} is over the limit of "
                                    f"{MAX_IMPORT_PIXELS:,} pixels (possible decompression bomb)")
            image.load()
    except ImageRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageRejected(f"{name}: refused as a possible decompression bomb ({exc})") from None
    except UnidentifiedImageError:
        raise ImageRejected(f"{name}: not an image file Pillow can read") from None
    except FileNotFoundError:
        raise ImageRejected(f"{name}: no such file") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageRejected(f"{name}: damaged or truncated image ({exc})") from None
    return image


def make_thumbnail(home: Path, image_id: str, source: Path) -> Path:
    """Write (once) and return a WebP thumbnail, longest side ``THUMB_SIZE``."""
    target = thumb_path(home, image_id)
    if target.exists():
        return target
    with Image.open(source) as image:
        image.thumbnail((THUMB_SIZE, THUMB_SIZE))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="WEBP", quality=80)
    write_bytes_atomic(target, buffer.getvalue())
    return target


def existing_image(home: Path, image_id: str) -> Path:
    path = image_path(home, image_id)
    if not path.exists():
        raise NotFound(f"image {image_id}: its file {path} is missing (run `python -m gwen reindex`)")
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
