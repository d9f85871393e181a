"""AUTOMATIC1111's HTTP API, the subset its clients use, on ``gwen serve`` under ``/sdapi/v1``.

Contract:
- Routes: ``txt2img``, ``img2img``, ``options`` (GET/POST, ``sd_model_checkpoint``), ``sd-models``, ``samplers``,
  ``schedulers``, ``upscalers``, ``progress`` (``current_image``: the live preview as base64 PNG), ``interrupt``,
  ``skip``, ``png-info``, ``extra-single-image``, plus ``scripts`` (``webuiapi`` asks for it when it starts) and
  ``loras`` (``models/lora``, for the ``<lora:NAME:WEIGHT>`` prompt tags).
  Field names and answer shapes are A1111's (``gwen.a1111_compat``): ``images`` as raw base64 PNG, ``info`` as a
  JSON string with ``seed``, ``all_seeds``, ``infotexts`` ...; success is 200.
- Authentication is the service's (``gwen.http_guard``): HTTP Basic with any user name and the token as the
  password (A1111's ``--api-auth``), or the bearer header; otherwise 401.
- Every route calls the studio's facade only, so every image made here lands in the catalog like any other:
  searchable, rated, with lineage. img2img and extras take their source image into the catalog first (an image
  GWEN already has is found by its record or its bytes), so the results are its children.
- Renders run one at a time (as in A1111); ``progress``, ``interrupt`` and ``skip`` answer while one runs.
  ``current_image`` is the latest live preview of the running batch (about six per render), else null.
  ``interrupt`` ends the request with the images of the batches already finished (a cancelled batch writes
  nothing); ``skip`` drops the current batch (``n_iter``) and goes on with the next.
- What GWEN cannot do (hires fix, face restoration, tiling, masks, scripts, URLs as images) is a 400 naming the
  field, and so is a value GWEN's own rules refuse; nothing is written then.
"""

from __future__ import annotations

import base64
import binascii
import io
import threading
import time
from pathlib import Path
from typing import Any, Callable

from fastapi import APIRouter
from PIL import Image

from gwen import __version__
from gwen.a1111_compat import SAMPLERS, SCHEDULES, generation_parameters, gwen_scheduler, info_json
from gwen.errors import Cancelled, InvalidInput
from gwen.params import MAX_SEED
from gwen.service.progress import Progress
from gwen.service.sdapi_bodies import ExtrasBody, Img2ImgBody, PngInfoBody, Txt2ImgBody

VERSION = f"gwen-{__version__}"


