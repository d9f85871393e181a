"""AUTOMATIC1111's vocabulary, translated: samplers and schedule types, the ``info`` JSON, PNG Info's parameters.

Contract (pure functions; no I/O):
- ``gwen_scheduler(sampler, schedule)`` maps A1111's pair (``sampler_name`` such as ``"DPM++ 2M"`` or the old
  combined ``"DPM++ 2M Karras"``, and ``scheduler`` such as ``"automatic"`` / ``"Karras"``) to GWEN's scheduler
  name, with A1111's meaning of *Automatic* (the sampler's own default schedule: Karras for DPM++ 2M). A pair GWEN
  cannot render raises ``InvalidInput`` naming it and the samplers it can.
- ``a1111_pair(gwen_name)`` is the way back: ``(sampler_name, schedule label)``.
- ``SAMPLERS`` / ``SCHEDULES`` are what ``/sdapi/v1/samplers`` and ``/schedulers`` list: only what GWEN renders.
- ``info_json(...)`` builds the ``info`` string of a txt2img/img2img answer with the keys and order of A1111's
  ``Processed.js()``; ``generation_parameters(infotext)`` is ``png-info``'s ``parameters`` (A1111's
  ``parse_generation_parameters``: string values, ``Size-1``/``Size-2``, its defaults).
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from gwen.errors import InvalidInput

# (A1111 sampler name, aliases, options, GWEN name under Automatic, {schedule name: GWEN name})
_SAMPLER_TABLE: tuple[tuple[str, list[str], dict[str, Any], str, dict[str, str]], ...] = (
    ("DPM++ 2M", ["k_dpmpp_2m"], {"scheduler": "karras"}, "DPM++ 2M Karras",
     {"karras": "DPM++ 2M Karras", "uniform": "DPM++ 2M", "normal": "DPM++ 2M", "simple": "DPM++ 2M"}),
    ("DPM++ 2M SDE", ["k_dpmpp_2m_sde"], {"scheduler": "karras", "brownian_noise": True}, "DPM++ 2M SDE Karras",
     {"karras": "DPM++ 2M SDE Karras"}),
    ("Euler a", ["k_euler_a", "k_euler_ancestral"], {"uses_ensd": True}, "Euler a",
     {"uniform": "Euler a", "normal": "Euler a", "simple": "Euler a"}),
    ("Euler", ["k_euler"], {}, "Euler",
     {"uniform": "Euler", "normal": "Euler", "simple": "Euler", "sgm_uniform": "Turbo"}),
    ("LMS", ["k_lms"], {}, "LMS", {"uniform": "LMS", "normal": "LMS", "simple": "LMS", "karras": "LMS Karras"}),
    ("Heun", ["k_heun"], {"second_order": True}, "Heun", {"uniform": "Heun", "normal": "Heun", "simple": "Heun"}),
    ("DDIM", ["ddim"], {}, "DDIM", {"uniform": "DDIM", "normal": "DDIM", "simple": "DDIM", "ddim": "DDIM"}),
    ("PLMS", ["plms", "PNDM"], {}, "PNDM", {"uniform": "PNDM", "normal": "PNDM", "simple": "PNDM"}),
    ("UniPC", ["unipc"], {}, "UniPC", {"uniform": "UniPC", "normal": "UniPC", "simple": "UniPC"}),
    ("LCM", ["k_lcm"], {}, "LCM", {"uniform": "LCM", "normal": "LCM", "simple": "LCM"}),
)
SAMPLERS: list[dict[str, Any]] = [{"name": name, "aliases": aliases, "options": options}
                                  for name, aliases, options, _, _ in _SAMPLER_TABLE]
# (name, label, default_rho, need_inner_model): the schedule types some GWEN sampler renders
_SCHEDULE_TABLE = (("automatic", "Automatic", -1.0, False), ("uniform", "Uniform", -1.0, True),
                   ("karras", "Karras", 7.0, False), ("sgm_uniform", "SGM Uniform", -1.0, True),
                   ("simple", "Simple", -1.0, True), ("normal", "Normal", -1.0, True), ("ddim", "DDIM", -1.0, True))
SCHEDULES: list[dict[str, Any]] = [
    {"name": n, "label": label, "aliases": ["SGMUniform"] if n == "sgm_uniform" else None, "default_rho": rho,
     "need_inner_model": inner} for n, label, rho, inner in _SCHEDULE_TABLE]
_SCHEDULE_BY_WORD = {key.lower(): n for n, label, _, _ in _SCHEDULE_TABLE for key in (n, label)}
_SCHEDULE_BY_WORD.update({"sgmuniform": "sgm_uniform", "exponential": "exponential"})
_BY_SAMPLER = {key.lower(): row for row in _SAMPLER_TABLE for key in (row[0], *row[1])}


def gwen_scheduler(sampler: str | None, schedule: str | None) -> str:
    """GWEN's scheduler for A1111's (sampler_name, scheduler); A1111's API default sampler is Euler."""
    name = (sampler or "Euler").strip()
    chosen = _SCHEDULE_BY_WORD.get((schedule or "automatic").strip().lower(), None)
    if chosen is None:
        raise InvalidInput(f"scheduler={schedule!r}: unknown schedule type; choose one of "
                           f"{', '.join(s['name'] for s in SCHEDULES)}")
    for word, key in sorted(_SCHEDULE_BY_WORD.items(), key=lambda kv: -len(kv[0])):  # "DPM++ 2M Karras"
        if name.lower().endswith(" " + word) and name[: -len(word) - 1].lower() in _BY_SAMPLER:
            name, chosen = name[: -len(word) - 1], key
            break
    row = _BY_SAMPLER.get(name.lower())
    if row is None:
        raise InvalidInput(f"sampler_name={sampler!r}: GWEN does not render this sampler; choose one of "
                           f"{', '.join(s['name'] for s in SAMPLERS)}")
    if chosen == "automatic" or (row[2].get("scheduler") == chosen and chosen not in row[4]):
        return row[3]
    if chosen not in row[4]:
        raise InvalidInput(f"sampler_name={sampler!r} with scheduler={schedule!r}: GWEN renders {row[0]} with "
                           f"{', '.join(['automatic', *row[4]])}")
    return row[4][chosen]


