"""Sample child parameter sets around a parent image (pure: no I/O, no torch).

Contract:
- One strength ``s`` in [0, 1] drives every mechanism; named presets
  (``subtle``, ``strong`` and the original notebook's ``low``/``moderate``/
  ``high``/``very-high``) are just values of ``s``.
- Mechanisms, chosen by ``modes``:
  * ``noise``: the child keeps the parent's noise chain and appends one
    ``NoiseVariation(new seed, s)``; the engine slerps the parent's noise
    towards the new seed's noise by ``s`` (A1111's variation seed).
  * ``img2img``: the child starts from the parent image (``init_image_id``)
    with ``denoise`` rising with ``s`` and a fresh seed.
  * ``jitter``: guidance, steps and scheduler are sampled around the
    parent's; the spread grows with ``s``; any of them can be locked, and
    ranges bound them. A child that starts from an image (``init_image_id``:
    img2img mode, or a jitter of an img2img parent) has its ``denoise``
    jittered too, around the strength rule's value (``denoise_for``) in
    img2img mode, else around the parent's; ``denoise`` can be locked and
    ranged like the others.
  ``mix`` (the default) is noise + jitter.
- Taste (``plan.taste`` T in [0, 1], a fitted ``gwen.taste.TasteModel``):
  each jittered value is picked from ``TASTE_CANDIDATES`` draws of the plain
  jitter with weights ∝ exp(T·k·liked score), so it leans toward what the
  user rated high and never leaves the jitter's ranges and locks. T = 0, or
  no model, is exactly the plain sampler (same children for the same seed).
- Every sampled value lands in the child's ``ImageParams``, so a child is as
  reproducible as a root. The same ``sampler_seed`` gives the same children.
- ``reroll`` keeps every setting and draws new seeds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable

from gwen.errors import InvalidInput
from gwen.params import MAX_GUIDANCE, MAX_IMAGES_PER_REQUEST, MAX_SEED, MAX_STEPS, ImageParams, NoiseVariation
from gwen.taste import TasteModel

STRENGTH_PRESETS: dict[str, float] = {
    "low": 0.1,
    "subtle": 0.2,
    "moderate": 0.35,
    "high": 0.5,
    "strong": 0.65,
    "very-high": 0.85,
}

MODES = ("noise", "img2img", "jitter")
MODE_ALIASES = {"mix": ("noise", "jitter")}
JITTERABLE = ("guidance", "steps", "scheduler", "denoise")
TASTE_CANDIDATES = 16  # draws of the plain jitter a taste picks from, per parameter and child
# Schedulers that work on ordinary (non-distilled) models at ordinary step counts.
JITTER_SCHEDULERS = ("Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "UniPC", "DDIM", "Heun")
# Distilled-model schedulers: a jitter must not leave them, nor enter them.
FIXED_SCHEDULERS = ("Turbo", "LCM")


def parse_strength(value: str | float) -> tuple[float, str | None]:
    """``'subtle'`` → (0.2, 'subtle'); ``'0.3'`` → (0.3, None); else InvalidInput."""
    if isinstance(value, str):
        key = value.strip().lower().replace("_", "-").replace(" ", "-")
        if key in STRENGTH_PRESETS:
            return STRENGTH_PRESETS[key], key
        try:
            value = float(key)
        except ValueError:
            raise InvalidInput(f"strength={value!r}: must be a number from 0 to 1 or one of "
                               f"{', '.join(STRENGTH_PRESETS)}") from None
    if not (0.0 <= float(value) <= 1.0):
        raise InvalidInput(f"strength={value!r}: must be between 0 and 1")
    return float(value), None


def parse_modes(value: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``'mix'`` → ('noise', 'jitter'); ``'img2img,jitter'`` → ('img2img', 'jitter')."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    modes: list[str] = []
    for part in (p.strip().lower() for p in parts if p.strip()):
        for mode in MODE_ALIASES.get(part, (part,)):
            if mode not in MODES:
                raise InvalidInput(f"mode={part!r}: unknown variation mode; choose from noise, img2img, jitter, mix")
            if mode not in modes:
                modes.append(mode)
    if not modes:
        raise InvalidInput("mode='': choose at least one of noise, img2img, jitter, mix")
    if "noise" in modes and "img2img" in modes:
        raise InvalidInput("mode=noise+img2img: img2img already draws fresh noise; combine img2img with jitter only")
    return tuple(modes)


@dataclass(frozen=True)
class JitterRanges:
    """Bounds for jittered values; locks keep the parent's value (for denoise: its centre)."""

    guidance: tuple[float, float] = (0.0, MAX_GUIDANCE)
    steps: tuple[int, int] = (1, MAX_STEPS)
    schedulers: tuple[str, ...] = JITTER_SCHEDULERS
    locks: frozenset[str] = field(default_factory=frozenset)
    denoise: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        unknown = set(self.locks) - set(JITTERABLE)
        if unknown:
            raise InvalidInput(f"lock={','.join(sorted(unknown))!r}: can lock only {', '.join(JITTERABLE)}")
        for name, (lo, hi) in (("guidance", self.guidance), ("steps", self.steps), ("denoise", self.denoise)):
            if lo > hi:
                raise InvalidInput(f"{name} range {lo}..{hi}: the low end must not exceed the high end")
        lo, hi = self.denoise
        if not (0.0 <= lo and hi <= 1.0):
            raise InvalidInput(f"denoise range {lo}..{hi}: both ends must lie within 0..1")


