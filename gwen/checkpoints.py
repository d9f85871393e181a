"""What a single-file checkpoint is, from its tensor names: cheap enough to run on every model reference.

Contract:
- ``tensor_names(path)`` reads only names (and, for ``.safetensors``, shapes and the ``__metadata__`` table): the
  8-byte length and the JSON header of a ``.safetensors``; the pickle of a zip-format ``.ckpt``/``.pt``/``.pth``
  /``.bin``, scanned without being run (``pickletools``), so no tensor data is read and no code executes.
  A legacy non-zip pickle yields no names (``readable`` False).
- ``family_from_names(names, metadata, filename)`` says which family an original (CompVis/ldm) layout checkpoint
  belongs to, as a ``CheckpointKind``: SD 1.x (``cond_stage_model.transformer.`` = CLIP ViT-L), SD 2.x
  (``cond_stage_model.model.`` = OpenCLIP ViT-H) or SDXL base (``conditioner.embedders.1.`` = OpenCLIP bigG).
  SD 2.x comes in two configs: ``sd2-v`` (768², v-prediction) and ``sd2`` (512², epsilon), told apart by a
  ``v_pred`` tensor, the SAI model-spec metadata (``modelspec.prediction_type``, ``modelspec.architecture``,
  ``modelspec.resolution``), then ``768`` or ``512``/``base`` in the file name; with no hint, ``sd2-v`` (what
  SD 2.1 is, and diffusers' own default). What GWEN cannot load raises ``ModelUnavailable`` saying what the
  file is instead (a LoRA, an inpainting or refiner model, a UNet without its text encoder, something else).
- ``checkpoint_kind(path, ref)``: both, cached by path, size and modification time.
"""

from __future__ import annotations

import functools
import json
import pickletools
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

from gwen.errors import ModelUnavailable

UNET = "model.diffusion_model."
SD1_TEXT = "cond_stage_model.transformer."
SD2_TEXT = "cond_stage_model.model."
SDXL_TEXT = "conditioner.embedders.1."
SDXL_REFINER_TEXT = "conditioner.embedders.0.model."
_INPUT_CONV = UNET + "input_blocks.0.0.weight"
_LORA_MARKS = ("lora_unet_", "lora_te", ".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.", "lora.down", "lora.up")
MAX_HEADER_BYTES = 100 * 2**20


@dataclass(frozen=True)
class TensorNames:
    names: dict[str, tuple[int, ...] | None]  # name -> shape (None where the format does not say cheaply)
    metadata: dict[str, str] = field(default_factory=dict)
    readable: bool = True


@dataclass(frozen=True)
class CheckpointKind:
    family: str  # "sd1", "sd2", "sdxl"
    config: str  # the shipped config folder: "sd1", "sd2", "sd2-v", "sdxl"
    evidence: str  # what decided it, in words (logs, messages)


def tensor_names(path: str | Path) -> TensorNames:
    """Names (and what else is cheap) of the tensors in a checkpoint file; ValueError if it cannot be read."""
    path = Path(path)
    with open(path, "rb") as handle:
        start = handle.read(8)
        if path.suffix.lower() == ".safetensors":
            length = int.from_bytes(start, "little") if len(start) == 8 else 0
            if not 2 <= length <= MAX_HEADER_BYTES:
                raise ValueError("not a safetensors file (its 8-byte header length is not plausible)")
            header = json.loads(handle.read(length))
            metadata = header.pop("__metadata__", None) or {}
            return TensorNames({k: tuple(v.get("shape", ())) for k, v in header.items() if isinstance(v, dict)},
                               {str(k): str(v) for k, v in metadata.items()})
    if not zipfile.is_zipfile(path):
        return TensorNames({}, readable=False)  # a legacy pickle: names only by loading it
    with zipfile.ZipFile(path) as archive:
        pickles = [n for n in archive.namelist() if n.endswith("data.pkl")]
        if not pickles:
            raise ValueError("a zip file without a torch pickle (data.pkl)")
        data = archive.read(pickles[0])
    strings = {arg for op, arg, _ in pickletools.genops(data) if "UNICODE" in op.name and isinstance(arg, str)}
    return TensorNames(dict.fromkeys(strings))


def _has(names: Iterable[str], prefix: str) -> bool:
    return any(n.startswith(prefix) for n in names)


