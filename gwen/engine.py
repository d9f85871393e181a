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
  render. img2img reuses the loaded components
  (``from_pipe``), never a second load.
- ``on_preview(first_index, images)`` (optional) receives cheap previews of
  the images being rendered, about six times per render (``gwen.preview``:
  a linear latent-to-RGB map, no VAE); ``first_index`` is the position of
  ``images[0]`` in ``params_list``.
- ``on_step(done, total)`` is called after every denoising step; if
  ``cancel`` (a ``threading.Event``) is set, rendering stops with
  ``Cancelled`` and returns nothing.
- Loading failures raise ``ModelUnavailable`` naming the model and what to do.
  Device work is serialized by a lock: one render at a time per process.

torch and diffusers are imported lazily, on first use.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from PIL import Image

from gwen import memory
from gwen.boundary import ModelBoundary
from gwen.demo import ensure_tiny_sd
from gwen.errors import Cancelled, InvalidInput, ModelUnavailable
from gwen.hub import HUB_ID
from gwen.params import ImageParams
from gwen.presets import MODEL_PRESETS, preset_named
from gwen.preview import PreviewTap, latents_to_images, preview_steps

log = logging.getLogger(__name__)

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

SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


ProgressFn = Callable[[int, int], None]
PreviewFn = Callable[[int, list[Image.Image]], None]


@dataclass(frozen=True)
class ModelSource:
    """Where a model reference points: a preset, hub id, diffusers folder or single file."""

    ref: str  # what the params record (preset name, hub id or absolute path)
    kind: str  # "hub", "folder", "file"
    location: str  # hub id or filesystem path
    family: str  # "sd1", "sd2", "sdxl" (best guess until loaded)


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
    base_scheduler_config: dict = field(default_factory=dict)


def resolve_model(ref: str, models: "ModelBoundary | Path") -> ModelSource:
    """Map a preset name / hub id / path to a ``ModelSource`` (no loading); raise if impossible.

    ``models``: the models folder, or the ``ModelBoundary`` that decides which paths may be opened (a served
    studio's is confined to its models folder)."""
    boundary = ModelBoundary.of(models)
    preset = preset_named(ref)
    if preset is not None:
        if preset.ref == "tiny":
            return ModelSource("tiny", "folder", str(ensure_tiny_sd(boundary.models_dir)), preset.family)
        return ModelSource(preset.ref, "hub", preset.ref, preset.family)
    path = boundary.locate(ref, "model")
    if path is not None:
        if path.is_dir():
            if not (path / "model_index.json").exists():
                raise ModelUnavailable(f"model {ref!r}: the folder has no model_index.json, so it is not a "
                                       "diffusers pipeline folder (save one with save_pretrained, or give a "
                                       ".safetensors/.ckpt checkpoint file)")
            return ModelSource(str(path), "folder", str(path), _family_of_folder(path))
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise ModelUnavailable(f"model {ref!r}: a checkpoint file must end in "
                                   f"{', '.join(SINGLE_FILE_SUFFIXES)}")
        return ModelSource(str(path), "file", str(path), "sdxl" if "xl" in path.name.lower() else "sd1")
    if not HUB_ID.match(ref):
        raise ModelUnavailable(f"model {ref!r}: no such file or folder, and not a preset "
                               f"({', '.join(MODEL_PRESETS)}) nor a Hugging Face id like 'owner/name'")
    return ModelSource(ref, "hub", ref, "sdxl" if "xl" in ref.lower() else "sd1")


def check_available(ref: str, models: "ModelBoundary | Path") -> ModelSource:
    """Resolve ``ref`` and make sure it can load, before torch is imported: a Hub model that is not in the
    cache costs one short probe of the Hub, so an offline machine is told in seconds (ModelUnavailable)."""
    from gwen import hub

    source = resolve_model(ref, models)
    if source.kind == "hub" and hub.cached_snapshot(source.location) is None:
        preset = preset_named(ref)
        hub.probe(source.location, ref=preset.name if preset is not None else ref)
    return source


