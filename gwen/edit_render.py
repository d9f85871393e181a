"""Rendering an edit (Vary Region, Pan, Zoom Out) with the loaded model's inpainting pipeline.

Contract:
- ``render_edit(pipe, chunk, init_images, common)`` renders one pipeline call of params that share one edit
  (``params.edit``, ``gwen.edit_spec``). ``pipe`` is the engine's ``AutoPipelineForInpainting.from_pipe`` of the
  loaded model (the same weights; a model with a 4-channel UNet inpaints by blending the kept latents at every
  step). ``init_images`` holds the parent (by its id) and the mask (``mask_key(spec)``): both travel in a
  ``RenderOrder`` as PNG bytes, so a Ray replica renders an edit exactly as this process does.
- The pipeline starts from ``gwen.editing.start_canvas`` (the parent, or the extended canvas filled with the
  parent's stretched, blurred edges) at ``denoise`` strength; then every output is blended back onto that canvas
  through the feathered mask: outside the mask the result is the parent, pixel for pixel.
- The parent, the mask and the params' size must agree (a pan/zoom of a different parent makes a different
  canvas): ``InvalidInput`` otherwise. A noise variation chain (``params.variations``, e.g. a variation of an
  edited image) is applied to each image's starting noise, as txt2img does (``gwen.engine.initial_noise``).
"""

from __future__ import annotations

from contextlib import contextmanager

from PIL import Image

from gwen.edit_spec import EditSpec
from gwen.editing import blend, feather, geometry, start_canvas
from gwen.errors import InvalidInput
from gwen.params import ImageParams


def mask_key(spec: EditSpec) -> str:
    """Where an edit's mask travels among the init images of an order."""
    return f"mask:{spec.mask_sha256}"


def render_edit(pipe, chunk: list[ImageParams], init_images: dict[str, Image.Image], common: dict
                ) -> list[Image.Image]:
    import torch

    first = chunk[0]
    spec = first.edit
    parent = init_images.get(first.init_image_id)
    if parent is None:
        raise InvalidInput(f"image {first.init_image_id}: not provided for the edit {spec.describe()!r}")
    mask = init_images.get(mask_key(spec))
    if mask is None:
        raise InvalidInput(f"mask {spec.mask_sha256[:12]}…: not provided for the edit {spec.describe()!r}")
    found = geometry(spec, parent.size)
    if found.size != (first.width, first.height):
        raise InvalidInput(f"{spec.describe()} of the {parent.width}x{parent.height} image {first.init_image_id} "
                           f"makes {found.size[0]}x{found.size[1]}, not {first.width}x{first.height}: an edit "
                           "(pan, zoom) starts from the image it was made from")
    mask = mask.convert("L").point(lambda v: 255 if v >= 128 else 0)
    if mask.size != found.size:
        raise InvalidInput(f"mask of {mask.width}x{mask.height}: must be the edit's canvas, "
                           f"{found.size[0]}x{found.size[1]}")
    canvas = start_canvas(parent, found)
    with noise_chains(pipe, chunk), torch.inference_mode():
        out = pipe(image=canvas, mask_image=mask, strength=first.denoise, height=first.height, width=first.width,
                   **common)
    weight = feather(mask, spec.mask_blur)
    return [blend(canvas, image, weight) for image in out.images]


@contextmanager
def noise_chains(pipe, chunk: list[ImageParams]):
    """While rendering ``chunk``, slerp each image's starting noise along its variation chain (if any has one):
    the pipeline's own ``prepare_latents`` draws the seed's noise, this replaces it and re-noises the start."""
    if not any(p.variations for p in chunk):
        yield
        return
    original = pipe.prepare_latents

    def prepare(*args, **kwargs):
        want_noise, want_image = kwargs.get("return_noise", False), kwargs.get("return_image_latents", False)
        strength_max = kwargs.get("is_strength_max", True)
        out = original(*args, **{**kwargs, "return_noise": True,
                                 "return_image_latents": want_image or not strength_max})
        noise = _chained(out[1], chunk)
        if strength_max:
            latents = noise * pipe.scheduler.init_noise_sigma
        else:
            latents = pipe.scheduler.add_noise(out[2], noise, kwargs["timestep"])
        return (latents, *([noise] if want_noise else []), *([out[2]] if want_image else []))
    pipe.prepare_latents = prepare
    try:
        yield
    finally:
        del pipe.prepare_latents  # the class's own method again


def _chained(noise, chunk: list[ImageParams]):
    import torch

    from gwen.engine import slerp

    out = []
    for k, params in enumerate(chunk):
        own = noise[k].detach().to("cpu", torch.float32)
        for variation in params.variations:
            other = torch.randn(own.shape, generator=torch.Generator("cpu").manual_seed(variation.seed),
                                dtype=torch.float32)
            own = slerp(variation.strength, own, other)
        out.append(own)
    return torch.stack(out).to(noise.device, noise.dtype)
