"""Loading an original-layout checkpoint (``NAME.safetensors`` / ``NAME.ckpt``) with no network.

Contract:
- Configs: the pipeline's component configs come from the folder GWEN ships for the checkpoint's family
  (``gwen/model_configs/<sd1|sd2|sd2-v|sdxl>/``, the public configs of stable-diffusion-v1-5,
  stable-diffusion-2-1(-base) and stable-diffusion-xl-base-1.0; the family is decided by ``gwen.checkpoints``).
  A sidecar folder ``NAME.config/`` next to the checkpoint, laid out like a diffusers folder without weights
  (``model_index.json``, ``unet/config.json``, ``scheduler/scheduler_config.json``, ``tokenizer/``...), replaces
  the shipped file of the same path: a fine-tune with its own architecture brings its own configs.
- Tokenizer: a checkpoint holds no tokenizer, and GWEN does not ship CLIP's 1.5 MB vocabulary. The files
  (``vocab.json`` + ``merges.txt``, or ``tokenizer.json``) are looked for, in order, in
  ``NAME.config/tokenizer/``, ``NAME.tokenizer/`` next to the checkpoint, a ``tokenizer/`` folder next to the
  checkpoint (shared by every checkpoint in that folder), ``tokenizer/`` in the models folder, then the Hugging
  Face cache (openai/clip-vit-large-patch14, the SD repos' tokenizer folders, laion's CLIP bigG). SD 1.x, 2.x and
  both of SDXL's tokenizers use this one vocabulary; each family's special tokens (SD 2.x and SDXL's second
  tokenizer pad with ``!``) come from the shipped ``tokenizer_config.json``.
- ``check_tokenizer(path, models_dir, ref)`` raises ``ModelUnavailable`` when none is found, naming the files,
  the folders to put them in and the ``hf download`` command that fetches only them; it imports nothing heavy.
- ``load(path, kind, models_dir, dtype)`` assembles configs and tokenizer files in a temporary folder and calls
  diffusers' ``from_single_file(path, config=folder, local_files_only=True)``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from gwen.checkpoints import CheckpointKind
from gwen.errors import ModelUnavailable

CONFIGS = Path(__file__).resolve().parent / "model_configs"
FAMILY_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}
VOCAB_FILES = ("vocab.json", "merges.txt")
TOKENIZER_FILES = (*VOCAB_FILES, "tokenizer.json")
VOCAB_REPO = "openai/clip-vit-large-patch14"
CACHED_VOCABS = ((VOCAB_REPO, ""), ("stable-diffusion-v1-5/stable-diffusion-v1-5", "tokenizer/"),
                 ("runwayml/stable-diffusion-v1-5", "tokenizer/"), ("stabilityai/stable-diffusion-2-1", "tokenizer/"),
                 ("stabilityai/stable-diffusion-2-1-base", "tokenizer/"),
                 ("stabilityai/stable-diffusion-xl-base-1.0", "tokenizer/"),
                 ("stabilityai/stable-diffusion-xl-base-1.0", "tokenizer_2/"),
                 ("laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", ""))


def family_config(config: str) -> Path:
    """The shipped config folder named ``config`` (``sd1``, ``sd2``, ``sd2-v``, ``sdxl``)."""
    folder = CONFIGS / config
    if not (folder / "model_index.json").is_file():
        raise ModelUnavailable(f"no shipped config {config!r} in {CONFIGS} (known: "
                               f"{', '.join(sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()))})")
    return folder


def sidecar(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + ".config")


def has_tokenizer_files(folder: Path) -> bool:
    return (folder / "tokenizer.json").is_file() or all((folder / f).is_file() for f in VOCAB_FILES)


def local_tokenizer_folders(checkpoint: Path, models_dir: Path | None) -> list[Path]:
    """The folders looked in, in order, before the Hugging Face cache."""
    folders = [sidecar(checkpoint) / "tokenizer", checkpoint.with_name(checkpoint.stem + ".tokenizer"),
               checkpoint.parent / "tokenizer"]
    if models_dir is not None:
        folders.append(Path(models_dir) / "tokenizer")
    return list(dict.fromkeys(folders))


def find_tokenizer(checkpoint: Path, models_dir: Path | None) -> Path | None:
    """The first folder holding CLIP tokenizer files for ``checkpoint``, or None (reads the HF cache, no network)."""
    for folder in local_tokenizer_folders(checkpoint, models_dir):
        if has_tokenizer_files(folder):
            return folder
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for repo, subfolder in CACHED_VOCABS:
        try:
            vocab = try_to_load_from_cache(repo, subfolder + "vocab.json")
        except Exception:  # an unreadable cache: not cached
            continue
        if isinstance(vocab, str) and (Path(vocab).parent / "merges.txt").is_file():
            return Path(vocab).parent
    return None


def check_tokenizer(checkpoint: Path, models_dir: Path | None, ref: str, family: str) -> Path:
    """The tokenizer folder for ``checkpoint``; ModelUnavailable saying what to put where when there is none."""
    found = find_tokenizer(checkpoint, models_dir)
    if found is not None:
        return found
    from gwen.hub import cache_folder, download_command

    command = download_command(VOCAB_REPO)
    command = f"{command} {' '.join(VOCAB_FILES)}" if not command.startswith("python") else \
        (f"python -c \"from huggingface_hub import hf_hub_download as d; "
         f"[d('{VOCAB_REPO}', f) for f in {VOCAB_FILES!r}]\"")
    looked = local_tokenizer_folders(checkpoint, models_dir)
    shared = looked[-1]
    raise ModelUnavailable(
        f"model {ref!r} ({FAMILY_NAMES.get(family, family)} checkpoint): its CLIP tokenizer files are not on this "
        f"machine (a checkpoint file holds weights only). Put vocab.json and merges.txt (or tokenizer.json) in "
        f"{looked[1]}/ for this checkpoint, or in {shared}/ for every checkpoint there, or fetch them into the "
        f"Hugging Face cache with `{command}` (that one vocabulary serves SD 1.x, 2.x and XL). Looked in: "
        f"{', '.join(str(p) for p in looked)} and the Hugging Face cache ({cache_folder()}).",
        model=ref, reason="missing", hint=command)


def assemble(checkpoint: Path, kind: CheckpointKind, models_dir: Path | None, into: Path, ref: str) -> Path:
    """Write the config folder ``from_single_file`` needs into ``into``: shipped family configs, the sidecar's
    files over them, and the tokenizer files in every tokenizer folder that lacks them. Returns ``into``."""
    shutil.copytree(family_config(kind.config), into)
    extra = sidecar(checkpoint)
    if extra.is_dir():
        for path in sorted(extra.rglob("*")):
            if path.is_file() and path.suffix in (".json", ".txt"):
                target = into / path.relative_to(extra)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, target)
    vocab = check_tokenizer(checkpoint, models_dir, ref, kind.family)
    index = json.loads((into / "model_index.json").read_text())
    for component in (name for name in ("tokenizer", "tokenizer_2") if name in index):
        folder = into / component
        folder.mkdir(exist_ok=True)
        if not has_tokenizer_files(folder):
            for name in TOKENIZER_FILES:
                if (vocab / name).is_file():
                    shutil.copyfile(vocab / name, folder / name)
    return into


def load(checkpoint: Path, kind: CheckpointKind, models_dir: Path | None, dtype, ref: str):
    """The pipeline of ``checkpoint`` (no network): diffusers' ``from_single_file`` with GWEN's config folder."""
    import diffusers

    with tempfile.TemporaryDirectory(prefix="gwen-single-file-") as tmp:
        config = assemble(checkpoint, kind, models_dir, Path(tmp) / "config", ref)
        class_name = json.loads((config / "model_index.json").read_text()).get("_class_name")
        if class_name not in ("StableDiffusionPipeline", "StableDiffusionXLPipeline"):
            raise ModelUnavailable(f"model {ref!r}: model_index.json names {class_name!r}; GWEN loads "
                                   "StableDiffusionPipeline and StableDiffusionXLPipeline checkpoints", model=ref)
        pipeline = getattr(diffusers, class_name)
        return pipeline.from_single_file(str(checkpoint), config=str(config), local_files_only=True, dtype=dtype)
