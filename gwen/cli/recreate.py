"""An image's settings as the ``generate`` command that re-creates them (``python -m gwen use ID``).

Contract: ``generate_options(params)`` is the keyword arguments of ``StudioAPI.generate`` (besides the prompt and
``n``) that render ``params`` again: model, seed, steps, guidance, size, scheduler, negative prompt, the noise
chain of a variation and the init image of an img2img. ``generate_argv(params)`` is the same as the argv of
``python -m gwen generate`` (one image); a LoRA stays in the prompt as its ``<lora:NAME:WEIGHT>`` tag.
"""

from __future__ import annotations

from typing import Any

from gwen.params import ImageParams


def generate_options(params: ImageParams) -> dict[str, Any]:
    options: dict[str, Any] = {
        "negative": params.negative_prompt, "model": params.model, "seed": params.seed, "steps": params.steps,
        "guidance": params.guidance, "width": params.width, "height": params.height,
        "scheduler": params.scheduler, "variations": [{"seed": v.seed, "strength": v.strength}
                                                      for v in params.variations]}
    if params.init_image_id is not None:
        options.update(init_image_id=params.init_image_id, denoise=params.denoise)
    return options


def generate_argv(params: ImageParams) -> list[str]:
    options = generate_options(params)
    argv = ["python", "-m", "gwen", "generate", params.prompt]
    if options["negative"]:
        argv += ["--negative", options["negative"]]
    argv += ["--model", options["model"], "--n", "1", "--seed", str(options["seed"]), "--steps",
             str(options["steps"]), "--guidance", f"{options['guidance']:g}", "--size",
             f"{options['width']}x{options['height']}", "--scheduler", options["scheduler"]]
    for step in options["variations"]:
        argv += ["--variation", f"{step['seed']}:{step['strength']:g}"]
    if "init_image_id" in options:
        argv += ["--init", options["init_image_id"], "--denoise", f"{options['denoise']:g}"]
    return argv
