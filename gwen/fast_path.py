"""GWEN's opt-in fast path (``GWEN_COMPILE=1``): a loaded pipeline compiled for speed, its kernels kept on disk.

Contract:
- ``enabled()`` is true when ``GWEN_COMPILE=1``. It is off by default: every new shape compiles once (~50 s for
  an SD1.5 UNet on an H200), which pays off over long runs of one size (a queue), not for one grid.
- ``use_cache(folder)`` points TorchInductor's and Triton's caches at ``folder`` (``$GWEN_HOME/cache/
  torch-compile``; a cache the user already set through ``TORCHINDUCTOR_CACHE_DIR`` / ``TRITON_CACHE_DIR`` is
  kept) and turns on the FX graph cache and the autotune cache before anything compiles, so that a second process
  with the same shapes loads the compiled kernels instead of compiling again.
- ``apply(pipe, device)`` fuses the attention's Q, K and V projections, puts the UNet and the VAE in channels_last
  and compiles the UNet in place (``nn.Module.compile``: still a ``UNet2DConditionModel``, so img2img and inpaint
  pipelines made ``from_pipe`` keep working) with ``dynamic=False``: one graph per batch size and image size, which
  GWEN's batches already bucket. The mode is ``GWEN_COMPILE_MODE``, by default "max-autotune" on CUDA (its CUDA
  graphs want static shapes) and "default" elsewhere. A graph that fails to compile runs eagerly (Dynamo's
  ``suppress_errors``). It returns what it applied, for ``engine_status``. The engine skips it all when the model
  is offloaded to the CPU between calls (too little VRAM), where compiled graphs would be re-recorded every call.
- ``before_loras(loaded, loras)``: fused attention bypasses LoRA layers, so the first render with a LoRA unfuses
  the projections for good (one recompile). A new set of LoRAs also recompiles.
- A compiled UNet rounds differently from an eager one (fused kernels): pixels differ by a few levels of 255. An
  image rendered with the fast path verifies against the fast path, not against eager rendering.
"""

from __future__ import annotations

import os
from pathlib import Path


def enabled() -> bool:
    return os.environ.get("GWEN_COMPILE", "") == "1"


def mode_for(device: str) -> str:
    return os.environ.get("GWEN_COMPILE_MODE") or ("max-autotune" if device.startswith("cuda") else "default")


def use_cache(folder: Path) -> Path:
    """Keep compiled kernels in ``folder`` (unless the user chose a cache); returns the inductor cache in use."""
    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")  # importing inductor sets it to its default: read first
    import torch._inductor.config as inductor

    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
        default = default_cache_dir()
    except ImportError:  # an older torch: nothing sets the variable behind the user's back
        default = None
    folder.mkdir(parents=True, exist_ok=True)
    if not chosen or (default and os.path.abspath(chosen) == os.path.abspath(default)):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(folder / "inductor")
    os.environ.setdefault("TRITON_CACHE_DIR", str(folder / "triton"))
    inductor.fx_graph_cache = True
    if hasattr(inductor, "autotune_local_cache"):
        inductor.autotune_local_cache = True
    return Path(os.environ["TORCHINDUCTOR_CACHE_DIR"])


def apply(pipe, device: str) -> dict:
    """Fuse, lay out and compile ``pipe``'s UNet in place; what was applied."""
    import torch

    applied: dict = {"mode": mode_for(device), "dynamic": False}
    try:
        pipe.fuse_qkv_projections()
        applied["fused_qkv"] = True
    except Exception as exc:  # an attention processor that cannot fuse: compile all the same
        applied["fused_qkv"] = f"not fused: {type(exc).__name__}"
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.vae.to(memory_format=torch.channels_last)
    applied["channels_last"] = ["unet", "vae"]
    import torch._dynamo

    torch._dynamo.config.suppress_errors = True  # a graph that cannot compile runs eagerly instead of failing
    pipe.unet.compile(mode=applied["mode"], dynamic=False)
    return applied


def before_loras(loaded, loras) -> None:
    """LoRA layers sit on the separate Q, K and V projections, which fused attention bypasses: unfuse (for good,
    which recompiles once) before the first render with a LoRA."""
    if loras and loaded.compiled and loaded.compiled.get("fused_qkv") is True:
        loaded.pipe.unfuse_qkv_projections()
        loaded.compiled["fused_qkv"] = "unfused: a LoRA was used"
