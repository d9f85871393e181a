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
    ranges bound them.
  ``mix`` (the default) is noise + jitter.
- Every sampled value lands in the child's ``ImageParams``, so a child is as
  reproducible as a root. The same ``sampler_seed`` gives the same children.
- ``reroll`` keeps every setting and draws new seeds.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from gwen.errors import InvalidInput
from gwen.params import MAX_GUIDANCE, MAX_IMAGES_PER_REQUEST, MAX_SEED, MAX_STEPS, ImageParams, NoiseVariation

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
JITTERABLE = ("guidance", "steps", "scheduler")
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
    """Bounds for jittered values; locks keep the parent's value."""

    guidance: tuple[float, float] = (0.0, MAX_GUIDANCE)
    steps: tuple[int, int] = (1, MAX_STEPS)
    schedulers: tuple[str, ...] = JITTER_SCHEDULERS
    locks: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        unknown = set(self.locks) - set(JITTERABLE)
        if unknown:
            raise InvalidInput(f"lock={','.join(sorted(unknown))!r}: can lock only {', '.join(JITTERABLE)}")
        for name, (lo, hi) in (("guidance", self.guidance), ("steps", self.steps)):
            if lo > hi:
                raise InvalidInput(f"{name} range {lo}..{hi}: the low end must not exceed the high end")


def denoise_for(strength: float, steps: int) -> float:
    """img2img denoise for a strength: 0.1 at s=0 rising to 0.9 at s=1, at least one real step."""
    wanted = max(0.1 + 0.8 * strength, 1.0 / steps)
    return min(1.0, math.ceil(wanted * 10000 - 1e-9) / 10000)  # round up: steps × denoise must stay ≥ 1


@dataclass(frozen=True)
class VariationPlan:
    """How children were sampled (recorded on every child's catalog row)."""

    strength: float
    modes: tuple[str, ...]
    preset: str | None = None
    remix_prompt: str | None = None

    def to_dict(self) -> dict:
        return {"strength": self.strength, "modes": list(self.modes), "preset": self.preset,
                "remix": self.remix_prompt is not None}


def sample_children(parent: ImageParams, parent_id: str, n: int, plan: VariationPlan,
                    ranges: JitterRanges | None = None, sampler_seed: int | None = None) -> list[ImageParams]:
    """``n`` child params around ``parent``; deterministic for a given ``sampler_seed``."""
    _check_n(n)
    ranges = ranges or JitterRanges()
    rng = random.Random(sampler_seed)
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
            changes.update(_jitter(parent, s, ranges, rng))
        if "img2img" in plan.modes:
            changes["denoise"] = denoise_for(s, changes.get("steps", parent.steps))
        children.append(base.replace(**changes))
    return children


def reroll(parent: ImageParams, n: int, sampler_seed: int | None = None) -> list[ImageParams]:
    """Same settings, ``n`` fresh seeds (any variation chain is dropped)."""
    _check_n(n)
    rng = random.Random(sampler_seed)
    return [parent.replace(seed=_seed(rng), variations=()) for _ in range(n)]


def _jitter(parent: ImageParams, s: float, ranges: JitterRanges, rng: random.Random) -> dict:
    out: dict = {}
    distilled = parent.scheduler in FIXED_SCHEDULERS or parent.guidance <= 1.0  # CFG off: keep it off
    if "guidance" not in ranges.locks and not distilled:
        lo, hi = ranges.guidance
        spread = 4.0 * s
        out["guidance"] = round(min(hi, max(lo, parent.guidance + rng.uniform(-spread, spread))), 2)
    if "steps" not in ranges.locks:
        lo, hi = ranges.steps
        spread = 0.5 * s * parent.steps
        out["steps"] = int(min(hi, max(lo, round(parent.steps + rng.uniform(-spread, spread)))))
    if "scheduler" not in ranges.locks and parent.scheduler not in FIXED_SCHEDULERS:
        pool = [x for x in ranges.schedulers if x not in FIXED_SCHEDULERS]
        if pool and rng.random() < 0.6 * s:
            out["scheduler"] = rng.choice(pool)
    return out


def _seed(rng: random.Random) -> int:
    return rng.randint(0, MAX_SEED)


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or not (1 <= n <= MAX_IMAGES_PER_REQUEST):
        raise InvalidInput(f"n={n!r}: must be an integer from 1 to {MAX_IMAGES_PER_REQUEST}")
