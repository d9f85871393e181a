"""Diffusers pipelines behind one small interface: load a model, render batches.

Contract:
- ``Engine.render(params_list, ...)`` renders images for a list of
  ``ImageParams``. Consecutive params that differ only in their noise (seed,
  variation chain) share one pipeline call; calls hold at most
  ``memory.max_batch`` images. Each result says which call (``chunk``) it came
  from and its place in it, so ``render_exact`` can repeat the exact batch
  layout later (batched math on a CPU rounds differently from a single run).
- Every image has its own seed: its initial noise is drawn on the CPU from
  ``torch.Generator().manual_seed(seed)`` (then slerped along its variation
  chain), and the same generator feeds the scheduler's per-step noise. So the
  k-th image of a batch matches a single run with its seed, on any device,
  within batched-math rounding.
- One model is resident at a time: asking for another unloads the current
  one first and releases its memory; ``memory.after_job`` runs after every
  render. img2img and inpainting (the edits: Vary Region, Pan, Zoom Out,
  ``gwen.edit_render``) reuse the loaded components (``from_pipe``), never a
  second load.
- ``on_preview(first_index, images)`` (optional) receives cheap previews of
  the images being rendered, about six times per render (``gwen.preview``:
  a linear latent-to-RGB map, no VAE); ``first_index`` is the position of
  ``images[0]`` in ``params_list``.
- ``on_step(done, total)`` is called after every denoising step; if
  ``cancel`` (a ``threading.Event``) is set, rendering stops with
  ``Cancelled`` and returns nothing.
- Which model a reference names, and loading it, is ``gwen.models``; loading
  failures raise ``ModelUnavailable`` naming the model and what to do.
- LoRAs: each pipeline call runs with exactly its params' ``loras`` active
  (``gwen.lora.LoraSlot``; the text encoder gets the prompt without its
  ``<lora:...>`` tags), params with different LoRA sets never share a call
  (they differ beyond their noise), and every LoRA is unloaded when the
  render ends, however it ends.
  Device work is serialized by a lock: one render at a time per process.
- Loading, unloading and rendering run on the process's one device thread
  (``gwen.device_thread``), whatever thread asks; ``on_step`` and
  ``on_preview`` run in the asking thread. One thread for all torch work
  keeps one OpenMP team on a CPU (1.7-1.9x faster than a render in a second
  thread; see that module).

torch and diffusers are imported lazily, on first use.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from gwen import memory
from gwen.boundary import ModelBoundary
from gwen.device_thread import CANCELLED, device_thread
from gwen.errors import Cancelled, InvalidInput
from gwen.lora import LoraSlot
from gwen.models import (ModelSource, check_available, family_of, load_pipeline, model_hash,  # noqa: F401
                         resolve_model)
from gwen.params import ImageParams
from gwen.preview import PreviewTap, latents_to_images, preview_steps
from gwen.prompt_tags import strip_lora_tags

# name -> (diffusers scheduler class, config overrides)
SCHEDULER_SPECS: dict[str, tuple[str, dict]] = {
    "Euler": ("EulerDiscreteScheduler", {"use_karras_sigmas": False}),
    "Euler a": ("EulerAncestralDiscreteScheduler", {}),
    "DPM++ 2M": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": False, "algorithm_type": "dpmsolver++"}),
    "DPM++ 2M Karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True, "algorithm_type": "dpmsolver++"}),
    "DPM++ 2M SDE Karras": ("DPMSolverMultistepScheduler",
                            {"use_karras_sigmas": True, "algorithm_type": "sde-dpmsolver++"}),
    "DDIM": ("DDIMScheduler", {}),
    "PNDM": ("PNDMScheduler", {"skip_prk_steps": True}),
    "LMS": ("LMSDiscreteScheduler", {"use_karras_sigmas": False}),
    "LMS Karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    "Heun": ("HeunDiscreteScheduler", {"use_karras_sigmas": False}),
    "UniPC": ("UniPCMultistepScheduler", {"use_karras_sigmas": False}),
    "LCM": ("LCMScheduler", {}),
    "Turbo": ("EulerDiscreteScheduler", {"use_karras_sigmas": False, "timestep_spacing": "trailing"}),
}



ProgressFn = Callable[[int, int], None]
PreviewFn = Callable[[int, list[Image.Image]], None]


@dataclass
class Rendered:
    image: Image.Image
    params: ImageParams
    chunk: int  # which pipeline call of this render produced it
    index: int  # its position in that call
    size: int  # how many images that call held
    chunk_ms: float = 0.0  # wall time of that call


@dataclass
class LoadedModel:
    source: ModelSource
    pipe: object
    model_hash: str
    family: str
    img2img: object | None = None
    inpaint: object | None = None
    base_scheduler_config: dict = field(default_factory=dict)
    loras: LoraSlot = field(default_factory=LoraSlot)
    compiled: dict | None = None  # what GWEN_COMPILE=1 applied (gwen.fast_path)


class Engine:
    """Holds at most one loaded pipeline and renders batches on one device."""

    def __init__(self, models: "ModelBoundary | Path", device: str | None = None, dtype: str | None = None,
                 max_batch: int | None = None):
        self.boundary = ModelBoundary.of(models)
        self.models_dir = self.boundary.models_dir
        self._device_pref = device
        self._dtype_pref = dtype
        self._max_batch_override = max_batch
        self._loaded: LoadedModel | None = None
        self._lock = threading.RLock()
        self._device: str | None = None
        self._dtype = None

    # --- device -------------------------------------------------------------
    @property
    def device(self) -> str:
        if self._device is None:
            self._device = memory.pick_device(self._device_pref)
        return self._device

    @property
    def dtype(self):
        if self._dtype is None:
            self._dtype = memory.pick_dtype(self.device, self._dtype_pref)
        return self._dtype

    @property
    def dtype_name(self) -> str:
        return str(self.dtype).removeprefix("torch.")

    @property
    def loaded_model(self) -> str | None:
        return self._loaded.source.ref if self._loaded else None

    # --- loading ------------------------------------------------------------
    def load(self, ref: str) -> LoadedModel:
        """Load ``ref`` (unloading any other model first); cached while it stays resident."""
        return device_thread().run(self._load, ref)

    def _load(self, ref: str) -> LoadedModel:
        source = resolve_model(ref, self.boundary)
        with self._lock:
            if self._loaded is not None and self._loaded.source == source:
                return self._loaded
            self._unload()
            pipe = load_pipeline(source, self.dtype, self.models_dir)
            family = family_of(pipe)
            self._place(pipe, family)
            self._loaded = LoadedModel(source=source, pipe=pipe, model_hash=model_hash(source, pipe),
                                       family=family, base_scheduler_config=dict(pipe.scheduler.config),
                                       compiled=self._fast_path(pipe))
            return self._loaded

    def _fast_path(self, pipe) -> dict | None:
        """``GWEN_COMPILE=1``: fuse, channels_last and compile (``gwen.fast_path``), kernels cached beside the
        models folder (``$GWEN_HOME/cache/torch-compile``)."""
        from gwen import fast_path

        if not fast_path.enabled():
            return None
        if memory.wants_cpu_offload(self.device, family_of(pipe)):
            return {"skipped": "the model is offloaded to the CPU between calls (too little VRAM)"}
        cache = fast_path.use_cache(self.models_dir.parent / "cache" / "torch-compile")
        return {**fast_path.apply(pipe, self.device), "cache": str(cache)}

    def unload(self) -> None:
        device_thread().run(self._unload)

    def _unload(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded = None
                memory.release(self.device)

    def _place(self, pipe, family: str) -> None:
        pipe.set_progress_bar_config(disable=True)
        if memory.wants_cpu_offload(self.device, family):
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.vae.enable_slicing()  # decode one image at a time: bounded memory, same pixels as a single run

    def _img2img(self, loaded: LoadedModel):
        if loaded.img2img is None:
            from diffusers import AutoPipelineForImage2Image

            loaded.img2img = AutoPipelineForImage2Image.from_pipe(loaded.pipe)
            loaded.img2img.set_progress_bar_config(disable=True)
        return loaded.img2img

    def _inpaint(self, loaded: LoadedModel):
        if loaded.inpaint is None:
            from diffusers import AutoPipelineForInpainting

            loaded.inpaint = AutoPipelineForInpainting.from_pipe(loaded.pipe)
            loaded.inpaint.set_progress_bar_config(disable=True)
        return loaded.inpaint

    def _scheduler(self, loaded: LoadedModel, name: str):
        import diffusers

        class_name, overrides = SCHEDULER_SPECS[name]
        cls = getattr(diffusers, class_name)
        return cls.from_config(loaded.base_scheduler_config, **overrides)

    # --- rendering ------------------------------------------------------------
    def render(self, params_list: list[ImageParams], init_images: dict[str, Image.Image] | None = None,
               on_step: ProgressFn | None = None, cancel: threading.Event | None = None,
               on_preview: PreviewFn | None = None, chunk_size: int | None = None) -> list[Rendered]:
        """Render every params, grouping batch-compatible neighbours into sub-batches of at most ``chunk_size``
        images (default: as many as the free memory allows, or ``max_batch``), on the device thread."""
        if not params_list:
            return []
        return device_thread().call(self._render, params_list, init_images, chunk_size, on_step=on_step,
                                    cancel=cancel, on_preview=on_preview)

    def _render(self, params_list: list[ImageParams], init_images: dict[str, Image.Image] | None,
                chunk_size: int | None, *, on_step: ProgressFn | None, cancel: threading.Event | None,
                on_preview: PreviewFn | None) -> list[Rendered]:
        with self._lock:
            loaded = self._load(params_list[0].model)
            self._check_size(loaded, params_list)
            chunks = self._plan_chunks(loaded, params_list, chunk_size)
            total_steps = sum(_steps_of(c[0]) for c in chunks)
            done = 0
            results: list[Rendered] = []
            try:
                for number, chunk in enumerate(chunks):
                    def step(k: int, _total: int, base=done) -> None:
                        if on_step:
                            on_step(base + k, total_steps)

                    def preview(images: list[Image.Image], first=len(results)) -> None:
                        on_preview(first, images)
                    started = time.perf_counter()
                    images = self._render_chunk(loaded, chunk, init_images or {}, step, cancel,
                                                preview if on_preview else None)
                    elapsed = (time.perf_counter() - started) * 1000
                    done += _steps_of(chunk[0])
                    results += [Rendered(img, p, number, i, len(chunk), elapsed)
                                for i, (img, p) in enumerate(zip(images, chunk))]
            finally:
                loaded.loras.clear(loaded.pipe)
                memory.after_job(self.device)
            return results

    def render_exact(self, batch: list[ImageParams], init_images: dict[str, Image.Image] | None = None
                     ) -> list[Image.Image]:
        """Render ``batch`` as exactly one pipeline call (to repeat a recorded layout)."""
        return device_thread().run(self._render_exact, batch, init_images)

    def _render_exact(self, batch: list[ImageParams], init_images: dict[str, Image.Image] | None
                      ) -> list[Image.Image]:
        with self._lock:
            loaded = self._load(batch[0].model)
            self._check_size(loaded, batch)
            if len({_batch_key(p) for p in batch}) != 1:
                raise InvalidInput("these params cannot share one pipeline call (they differ beyond their seeds)")
            try:
                return self._render_chunk(loaded, batch, init_images or {}, None, None)
            finally:
                loaded.loras.clear(loaded.pipe)
                memory.after_job(self.device)

    def _plan_chunks(self, loaded: LoadedModel, params_list: list[ImageParams], chunk_size: int | None = None
                     ) -> list[list[ImageParams]]:
        def size_for(first: ImageParams) -> int:
            return chunk_size or memory.max_batch(first.width, first.height, self.device, loaded.family,
                                                  2 if "16" in self.dtype_name else 4, self._max_batch_override)
        return plan_chunks(params_list, size_for)

    @property
    def loaded(self) -> LoadedModel | None:
        """The resident model (None before the first render)."""
        return self._loaded

    def _check_size(self, loaded: LoadedModel, params_list: list[ImageParams]) -> None:
        factor = int(getattr(loaded.pipe, "vae_scale_factor", 8))
        for p in params_list:
            if p.width % factor or p.height % factor:
                raise InvalidInput(f"size={p.width}x{p.height}: model {p.model!r} needs multiples of {factor}")

    def _render_chunk(self, loaded: LoadedModel, chunk: list[ImageParams], init_images: dict[str, Image.Image],
                      on_step: ProgressFn | None, cancel: threading.Event | None,
                      on_preview: Callable[[list[Image.Image]], None] | None = None) -> list[Image.Image]:
        import torch

        first = chunk[0]
        steps_here = _steps_of(first)
        generators = [torch.Generator("cpu").manual_seed(p.seed) for p in chunk]
        preview_at = preview_steps(steps_here) if on_preview else frozenset()
        taps: list[PreviewTap] = []

        def callback(pipe, step: int, timestep, kwargs):
            if cancel is not None and cancel.is_set():
                raise Cancelled(CANCELLED)
            if step + 1 in preview_at and taps:
                on_preview(latents_to_images(taps[0].latents(kwargs["latents"]), loaded.family))
            if on_step:
                on_step(step + 1, steps_here)
            return kwargs

        if cancel is not None and cancel.is_set():
            raise Cancelled(CANCELLED)
        from gwen.fast_path import before_loras

        before_loras(loaded, first.loras)
        loaded.loras.use(loaded.pipe, first.loras, self.boundary)
        common = dict(
            prompt=strip_lora_tags(first.prompt), negative_prompt=first.negative_prompt or None,
            num_images_per_prompt=len(chunk), num_inference_steps=first.steps, guidance_scale=first.guidance,
            generator=generators, callback_on_step_end=callback, output_type="pil",
        )
        tiling = memory.needs_vae_tiling(first.width, first.height)
        vae = loaded.pipe.vae
        vae.enable_tiling() if tiling else vae.disable_tiling()
        pipe = self._inpaint(loaded) if first.edit else self._img2img(loaded) if first.is_img2img else loaded.pipe
        pipe.scheduler = self._scheduler(loaded, first.scheduler)
        if on_preview:
            taps.append(PreviewTap(pipe.scheduler))
        if first.edit is not None:  # Vary Region, Pan, Zoom Out: gwen.edit_render
            from gwen.edit_render import render_edit

            return render_edit(pipe, chunk, init_images, common)
        if first.is_img2img:
            init = init_images.get(first.init_image_id)
            if init is None:
                raise InvalidInput(f"init image {first.init_image_id}: not provided for img2img")
            init = init.convert("RGB").resize((first.width, first.height), Image.LANCZOS)
            with torch.inference_mode():
                out = pipe(image=init, strength=first.denoise, **common)
        else:
            shape = (pipe.unet.config.in_channels, first.height // pipe.vae_scale_factor,
                     first.width // pipe.vae_scale_factor)
            latents = torch.stack([initial_noise(p, shape, g) for p, g in zip(chunk, generators)])
            with torch.inference_mode():
                out = pipe(latents=latents.to(self.device, self.dtype), height=first.height, width=first.width,
                           **common)
        return list(out.images)


def initial_noise(params: ImageParams, shape: tuple[int, ...], generator=None):
    """The unscaled N(0,1) starting latent of ``params`` (seed noise slerped along its variation chain).

    ``generator`` (seeded with ``params.seed``) is advanced exactly as a plain
    diffusers call would advance it, so the scheduler's later noise matches.
    """
    import torch

    if generator is None:
        generator = torch.Generator("cpu").manual_seed(params.seed)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    for variation in params.variations:
        other = torch.randn(shape, generator=torch.Generator("cpu").manual_seed(variation.seed), dtype=torch.float32)
        noise = slerp(variation.strength, noise, other)
    return noise


def slerp(t: float, low, high, parallel_threshold: float = 0.9995):
    """Spherical interpolation from ``low`` (t=0) to ``high`` (t=1), linear when nearly parallel."""
    import torch

    low_flat, high_flat = low.flatten().double(), high.flatten().double()
    dot = torch.dot(low_flat / low_flat.norm(), high_flat / high_flat.norm()).clamp(-1.0, 1.0)
    if abs(float(dot)) > parallel_threshold:
        return ((1.0 - t) * low.double() + t * high.double()).to(low.dtype)
    omega = torch.acos(dot)
    sin_omega = torch.sin(omega)
    out = (torch.sin((1.0 - t) * omega) / sin_omega) * low.double() + (torch.sin(t * omega) / sin_omega) * high.double()
    return out.to(low.dtype)


def plan_chunks(params_list: list[ImageParams], size_for: Callable[[ImageParams], int]) -> list[list[ImageParams]]:
    """Consecutive batch-compatible params grouped into pipeline calls of at most ``size_for(first)`` images: the
    batch layout. Pure, so a pool splits a grid exactly as one engine would with the same sizes."""
    groups: list[list[ImageParams]] = []
    for p in params_list:
        if groups and _batch_key(groups[-1][0]) == _batch_key(p):
            groups[-1].append(p)
        else:
            groups.append([p])
    chunks = []
    for group in groups:
        size = max(1, size_for(group[0]))
        chunks += [group[i:i + size] for i in range(0, len(group), size)]
    return chunks


def _batch_key(p: ImageParams) -> str:
    """Params with the per-image noise removed: equal keys can share one pipeline call (``loras`` included: one
    call runs with one LoRA set)."""
    return json.dumps({k: v for k, v in p.to_dict().items() if k not in ("seed", "variations")}, sort_keys=True)


def _steps_of(p: ImageParams) -> int:
    if p.is_img2img:
        return max(1, min(int(p.steps * p.denoise), p.steps))
    return p.steps
