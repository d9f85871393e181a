"""InvokeAI, all three generations of its PNG metadata.

Contract:
- ``read_invokeai(text)`` reads 3.x/4.x/5.x ``invokeai_metadata`` JSON: positive_prompt, negative_prompt, seed,
  steps, cfg_scale, width, height, scheduler (``dpmpp_2m_k``: ``_k`` is Karras), strength (img2img denoise),
  model (a dict ``{name, hash, ...}`` (4+), ``{model_name, ...}`` (3.x) or a bare key) and its hash, and
  ``loras`` from ``[{"lora": {"model_name"}, "weight"}]`` (3.x) or ``[{"model": {"name", "hash"}, "weight"}]``.
- ``read_invokeai2(sd_metadata, dream)`` reads 2.x files: the ``sd-metadata`` JSON (``model_weights`` or
  ``model_id``, ``model_hash``, ``image: {prompt, seed, steps, cfg_scale, sampler, width, height, variations,
  strength}``; ``image.prompt`` a string or ``[{prompt, weight}]``) and, for what it lacks (or when it is absent
  or damaged), the ``Dream`` command line (``"a prompt [neg]" -s 50 -S 42 -W 512 -H 512 -C 7.5 -A k_lms``,
  with or without quotes, ``-s50`` or ``-s 50``). InvokeAI 2 puts the negative prompt in square brackets.
- Both raise ``Damaged`` when nothing usable is there; ``parse_invokeai`` is the 3+ params dict alone.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from gwen.formats.common import Damaged, Fields, json_object

WHAT = "InvokeAI 'invokeai_metadata'"
WHAT2 = "InvokeAI 2 'sd-metadata'"
WHAT_DREAM = "InvokeAI 2 'Dream' command"
_RE_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
_RE_QUOTED = re.compile(r'^\s*"(.*?)"(?=\s+-{1,2}[A-Za-z]|\s*$)', re.DOTALL)
_RE_SWITCH = re.compile(r"\s-{1,2}[A-Za-z]")
_DREAM_SWITCHES = {"s": "steps", "steps": "steps", "S": "seed", "seed": "seed", "W": "width", "width": "width",
                   "H": "height", "height": "height", "C": "cfg_scale", "cfg_scale": "cfg_scale", "A": "sampler",
                   "sampler": "sampler", "V": "variations",
                   "with_variations": "variations"}


def parse_invokeai(meta_json: str) -> dict[str, Any]:
    """InvokeAI 3+/4+ ``invokeai_metadata``: positive_prompt, cfg_scale, model{name}, ..."""
    try:
        return read_invokeai(meta_json).params
    except Damaged:
        return {}


def read_invokeai(text: str) -> Fields:
    meta = json_object(text, WHAT)
    found = Fields()
    found.text("prompt", meta.get("positive_prompt"), "positive_prompt")
    found.text("negative_prompt", meta.get("negative_prompt"), "negative_prompt")
    found.int("seed", meta.get("seed"))
    found.int("steps", meta.get("steps"))
    found.float("guidance", meta.get("cfg_scale"), "cfg_scale")
    found.size(meta.get("width"), meta.get("height"))
    found.float("denoise", meta.get("strength"), "strength")
    model = meta.get("model")
    if isinstance(model, dict):
        name = model.get("name") or model.get("model_name") or model.get("key")
        found.text("model", name, "model name")
        found.text("model_hash", model.get("hash"), "model hash")
    else:
        found.text("model", model)
    scheduler = meta.get("scheduler")
    found.scheduler(scheduler, None, "scheduler")
    loras = _loras3(meta.get("loras"), found)
    if loras:
        found.params["loras"] = loras
    if not found.params:
        raise found.nothing_found(WHAT)
    return found


def _loras3(entries: Any, found: Fields) -> list[dict[str, Any]]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        found.problems.append(f"loras is a {type(entries).__name__}, not a list; left out")
        return []
    out = []
    for entry in entries:
        model = entry.get("model", entry.get("lora")) if isinstance(entry, dict) else None
        name = (model.get("name") or model.get("model_name")) if isinstance(model, dict) else None
        weight = entry.get("weight", 1.0) if isinstance(entry, dict) else None
        if not isinstance(name, str) or isinstance(weight, bool) or not isinstance(weight, (int, float)):
            found.problems.append(f"a LoRA entry {str(entry)[:60]!r} has no name or weight; left out")
            continue
        lora_hash = model.get("hash")
        out.append({"name": name, "weight": float(weight), "hash": lora_hash if isinstance(lora_hash, str) else None})
    return out


def read_invokeai2(sd_metadata: str | None, dream: str | None) -> Fields:
    """InvokeAI 2.x: ``sd-metadata`` first, the ``Dream`` command for what it lacks; problems of both in notes."""
    found, damage = Fields(), None
    if sd_metadata is not None:
        try:
            _read_sd_metadata(found, json_object(sd_metadata, WHAT2))
        except Damaged as exc:
            damage = exc
    if dream:
        from_dream = Fields()
        _read_dream(from_dream, dream)
        for key, value in from_dream.params.items():
            found.params.setdefault(key, value)
        found.problems += from_dream.problems
    if not found.params:
        raise damage or found.nothing_found(WHAT_DREAM if dream else WHAT2)
    if damage is not None:
        found.problems.insert(0, f"{damage.what} is damaged ({damage.reason}); read the 'Dream' command instead")
    return found


def _read_sd_metadata(found: Fields, meta: dict[str, Any]) -> None:
    image = meta.get("image")
    if image is None and isinstance(meta.get("images"), list) and meta["images"]:
        image = meta["images"][0]  # a grid: the first image's parameters
    if not isinstance(image, dict):
        raise Damaged(WHAT2, f"'image' is a {type(image).__name__}, not an object")
    found.text("model", meta.get("model_weights") or meta.get("model_id"), "model_weights")
    found.text("model_hash", meta.get("model_hash"))
    prompt = image.get("prompt")
    if isinstance(prompt, list):
        parts = [p for p in prompt if isinstance(p, dict) and isinstance(p.get("prompt"), str)]
        if len(parts) == 1:
            prompt = parts[0]["prompt"]
        elif parts:
            prompt = " ".join(f"{p['prompt']}:{p.get('weight', 1)}" for p in parts)
        else:
            prompt = None
    if prompt is not None and not isinstance(prompt, str):
        found.problems.append(f"image.prompt is a {type(prompt).__name__}, not text; left out")
    elif prompt:
        _put_prompt(found, prompt)
    found.int("seed", image.get("seed"), "image.seed")
    found.int("steps", image.get("steps"), "image.steps")
    found.float("guidance", image.get("cfg_scale"), "image.cfg_scale")
    found.size(image.get("width"), image.get("height"))
    found.scheduler(image.get("sampler"), None, "image.sampler")
    if image.get("type") == "img2img":
        found.float("denoise", image.get("strength", image.get("strength_steps")), "image.strength")
    variations = image.get("variations")
    if isinstance(variations, list) and variations:
        chain = [{"seed": v["seed"], "strength": float(v["weight"])} for v in variations
                 if isinstance(v, dict) and isinstance(v.get("seed"), int) and not isinstance(v.get("weight"), bool)
                 and isinstance(v.get("weight"), (int, float))]
        if len(chain) != len(variations):
            found.problems.append("image.variations has entries without a seed and weight; left out")
        if chain:
            found.params["variations"] = chain


def _read_dream(found: Fields, dream: str) -> None:
    quoted = _RE_QUOTED.match(dream)
    if quoted:
        prompt, rest = quoted.group(1), dream[quoted.end():]
    else:
        switch = _RE_SWITCH.search(" " + dream)
        cut = switch.start() if switch else len(dream)
        prompt, rest = dream[:cut], dream[cut:]
    if prompt.strip():
        _put_prompt(found, prompt.strip())
    try:
        tokens = shlex.split(rest)
    except ValueError:
        tokens = rest.split()
    values: dict[str, str] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        index += 1
        match = re.fullmatch(r"(-{1,2})([A-Za-z][\w.]*)(?:=(.*))?", token)
        if not match:
            continue
        name, value = match.group(2), match.group(3)
        if match.group(1) == "-" and len(name) > 1 and (name[1].isdigit() or name[0] == "A"):  # -s50, -Ak_lms
            name, value = name[0], name[1:]
        if value is None and index < len(tokens) and not re.fullmatch(r"-{1,2}[A-Za-z].*", tokens[index]):
            value = tokens[index]
            index += 1
        if name in _DREAM_SWITCHES and value is not None:
            values[_DREAM_SWITCHES[name]] = value
    found.int("steps", values.get("steps"), "-s")
    found.int("seed", values.get("seed"), "-S")
    found.size(values.get("width"), values.get("height"))
    found.float("guidance", values.get("cfg_scale"), "-C")
    found.scheduler(values.get("sampler"), None, "-A")
    if "variations" in values:
        chain = []
        for part in values["variations"].split(","):
            seed, _, weight = part.partition(":")
            try:
                chain.append({"seed": int(seed), "strength": float(weight)})
            except ValueError:
                found.problems.append(f"-V step {part!r} is not seed:weight; left out")
        if chain:
            found.params["variations"] = chain


def _put_prompt(found: Fields, text: str) -> None:
    """InvokeAI 2 writes ``positive [negative]``: the bracketed parts are the negative prompt."""
    negative = [n.strip() for n in _RE_BRACKETS.findall(text) if n.strip()]
    found.params["prompt"] = re.sub(r"\s{2,}", " ", _RE_BRACKETS.sub(" ", text)).strip() if negative else text
    if negative:
        found.params["negative_prompt"] = ", ".join(negative)