class A1111State:
    """The one A1111 request that renders: its batches (``n_iter``), and the interrupt and skip flags."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.lock = threading.Lock()
        self.job_count = 0
        self.job_no = 0
        self.started = 0.0
        self.timestamp = "0"
        self.interrupted = False
        self.skipped = False

    def batches(self, what: str, n_iter: int, render: Callable[[int, Callable, Any, Callable], list]) -> list:
        """Run ``render(i, on_step, cancel, on_preview)`` for batch 0..n_iter-1; the images of finished ones."""
        with self.lock:
            self.job_count, self.job_no, self.started = n_iter, 0, time.time()
            self.timestamp, self.interrupted, self.skipped = time.strftime("%Y%m%d%H%M%S"), False, False
            made: list = []
            try:
                for index in range(n_iter):
                    self.job_no = index
                    if self.interrupted:
                        break
                    try:
                        made += self.progress.run(what, lambda s, c, v, i=index: render(i, s, c, v))
                    except Cancelled:
                        if not self.skipped or self.interrupted:
                            break
                        self.skipped = False
            finally:
                self.job_count, self.job_no = 0, 0
            return made

    def interrupt(self) -> None:
        self.interrupted = True
        self.progress.cancel.set()

    def skip(self) -> None:
        if self.job_count:
            self.skipped = True
            self.progress.cancel.set()

    def report(self, with_image: bool) -> dict[str, Any]:
        snap = self.progress.snapshot(previews=with_image)
        state = {"skipped": self.skipped, "interrupted": self.interrupted, "stopping_generation": False,
                 "job": f"gwen_{snap.get('what') or ''}" if self.job_count else "", "job_count": self.job_count,
                 "job_timestamp": self.timestamp, "job_no": self.job_no, "sampling_step": snap.get("done", 0),
                 "sampling_steps": snap.get("total", 0)}
        if not self.job_count:
            return {"progress": 0.0, "eta_relative": 0.0, "state": state, "current_image": None, "textinfo": None}
        done = 0.01 + self.job_no / self.job_count
        if snap.get("total"):
            done += snap["done"] / snap["total"] / self.job_count
        elapsed = time.time() - self.started
        previews = snap.get("previews") or {}
        current = previews[min(previews, key=int)] if previews and with_image else None
        return {"progress": min(done, 1.0), "eta_relative": elapsed / done - elapsed, "state": state,
                "current_image": current, "textinfo": None}


def router(studio, progress: Progress) -> APIRouter:
    api = APIRouter(prefix="/sdapi/v1", tags=["A1111-compatible API"])
    state = A1111State(progress)
    _rendering_routes(api, studio, state)
    _listing_routes(api, studio)
    _control_routes(api, studio, state)
    return api


def _rendering_routes(api: APIRouter, studio, state: A1111State) -> None:
    @api.post("/txt2img")
    def txt2img(body: Txt2ImgBody) -> dict[str, Any]:
        options, n_iter, batch = _generation_options(studio, body)
        seed = options.pop("seed")
        records = state.batches("txt2img", n_iter, lambda i, s, c, v: studio.generate(
            body.prompt or "", n=batch, seed=seed + i * batch, on_step=s, cancel=c, on_preview=v, **options))
        return _answer(studio, records, body, None)

    @api.post("/img2img")
    def img2img(body: Img2ImgBody) -> dict[str, Any]:
        if not body.init_images:
            raise InvalidInput("init_images: img2img needs one base64 image")
        if body.mask:
            raise InvalidInput("mask: inpainting through the A1111 API is not supported by GWEN (send no mask)")
        if body.resize_mode not in (0, None):
            raise InvalidInput(f"resize_mode={body.resize_mode!r}: GWEN resizes the init image to width×height "
                               "(mode 0, 'Just resize') only")
        if len(body.init_images) > 1:
            raise InvalidInput(f"init_images: {len(body.init_images)} images given; GWEN takes one init image")
        options, n_iter, batch = _generation_options(studio, body)
        seed = options.pop("seed")
        denoise = body.denoising_strength if body.denoising_strength is not None else 0.75
        if not 0 < denoise <= 1:
            raise InvalidInput(f"denoising_strength={denoise!r}: must be greater than 0 and at most 1")
        source = _catalog_image(studio, _decode_image(body.init_images[0], "init_images[0]"), "img2img init image")

        def render(i, on_step, cancel, on_preview):
            return studio.generate(body.prompt or "", n=batch, seed=seed + i * batch, init_image_id=source,
                                   denoise=denoise, on_step=on_step, cancel=cancel, on_preview=on_preview, **options)
        records = state.batches("img2img", n_iter, render)
        return _answer(studio, records, body, denoise)

    @api.post("/extra-single-image")
    def extra_single_image(body: ExtrasBody) -> dict[str, Any]:
        data = _decode_image(body.image, "image")
        model, scale = _upscale_request(studio, body, data)
        source = _catalog_image(studio, data, "extras image")
        made = state.batches("extras", 1, lambda i, s, c, v: [studio.upscale(source, model=model, scale=scale)])
        if not made:
            raise Cancelled("interrupted; nothing was upscaled")
        record = made[0]
        image = base64.b64encode(studio.path_of(record).read_bytes()).decode()
        return {"html_info": f"<p>Postprocess upscale by: {scale:g}, Postprocess upscaler: {model}, "
                             f"GWEN id: {record.id}</p>", "image": image}


def _listing_routes(api: APIRouter, studio) -> None:
    @api.get("/options")
    def get_options() -> dict[str, Any]:
        return {"sd_model_checkpoint": studio.default_model(), "sd_checkpoint_hash": None, "sd_vae": "Automatic",
                "CLIP_stop_at_last_layers": 1, "samples_format": "png", "enable_pnginfo": True,
                "show_progress_every_n_steps": 1, "live_previews_enable": True, "live_previews_image_format": "png",
                "upscaler_for_img2img": None, "gwen_default_upscaler": studio.default_upscaler()}

    @api.post("/options")
    def set_options(body: dict[str, Any]) -> None:
        wanted = body.get("sd_model_checkpoint")
        if wanted is not None:
            studio.set_default_model(_model_ref(studio, str(wanted)))
        return None

    @api.get("/sd-models")
    def sd_models() -> list[dict[str, Any]]:
        return [{"title": m["name"], "model_name": Path(m["name"].replace("/", "_")).stem if m["kind"] == "file"
                 else m["name"].replace("/", "_"), "hash": None, "sha256": None,
                 "filename": m["path"] or m["ref"], "config": None} for m in studio.list_models()]

    @api.get("/samplers")
    def samplers() -> list[dict[str, Any]]:
        return SAMPLERS

    @api.get("/schedulers")
    def schedulers() -> list[dict[str, Any]]:
        return SCHEDULES

    @api.get("/upscalers")
    def upscalers() -> list[dict[str, Any]]:
        return [{"name": u["name"], "model_name": u["name"], "model_path": u["path"], "model_url": None,
                 "scale": u["scale"]} for u in studio.list_upscalers()]

    @api.get("/loras")
    def loras() -> list[dict[str, Any]]:  # the shape of A1111's built-in Lora extension
        return [{"name": lo["name"], "alias": lo["name"], "path": lo["path"], "metadata": {}}
                for lo in studio.list_loras()]

    @api.get("/prompt-styles")
    def prompt_styles() -> list[dict[str, Any]]:
        return [{key: style[key] for key in ("name", "prompt", "negative_prompt")} for style in studio.list_styles()]

    @api.get("/scripts")
    def scripts() -> dict[str, list]:
        return {"txt2img": [], "img2img": []}

def _control_routes(api: APIRouter, studio, state: A1111State) -> None:
    @api.get("/progress")
    def get_progress(skip_current_image: bool = False) -> dict[str, Any]:
        return state.report(not skip_current_image)

    @api.post("/interrupt")
    def interrupt() -> dict:
        state.interrupt()
        return {}

    @api.post("/skip")
    def skip() -> None:
        state.skip()
        return None

    @api.post("/png-info")
    def png_info(body: PngInfoBody) -> dict[str, Any]:
        return _png_info(_decode_image(body.image, "image"))


def _generation_options(studio, body: Txt2ImgBody) -> tuple[dict[str, Any], int, int]:
    """GWEN's generate options for an A1111 request, checked; (options incl. seed, n_iter, batch_size)."""
    for name in ("enable_hr", "restore_faces", "tiling"):
        if getattr(body, name):
            raise InvalidInput(f"{name}=true: not supported by GWEN's A1111 API (upscale with "
                               "extra-single-image instead of hires fix)" if name == "enable_hr" else
                               f"{name}=true: not supported by GWEN's A1111 API")
    if body.script_name:
        raise InvalidInput(f"script_name={body.script_name!r}: GWEN runs no A1111 scripts")
    n_iter = 1 if body.n_iter is None else body.n_iter
    batch = 1 if body.batch_size is None else body.batch_size
    if n_iter < 1 or batch < 1:
        raise InvalidInput(f"batch_size={batch}, n_iter={n_iter}: both must be at least 1")
    seed = body.seed if body.seed is not None and body.seed >= 0 else _random_seed()
    options: dict[str, Any] = {
        "negative": body.negative_prompt or "", "steps": body.steps if body.steps is not None else 50,
        "guidance": body.cfg_scale if body.cfg_scale is not None else 7.0, "width": body.width or 512,
        "height": body.height or 512, "scheduler": gwen_scheduler(body.sampler_name or (
            body.sampler_index if isinstance(body.sampler_index, str) else None), body.scheduler), "seed": seed}
    checkpoint = (body.override_settings or {}).get("sd_model_checkpoint")
    if checkpoint:
        options["model"] = _model_ref(studio, str(checkpoint))
        studio.check_model(options["model"])
    if body.styles:  # as A1111: a name this server has no style for changes nothing
        known = {style["name"] for style in studio.list_styles()}
        options["styles"] = [name for name in dict.fromkeys(body.styles) if name in known]
    if body.subseed_strength:
        subseed = body.subseed if body.subseed is not None and body.subseed >= 0 else _random_seed()
        options["variations"] = [{"seed": subseed, "strength": body.subseed_strength}]
    studio.plan_generate(body.prompt or "", n=batch * n_iter, **options)  # every rule checked before a render
    return options, n_iter, batch


