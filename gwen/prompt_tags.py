"""A1111's LoRA syntax in a prompt: ``<lora:NAME>`` and ``<lora:NAME:WEIGHT>``. Pure: no I/O, no torch.

Contract:
- ``lora_tags(prompt)`` returns ``(name, weight)`` pairs in order of first mention; WEIGHT defaults to 1.0, and a
  name mentioned twice gets the sum of its weights (A1111 applies each mention). A tag that breaks a rule raises
  ``InvalidInput`` naming the tag, the value and the rule:
  - NAME is a plain file name without its ``.safetensors``: no ``/`` or ``\\``, not ``.`` or ``..``, not starting
    with ``.`` or ``~``, no control characters, at most 200 characters (a name never leaves the lora folder);
  - WEIGHT is a finite number with ``|WEIGHT| <= MAX_LORA_WEIGHT``;
  - A1111's extra fields (``<lora:NAME:TE:UNET>``, ``te=``/``unet=``) are refused rather than half-applied.
- ``strip_lora_tags(prompt)`` is the text the text encoder sees: each tag removed, nothing else touched (as
  A1111 does). The prompt recorded with an image keeps its tags.
- Only the positive prompt carries LoRA tags (A1111 reads none from the negative prompt).
"""

from __future__ import annotations

import math
import re

from gwen.errors import InvalidInput

LORA_TAG = re.compile(r"<lora:([^>]*)>")
MAX_LORA_WEIGHT = 10.0
MAX_LORA_NAME = 200


def lora_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a LoRA file in the lora folder, or None."""
    if not name:
        return "must name a LoRA file (NAME for models/lora/NAME.safetensors)"
    if len(name) > MAX_LORA_NAME:
        return f"must be at most {MAX_LORA_NAME} characters"
    if "/" in name or "\\" in name or name in (".", "..") or name.startswith((".", "~")):
        return "must be a plain file name in the lora folder (no '/', '\\', '..', leading '.' or '~')"
    if any(ord(c) < 32 for c in name):
        return "must not contain control characters"
    return None


def check_lora_name(name: str) -> str:
    problem = lora_name_problem(name)
    if problem:
        raise InvalidInput(f"LoRA name {name!r}: {problem}")
    return name


def check_lora_weight(weight: object, label: str = "LoRA weight") -> float:
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or \
            abs(weight) > MAX_LORA_WEIGHT:
        raise InvalidInput(f"{label}={weight!r}: must be a number from {-MAX_LORA_WEIGHT:g} to {MAX_LORA_WEIGHT:g}")
    return float(weight)


def _parse(tag: str, body: str) -> tuple[str, float]:
    parts = [p.strip() for p in body.split(":")]
    name = parts[0]
    problem = lora_name_problem(name)
    if problem:
        raise InvalidInput(f"{tag}: LoRA name {name!r} {problem}")
    if len(parts) > 2 or any("=" in p for p in parts[1:]):
        raise InvalidInput(f"{tag}: only <lora:NAME> and <lora:NAME:WEIGHT> are supported (separate text-encoder "
                           "and UNet weights are not)")
    if len(parts) == 1:
        return name, 1.0
    try:
        weight = float(parts[1])
    except ValueError:
        raise InvalidInput(f"{tag}: weight {parts[1]!r} must be a number from {-MAX_LORA_WEIGHT:g} to "
                           f"{MAX_LORA_WEIGHT:g}") from None
    return name, check_lora_weight(weight, f"{tag}: weight")


def lora_tags(prompt: str) -> tuple[tuple[str, float], ...]:
    """The ``(name, weight)`` of every LoRA the prompt asks for; InvalidInput for a malformed tag."""
    weights: dict[str, float] = {}
    for match in LORA_TAG.finditer(prompt or ""):
        name, weight = _parse(match.group(0), match.group(1))
        weights[name] = weights.get(name, 0.0) + weight
    for name, weight in weights.items():
        check_lora_weight(weight, f"total weight of LoRA {name!r}")
    return tuple(weights.items())


def strip_lora_tags(prompt: str) -> str:
    """The prompt without its LoRA tags: what the text encoder is given."""
    return LORA_TAG.sub("", prompt)
