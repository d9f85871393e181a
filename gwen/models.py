"""Which model a reference names, and loading it with diffusers.

Contract:
- ``resolve_model(ref, models)`` maps a preset name, a Hugging Face id or a path to a ``ModelSource`` without
  loading anything; paths go through the ``ModelBoundary`` (a served studio opens nothing outside its models
  folder). A reference that can never load raises ``ModelUnavailable`` naming it and what to do.
- ``check_available(ref, models)`` is the same plus, for a Hub model that is not in the cache, one short probe of
  the Hub (``gwen.hub``): an offline machine is told in seconds, before torch is even imported.
- A single ``.safetensors``/``.ckpt`` (original CompVis/ldm layout) is recognised by its tensor names
  (``gwen.checkpoints``: only the header is read), which give its family and the shipped config it loads with
  (``ModelSource.config``: ``sd1``, ``sd2``, ``sd2-v``, ``sdxl``); a file GWEN cannot load (a LoRA, an inpainting
  model...) raises ``ModelUnavailable`` here, and ``check_available`` also makes sure its CLIP tokenizer files
  are on this machine (``gwen.single_file``).
- ``load_pipeline(source, dtype, models_dir)`` loads it: the Hugging Face cache first (no network), then the Hub;
  a folder with ``from_pretrained``; a single file with ``from_single_file`` and GWEN's shipped configs, never
  the network (``gwen.single_file``). Every failure becomes one ``ModelUnavailable`` message. ``model_hash``
  fingerprints the weights; ``family_of`` says SD 1.x, 2.x or XL.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from gwen.boundary import ModelBoundary
from gwen.errors import ModelUnavailable
from gwen.hub import HUB_ID
from gwen.presets import MODEL_PRESETS, preset_named
from gwen.tiny_models import ensure_tiny_sd

log = logging.getLogger(__name__)
SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


@dataclass(frozen=True)
class ModelSource:
    """Where a model reference points: a preset, hub id, diffusers folder or single file."""

    ref: str  # what the params record (preset name, hub id or absolute path)
    kind: str  # "hub", "folder", "file"
    location: str  # hub id or filesystem path
    family: str  # "sd1", "sd2", "sdxl" (best guess until loaded, except for a single file: read from its tensors)
    config: str = ""  # a single file's shipped config folder ("sd1", "sd2", "sd2-v", "sdxl"); "" otherwise


def resolve_model(ref: str, models: "ModelBoundary | Path") -> ModelSource:
    """Map a preset name / hub id / path to a ``ModelSource`` (no loading); raise if impossible.

    ``models``: the models folder, or the ``ModelBoundary`` that decides which paths may be opened (a served
    studio's is confined to its models folder)."""
    boundary = ModelBoundary.of(models)
    preset = preset_named(ref)
    if preset is not None:
        if preset.ref == "tiny":
            return ModelSource("tiny", "folder", str(ensure_tiny_sd(boundary.models_dir)), preset.family)
        return ModelSource(preset.ref, "hub", preset.ref, preset.family)
    path = boundary.locate(ref, "model")
    if path is not None:
        if path.is_dir():
            if not (path / "model_index.json").exists():
                raise ModelUnavailable(f"model {ref!r}: the folder has no model_index.json, so it is not a "
                                       "diffusers pipeline folder (save one with save_pretrained, or give a "
                                       ".safetensors/.ckpt checkpoint file)")
            return ModelSource(str(path), "folder", str(path), _family_of_folder(path))
        if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
            raise ModelUnavailable(f"model {ref!r}: a checkpoint file must end in "
                                   f"{', '.join(SINGLE_FILE_SUFFIXES)}")
        from gwen.checkpoints import checkpoint_kind

        kind = checkpoint_kind(path, ref)
        return ModelSource(str(path), "file", str(path), kind.family, kind.config)
    if not HUB_ID.match(ref):
        raise ModelUnavailable(f"model {ref!r}: no such file or folder, and not a preset "
                               f"({', '.join(MODEL_PRESETS)}) nor a Hugging Face id like 'owner/name'")
    return ModelSource(ref, "hub", ref, "sdxl" if "xl" in ref.lower() else "sd1")


def check_available(ref: str, models: "ModelBoundary | Path") -> ModelSource:
    """Resolve ``ref`` and make sure it can load, before torch is imported: a Hub model that is not in the
    cache costs one short probe of the Hub, so an offline machine is told in seconds (ModelUnavailable)."""
    from gwen import hub

    source = resolve_model(ref, models)
    if source.kind == "file":
        from gwen.single_file import check_tokenizer

        check_tokenizer(Path(source.location), ModelBoundary.of(models).models_dir, source.ref, source.family)
    if source.kind == "hub" and hub.cached_snapshot(source.location) is None:
        preset = preset_named(ref)
        hub.probe(source.location, ref=preset.name if preset is not None else ref)
    return source


def _family_of_folder(path: Path) -> str:
    try:
        index = json.loads((path / "model_index.json").read_text())
    except (OSError, json.JSONDecodeError):
        return "sd1"
    return "sdxl" if "XL" in str(index.get("_class_name", "")) or "text_encoder_2" in index else "sd1"


def load_pipeline(source: ModelSource, dtype, models_dir: Path | None = None):
    """The pipeline ``source`` names; ``models_dir`` is where a single file's shared ``tokenizer/`` may be."""
    import torch  # noqa: F401  (fail early with a clear import error)
    from diffusers import AutoPipelineForText2Image

    kwargs = {"dtype": dtype}
    try:
        if source.kind == "file":
            return _load_single_file(source, dtype, models_dir)
        if source.kind == "folder":
            return AutoPipelineForText2Image.from_pretrained(source.location, **kwargs)
        return _load_from_hub(source, kwargs, dtype)
    except ModelUnavailable:
        raise
    except Exception as exc:  # diffusers/hub raise many types; the user needs one message
        raise ModelUnavailable(_load_failure_message(source, exc)) from exc

def _load_from_hub(source: ModelSource, kwargs: dict, dtype):
    """The Hugging Face cache first (no network at all); then one short probe of the Hub, so an offline
    machine fails in seconds; only then the download (with diffusers' own retries and progress)."""
    from gwen import hub

    if hub.cached_snapshot(source.location) is not None:
        try:
            return _from_pretrained_hub(source, kwargs, dtype, local_files_only=True)
        except Exception:  # an incomplete snapshot: complete it from the Hub below, if it can be reached
            if hub.offline():
                raise
    preset = preset_named(source.location)
    hub.probe(source.location, ref=preset.name if preset is not None else None)
    log.info("loading %s (first use downloads it into the Hugging Face cache)", source.location)
    return _from_pretrained_hub(source, kwargs, dtype)

def _from_pretrained_hub(source: ModelSource, kwargs: dict, dtype, **extra):
    from diffusers import AutoPipelineForText2Image

    if "float16" in str(dtype):
        try:
            return AutoPipelineForText2Image.from_pretrained(source.location, variant="fp16", **kwargs, **extra)
        except (OSError, ValueError) as exc:
            if "variant" not in str(exc).lower() and "fp16" not in str(exc).lower():
                raise
    return AutoPipelineForText2Image.from_pretrained(source.location, **kwargs, **extra)

def _load_single_file(source: ModelSource, dtype, models_dir: Path | None):
    from gwen import single_file
    from gwen.checkpoints import CheckpointKind, checkpoint_kind

    path = Path(source.location)
    kind = CheckpointKind(source.family, source.config, "") if source.config else checkpoint_kind(path, source.ref)
    return single_file.load(path, kind, models_dir, dtype, source.ref)


def family_of(pipe) -> str:
    return "sdxl" if "XL" in type(pipe).__name__ else ("sd2" if _is_v_or_sd2(pipe) else "sd1")


def _is_v_or_sd2(pipe) -> bool:
    return getattr(pipe.scheduler.config, "prediction_type", "epsilon") == "v_prediction" or \
        getattr(getattr(pipe, "text_encoder", None), "config", None) is not None and \
        getattr(pipe.text_encoder.config, "hidden_size", 768) == 1024


def model_hash(source: ModelSource, pipe) -> str:
    """A short fingerprint of the weights: hub commit, or a hash of the files' names, sizes and configs."""
    if source.kind == "hub":
        name = str(getattr(pipe.unet.config, "_name_or_path", ""))
        parts = Path(name).parts
        if "snapshots" in parts:
            return parts[parts.index("snapshots") + 1][:10]
        return ""
    path = Path(source.location)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        digest.update(str(f.relative_to(path.parent if path.is_file() else path)).encode())
        digest.update(str(f.stat().st_size).encode())
        if f.suffix == ".json":
            digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def _load_failure_message(source: ModelSource, exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
    if source.kind == "hub":
        from gwen.hub import download_command

        return (f"model {source.ref!r} could not be loaded from the Hugging Face cache or the Hub "
                f"({type(exc).__name__}: {first_line}). If this machine is offline, download it once elsewhere "
                f"(`{download_command(source.location)}`) and copy the HF cache here, or point --model at a "
                f"local diffusers folder or a .safetensors/.ckpt file; `--model tiny` runs the offline demo model.")
    return f"model {source.ref!r} could not be loaded ({type(exc).__name__}: {first_line})"