def _random_seed() -> int:
    import secrets

    return secrets.randbelow(MAX_SEED // 2)


def _answer(studio, records: list, body: Txt2ImgBody, denoise: float | None) -> dict[str, Any]:
    images = [base64.b64encode(studio.path_of(r).read_bytes()).decode() for r in records] if body.send_images \
        else []
    model = studio.default_model() if not records else records[0].params.get("model", "")
    name = Path(str(model)).stem if model else ""
    info = info_json(records, [studio.infotext(r) for r in records], body.echo(),
                     {"name": name, "hash": (records[0].model_hash or None) if records else None}, denoise, VERSION)
    return {"images": images, "parameters": body.echo(), "info": info}


def _decode_image(text: str, field: str) -> bytes:
    text = (text or "").strip()
    if not text:
        raise InvalidInput(f"{field}: empty; send the image as base64 (a data: URL prefix is fine)")
    if text.startswith(("http://", "https://")):
        raise InvalidInput(f"{field}: GWEN does not fetch URLs; send the image as base64")
    if text.startswith("data:image/") and "," in text:
        text = text.split(",", 1)[1]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"{field}: not base64 image data") from None


def _catalog_image(studio, data: bytes, name: str) -> str:
    """The catalog id of this image: the one GWEN has (same record or same bytes), else a new import."""
    result = studio.import_files([(name, data)])
    if result["imported"]:
        return result["imported"][0].id
    return result["skipped"][0]["id"]


