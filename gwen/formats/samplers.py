"""Each tool's sampler and schedule names, translated to GWEN's scheduler names.

Contract: ``scheduler_for(sampler, schedule)`` returns one of ``gwen.params.SCHEDULERS`` or None when GWEN has no
equivalent (the caller keeps the tool's own spelling). It accepts:
- A1111 labels, old combined (``DPM++ 2M Karras``) or split (``DPM++ 2M`` + ``Schedule type: Karras``);
- ComfyUI / Fooocus ids (``dpmpp_2m_sde_gpu`` + ``karras``, ``euler_ancestral`` + ``normal``);
- InvokeAI 3+ ids, where ``_k`` means Karras sigmas (``dpmpp_2m_k``, ``euler_a``, ``lms_k``);
- InvokeAI 2.x and NovelAI ids with a ``k_`` prefix (``k_lms``, ``k_euler_ancestral`` + ``native``).
A schedule that is each sampler's usual one (``normal``, ``simple``, ``native``, ``automatic``, ``uniform``) adds
nothing; ``karras`` and ``exponential`` are part of the name; any other makes the pair unknown.
"""

from __future__ import annotations

from gwen.errors import InvalidInput
from gwen.params import canonical_scheduler

_DEFAULT_SCHEDULES = {"", "automatic", "uniform", "normal", "simple", "native", "default"}
_SCHEDULE_LABELS = {"karras": "Karras", "exponential": "Exponential"}

# Tool ids (lower case, without ``k_`` / ``_gpu``) whose A1111 label is not their own spelling.
_LABELS = {
    "euler_a": "Euler a", "euler_ancestral": "Euler a", "dpmpp_2": "DPM++ 2M", "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_sde": "DPM++ 2M SDE", "dpmpp_sde": "DPM++ SDE", "dpmpp_2s_ancestral": "DPM++ 2S a",
    "dpmpp_2s_a": "DPM++ 2S a", "dpmpp_2_a": "DPM++ 2S a", "dpm_2": "DPM2", "kdpm_2": "DPM2", "dpm_2_a": "DPM2 a",
    "dpm_2_ancestral": "DPM2 a", "kdpm_2_a": "DPM2 a", "uni_pc": "UniPC", "unipc": "UniPC", "plms": "PNDM",
    "ddim_v3": "DDIM", "lms": "LMS", "heun": "Heun", "euler": "Euler", "ddim": "DDIM", "pndm": "PNDM", "lcm": "LCM",
}


def scheduler_for(sampler: str, schedule: str | None = None) -> str | None:
    name = sampler.strip()
    suffix = _schedule_suffix(schedule)
    if suffix is None:
        return None
    if suffix and name.lower().endswith(suffix.lower()):
        suffix = ""  # an old combined name that already says it (``DPM++ 2M Karras`` + ``Karras``)
    found = _canonical(f"{name} {suffix}".strip())
    if found:
        return found
    key = name.lower().removeprefix("k_").removesuffix("_gpu")
    if key.endswith("_k") and not suffix:  # InvokeAI: ``_k`` = Karras sigmas
        key, suffix = key[:-2], "Karras"
    label = _LABELS.get(key)
    return _canonical(f"{label} {suffix}".strip()) if label else None


def _schedule_suffix(schedule: str | None) -> str | None:
    """The A1111 word a schedule adds to a sampler name: '' for the usual one, None for one GWEN lacks."""
    value = (schedule or "").strip().lower().replace(" ", "_")
    if value in _DEFAULT_SCHEDULES:
        return ""
    return _SCHEDULE_LABELS.get(value)


def _canonical(name: str) -> str | None:
    try:
        return canonical_scheduler(name)
    except InvalidInput:
        return None
