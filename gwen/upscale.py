"""Real-ESRGAN (and any spandrel-supported upscaler): fetch, load, tiled inference in bounded memory.

Contract:
- ``resolve_upscaler(ref, models_dir)``: a preset name (``x4plus``,
  ``x2plus``, ``general-x4v3``) → ``models_dir/<official file name>``,
  downloaded on first use from the Real-ESRGAN releases (or the mirror in
  ``GWEN_MODELS_MIRROR``), with a progress bar, a size + sha256 check and an
  atomic rename; the ``tiny`` preset (random weights, for the offline demo and
  tests) is built locally on first use; or a path to the user's own
  ``.pth``/``.safetensors``. Failures raise ``ModelUnavailable`` saying where to
  put the file, and that ``tiny`` or a model file of one's own work offline.
- ``download_file`` never leaves a partial file at the target: it writes a
  temporary file beside it and renames only after the size and sha256 match.
- ``Upscaler.upscale(image, settings)`` pre-shrinks (optional), runs the
  model tile by tile with overlapping, feathered tiles (memory bounded by
  the tile size, not the image; the fewest tiles of at most ``tile`` pixels,
  shrunk to fit and evenly spread), honours the model's size rules (padding to
  its multiple), resizes to the requested final scale and returns a new
  image. On CUDA out-of-memory it retries with half the tile.
- ``UpscaleSettings`` validates tile (integer ≥ 32), pre-shrink (0, 1] and
  scale (1 … the model's scale) with messages naming the value and the rule.
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from gwen.device_thread import device_thread
from gwen.errors import InvalidInput, ModelUnavailable

if TYPE_CHECKING:
    from gwen.boundary import ModelBoundary

MIN_TILE = 32
MAX_OUTPUT_PIXELS = 8192 * 8192
RELEASES = "https://github.com/xinntao/Real-ESRGAN/releases/download"
MODEL_SUFFIXES = (".pth", ".pt", ".safetensors", ".ckpt", ".bin")


@dataclass(frozen=True)
class UpscalerPreset:
    name: str
    filename: str
    url: str | None  # None: built locally (the tiny demo)
    size: int | None
    sha256: str | None
    scale: int
    label: str


UPSCALER_PRESETS: dict[str, UpscalerPreset] = {
    p.name: p for p in (
        UpscalerPreset("x4plus", "RealESRGAN_x4plus.pth", f"{RELEASES}/v0.1.0/RealESRGAN_x4plus.pth", 67_040_989,
                       "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 4,
                       "Real-ESRGAN x4plus (RRDBNet, general photos)"),
        UpscalerPreset("x2plus", "RealESRGAN_x2plus.pth", f"{RELEASES}/v0.2.1/RealESRGAN_x2plus.pth", 67_061_725,
                       "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 2,
                       "Real-ESRGAN x2plus (RRDBNet with pixel-unshuffle; sides padded to multiples of 4)"),
        UpscalerPreset("general-x4v3", "realesr-general-x4v3.pth", f"{RELEASES}/v0.2.5.0/realesr-general-x4v3.pth",
                       4_885_111, "8dc7edb9ac80ccdc30c3a5dca6616509367f05fbc184ad95b731f05bece96292", 4,
                       "Real-ESRGAN general x4v3 (SRVGG compact, fast)"),
        UpscalerPreset("tiny", "tiny-esrgan-x4.pth", None, None, None, 4,
                       "Tiny offline demo x4 (random weights, built locally)"),
    )
}
DEFAULT_UPSCALER = "x4plus"


@dataclass(frozen=True)
class UpscaleSettings:
    tile: int | None = None  # input pixels per tile side; None = the device's default
    pre_shrink: float = 1.0  # shrink the input by this factor first (the notebook liked ~0.3)
    scale: float | None = None  # final scale relative to the source; None = the model's scale
    overlap: int = 16  # input pixels shared by neighbouring tiles

    def __post_init__(self) -> None:
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int)):
            raise InvalidInput(f"tile={self.tile!r}: must be an integer of at least {MIN_TILE} pixels")
        if self.tile is not None and self.tile < MIN_TILE:
            raise InvalidInput(f"tile={self.tile}: must be at least {MIN_TILE} pixels")
        if not isinstance(self.pre_shrink, (int, float)) or math.isnan(self.pre_shrink) \
                or not (0 < self.pre_shrink <= 1):
            raise InvalidInput(f"pre-shrink={self.pre_shrink!r}: must be greater than 0 and at most 1")
        if self.scale is not None and (not isinstance(self.scale, (int, float)) or math.isnan(self.scale)):
            raise InvalidInput(f"scale={self.scale!r}: must be a number")

    def check_against(self, model_scale: int, width: int, height: int) -> float:
        """The final scale, after checking it and the output size; raise InvalidInput otherwise."""
        scale = float(self.scale if self.scale is not None else model_scale)
        if not (1 <= scale <= model_scale):
            raise InvalidInput(f"scale={self.scale!r}: this model upscales by {model_scale}; "
                               f"choose a scale from 1 to {model_scale}")
        out_w, out_h = round(width * scale), round(height * scale)
        if out_w * out_h > MAX_OUTPUT_PIXELS:
            raise InvalidInput(f"source {width}x{height} at scale {scale:g} would be {out_w}x{out_h}: over the "
                               f"output budget of {MAX_OUTPUT_PIXELS:,} pixels (use a smaller scale)")
        return scale


# Pure-convolution architectures run faster with NHWC tensors (x4plus on this 2-core CPU: 6.3 → 5.0 s per
# 128² tile); transformer architectures reshape with .view() and must stay contiguous.
CHANNELS_LAST_ARCHITECTURES = frozenset({"ESRGAN", "Compact"})


def parse_tile(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"tile={text!r}: must be an integer of at least {MIN_TILE} pixels") from None


# --- files -------------------------------------------------------------------
def resolve_upscaler(ref: str, models: "ModelBoundary | Path", download: bool = True, progress: bool = True
                     ) -> Path:
    """A usable local file for a preset name or a path (downloading a preset on first use). ``models``: the
    models folder, or the ``ModelBoundary`` that decides which paths may be opened."""
    from gwen.boundary import ModelBoundary

    boundary = ModelBoundary.of(models)
    models_dir = boundary.models_dir
    preset = UPSCALER_PRESETS.get(ref)
    if preset is not None:
        target = Path(models_dir) / preset.filename
        if target.exists():
            return target
        if preset.url is None:
            return ensure_tiny_esrgan(Path(models_dir))
        if not download:
            raise ModelUnavailable(_missing_message(preset, target, "it is not downloaded yet"), model=preset.name,
                                   reason="missing")
        return fetch_preset(preset, Path(models_dir), progress=progress)
    path = boundary.locate(ref, "upscaler")
    if path is not None and path.is_file():
        if path.suffix.lower() not in MODEL_SUFFIXES:
            raise ModelUnavailable(f"upscaler {ref!r}: a model file must end in {', '.join(MODEL_SUFFIXES)}")
        return path
    raise ModelUnavailable(f"upscaler {ref!r}: not a preset ({', '.join(UPSCALER_PRESETS)}) and no such file")


def fetch_preset(preset: UpscalerPreset, models_dir: Path, progress: bool = True) -> Path:
    mirror = os.environ.get("GWEN_MODELS_MIRROR")
    url = f"{mirror.rstrip('/')}/{preset.filename}" if mirror else preset.url
    target = models_dir / preset.filename
    try:
        return download_file(url, target, preset.size, preset.sha256, progress=progress)
    except ModelUnavailable as exc:
        raise ModelUnavailable(_missing_message(preset, target, str(exc)), model=preset.name,
                               reason="unreachable") from None


def _missing_message(preset: UpscalerPreset, target: Path, why: str) -> str:
    return (f"upscaler {preset.name!r}: {why}. Download {preset.url} ({preset.size:,} bytes, sha256 "
            f"{preset.sha256}) on a machine with network and place it at {target}; or use a model file of your "
            f"own (--model PATH; in the dashboard: \"A model file\"), or the `tiny` upscaler, which is built "
            f"locally and works offline (random weights: it proves the loop, it does not sharpen)")


def download_file(url: str, target: Path, size: int | None, sha256: str | None, progress: bool = True,
                  timeout: float = 30.0) -> Path:
    """Stream ``url`` to ``target``; check size and sha256; rename atomically; never leave a partial file."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest, received = hashlib.sha256(), 0
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                response = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310 (fixed https or a mirror)
            except (urllib.error.URLError, OSError) as exc:
                raise ModelUnavailable(f"could not download {url} ({getattr(exc, 'reason', exc)})") from None
            with response:
                total = size or int(response.headers.get("Content-Length") or 0) or None
                bar = _bar(total, target.name) if progress else None
                try:
                    while True:
                        try:
                            chunk = response.read(1 << 20)
                        except (OSError, ValueError) as exc:
                            raise ModelUnavailable(f"download of {url} was interrupted after {received:,} bytes "
                                                   f"({exc})") from None
                        if not chunk:
                            break
                        out.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if bar is not None:
                            bar.update(len(chunk))
                        if size is not None and received > size:
                            raise ModelUnavailable(f"{url} is larger than the expected {size:,} bytes")
                finally:
                    if bar is not None:
                        bar.close()
            out.flush()
            os.fsync(out.fileno())
        if size is not None and received != size:
            raise ModelUnavailable(f"download of {url} stopped at {received:,} of {size:,} bytes")
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelUnavailable(f"checksum mismatch for {url}: sha256 {digest.hexdigest()} instead of {sha256}")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def _bar(total: int | None, name: str):
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- inference ---------------------------------------------------------------
@dataclass
class LoadedUpscaler:
    path: Path
    sha256: str
    descriptor: object
    scale: int
    multiple_of: int
    minimum: int
    name: str


