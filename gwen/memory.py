"""Device, dtype and memory policy for the engine.

Contract:
- ``pick_device(preferred)``: ``preferred`` if given, else cuda, mps, cpu in
  that order of availability.
- ``pick_dtype(device, preferred)``: fp16 on CUDA (and MPS), fp32 on CPU,
  unless ``preferred`` says otherwise.
- ``max_batch(...)``: how many images one pipeline call may hold, from the
  free memory now (VRAM on CUDA, RAM elsewhere) and a per-image estimate that
  grows with pixel count; at least 1. The engine splits bigger grids into
  sub-batches of this size.
- ``needs_vae_tiling(width, height)`` depends on the size only, so the same
  params always decode the same way (reproducible).
- ``wants_cpu_offload(device, family)``: True on CUDA cards whose total VRAM is
  under what the model family needs resident.
- ``release(device)``: gc + empty the device cache; called after unloading a
  model. ``after_job(device)`` is called after every job: it collects the
  young garbage generations (the reference cycles a job makes; microseconds)
  but not the full heap, which holds half a million objects once torch and
  diffusers are loaded (0.43 s per full collection on a 2-core CPU: 2.3× a
  tiny 64² image); on a GPU it hands cached blocks back to the driver only
  when they crowd the card (free VRAM under 25%, or ``GWEN_ALWAYS_RELEASE=1``),
  because emptying the cache after every job makes the next job re-allocate
  its activations (measured: +0.2 s on a 0.8 s SD1.5 image on an H200).
"""

from __future__ import annotations

import gc
import os

GiB = 1024**3
# Peak working memory per image at 512x512 in one pipeline call (UNet with CFG
# + VAE decode with slicing), measured roughly; scaled by pixels and dtype size.
_PER_IMAGE_512_FP16 = {"sd1": 0.45 * GiB, "sd2": 0.55 * GiB, "sdxl": 0.9 * GiB}
_RESIDENT_VRAM = {"sd1": 5 * GiB, "sd2": 5.5 * GiB, "sdxl": 10 * GiB}
VAE_TILING_PIXELS = 1024 * 1024


def pick_device(preferred: str | None = None) -> str:
    import torch

    if preferred:
        return preferred
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def likely_device(preferred: str | None = None) -> str:
    """``pick_device``'s answer without importing torch when it is not loaded yet (Home must not pay 5 s for
    it): an NVIDIA driver means cuda, Apple silicon means mps, else cpu."""
    import platform
    import sys
    from pathlib import Path

    if preferred:
        return preferred
    if "torch" in sys.modules:
        return pick_device()
    if Path("/proc/driver/nvidia/version").exists():
        return "cuda"
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def pick_dtype(device: str, preferred: str | None = None):
    import torch

    if preferred:
        return getattr(torch, preferred)
    return torch.float16 if device.startswith(("cuda", "mps")) else torch.float32


def free_memory_bytes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        return int(free)
    import psutil

    return int(psutil.virtual_memory().available)


def total_vram_bytes(device: str) -> int:
    import torch

    return int(torch.cuda.get_device_properties(torch.device(device)).total_memory)


def max_batch(width: int, height: int, device: str, family: str, dtype_bytes: int,
              override: int | None = None, free_bytes: int | None = None) -> int:
    """Images per pipeline call that fit in 60% of the free memory (at least 1)."""
    if override:
        return max(1, override)
    free = free_memory_bytes(device) if free_bytes is None else free_bytes
    per_image = _PER_IMAGE_512_FP16.get(family, _PER_IMAGE_512_FP16["sd1"])
    per_image *= (width * height) / (512 * 512) * (dtype_bytes / 2)
    return max(1, min(64, int(0.6 * free // max(per_image, 1))))


def needs_vae_tiling(width: int, height: int) -> bool:
    return width * height > VAE_TILING_PIXELS


def wants_cpu_offload(device: str, family: str) -> bool:
    if not device.startswith("cuda") or os.environ.get("GWEN_NO_OFFLOAD"):
        return False
    return total_vram_bytes(device) < _RESIDENT_VRAM.get(family, _RESIDENT_VRAM["sd1"])


def release(device: str) -> None:
    gc.collect()
    try:
        import torch
    except ImportError:
        return
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and hasattr(torch, "mps"):
        torch.mps.empty_cache()


def after_job(device: str) -> bool:
    """Release what a finished job left behind; returns True when the device cache was emptied."""
    gc.collect(1)
    if not device.startswith(("cuda", "mps")):
        return False
    import torch

    crowded = os.environ.get("GWEN_ALWAYS_RELEASE") == "1"
    if not crowded and device.startswith("cuda") and torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info(torch.device(device))
        crowded = free < 0.25 * total
    if crowded:
        release(device)
    return crowded


def rss_bytes() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)
