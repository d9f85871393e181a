"""AUTOMATIC1111 / Forge infotext (also Fooocus's ``a1111`` scheme): the text of a PNG ``parameters`` chunk, of a
JPEG/WebP EXIF UserComment, or of stealth pixels.

Contract:
- ``read_a1111(text)`` returns ``Fields`` with the GWEN keys found: prompt, negative_prompt (lines as A1111 reads
  them: every line before ``Negative prompt:`` is the prompt, the last line holds the settings when it has at least
  3 ``key: value`` pairs), steps, guidance, seed, width/height (``Size``, the first-pass size), model, model_hash,
  scheduler (or ``sampler_original``), denoise, variations, init_image_id, and ``loras``.
- ``loras`` is a list of ``{"name": str, "weight": float, "hash": str | None}``: one per LoRA tagged
  ``<lora:NAME:WEIGHT>`` (or ``<lyco:...>``; with ``TE:UNET`` weights or ``te=``, the text-encoder one) in the
  prompt, in order of first mention (a name tagged twice gets the sum of its weights, as A1111 applies each), with
  its hash from ``Lora hashes: "name: hash, ..."``; a hash
  whose LoRA has no tag gets its weight from ``Lora weights`` (Fooocus) or A1111's default of 1.0. The prompt is
  kept unchanged, tags included. ``styles``: the names in ``Styles array`` (a JSON list, as GWEN writes it).
- ``parse_a1111(text)`` is the params dict alone (``{}`` for empty text). Nothing here raises.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gwen.formats.common import Fields

_RE_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')
_RE_SIZE = re.compile(r"^(\d+)x(\d+)$")
_RE_LORA_TAG = re.compile(r"<(?:lora|lyco):([^>]+)>", re.IGNORECASE)


def parse_a1111(text: str) -> dict[str, Any]:
    """Parse A1111's infotext (multi-line prompts, quoted values) into GWEN param keys."""
    return read_a1111(text).params


def read_a1111(text: str) -> Fields:
    found = Fields()
    prompt, negative, fields = split_infotext(text)
    if prompt:
        found.params["prompt"] = prompt
    if negative:
        found.params["negative_prompt"] = negative
    if not fields:
        if not found.params.get("prompt"):
            found.params.clear()
        return found
    found.int("steps", fields.get("Steps"), "Steps")
    found.float("guidance", fields.get("CFG scale"), "CFG scale")
    found.int("seed", fields.get("Seed"), "Seed")
    size = _RE_SIZE.match(fields.get("Size", ""))
    if size:
        found.size(size.group(1), size.group(2))
    for key, label in (("model", "Model"), ("model_hash", "Model hash")):
        if fields.get(label):
            found.params[key] = fields[label]
    if fields.get("Sampler"):
        found.scheduler(fields["Sampler"], fields.get("Schedule type"), "Sampler")
    found.float("denoise", fields.get("Denoising strength"), "Denoising strength")
    _variations(found, fields)
    if fields.get("Init image"):
        found.params["init_image_id"] = fields["Init image"]
    loras = read_loras(prompt or "", fields, found.problems)
    if loras:
        found.params["loras"] = loras
    _styles(found, fields.get("Styles array"))
    return found


def _styles(found: Fields, text: str | None) -> None:
    """GWEN's ``Styles array`` (a JSON list of names; the key A1111's PNG Info gives the styles it finds)."""
    if not text:
        return
    try:
        names = json.loads(text)
    except json.JSONDecodeError:
        names = None
    if isinstance(names, list) and names and all(isinstance(n, str) for n in names):
        found.params["styles"] = names
    else:
        found.problems.append(f"Styles array={text!r} is not a JSON list of style names; left out")


def split_infotext(text: str) -> tuple[str, str, dict[str, str]]:
    """(prompt, negative prompt, settings) as A1111's own reader splits them; quoted values unquoted."""
    *lines, last = text.strip().split("\n")
    if len(_RE_PARAM.findall(last)) < 3:
        lines.append(last)
        last = ""
    prompt, negative, in_negative = [], [], False
    for line in lines:
        line = line.strip()
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:"):].strip()
        (negative if in_negative else prompt).append(line)
    fields: dict[str, str] = {}
    for key, value in _RE_PARAM.findall(last):
        value = value.strip()
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                value = value[1:-1]
        fields[key.strip()] = str(value)
    return "\n".join(prompt), "\n".join(negative), fields


def has_settings(text: str) -> bool:
    """Whether ``text`` ends with an A1111 settings line (a bare prompt does not count)."""
    return bool(split_infotext(text)[2])


def read_loras(prompt: str, fields: dict[str, str], problems: list[str]) -> list[dict[str, Any]]:
    hashes = _name_values(fields.get("Lora hashes", ""))
    weights = _name_values(fields.get("Lora weights", ""))
    loras: dict[str, dict[str, Any]] = {}
    for tag in _RE_LORA_TAG.findall(prompt):
        name, *args = [part.strip() for part in tag.split(":")]
        key = name.replace(",", "")
        if not name:
            continue
        positional = [a for a in args if "=" not in a]
        named = dict(a.split("=", 1) for a in args if "=" in a)
        raw = named.get("te", positional[0] if positional else "1")
        try:
            weight = float(raw)
        except ValueError:
            problems.append(f"<lora:{tag}> has weight {raw!r}, not a number; left out")
            continue
        if key in loras:  # A1111 applies every mention: a name tagged twice gets the sum (as gwen.prompt_tags)
            loras[key]["weight"] += weight
        else:
            loras[key] = {"name": name, "weight": weight, "hash": hashes.get(key)}
    for name, lora_hash in hashes.items():
        if name not in loras:
            try:
                weight = float(weights.get(name, "1"))
            except ValueError:
                weight = 1.0
            loras[name] = {"name": name, "weight": weight, "hash": lora_hash}
    return list(loras.values())


def _name_values(text: str) -> dict[str, str]:
    """``"name1: value1, name2: value2"`` (A1111's ``Lora hashes``, Fooocus's ``Lora weights``) as a dict."""
    out = {}
    for part in text.split(","):
        name, sep, value = part.rpartition(":")
        if sep and name.strip() and value.strip():
            out[name.strip()] = value.strip()
    return out


def _variations(found: Fields, fields: dict[str, str]) -> None:
    if fields.get("Variation chain"):
        chain = []
        for part in fields["Variation chain"].split():
            seed, _, strength = part.partition(":")
            try:
                chain.append({"seed": int(seed), "strength": float(strength)})
            except ValueError:
                found.problems.append(f"Variation chain step {part!r} is not seed:strength; left out")
        found.params["variations"] = chain
    elif fields.get("Variation seed"):
        try:
            found.params["variations"] = [{"seed": int(fields["Variation seed"]),
                                           "strength": float(fields.get("Variation seed strength", 0))}]
        except ValueError:
            found.problems.append(f"Variation seed={fields['Variation seed']!r} (strength "
                                  f"{fields.get('Variation seed strength')!r}) is not a number; left out")