class Upscaler:
    """Keeps one upscaler model loaded; serializes device work."""

    def __init__(self, device: str | None = None):
        self._device_pref = device
        self._loaded: LoadedUpscaler | None = None
        self._lock = threading.RLock()

    @property
    def device(self) -> str:
        from gwen.memory import pick_device

        return pick_device(self._device_pref)

    def load(self, path: Path, name: str | None = None) -> LoadedUpscaler:
        return device_thread().run(self._load, path, name)  # every torch call on one thread (gwen.device_thread)

    def _load(self, path: Path, name: str | None) -> LoadedUpscaler:
        path = Path(path)
        with self._lock:
            if self._loaded is not None and self._loaded.path == path:
                return self._loaded
            self.unload()
            from spandrel import ImageModelDescriptor, ModelLoader

            try:
                descriptor = ModelLoader(device=self.device).load_from_file(path)
            except Exception as exc:  # spandrel raises UnsupportedModelError, torch raises pickling errors, ...
                raise ModelUnavailable(f"upscaler {str(path)!r}: spandrel cannot identify this file as an image "
                                       f"model ({type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''})"
                                       ) from None
            if not isinstance(descriptor, ImageModelDescriptor) or descriptor.input_channels != 3 \
                    or descriptor.output_channels != 3:
                raise ModelUnavailable(f"upscaler {str(path)!r}: a {descriptor.architecture.name} model, not an RGB "
                                       "image-to-image upscaler")
            if descriptor.scale < 1:
                raise ModelUnavailable(f"upscaler {str(path)!r}: scale {descriptor.scale} is not an upscale")
            descriptor.eval()
            if self.device.startswith("cuda") and descriptor.supports_half:
                descriptor.half()
            if descriptor.architecture.id in CHANNELS_LAST_ARCHITECTURES:
                import torch

                descriptor.model.to(memory_format=torch.channels_last)
            req = descriptor.size_requirements
            self._loaded = LoadedUpscaler(path, file_sha256(path), descriptor, int(descriptor.scale),
                                          int(req.multiple_of or 1), int(req.minimum or 1), name or path.name)
            return self._loaded

    def unload(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded = None
                from gwen.memory import release

                release(self.device)

    def dtype_name(self, loaded: LoadedUpscaler) -> str:
        return "float16" if self.device.startswith("cuda") and loaded.descriptor.supports_half else "float32"

    def default_tile(self) -> int:
        return 512 if self.device.startswith("cuda") else 256

    def upscale(self, image: Image.Image, loaded: LoadedUpscaler, settings: UpscaleSettings) -> tuple[Image.Image, int]:
        """(the upscaled image, the tile size actually used), computed on the device thread."""
        return device_thread().run(self._upscale, image, loaded, settings)

    def _upscale(self, image: Image.Image, loaded: LoadedUpscaler, settings: UpscaleSettings
                 ) -> tuple[Image.Image, int]:
        scale = settings.check_against(loaded.scale, image.width, image.height)
        source = image.convert("RGB")
        if settings.pre_shrink < 1:
            shrunk = (max(loaded.minimum, round(source.width * settings.pre_shrink)),
                      max(loaded.minimum, round(source.height * settings.pre_shrink)))
            source = source.resize(shrunk, Image.LANCZOS)
        tile = settings.tile or self.default_tile()
        with self._lock:
            while True:
                try:
                    out = self._run_tiled(source, loaded, tile, settings.overlap)
                    break
                except Exception as exc:
                    if not _is_oom(exc) or tile // 2 < MIN_TILE:
                        raise
                    tile //= 2  # CUDA out of memory: retry with smaller tiles
                    from gwen.memory import release
                    release(self.device)
            from gwen.memory import after_job
            after_job(self.device)
        final = (round(image.width * scale), round(image.height * scale))
        if out.size != final:
            out = out.resize(final, Image.LANCZOS)
        return out, tile

    def _run_tiled(self, image: Image.Image, loaded: LoadedUpscaler, tile: int, overlap: int) -> Image.Image:
        import numpy as np
        import torch

        model, s, multiple = loaded.descriptor, loaded.scale, loaded.multiple_of
        dtype = torch.float16 if self.device.startswith("cuda") and model.supports_half else torch.float32
        src = torch.from_numpy(np.array(image)).permute(2, 0, 1).unsqueeze(0)  # uint8 1×3×H×W
        height, width = src.shape[2], src.shape[3]
        tile = max(multiple, tile - tile % multiple)
        overlap = min(overlap, tile // 4)
        out = torch.zeros((3, height * s, width * s), dtype=torch.float32)
        weight = torch.zeros((1, height * s, width * s), dtype=torch.float32)
        tile_h, ys = _layout(height, tile, overlap, multiple)
        tile_w, xs = _layout(width, tile, overlap, multiple)
        with torch.inference_mode():
            for y0 in ys:
                for x0 in xs:
                    y1, x1 = y0 + tile_h, x0 + tile_w
                    patch = src[:, :, y0:y1, x0:x1].to(self.device, dtype) / 255.0
                    patch, pad_h, pad_w = _pad(patch, multiple, loaded.minimum)
                    if model.architecture.id in CHANNELS_LAST_ARCHITECTURES:
                        patch = patch.contiguous(memory_format=torch.channels_last)
                    result = model(patch)[..., : (y1 - y0) * s, : (x1 - x0) * s].float().clamp_(0, 1).cpu()[0]
                    del patch
                    mask = _feather((y1 - y0) * s, (x1 - x0) * s, overlap * s,
                                    top=y0 > 0, bottom=y1 < height, left=x0 > 0, right=x1 < width)
                    out[:, y0 * s:y1 * s, x0 * s:x1 * s] += result * mask
                    weight[:, y0 * s:y1 * s, x0 * s:x1 * s] += mask
                    del result
        out /= weight
        del weight
        pixels = out.mul_(255.0).round_().clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
        del out
        return Image.fromarray(pixels, "RGB")


def _layout(length: int, tile: int, overlap: int, multiple: int) -> tuple[int, list[int]]:
    """(tile length, tile starts) along one axis: the fewest tiles of at most ``tile`` pixels that cover
    ``length`` while neighbours share at least ``2 * overlap`` pixels, shrunk to fit and evenly spread.

    A fixed stride wastes work: 512 px in 256-px tiles with a 32-px share needs 3 tiles either way, but
    three 192-px tiles cost 44 % less than three 256-px ones.
    """
    if length <= tile:
        return length, [0]
    shared = 2 * overlap
    count = math.ceil((length - shared) / (tile - shared))
    size = math.ceil((length + (count - 1) * shared) / count)
    size = min(tile, math.ceil(size / multiple) * multiple)
    span = length - size  # ≤ (count - 1) * (size - shared), so every ceil'd stride keeps the share
    return size, [-(-i * span // (count - 1)) for i in range(count)]


def _pad(patch, multiple: int, minimum: int):
    import torch.nn.functional as F

    h, w = patch.shape[2], patch.shape[3]
    target_h = max(minimum, math.ceil(h / multiple) * multiple)
    target_w = max(minimum, math.ceil(w / multiple) * multiple)
    pad_h, pad_w = target_h - h, target_w - w
    if pad_h or pad_w:
        mode = "reflect" if pad_h < h and pad_w < w else "replicate"
        patch = F.pad(patch, (0, pad_w, 0, pad_h), mode=mode)
    return patch, pad_h, pad_w


def _feather(h: int, w: int, ramp: int, top: bool, bottom: bool, left: bool, right: bool):
    """Weights that fade linearly over ``ramp`` output pixels on sides shared with a neighbour."""
    import torch

    def axis(n: int, start: bool, end: bool):
        v = torch.ones(n)
        r = min(ramp, n // 2)
        if r > 0:
            fade = (torch.arange(r, dtype=torch.float32) + 0.5) / r
            if start:
                v[:r] = torch.minimum(v[:r], fade)
            if end:
                v[n - r:] = torch.minimum(v[n - r:], fade.flip(0))
        return v

    return (axis(h, top, bottom)[:, None] * axis(w, left, right)[None, :]).unsqueeze(0)


def _is_oom(exc: Exception) -> bool:
    return "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"


def ensure_tiny_esrgan(models_dir: Path) -> Path:
    """The ``tiny`` preset's file under ``models_dir``, built on first use (atomically, by rename)."""
    target = Path(models_dir) / UPSCALER_PRESETS["tiny"].filename
    if not target.exists():
        staging = target.with_name(f".{target.name}.{os.getpid()}.building")
        build_tiny_esrgan(staging, 4)
        os.replace(staging, target)
    return target


def build_tiny_esrgan(target: Path, scale: int = 4) -> Path:
    """A tiny ESRGAN (RRDBNet) saved like Real-ESRGAN's files (``params_ema``); x2 uses pixel-unshuffle.

    Its weights are random (a fixed seed), plus one pass-through path for the colour channels (the first conv
    copies R, G, B into three features, the trunk's output conv is zeroed, the upsampling and output convs pass
    those three features on, all with a little of the random noise kept): so the demo upscaler returns a
    recognisable, slightly noisy nearest-neighbour enlargement instead of a black square. Every layer still runs
    at its real cost."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    state = torch.random.get_rng_state()
    torch.manual_seed(4 + scale)
    try:
        if scale == 2:
            model = ESRGAN(in_nc=12, out_nc=3, num_filters=16, num_blocks=1, scale=4, shuffle_factor=2)
        else:
            model = ESRGAN(num_filters=16, num_blocks=1, scale=scale)
        weights = model.state_dict()
        first = 4 if scale == 2 else 1  # after pixel-unshuffle by 2, input channel 4·c is colour c's top-left pixel
        with torch.no_grad():
            weights["model.1.sub.1.weight"].zero_()  # the trunk adds nothing: the shortcut carries the features
            weights["model.1.sub.1.bias"].zero_()
            for name in ("model.0", "model.3", "model.6", "model.8", "model.10"):
                w, b = weights[f"{name}.weight"], weights[f"{name}.bias"]
                w.mul_(0.01)
                b.zero_()
                for c in range(3):
                    w[c, c * first if name == "model.0" else c, 1, 1] = 1.0
        model.load_state_dict(weights)
    finally:
        torch.random.set_rng_state(state)
    target.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"params_ema": model.state_dict()}, target)
    return target
