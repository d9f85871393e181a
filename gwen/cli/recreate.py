"""An image's settings as the ``generate`` command that re-creates them (``python -m gwen use ID``).

Contract: ``generate_options(params)`` is the prompt and the keyword arguments of ``StudioAPI.generate`` (besides
``n``) that render ``params`` again: model, seed, steps, guidance, size, scheduler, negative prompt, the noise
chain of a variation, the init image of an img2img, and the prompt styles: the prompt as typed with the styles'
names when the styles still exist (``gwen.styles.typed_text``), else the expanded prompt. ``generate_argv(params)``
is the same as the argv of ``python -m gwen generate`` (one image); a LoRA stays in the prompt as its
``<lora:NAME:WEIGHT>`` tag. An edit (Vary Region, Pan, Zoom Out) is re-created by its own command instead:
``edit_options`` / ``edit_argv`` (the parent, the box / side and fraction / factor or the stored mask, the
prompt, seed, strength and mask blur).
"""

from __future__ import annotations

from typing import Any

from gwen.params import ImageParams
from gwen.styles import typed_text


def generate_options(params: ImageParams, styles: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """``styles``: the style listing (``list_styles()``) that takes the styles back out of the prompt."""
    prompt, negative, names = typed_text(params.prompt, params.negative_prompt, params.styles, styles or [])
    options: dict[str, Any] = {
        "prompt": prompt, "negative": negative, "styles": names, "model": params.model, "seed": params.seed,
        "steps": params.steps, "guidance": params.guidance, "width": params.width, "height": params.height,
        "scheduler": params.scheduler, "variations": [{"seed": v.seed, "strength": v.strength}
                                                      for v in params.variations]}
    if params.init_image_id is not None:
        options.update(init_image_id=params.init_image_id, denoise=params.denoise)
    return options


def generate_argv(params: ImageParams, styles: list[dict[str, str]] | None = None) -> list[str]:
    options = generate_options(params, styles)
    argv = ["python", "-m", "gwen", "generate", options["prompt"]]
    if options["negative"]:
        argv += ["--negative", options["negative"]]
    for name in options["styles"]:
        argv += ["--style", name]
    argv += ["--model", options["model"], "--n", "1", "--seed", str(options["seed"]), "--steps",
             str(options["steps"]), "--guidance", f"{options['guidance']:g}", "--size",
             f"{options['width']}x{options['height']}", "--scheduler", options["scheduler"]]
    for step in options["variations"]:
        argv += ["--variation", f"{step['seed']}:{step['strength']:g}"]
    if "init_image_id" in options:
        argv += ["--init", options["init_image_id"], "--denoise", f"{options['denoise']:g}"]
    return argv


EDIT_COMMANDS = {"inpaint": "vary-region", "pan": "pan", "zoom": "zoom"}


def edit_options(params: ImageParams) -> tuple[str, dict[str, Any]]:
    """An edit's (command, keyword arguments of ``StudioAPI.vary_region`` / ``pan`` / ``zoom``) that make it
    again, one image; a painted mask's ``mask`` is left for the caller to read (it lies beside the image)."""
    spec = params.edit
    options: dict[str, Any] = {"prompt": params.prompt, "n": 1, "seed": params.seed, "strength": params.denoise,
                               "mask_blur": spec.mask_blur}
    if spec.kind == "inpaint":
        options["box"] = tuple(spec.box) if spec.box else None
    elif spec.kind == "pan":
        options.update(side=spec.side, fraction=spec.fraction)
    else:
        options["factor"] = spec.factor
    return EDIT_COMMANDS[spec.kind], options


def edit_argv(params: ImageParams, mask_file: str) -> list[str]:
    """``python -m gwen vary-region|pan|zoom PARENT ...``: the edit that makes ``params`` again (one image)."""
    command, options = edit_options(params)
    argv = ["python", "-m", "gwen", command, str(params.init_image_id)]
    if command == "vary-region":
        argv += ["--box", ",".join(str(v) for v in options["box"])] if options["box"] else ["--mask", mask_file]
    elif command == "pan":
        argv += [f"--{options['side']}", f"{options['fraction']:g}"]
    else:
        argv += ["--out", f"{options['factor']:g}"]
    return argv + ["--prompt", options["prompt"], "--n", "1", "--seed", str(options["seed"]), "--strength",
                   f"{options['strength']:g}", "--mask-blur", str(options["mask_blur"])]
