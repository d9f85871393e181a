"""Named model presets and the default model per device.

Contract:
- ``MODEL_PRESETS`` maps a short name (``sd15``, ``sd-turbo``, ``tiny`` ...) to a
  model reference and the settings that model was made for (steps, guidance,
  size, scheduler). Anything that is not a preset name is taken as a Hugging
  Face id, a local diffusers folder or a single checkpoint file.
- ``default_model(device)`` picks a preset that is pleasant on that device:
  SD 1.5 on a GPU, SD-Turbo (1–4 steps) on a CPU. ``GWEN_MODEL`` and the
  ``model`` key of ``$GWEN_HOME/settings.toml`` override it, and a ``--model``
  flag overrides both (see ``gwen.config``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelPreset:
    name: str
    ref: str  # Hugging Face id, or "tiny" for the offline demo model
    label: str
    steps: int
    guidance: float
    size: int
    scheduler: str
    family: str  # "sd1", "sd2", "sdxl"


MODEL_PRESETS: dict[str, ModelPreset] = {
    p.name: p
    for p in (
        ModelPreset("sd14", "CompVis/stable-diffusion-v1-4", "Stable Diffusion 1.4 (the original GWEN notebook)",
                    30, 7.5, 512, "Euler a", "sd1"),
        ModelPreset("sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", "Stable Diffusion 1.5",
                    25, 7.0, 512, "DPM++ 2M Karras", "sd1"),
        ModelPreset("sd21", "stabilityai/stable-diffusion-2-1-base", "Stable Diffusion 2.1 base (512)",
                    25, 7.0, 512, "DPM++ 2M Karras", "sd2"),
        ModelPreset("sd-turbo", "stabilityai/sd-turbo", "SD-Turbo (1–4 steps, good on a CPU)",
                    2, 0.0, 512, "Turbo", "sd2"),
        ModelPreset("sdxl", "stabilityai/stable-diffusion-xl-base-1.0", "SDXL 1.0 base (1024)",
                    30, 6.0, 1024, "DPM++ 2M Karras", "sdxl"),
        ModelPreset("sdxl-turbo", "stabilityai/sdxl-turbo", "SDXL-Turbo (1–4 steps)",
                    2, 0.0, 512, "Turbo", "sdxl"),
        ModelPreset("tiny", "tiny", "Tiny offline demo (random weights, built locally)",
                    4, 5.0, 64, "Euler a", "sd1"),
    )
}

DEFAULT_GPU_PRESET = "sd15"
DEFAULT_CPU_PRESET = "sd-turbo"


def default_model(device: str) -> str:
    """The preset name GWEN uses when nothing else says which model."""
    return DEFAULT_CPU_PRESET if device == "cpu" else DEFAULT_GPU_PRESET


def preset_named(model: str) -> ModelPreset | None:
    """The preset whose name or Hugging Face id is exactly ``model``, if any."""
    if model in MODEL_PRESETS:
        return MODEL_PRESETS[model]
    return next((p for p in MODEL_PRESETS.values() if p.ref == model), None)


def preset_for(model: str) -> ModelPreset | None:
    """The preset whose settings suit ``model`` (also a folder written by ``models make-tiny``)."""
    if model.rstrip("/").split("/")[-1] == "tiny-sd":
        return MODEL_PRESETS["tiny"]
    return preset_named(model)
