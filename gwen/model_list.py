"""What models and upscalers a GWEN home can use: the presets plus what lies in its models folder.

Contract:
- ``list_models(models_dir)`` returns one dict per usable diffusion model, presets first, then every diffusers
  folder (one with ``model_index.json``) and single-file checkpoint (``.safetensors`` / ``.ckpt``) found in the
  models folder and its sub-folders (``lora/`` and ``upscalers/`` excluded): ``name`` (the reference to use:
  the preset name, or the path relative to the models folder), ``kind`` (``preset``, ``folder`` or ``file``),
  ``family`` (a guess for files), ``label`` and ``path`` (absolute; ``None`` for presets).
  A checkpoint's family comes from its tensor names (``gwen.checkpoints``: the safetensors header only); a file
  that is not a loadable checkpoint (a LoRA, a refiner ...) is left out. The sidecar folders of a checkpoint
  (``NAME.config/``, ``NAME.tokenizer/``, ``tokenizer/``) are not models.
- ``list_upscalers(models_dir)`` does the same for upscalers: the presets (with ``downloaded``) and any
  ``.pth`` file, or ``.safetensors`` file under ``upscalers/``, with the preset's ``scale`` where known.
- ``list_loras(models_dir)``: every ``.safetensors`` under ``lora/``: ``name`` (what ``<lora:NAME:WEIGHT>``
  takes) and ``path``.
- Reading never loads a model, hashes a file or touches the network; a missing folder lists the presets only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHECKPOINT_SUFFIXES = (".safetensors", ".ckpt")
UPSCALER_SUFFIXES = (".pth",)
SKIPPED_FOLDERS = ("lora", "upscalers", ".cache")
MAX_DEPTH = 3


def list_models(models_dir: Path) -> list[dict[str, Any]]:
    from gwen.presets import MODEL_PRESETS

    found = [{"name": p.name, "kind": "preset", "family": p.family, "label": p.label, "path": None,
              "ref": p.ref} for p in MODEL_PRESETS.values()]
    for path in _walk(Path(models_dir)):
        name = str(path.relative_to(models_dir))
        if path.is_dir() and (path / "model_index.json").is_file():
            found.append({"name": name, "kind": "folder", "family": _folder_family(path),
                          "label": f"diffusers folder {name}", "path": str(path), "ref": name})
        elif path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES and not _upscaler_file(path, models_dir):
            family = _checkpoint_family(path)
            if family is not None:
                found.append({"name": name, "kind": "file", "family": family, "label": f"checkpoint {name}",
                              "path": str(path), "ref": name})
    return found


def list_loras(models_dir: Path) -> list[dict[str, Any]]:
    folder = Path(models_dir) / "lora"
    if not folder.is_dir():
        return []
    return [{"name": path.stem, "path": str(path), "file": str(path.relative_to(folder))}
            for path in sorted(folder.rglob("*.safetensors")) if path.is_file()]


def _checkpoint_family(path: Path) -> str | None:
    from gwen.checkpoints import checkpoint_kind
    from gwen.errors import ModelUnavailable

    try:
        return checkpoint_kind(path).family
    except (ModelUnavailable, OSError, ValueError):
        return None


def list_upscalers(models_dir: Path) -> list[dict[str, Any]]:
    from gwen.upscale import UPSCALER_PRESETS

    models_dir = Path(models_dir)
    preset_files = {p.filename for p in UPSCALER_PRESETS.values()}
    found = [{"name": p.name, "kind": "preset", "scale": p.scale, "label": p.label,
              "path": str(models_dir / p.filename) if (models_dir / p.filename).exists() else None,
              "downloaded": (models_dir / p.filename).exists() or p.url is None} for p in UPSCALER_PRESETS.values()]
    for path in _walk(models_dir, include_upscalers=True):
        if path.is_file() and path.name not in preset_files and _upscaler_file(path, models_dir):
            name = str(path.relative_to(models_dir))
            found.append({"name": name, "kind": "file", "scale": _scale_from_name(path.name),
                          "label": f"upscaler file {name}", "path": str(path), "downloaded": True})
    return found


def _walk(root: Path, include_upscalers: bool = False, depth: int = 0):
    if depth > MAX_DEPTH or not root.is_dir():
        return
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.name.startswith(".") or (entry.is_dir() and depth == 0 and entry.name in SKIPPED_FOLDERS
                                          and not (include_upscalers and entry.name == "upscalers")):
            continue
        if entry.is_dir() and (entry.name.endswith((".config", ".tokenizer")) or entry.name == "tokenizer"):
            continue  # a checkpoint's sidecar (gwen.single_file), not a model
        yield entry
        if entry.is_dir() and not (entry / "model_index.json").is_file():
            yield from _walk(entry, include_upscalers, depth + 1)


def _upscaler_file(path: Path, models_dir: Path) -> bool:
    in_upscalers = path.relative_to(models_dir).parts[0] == "upscalers"
    return path.suffix.lower() in UPSCALER_SUFFIXES or (in_upscalers and path.suffix.lower() == ".safetensors")


def _folder_family(path: Path) -> str:
    index = (path / "model_index.json").read_text(errors="replace")
    return "sdxl" if "text_encoder_2" in index or "XL" in index else "sd1"


def _scale_from_name(name: str) -> int | None:
    lowered = name.lower()
    for scale in (8, 4, 3, 2, 1):
        if f"x{scale}" in lowered or f"{scale}x" in lowered:
            return scale
    return None
