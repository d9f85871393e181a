"""``RemoteEdits``: Vary (Region), Pan and Zoom Out over HTTP, mixed into ``gwen.remote.RemoteStudio``.

Contract: the same members and parameters as ``gwen.studio_edits.EditsMixin``, returning the same records; a
mask travels as base64 of its PNG bytes; the server checks every value (``InvalidInput`` comes back as itself).
Progress, previews and cancel follow the server's watched render (``gwen.http_client``). Light: no torch.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

from gwen.errors import InvalidInput
from gwen.records import ImageRecord


class RemoteEdits:
    http: Any  # gwen.http_client.Transport, set by RemoteStudio

    def vary_region(self, image_id: str, *, box: tuple[int, int, int, int] | None = None, mask: bytes | None = None,
                    prompt: str | None = None, n: int = 4, strength: float | None = None, seed: int | None = None,
                    mask_blur: int | None = None, on_step=None, cancel=None, on_preview=None) -> list[ImageRecord]:
        if mask is not None and not isinstance(mask, (bytes, bytearray)):
            raise InvalidInput(f"mask of type {type(mask).__name__}: must be the bytes of a PNG the image's size")
        body = {"box": list(box) if box is not None else None,
                "mask": base64.b64encode(bytes(mask)).decode("ascii") if mask is not None else None}
        return self._edit(image_id, "vary-region", body, prompt, n, strength, seed, mask_blur,
                          on_step, cancel, on_preview)

    def pan(self, image_id: str, side: str, fraction: float = 0.5, *, prompt: str | None = None, n: int = 4,
            strength: float | None = None, seed: int | None = None, mask_blur: int | None = None, on_step=None,
            cancel=None, on_preview=None) -> list[ImageRecord]:
        return self._edit(image_id, "pan", {"side": side, "fraction": fraction}, prompt, n, strength, seed,
                          mask_blur, on_step, cancel, on_preview)

    def zoom(self, image_id: str, factor: float = 2.0, *, prompt: str | None = None, n: int = 4,
             strength: float | None = None, seed: int | None = None, mask_blur: int | None = None, on_step=None,
             cancel=None, on_preview=None) -> list[ImageRecord]:
        return self._edit(image_id, "zoom", {"factor": factor}, prompt, n, strength, seed, mask_blur,
                          on_step, cancel, on_preview)

    def _edit(self, image_id: str, what: str, body: dict[str, Any], prompt, n, strength, seed, mask_blur,
              on_step, cancel, on_preview) -> list[ImageRecord]:
        body = {**body, "prompt": prompt, "n": n, "strength": strength, "seed": seed, "mask_blur": mask_blur}
        data = self.http.render(f"/api/images/{quote(str(image_id), safe='')}/{what}", body, on_step, on_preview,
                                cancel)
        return [ImageRecord.from_dict(r) for r in data["images"]]
