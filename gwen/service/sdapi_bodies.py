"""Request bodies of the A1111-compatible routes, with A1111's field names and API defaults.

Contract: like A1111's generated models, every field accepts ``null`` and unknown fields are ignored (clients
send ``eta``, ``s_churn``, extension keys ...). Only the fields GWEN acts on are declared; what GWEN cannot do
(hires fix, face restoration, tiling, inpainting masks, scripts) is refused by the routes with a 400 that names
the field, never silently dropped. ``sampler_index`` also takes an int (very old clients).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, protected_namespaces=())


class Txt2ImgBody(_Lenient):
    prompt: str | None = ""
    negative_prompt: str | None = ""
    styles: list[str] | None = None
    seed: int | None = -1
    subseed: int | None = -1
    subseed_strength: float | None = 0.0
    sampler_name: str | None = None
    sampler_index: str | int | None = "Euler"
    scheduler: str | None = None
    batch_size: int | None = 1
    n_iter: int | None = 1
    steps: int | None = 50
    cfg_scale: float | None = 7.0
    width: int | None = 512
    height: int | None = 512
    restore_faces: bool | None = None
    tiling: bool | None = None
    enable_hr: bool | None = False
    override_settings: dict[str, Any] | None = None
    script_name: str | None = None
    send_images: bool | None = True
    save_images: bool | None = False
    alwayson_scripts: dict[str, Any] | None = None

    def echo(self) -> dict[str, Any]:
        """What A1111 puts in ``parameters``: the request as sent, defaults filled in."""
        return self.model_dump()


class Img2ImgBody(Txt2ImgBody):
    init_images: list[str] | None = None
    resize_mode: int | None = 0
    denoising_strength: float | None = 0.75
    mask: str | None = None
    include_init_images: bool | None = False

    def echo(self) -> dict[str, Any]:
        data = self.model_dump()
        if not self.include_init_images:
            data.update(init_images=None, mask=None)
        return data


class PngInfoBody(_Lenient):
    image: str


class ExtrasBody(_Lenient):
    image: str = ""
    resize_mode: int | None = 0
    upscaling_resize: float | None = 2.0
    upscaling_resize_w: int | None = 512
    upscaling_resize_h: int | None = 512
    upscaler_1: str | None = "None"
    upscaler_2: str | None = "None"
    extras_upscaler_2_visibility: float | None = 0.0
    gfpgan_visibility: float | None = 0.0
    codeformer_visibility: float | None = 0.0