def _sd2_config(names: Mapping, metadata: Mapping[str, str], filename: str) -> tuple[str, str]:
    if "v_pred" in names:
        return "sd2-v", "a v_pred tensor"
    prediction = metadata.get("modelspec.prediction_type", "").lower()
    if prediction in ("v", "v_prediction", "v-prediction"):
        return "sd2-v", f"modelspec.prediction_type={prediction}"
    if prediction == "epsilon":
        return "sd2", "modelspec.prediction_type=epsilon"
    architecture = metadata.get("modelspec.architecture", "").lower()
    if architecture.endswith("-v"):
        return "sd2-v", f"modelspec.architecture={architecture}"
    resolution = metadata.get("modelspec.resolution", "")
    if resolution.startswith(("768", "512")):
        return ("sd2-v" if resolution.startswith("768") else "sd2"), f"modelspec.resolution={resolution}"
    name = filename.lower()
    if "768" in name:
        return "sd2-v", "768 in the file name"
    if "512" in name or "base" in name:
        return "sd2", "512/base in the file name"
    return "sd2-v", "no hint: SD 2.1's 768 v-prediction model assumed (rename the file with 512 for the base model)"


def family_from_names(names: Mapping[str, tuple | None] | Iterable[str], metadata: Mapping[str, str] | None = None,
                      filename: str = "", ref: str | None = None) -> CheckpointKind:
    """The family of an original-layout checkpoint from its tensor names; ModelUnavailable if GWEN cannot load it."""
    names = names if isinstance(names, Mapping) else dict.fromkeys(names)
    metadata = metadata or {}
    label = f"model {ref or filename!r}"
    if not _has(names, UNET):
        if any(mark in n for n in names for mark in _LORA_MARKS):
            raise ModelUnavailable(f"{label}: this file is a LoRA, not a checkpoint; put it in the models folder's "
                                   "lora/ folder and add <lora:NAME:WEIGHT> to the prompt", model=ref, reason="missing")
        raise ModelUnavailable(f"{label}: not a Stable Diffusion checkpoint in the original layout (no "
                               f"'{UNET}' tensors); give a SD 1.x/2.x/XL .safetensors/.ckpt or a diffusers folder",
                               model=ref, reason="missing")
    shape = names.get(_INPUT_CONV)
    if shape and len(shape) == 4 and shape[1] != 4:
        raise ModelUnavailable(f"{label}: its UNet takes {shape[1]} input channels (an inpainting or instruct "
                               "model); GWEN renders text-to-image models (4 channels)", model=ref, reason="missing")
    if _has(names, SDXL_TEXT):
        return CheckpointKind("sdxl", "sdxl", f"{SDXL_TEXT}* tensors (OpenCLIP bigG)")
    if _has(names, SDXL_REFINER_TEXT):
        raise ModelUnavailable(f"{label}: an SDXL refiner (no CLIP ViT-L text encoder); GWEN renders base models",
                               model=ref, reason="missing")
    if _has(names, SD2_TEXT):
        config, why = _sd2_config(names, metadata, filename)
        return CheckpointKind("sd2", config, f"{SD2_TEXT}* tensors (OpenCLIP ViT-H); {why}")
    if _has(names, SD1_TEXT):
        return CheckpointKind("sd1", "sd1", f"{SD1_TEXT}* tensors (CLIP ViT-L)")
    raise ModelUnavailable(f"{label}: it holds a UNet but no text encoder ('{SD1_TEXT}', '{SD2_TEXT}' or "
                           f"'{SDXL_TEXT}' tensors); GWEN loads complete checkpoints", model=ref, reason="missing")


def checkpoint_kind(path: str | Path, ref: str | None = None) -> CheckpointKind:
    """``family_from_names`` of a file (names read from its header; cached while the file is unchanged)."""
    path = Path(path)
    try:
        stat = path.stat()
        found = _names_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ModelUnavailable(f"model {ref or str(path)!r}: not a Stable Diffusion checkpoint GWEN can read "
                               f"(its tensor names: {type(exc).__name__}: {exc})", model=ref,
                               reason="missing") from None
    if not found.readable:  # a legacy pickle: only its name to go by; diffusers finds out when it loads
        is_xl = "xl" in path.name.lower()
        return CheckpointKind("sdxl" if is_xl else "sd1", "sdxl" if is_xl else "sd1",
                              "legacy pickle: guessed from the file name")
    return family_from_names(found.names, found.metadata, path.name, ref)


@functools.lru_cache(maxsize=64)
def _names_of(path: str, size: int, mtime_ns: int) -> TensorNames:
    return tensor_names(path)
