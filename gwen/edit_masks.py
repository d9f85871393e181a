"""Finding the mask of every edit a render needs, as PNG bytes: the one just given, a stored one, or a rebuilt one.

Contract:
- ``masks_for(params, init_pngs, records, path_of, given)`` returns ``{mask_key(spec): PNG bytes}`` for every
  edit among ``params`` (``gwen.edit_spec``), taken from, in order: ``given`` (a new edit's mask), the mask file
  beside one of ``records`` (``<id>.mask.png``: the image being verified, its batch, or the edited image being
  rerolled or varied) whose sha256 is the one the params name, or the mask the edit's geometry defines (a box,
  a pan, a zoom: ``gwen.editing.mask_for``, the parent's size read from its PNG). A painted mask found nowhere
  raises ``InvalidInput`` naming it. Nothing is written.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, Iterable

from PIL import Image

from gwen import files
from gwen.edit_render import mask_key
from gwen.edit_spec import EditSpec
from gwen.editing import mask_for, mask_png, sha256
from gwen.errors import InvalidInput
from gwen.params import ImageParams
from gwen.records import ImageRecord


def masks_for(params: Iterable[ImageParams], init_pngs: dict[str, bytes], records: Iterable[ImageRecord | None],
              path_of: Callable[[ImageRecord], Path], given: dict[str, bytes] | None = None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    candidates = [r for r in records if r is not None]
    for p in params:
        if p.edit is None or mask_key(p.edit) in out:
            continue
        key = mask_key(p.edit)
        data = (given or {}).get(key) or _stored(p.edit, candidates, path_of) or _rebuilt(p, init_pngs)
        if data is None:
            raise InvalidInput(f"the painted mask {p.edit.mask_sha256[:12]}… of this edit is not here (its file "
                               "<id>.mask.png beside the edited image is missing)")
        out[key] = data
    return out


def _stored(spec: EditSpec, records: list[ImageRecord], path_of) -> bytes | None:
    for record in records:
        edit = record.params.get("edit") if isinstance(record.params, dict) else None
        if not isinstance(edit, dict) or edit.get("mask_sha256") != spec.mask_sha256:
            continue
        path = files.mask_path(path_of(record))
        if path.is_file():
            data = path.read_bytes()
            if sha256(data) == spec.mask_sha256:
                return data
    return None


def _rebuilt(params: ImageParams, init_pngs: dict[str, bytes]) -> bytes | None:
    source = init_pngs.get(params.init_image_id)
    if source is None:
        return None
    with Image.open(io.BytesIO(source)) as image:
        mask = mask_for(params.edit, image.size)
    return mask_png(mask) if mask is not None else None
