"""``python -m gwen models``: list the presets, download one, write the tiny offline models."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gwen.errors import InvalidInput, ModelUnavailable


def run_models(args: argparse.Namespace) -> int:
    from gwen.config import gwen_home
    from gwen.presets import MODEL_PRESETS
    from gwen.upscale import UPSCALER_PRESETS

    models_dir = gwen_home(args.home) / "models"
    if args.models_command == "make-tiny":
        return _make_tiny(Path(args.dir), args.json)
    if args.models_command == "download":
        if args.name in UPSCALER_PRESETS:
            from gwen.upscale import resolve_upscaler
            path = str(resolve_upscaler(args.name, models_dir))
        elif args.name in MODEL_PRESETS and MODEL_PRESETS[args.name].ref != "tiny":
            path = _download_pipeline(MODEL_PRESETS[args.name].ref)
        else:
            raise InvalidInput(f"model {args.name!r}: not a downloadable preset; choose one of "
                               f"{', '.join([*UPSCALER_PRESETS, *(n for n in MODEL_PRESETS if n != 'tiny')])}")
        print(json.dumps({"name": args.name, "path": path}) if args.json else f"{args.name}: {path}")
        return 0
    diffusion = [{**p.__dict__, "kind": "diffusion"} for p in MODEL_PRESETS.values()]
    upscalers = [{**p.__dict__, "kind": "upscaler", "downloaded": (models_dir / p.filename).exists()}
                 for p in UPSCALER_PRESETS.values()]
    if args.json:
        print(json.dumps({"presets": diffusion, "upscalers": upscalers}))
    else:
        for p in MODEL_PRESETS.values():
            print(f"{p.name:13} {p.ref:45} {p.steps:>3} steps  cfg {p.guidance:<4g} {p.size}px  {p.label}")
        for u in upscalers:
            state = "downloaded" if u["downloaded"] else "downloads on first use"
            print(f"{u['name']:13} {u['filename']:45} x{u['scale']}  {state:22}  {u['label']}")
    return 0


def _make_tiny(target: Path, as_json: bool) -> int:
    from gwen.tiny_models import build_tiny_sd
    from gwen.upscale import build_tiny_esrgan

    result = {"sd": str(build_tiny_sd(target / "tiny-sd").resolve()),
              "esrgan": str(build_tiny_esrgan(target / "tiny-esrgan-x4.pth", 4).resolve()),
              "esrgan_x2": str(build_tiny_esrgan(target / "tiny-esrgan-x2.pth", 2).resolve())}
    print(json.dumps(result) if as_json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


def _download_pipeline(repo_id: str) -> str:
    try:
        from huggingface_hub import snapshot_download
        return snapshot_download(repo_id)
    except Exception as exc:  # offline, gated, ...
        raise ModelUnavailable(f"model {repo_id!r} could not be downloaded ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); on an offline machine copy a "
                               "Hugging Face cache here or point --model at a local folder") from None