def a1111_pair(gwen_name: str) -> tuple[str, str]:
    """(sampler_name, schedule label) as A1111 reports GWEN's scheduler ``gwen_name``."""
    for name, _, options, automatic, schedules in _SAMPLER_TABLE:
        if gwen_name == automatic:
            return name, "Automatic"
    for name, _, _, _, schedules in _SAMPLER_TABLE:
        for schedule, gwen in schedules.items():
            if gwen == gwen_name:
                return name, next(s["label"] for s in SCHEDULES if s["name"] == schedule)
    return gwen_name, "Automatic"


def info_json(records: list, infotexts: list[str], request: dict[str, Any], model: dict[str, Any],
              denoise: float | None, version: str) -> str:
    """A1111's ``Processed.js()`` for images GWEN made (``records``: ``ImageRecord`` list, in order)."""
    params = [r.params for r in records]
    first = params[0] if params else {}
    chain = (first.get("variations") or [{}])[-1] if first.get("variations") else {}
    sampler, _ = a1111_pair(first.get("scheduler", "Euler"))
    prompts = [p.get("prompt", "") for p in params]
    negatives = [p.get("negative_prompt", "") for p in params]
    extra = {"Denoising strength": denoise} if denoise is not None else {}
    return json.dumps({
        "prompt": prompts[0] if prompts else request.get("prompt", ""), "all_prompts": prompts,
        "negative_prompt": negatives[0] if negatives else "", "all_negative_prompts": negatives,
        "seed": first.get("seed", -1), "all_seeds": [p.get("seed") for p in params],
        "subseed": chain.get("seed", -1), "all_subseeds": [((p.get("variations") or [{}])[-1]).get("seed", -1)
                                                           for p in params],
        "subseed_strength": chain.get("strength", 0), "width": first.get("width"), "height": first.get("height"),
        "sampler_name": sampler, "cfg_scale": first.get("guidance"), "steps": first.get("steps"),
        "batch_size": request.get("batch_size") or 1, "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": model.get("name"), "sd_model_hash": model.get("hash"), "sd_vae_name": None,
        "sd_vae_hash": None, "seed_resize_from_w": -1, "seed_resize_from_h": -1, "denoising_strength": denoise,
        "extra_generation_params": extra, "index_of_first_image": 0, "infotexts": infotexts,
        "styles": list(request.get("styles") or []), "job_timestamp": time.strftime("%Y%m%d%H%M%S"), "clip_skip": 1,
        "is_using_inpainting_conditioning": False, "version": version,
        "gwen_ids": [r.id for r in records],
    })


_RE_SIZE = re.compile(r"^(\d+)x(\d+)$")
_DEFAULTS = {"Clip skip": "1", "Hires resize-1": 0, "Hires resize-2": 0, "Hires sampler": "Use same sampler",
             "Hires checkpoint": "Use same checkpoint", "Hires prompt": "", "Hires negative prompt": "",
             "Mask mode": "Inpaint masked", "Masked content": "original", "Inpaint area": "Whole picture",
             "Masked area padding": 32, "RNG": "GPU", "Schedule type": "Automatic", "Schedule max sigma": 0,
             "Schedule min sigma": 0, "Schedule rho": 0, "VAE Encoder": "Full", "VAE Decoder": "Full",
             "FP8 weight": "Disable"}


def generation_parameters(infotext: str) -> dict[str, Any]:
    """A1111's ``parse_generation_parameters``: Prompt, Negative prompt, each ``key: value`` as a string (sizes as
    ``KEY-1`` / ``KEY-2``), then A1111's defaults for what the text does not say."""
    from gwen.formats.a1111 import split_infotext

    prompt, negative, fields = split_infotext(infotext or "")
    result: dict[str, Any] = {"Prompt": prompt, "Negative prompt": negative}
    for key, value in fields.items():
        size = _RE_SIZE.match(value)
        if size:
            result[f"{key}-1"], result[f"{key}-2"] = size.group(1), size.group(2)
        else:
            result[key] = value
    return {**result, **{k: v for k, v in _DEFAULTS.items() if k not in result}}
