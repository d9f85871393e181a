"""Which model files a process may open: the one place where a model or upscaler reference becomes a path.

Contract:
- ``ModelBoundary(models_dir, confined)``. Every reference to a model or an
  upscaler that names a file or folder (a request's, a catalog record's, an
  imported PNG's, a batch file's or a follow-up's) goes through ``locate``
  at the moment it is loaded, and through ``check`` when it is validated
  earlier (a queue batch).
- Unconfined (the CLI and a local dashboard: the user's own machine), a path
  is opened where it is; one that does not exist is looked for by name (and,
  with ``model_hash``, by the A1111 short hash of its contents) inside the
  models folder, so an image imported from another machine re-renders with the
  local copy of its model.
- Confined (``gwen serve``): nothing outside ``models_dir`` is ever opened.
  A relative reference is taken inside the models folder; an absolute one, or
  one that escapes (``..``, a symlink pointing out, a folder holding such a
  symlink), is resolved by name or hash inside the models folder, or refused.
  Every refusal outside the boundary has the same text whatever lies at that
  path (no existence oracle): it names the reference and the rule, never what
  the server found there. A Hub-id-shaped reference that names a local path
  is refused too (diffusers would load a local folder of that name).
- Presets and Hugging Face ids are not paths: ``locate`` returns None for them.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from gwen.errors import ModelUnavailable

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
_HASHES = ".gwen-hashes.json"  # sha256 of model files by (name, size, mtime): computed once


@dataclass(frozen=True)
class ModelBoundary:
    models_dir: Path
    confined: bool = False

    @classmethod
    def of(cls, models: "ModelBoundary | str | os.PathLike") -> "ModelBoundary":
        return models if isinstance(models, ModelBoundary) else cls(Path(models))

    # --- the rule ---------------------------------------------------------------
    def refusal(self, ref: str, what: str) -> ModelUnavailable:
        return ModelUnavailable(f"{what} {ref!r}: this server only opens {what}s inside its models folder "
                                f"({self.models_dir}); put the file or folder there and name it by its path in that "
                                "folder, or use a preset", model=ref, reason="outside")

    def inside(self, path: Path) -> bool:
        root = self.models_dir.resolve()
        real = path.resolve()
        if not real.is_relative_to(root):
            return False
        if real.is_dir():  # a folder inside that holds a link to the outside is outside
            return all(p.resolve().is_relative_to(root) for p in real.rglob("*"))
        return True

    # --- references ----------------------------------------------------------------
    def locate(self, ref: str, what: str = "model", model_hash: str | None = None) -> Path | None:
        """The real path to open for ``ref``, or None when ``ref`` is not a path; raises ModelUnavailable."""
        path = Path(ref).expanduser()
        looks_like_path = path.is_absolute() or ref.startswith((".", "~")) or ref.lower().endswith(MODEL_SUFFIXES)
        here = None if path.is_absolute() else self.models_dir / path  # a name inside the models folder
        if self.confined:
            if here is not None and _exists(here) and self.inside(here):
                return here.resolve()
            if path.is_absolute() and _exists(path) and self.inside(path):
                return path.resolve()
            if looks_like_path or ".." in path.parts or (here is not None and _exists(here)) or _exists(path):
                return self._by_name_or_refuse(ref, what, model_hash)
            return None  # a preset or a Hub id
        if _exists(path):
            return path.resolve()
        if here is not None and _exists(here):
            return here.resolve()
        if looks_like_path:
            found = self.find(path.name, model_hash)
            if found is not None:
                return found
            raise ModelUnavailable(f"{what} {ref!r}: no such file or folder here, and none named {path.name!r} in "
                                   f"the models folder ({self.models_dir})", model=ref, reason="missing")
        return None

    def check(self, ref: str | None, what: str = "model") -> None:
        """Validate a reference without loading it (a queue batch, a settings change)."""
        if ref:
            self.locate(ref, what)

    def _by_name_or_refuse(self, ref: str, what: str, model_hash: str | None) -> Path:
        found = self.find(Path(ref).name, model_hash)
        if found is None:
            raise self.refusal(ref, what)
        return found

    def find(self, name: str, model_hash: str | None = None) -> Path | None:
        """A file or folder called ``name`` in the models folder, else one whose A1111 short hash (the first
        10 hex digits of its sha256, as A1111's ``Model hash`` writes it) is ``model_hash``."""
        root = self.models_dir
        if not root.is_dir():
            return None
        if name and name not in (".", ".."):
            for candidate in sorted(root.rglob(name)):
                if self.inside(candidate):
                    return candidate.resolve()
        if model_hash and len(model_hash) >= 8:
            wanted = model_hash.lower()
            for candidate in sorted(root.rglob("*")):
                if candidate.is_file() and candidate.suffix.lower() in MODEL_SUFFIXES and self.inside(candidate):
                    if self.sha256(candidate).startswith(wanted):
                        return candidate.resolve()
        return None

    def sha256(self, path: Path) -> str:
        """The file's sha256, cached in the models folder by name, size and modification time."""
        index_path = self.models_dir / _HASHES
        try:
            index = json.loads(index_path.read_text())
        except (OSError, ValueError):
            index = {}
        stat = path.stat()
        key = f"{path.resolve().relative_to(self.models_dir.resolve())}|{stat.st_size}|{stat.st_mtime_ns}"
        if key not in index:
            digest = hashlib.sha256()
            with open(path, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            index[key] = digest.hexdigest()
            try:
                tmp = index_path.with_name(f"{_HASHES}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(index))
                os.replace(tmp, index_path)
            except OSError:
                pass  # a read-only models folder: hash again next time
        return index[key]


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a name too long, a permission problem: not there, as far as we may say
        return False