def parse_taste(value: str | float | None) -> float:
    """``'0.7'`` → 0.7; None → 0.0 (plain jitter); anything outside 0..1 or not a number → InvalidInput."""
    if value is None:
        return 0.0
    try:
        taste = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        raise InvalidInput(f"taste={value!r}: must be a number from 0 (plain jitter) to 1 (lean hardest)") from None
    if isinstance(value, bool) or not (0.0 <= taste <= 1.0):
        raise InvalidInput(f"taste={value!r}: must be between 0 (plain jitter) and 1 (lean hardest)")
    return taste


def denoise_for(strength: float, steps: int) -> float:
    """img2img denoise for a strength: 0.1 at s=0 rising to 0.9 at s=1, at least one real step."""
    wanted = max(0.1 + 0.8 * strength, 1.0 / steps)
    return min(1.0, math.ceil(wanted * 10000 - 1e-9) / 10000)  # round up: steps × denoise must stay ≥ 1


@dataclass(frozen=True)
class VariationPlan:
    """How children were sampled (recorded on every child's catalog row).

    ``taste`` is the asked taste weight; ``ratings_snapshot`` the hash of the rated rows it was fitted on (None
    at taste 0: nothing was read); ``taste_note`` why a taste could not lean (no rated images, no jitter);
    ``liked`` the fitted model's summary (``TasteModel.summary()``), sent with a preview, not recorded."""

    strength: float
    modes: tuple[str, ...]
    preset: str | None = None
    remix_prompt: str | None = None
    taste: float = 0.0
    ratings_snapshot: str | None = None
    taste_note: str | None = None
    liked: tuple = ()

    def to_dict(self) -> dict:
        record = {"strength": self.strength, "modes": list(self.modes), "preset": self.preset,
                  "remix": self.remix_prompt is not None, "taste": self.taste}
        if self.ratings_snapshot is not None:
            record["ratings_snapshot"] = self.ratings_snapshot
        if self.taste_note:
            record["taste_note"] = self.taste_note
        return record

    def to_wire(self) -> dict:
        """Everything, for a preview sent over HTTP (``from_wire`` reads it back)."""
        return {**self.to_dict(), "remix_prompt": self.remix_prompt, "liked": [dict(row) for row in self.liked]}

    @classmethod
    def from_wire(cls, data: dict) -> "VariationPlan":
        return cls(float(data["strength"]), tuple(data["modes"]), data.get("preset"), data.get("remix_prompt"),
                   parse_taste(data.get("taste")), data.get("ratings_snapshot"), data.get("taste_note"),
                   tuple(dict(row) for row in data.get("liked") or ()))


def taste_leans(plan: VariationPlan, locks=()) -> tuple[str, ...]:
    """The parameters a plan's taste moved: the unlocked jitterable ones, when it could lean at all."""
    if plan.taste <= 0 or plan.taste_note or "jitter" not in plan.modes or not plan.liked:
        return ()
    return tuple(p for p in JITTERABLE if p not in set(locks))


