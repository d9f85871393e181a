"""Live previews while rendering: latents to RGB with a fixed linear map per model family (no VAE, no weights).

Contract:
- ``latents_to_images(latents, family)`` turns a B×4×h×w latent tensor (the
  UNet's scaled latent space) into B small RGB images (h×w: 1/8 of the final
  size for Stable Diffusion) through a 4×3 matrix and a bias published for
  each VAE family (the same "cheap approximation" A1111 and ComfyUI use). It
  costs microseconds per image and never touches the VAE.
- ``preview_steps(total)``: the steps after which a preview is made: about six
  per render, never after the last step (the real image replaces it then).
- ``PreviewTap`` wraps a scheduler's ``step`` to keep its estimate of the
  finished latent (``pred_original_sample``) when the scheduler gives one
  (Euler, Euler a, DDIM, LMS, Heun, ...): that previews the picture being
  formed rather than the noisy sample. Other schedulers preview the current
  latents. The wrapper keeps ``step``'s signature (diffusers inspects it to
  pass the generator), so a render with previews has the same pixels as one
  without.
"""

from __future__ import annotations

import functools

from PIL import Image

# Rows: latent channels 0..3; columns: R, G, B. SD 1.x/2.x share the original VAE.
LATENT_RGB: dict[str, tuple[tuple[tuple[float, float, float], ...], tuple[float, float, float]]] = {
    "sd1": (((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721),
             (-0.2120, -0.2616, -0.7177)), (0.0, 0.0, 0.0)),
    "sdxl": (((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
              (-0.3165, -0.2492, -0.2188)), (0.1084, -0.0175, -0.0011)),
}
LATENT_RGB["sd2"] = LATENT_RGB["sd1"]
PREVIEWS_PER_RENDER = 6


def preview_steps(total: int) -> frozenset[int]:
    """1-based step numbers after which to preview (about six, not the last)."""
    every = max(1, round(total / PREVIEWS_PER_RENDER))
    return frozenset(k for k in range(every, total, every))


def latents_to_images(latents, family: str) -> list[Image.Image]:
    import torch

    factors, bias = LATENT_RGB.get(family, LATENT_RGB["sd1"])
    x = latents.detach().float().cpu()
    if x.ndim != 4 or x.shape[1] != 4:
        return []
    matrix = torch.tensor(factors, dtype=torch.float32)  # 4×3
    rgb = torch.einsum("bchw,cr->brhw", x, matrix) + torch.tensor(bias).view(1, 3, 1, 1)
    pixels = ((rgb.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    return [Image.fromarray(p, "RGB") for p in pixels]


class PreviewTap:
    """Keeps the scheduler's last estimate of the finished latent, when it computes one."""

    def __init__(self, scheduler):
        self.estimate = None
        original = scheduler.step

        @functools.wraps(original)  # pipelines read step's signature to decide whether to pass the generator
        def step(*args, **kwargs):
            out = original(*args, **kwargs)
            guess = out[1] if isinstance(out, tuple) and len(out) > 1 else getattr(out, "pred_original_sample", None)
            self.estimate = guess if hasattr(guess, "shape") else None
            return out
        scheduler.step = step

    def latents(self, current):
        if self.estimate is not None and tuple(self.estimate.shape) == tuple(current.shape):
            return self.estimate
        return current