def _model_ref(studio, wanted: str) -> str:
    """A1111 names a checkpoint by title (``name [hash]``), name, model_name or file name: GWEN's reference."""
    bare = wanted.rsplit(" [", 1)[0].strip() if wanted.endswith("]") else wanted.strip()
    for model in studio.list_models():
        forms = {model["name"], model["ref"], model["name"].replace("/", "_"), Path(model["name"]).stem,
                 Path(model["name"]).name}
        if bare in forms:
            return model["name"]
    return bare  # a Hub id or a path: the studio's own checks decide


def _upscale_request(studio, body: ExtrasBody, data: bytes) -> tuple[str, float]:
    for name in ("gfpgan_visibility", "codeformer_visibility"):
        if getattr(body, name):
            raise InvalidInput(f"{name}={getattr(body, name)!r}: face restoration is not supported by GWEN")
    if body.upscaler_2 not in (None, "None") and body.extras_upscaler_2_visibility:
        raise InvalidInput(f"upscaler_2={body.upscaler_2!r}: GWEN runs one upscaler (upscaler_1)")
    names = [u["name"] for u in studio.list_upscalers()]
    if body.upscaler_1 not in names:
        raise InvalidInput(f"upscaler_1={body.upscaler_1!r}: choose one of {', '.join(names)} "
                           "(GET /sdapi/v1/upscalers)")
    if body.resize_mode in (0, None):
        return body.upscaler_1, float(body.upscaling_resize if body.upscaling_resize is not None else 2.0)
    if body.resize_mode != 1:
        raise InvalidInput(f"resize_mode={body.resize_mode!r}: must be 0 (scale by) or 1 (scale to)")
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    scale_w, scale_h = (body.upscaling_resize_w or 0) / width, (body.upscaling_resize_h or 0) / height
    if abs(scale_w - scale_h) > 0.01:
        raise InvalidInput(f"upscaling_resize_w×h={body.upscaling_resize_w}×{body.upscaling_resize_h}: GWEN "
                           f"upscales keeping the aspect of the {width}×{height} image (no crop)")
    return body.upscaler_1, scale_w


def _png_info(data: bytes) -> dict[str, Any]:
    from gwen.files import open_image_checked
    from gwen.params import ImageParams
    from gwen.pnginfo import read_metadata

    image = open_image_checked(data, name="image")
    text = {k: v for k, v in image.info.items() if isinstance(k, str) and isinstance(v, str)}
    info = text.pop("parameters", "")
    if not info:
        meta = read_metadata(image)
        try:
            info = ImageParams.from_json({k: v for k, v in meta.params.items()
                                          if k in ImageParams.model_fields}).infotext() if meta.params else ""
        except InvalidInput:
            info = ""
    return {"info": info, "items": text,
            "parameters": generation_parameters(info) if info else {}}