def sample_children(parent: ImageParams, parent_id: str, n: int, plan: VariationPlan,
                    ranges: JitterRanges | None = None, sampler_seed: int | None = None,
                    taste: TasteModel | None = None) -> list[ImageParams]:
    """``n`` child params around ``parent``; deterministic for a given ``sampler_seed`` (and ``taste`` model)."""
    _check_n(n)
    ranges = ranges or JitterRanges()
    rng = random.Random(sampler_seed)
    lean = _Lean(taste, plan.taste, rng) if taste is not None and not taste.empty and plan.taste > 0 else None
    s = plan.strength
    base = parent if plan.remix_prompt is None else parent.replace(prompt=plan.remix_prompt)
    children = []
    for _ in range(n):
        changes: dict = {}
        if "noise" in plan.modes:
            changes["variations"] = (*parent.variations, NoiseVariation(seed=_seed(rng), strength=s))
        if "img2img" in plan.modes:
            changes.update(seed=_seed(rng), variations=(), init_image_id=parent_id)
        if "jitter" in plan.modes:
            changes.update(_jitter(parent, s, ranges, rng, lean))
        steps = changes.get("steps", parent.steps)
        if "img2img" in plan.modes:
            changes["denoise"] = denoise_for(s, steps)
        if "jitter" in plan.modes and changes.get("init_image_id", parent.init_image_id) is not None \
                and "denoise" not in ranges.locks:
            centre = changes.get("denoise", parent.denoise)
            if centre is not None:
                changes["denoise"] = _pick(lean, "denoise", lambda: _draw_denoise(centre, s, steps, ranges, rng))
        children.append(base.replace(**changes))
    return children


def reroll(parent: ImageParams, n: int, sampler_seed: int | None = None) -> list[ImageParams]:
    """Same settings, ``n`` fresh seeds (any variation chain is dropped)."""
    _check_n(n)
    rng = random.Random(sampler_seed)
    return [parent.replace(seed=_seed(rng), variations=()) for _ in range(n)]


class _Lean:
    """A taste's pick among draws of the plain jitter (``TasteModel.lean``), with the sampler's own rng."""

    def __init__(self, model: TasteModel, taste: float, rng: random.Random):
        self.model, self.taste, self.rng = model, taste, rng

    def pick(self, parameter: str, draw: Callable[[], Any]) -> Any:
        candidates = [draw() for _ in range(TASTE_CANDIDATES)]
        return candidates[self.model.lean(parameter, candidates, self.taste, self.rng.random())]


def _pick(lean: _Lean | None, parameter: str, draw: Callable[[], Any]) -> Any:
    return draw() if lean is None else lean.pick(parameter, draw)


def _jitter(parent: ImageParams, s: float, ranges: JitterRanges, rng: random.Random, lean: _Lean | None) -> dict:
    out: dict = {}
    distilled = parent.scheduler in FIXED_SCHEDULERS or parent.guidance <= 1.0  # CFG off: keep it off
    if "guidance" not in ranges.locks and not distilled:
        lo, hi = ranges.guidance
        spread = 4.0 * s
        out["guidance"] = _pick(lean, "guidance", lambda: round(
            min(hi, max(lo, parent.guidance + rng.uniform(-spread, spread))), 2))
    if "steps" not in ranges.locks:
        lo, hi = ranges.steps
        spread = 0.5 * s * parent.steps
        out["steps"] = _pick(lean, "steps", lambda: int(
            min(hi, max(lo, round(parent.steps + rng.uniform(-spread, spread))))))
    if "scheduler" not in ranges.locks and parent.scheduler not in FIXED_SCHEDULERS:
        pool = [x for x in ranges.schedulers if x not in FIXED_SCHEDULERS]
        if pool:
            out["scheduler"] = _pick(lean, "scheduler", lambda: rng.choice(pool) if rng.random() < 0.6 * s
                                     else parent.scheduler)
    return out


def _draw_denoise(centre: float, s: float, steps: int, ranges: JitterRanges, rng: random.Random) -> float:
    """``centre`` ± 0.25·s, within the denoise range, rounded up so that steps × denoise stays ≥ 1."""
    lo, hi = ranges.denoise
    value = min(hi, max(lo, centre + rng.uniform(-0.25 * s, 0.25 * s)))
    return min(1.0, math.ceil(max(value, 1.0 / steps, 0.01) * 10000 - 1e-9) / 10000)


def _seed(rng: random.Random) -> int:
    return rng.randint(0, MAX_SEED)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not (1 <= n <= MAX_IMAGES_PER_REQUEST):
        raise InvalidInput(f"n={n!r}: must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}")
