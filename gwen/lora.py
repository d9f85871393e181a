"""LoRA files: where they live, their A1111 hash, and applying them to the loaded pipeline for one job.

Contract:
- ``lora_folder(models)`` is the models folder's ``lora/`` (``$GWEN_HOME/models/lora``). ``locate(name, models)``
  is ``lora/NAME.safetensors``, else the first ``NAME.safetensors`` in a subfolder of it (A1111 looks through
  subfolders too). Names are plain file names (``gwen.prompt_tags``), and a served studio (a confined
  ``ModelBoundary``) opens nothing that resolves outside its models folder. A missing file raises
  ``InvalidInput`` saying which file to put where (``put NAME.safetensors in /abs/models/lora/``).
- ``short_hash(path)`` is A1111's LoRA ``shorthash``, the first 12 hex digits of: the ``sshs_model_hash`` the
  file's metadata carries, else, for a ``.safetensors``, the sha256 of everything after its header (kohya's
  "addnet" hash, which A1111 uses for .safetensors LoRAs and Civitai calls AutoV3), else the file's sha256.
  Cached by path, size and modification time.
- ``with_hashes(params_list, models)`` returns the params with each LoRA's hash read from its file; it raises for a
  missing file before anything renders (``gwen.rendering`` calls it first).
- ``LoraSlot`` is the engine's side: ``use(pipe, loras, models)`` makes exactly ``loras`` active at their weights
  (diffusers ``load_lora_weights`` + ``set_adapters``, through peft), loading files only when the set of files
  changes; ``clear(pipe)`` unloads them all (``unload_lora_weights``: the original layers come back), which the
  engine does after every job, so the next job renders exactly as if no LoRA had ever been loaded. A LoRA whose
  tensors match no layer of the model is refused (InvalidInput) instead of silently doing nothing.
"""

from __future__ import annotations

import glob
import hashlib
import json
from pathlib import Path
from typing import Iterable

from gwen.boundary import ModelBoundary
from gwen.errors import InvalidInput, ModelUnavailable
from gwen.prompt_tags import check_lora_name

LORA_DIRNAME = "lora"
SUFFIX = ".safetensors"
_HASHES: dict[tuple[str, int, int], str] = {}


def lora_folder(models: "ModelBoundary | Path") -> Path:
    return ModelBoundary.of(models).models_dir / LORA_DIRNAME


def locate(name: str, models: "ModelBoundary | Path") -> Path:
    """The file of LoRA ``name``; InvalidInput naming the file to put where when there is none."""
    boundary = ModelBoundary.of(models)
    check_lora_name(name)
    folder = lora_folder(boundary)
    candidates = [folder / f"{name}{SUFFIX}"]
    if folder.is_dir():
        candidates += sorted(folder.rglob(glob.escape(name) + SUFFIX))
    for path in candidates:
        if path.is_file() and (not boundary.confined or boundary.inside(path)):
            return path.resolve()
    raise InvalidInput(f"LoRA {name!r}: no file {name}{SUFFIX} in the lora folder; put {name}{SUFFIX} in "
                       f"{folder.resolve()}/ (or fix the name in <lora:{name}:...>)")


def short_hash(path: Path) -> str:
    """A1111's short hash of a LoRA file (12 hex digits)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = _a1111_hash(path)[:12]
    return _HASHES[key]


def _a1111_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        if path.suffix.lower() == SUFFIX:
            length = int.from_bytes(handle.read(8), "little")
            try:
                header = json.loads(handle.read(length))
            except ValueError:
                raise InvalidInput(f"LoRA file {path}: not a readable .safetensors file") from None
            recorded = (header.get("__metadata__") or {}).get("sshs_model_hash")
            if isinstance(recorded, str) and len(recorded) >= 12:
                return recorded.lower()
        else:
            handle.seek(0)
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_hashes(params_list: list, models: "ModelBoundary | Path") -> list:
    """``params_list`` with every LoRA's hash taken from its file; InvalidInput for a missing file."""
    hashes: dict[str, str] = {}
    out = []
    for params in params_list:
        if not params.loras:
            out.append(params)
            continue
        for lora in params.loras:
            if lora.name not in hashes:
                hashes[lora.name] = short_hash(locate(lora.name, models))
        loras = [{"name": lora.name, "weight": lora.weight, "hash": hashes[lora.name]} for lora in params.loras]
        out.append(params.replace(loras=loras))
    return out


class LoraSlot:
    """The LoRAs loaded into one pipeline (engine side; the engine's lock serialises its use)."""

    def __init__(self) -> None:
        self.files: tuple[tuple[str, str], ...] = ()  # (name, path) of each loaded adapter, in adapter order

    @staticmethod
    def adapter(k: int) -> str:
        return f"gwen_lora_{k}"

    def use(self, pipe, loras: Iterable, models: "ModelBoundary | Path") -> None:
        """Make exactly ``loras`` (``LoraRef``s) active on ``pipe`` at their weights."""
        loras = tuple(loras)
        wanted = tuple((lora.name, str(locate(lora.name, models))) for lora in loras)
        if wanted != self.files:
            self.clear(pipe)
            try:
                for k, (name, path) in enumerate(wanted):
                    _load(pipe, name, path, self.adapter(k))
                    self.files += ((name, path),)
            except BaseException:
                self.files = wanted  # something may be half-loaded: unload it all
                self.clear(pipe)
                raise
        if wanted:
            pipe.set_adapters([self.adapter(k) for k in range(len(wanted))],
                              adapter_weights=[lora.weight for lora in loras])

    def clear(self, pipe) -> None:
        """Unload every LoRA: the pipeline's own layers are back, exactly."""
        if self.files:
            self.files = ()
            pipe.unload_lora_weights()


def _load(pipe, name: str, path: str, adapter: str) -> None:
    from diffusers.utils import USE_PEFT_BACKEND

    if not USE_PEFT_BACKEND:
        raise ModelUnavailable(f"LoRA {name!r}: applying LoRAs needs the peft package (pip install peft)",
                               reason="missing", hint="pip install peft")
    try:
        pipe.load_lora_weights(path, adapter_name=adapter)
    except (ValueError, RuntimeError, KeyError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InvalidInput(f"LoRA {name!r} ({path}): cannot be applied to this model ({first})") from exc
    if not any(adapter in names for names in pipe.get_list_adapters().values()):
        raise InvalidInput(f"LoRA {name!r} ({path}): none of its tensors match a layer of this model "
                           "(a LoRA made for another model family?)")