def _family_of_folder(path: Path) -> str:
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "sd1"
    return "sdxl" if "XL" in str(index.get("_class_name", "")) or "text_encoder_2" in index else "sd1"


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
        source = resolve_model(ref, self.boundary)
        with self._lock:
            if self._loaded is not None and self._loaded.source == source:
                return self._loaded
            self.unload()
            pipe = self._load_pipeline(source)
            family = "sdxl" if "XL" in type(pipe).__name__ else ("sd2" if _is_v_or_sd2(pipe) else "sd1")
            self._place(pipe, family)
            self._loaded = LoadedModel(source=source, pipe=pipe, model_hash=_model_hash(source, pipe),
                                       family=family, base_scheduler_config=dict(pipe.scheduler.config))
            return self._loaded

    def unload(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded = None
                memory.release(self.device)

    def _load_pipeline(self, source: ModelSource):
        import torch  # noqa: F401  (fail early with a clear import error)
        from diffusers import AutoPipelineForText2Image

        kwargs = {"dtype": self.dtype}
        try:
            if source.kind == "file":
                return self._load_single_file(source, kwargs)
            if source.kind == "folder":
                return AutoPipelineForText2Image.from_pretrained(source.location, **kwargs)
            return self._load_from_hub(source, kwargs)
        except ModelUnavailable:
            raise
        except Exception as exc:  # diffusers/hub raise many types; the user needs one message
            raise ModelUnavailable(_load_failure_message(source, exc)) from exc

    def _load_from_hub(self, source: ModelSource, kwargs: dict):
        """The Hugging Face cache first (no network at all); then one short probe of the Hub, so an offline
        machine fails in seconds; only then the download (with diffusers' own retries and progress)."""
        from gwen import hub

        if hub.cached_snapshot(source.location) is not None:
            try:
                return self._from_pretrained_hub(source, kwargs, local_files_only=True)
            except Exception:  # an incomplete snapshot: complete it from the Hub below, if it can be reached
                if hub.offline():
                    raise
        preset = preset_named(source.location)
        hub.probe(source.location, ref=preset.name if preset is not None else None)
        log.info("loading %s (first use downloads it into the Hugging Face cache)", source.location)
        return self._from_pretrained_hub(source, kwargs)

    def _from_pretrained_hub(self, source: ModelSource, kwargs: dict, **extra):
        from diffusers import AutoPipelineForText2Image

        if "float16" in str(self.dtype):
            try:
                return AutoPipelineForText2Image.from_pretrained(source.location, variant="fp16", **kwargs, **extra)
            except (OSError, ValueError) as exc:
                if "variant" not in str(exc).lower() and "fp16" not in str(exc).lower():
                    raise
        return AutoPipelineForText2Image.from_pretrained(source.location, **kwargs, **extra)

    def _load_single_file(self, source: ModelSource, kwargs: dict):
        from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
        from diffusers.loaders.single_file_utils import infer_diffusers_model_type, load_single_file_checkpoint

        try:
            checkpoint = load_single_file_checkpoint(source.location)
            model_type = infer_diffusers_model_type(checkpoint)
        except Exception as exc:
            raise ModelUnavailable(f"model {source.ref!r}: not a Stable Diffusion checkpoint that diffusers can "
                                   f"read ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from exc
        cls = StableDiffusionXLPipeline if model_type.startswith(("xl", "playground", "sdxl")) else StableDiffusionPipeline
        return cls.from_single_file(source.location, **kwargs)

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

    def _scheduler(self, loaded: LoadedModel, name: str):
        import diffusers

        class_name, overrides = SCHEDULER_SPECS[name]
        cls = getattr(diffusers, class_name)
        return cls.from_config(loaded.base_scheduler_config, **overrides)

    # --- rendering ------------------------------------------------------------
    def render(self, params_list: list[ImageParams], init_images: dict[str, Image.Image] | None = None,
               on_step: ProgressFn | None = None, cancel: threading.Event | None = None,
               on_preview: PreviewFn | None = None) -> list[Rendered]:
        """Render every params, grouping batch-compatible neighbours into sub-batches."""
        if not params_list:
            return []
        with self._lock:
            loaded = self.load(params_list[0].model)
            self._check_size(loaded, params_list)
            chunks = self._plan_chunks(loaded, params_list)
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
                memory.after_job(self.device)
            return results

    def render_exact(self, batch: list[ImageParams], init_images: dict[str, Image.Image] | None = None) -> list[Image.Image]:
        """Render ``batch`` as exactly one pipeline call (to repeat a recorded layout)."""
        with self._lock:
            loaded = self.load(batch[0].model)
            self._check_size(loaded, batch)
            if len({_batch_key(p) for p in batch}) != 1:
                raise InvalidInput("these params cannot share one pipeline call (they differ beyond their seeds)")
            try:
                return self._render_chunk(loaded, batch, init_images or {}, None, None)
            finally:
                memory.after_job(self.device)

    def _plan_chunks(self, loaded: LoadedModel, params_list: list[ImageParams]) -> list[list[ImageParams]]:
        groups: list[list[ImageParams]] = []
        for p in params_list:
            if groups and _batch_key(groups[-1][0]) == _batch_key(p):
                groups[-1].append(p)
            else:
                groups.append([p])
        chunks = []
        for group in groups:
            first = group[0]
            size = memory.max_batch(first.width, first.height, self.device, loaded.family,
                                    2 if "16" in self.dtype_name else 4, self._max_batch_override)
            chunks += [group[i:i + size] for i in range(0, len(group), size)]
        return chunks

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
                raise Cancelled("cancelled by the user; nothing from this job was written")
            if step + 1 in preview_at and taps:
                on_preview(latents_to_images(taps[0].latents(kwargs["latents"]), loaded.family))
            if on_step:
                on_step(step + 1, steps_here)
            return kwargs

        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled by the user; nothing from this job was written")
        common = dict(
            prompt=first.prompt, negative_prompt=first.negative_prompt or None,
            num_images_per_prompt=len(chunk), num_inference_steps=first.steps, guidance_scale=first.guidance,
            generator=generators, callback_on_step_end=callback, output_type="pil",
        )
        tiling = memory.needs_vae_tiling(first.width, first.height)
        vae = loaded.pipe.vae
        vae.enable_tiling() if tiling else vae.disable_tiling()
        if first.is_img2img:
            pipe = self._img2img(loaded)
            pipe.scheduler = self._scheduler(loaded, first.scheduler)
            if on_preview:
                taps.append(PreviewTap(pipe.scheduler))
            init = init_images.get(first.init_image_id)
            if init is None:
                raise InvalidInput(f"init image {first.init_image_id}: not provided for img2img")
            init = init.convert("RGB").resize((first.width, first.height), Image.LANCZOS)
            with torch.inference_mode():
                out = pipe(image=init, strength=first.denoise, **common)
        else:
            pipe = loaded.pipe
            pipe.scheduler = self._scheduler(loaded, first.scheduler)
            if on_preview:
                taps.append(PreviewTap(pipe.scheduler))
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


def _batch_key(p: ImageParams) -> str:
    """Params with the per-image noise removed: equal keys can share one pipeline call."""
    return json.dumps({k: v for k, v in p.to_dict().items() if k not in ("seed", "variations")}, sort_keys=True)


def _steps_of(p: ImageParams) -> int:
    if p.is_img2img:
        return max(1, min(int(p.steps * p.denoise), p.steps))
    return p.steps


def _is_v_or_sd2(pipe) -> bool:
    return getattr(pipe.scheduler.config, "prediction_type", "epsilon") == "v_prediction" or \
        getattr(getattr(pipe, "text_encoder", None), "config", None) is not None and \
        getattr(pipe.text_encoder.config, "hidden_size", 768) == 1024


def _model_hash(source: ModelSource, pipe) -> str:
    """A short fingerprint of the weights: hub commit, or a hash of the files' names, sizes and configs."""
    if source.kind == "hub":
        name = str(getattr(pipe.unet.config, "_name_or_path", ""))
        parts = Path(name).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1][:10]
        return ""
    path = Path(source.location)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(path.parent if path.is_file() else path)).encode())
        digest.update(str(f.stat().st_size).encode())
        if f.suffix == ".json":
            digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def _load_failure_message(source: ModelSource, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if source.kind == "hub":
        from gwen.hub import download_command

        return (f"model {source.ref!r} could not be loaded from the Hugging Face cache or the Hub "
                f"({type(exc).__name__}: {first_line}). If this machine is offline, download it once elsewhere "
                f"(`{download_command(source.location)}`) and copy the HF cache here, or point --model at a "
                f"local diffusers folder or a .safetensors/.ckpt file; `--model tiny` runs the offline demo model.")
    return f"model {source.ref!r} could not be loaded ({type(exc).__name__}: {first_line})"


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    import importlib.metadata as md

    out = {}
    for pkg in ("gwen", "diffusers", "torch", "transformers"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "unknown"
    if out["gwen"] == "unknown":
        from gwen import __version__
        out["gwen"] = __version__
    return tuple(out.items())


def versions() -> dict[str, str]:
    """Versions of gwen, diffusers, torch and transformers (looked up once per process: 14 ms each time)."""
    return dict(_versions())

