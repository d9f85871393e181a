"""The dashboard's inputs: the default model and upscaler, the Generate settings, values that persist.

Contract:
- Every input a user types into keeps its value for the whole browser session,
  across page changes and reruns (Streamlit's ``persist_state="session"``);
  changing one setting never resets another.
- ``model_picker(studio, key)`` shows and sets THE default model: the one Home,
  Generate, Variations (for remixes) and Queue use. Choosing one makes it the
  default from then on (``studio.set_default_model``, saved in
  ``$GWEN_HOME/settings.toml``); so does ``upscaler_picker`` for upscalers.
- ``generation_settings(studio)`` is the Generate form's settings (model,
  steps, guidance, scheduler, N, aspect or custom size, seed, and a kept noise
  chain); it returns the keyword arguments of ``studio.generate``.
- ``use_settings(studio, params)`` fills that form from an image's parameters
  ("Use these settings"), noise chain and styles included (the prompt as
  typed, the styles taken back out of it); the values then survive
  further edits like typed ones. The image's model becomes the default model
  (the form's model is the default), and Generate says so.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gwen.params import MAX_SEED, SCHEDULERS
from gwen.presets import MODEL_PRESETS, preset_for
from gwen.ui.common import guarded
from gwen.ui.styles_view import own_prompt

ASPECTS = {"1:1": (1, 1), "3:2": (3, 2), "2:3": (2, 3), "16:9": (16, 9), "9:16": (9, 16), "4:5": (4, 5)}
CUSTOM = "custom"
OTHER = "other…"
KEEP = "session"


def kept(key: str, default: Any) -> str:
    """Seed a session-persistent widget's value once; returns the key to pass to the widget."""
    if key not in st.session_state:
        st.session_state[key] = default
    return key


# --- the default model and upscaler ---------------------------------------------------
def model_picker(studio, key: str = "model") -> str:
    """The default model: a preset, or any Hugging Face id / folder / checkpoint file (typed)."""
    current = studio.default_model()
    options = [*MODEL_PRESETS, OTHER]
    select_key = f"{key}_preset"
    _show(key, select_key, current, current if current in MODEL_PRESETS else OTHER)
    choice = st.selectbox("Model", options, key=select_key, on_change=_pick_model, args=(studio, select_key),
                          format_func=lambda n: MODEL_PRESETS[n].label if n in MODEL_PRESETS
                          else "Other: a Hugging Face id, a folder or a checkpoint file",
                          help="your default model: Home, Generate, Variations and the Queue all use it")
    if choice == OTHER:
        typed_key = kept(f"{key}_custom", "" if current in MODEL_PRESETS else current)
        typed = st.text_input("Model id or path", key=typed_key, persist_state=KEEP).strip()
        if typed and typed != current and st.button("Use this model", key=f"{key}_use"):
            if guarded(lambda: studio.set_default_model(typed)):
                st.rerun()
        return typed or current
    return current


def _show(key: str, select_key: str, current: str, option: str) -> None:
    """Point the picker at the current default when it changed (on another page, in another session); leave
    the user's own choice (such as "other…", before a model is typed) alone otherwise."""
    if st.session_state.get(f"{key}_shown") != current or select_key not in st.session_state:
        st.session_state[select_key] = option
        st.session_state[f"{key}_shown"] = current


def _pick_model(studio, select_key: str) -> None:
    choice = st.session_state[select_key]
    if choice != OTHER:
        guarded(lambda: studio.set_default_model(choice))


def upscaler_picker(studio, key: str = "upscaler") -> str:
    """The default upscaler: a preset (``tiny`` works offline) or a model file; remembered."""
    from gwen.upscale import UPSCALER_PRESETS

    current = studio.default_upscaler()
    options = [*UPSCALER_PRESETS, "file"]
    select_key = f"{key}_preset"
    _show(key, select_key, current, current if current in UPSCALER_PRESETS else "file")
    choice = st.selectbox("Upscaler", options, key=select_key, on_change=_pick_upscaler,
                          args=(studio, select_key),
                          format_func=lambda n: UPSCALER_PRESETS[n].label if n in UPSCALER_PRESETS
                          else "A model file (.pth / .safetensors)")
    if choice == "file":
        typed_key = kept(f"{key}_file", "" if current in UPSCALER_PRESETS else current)
        typed = st.text_input("Model file", key=typed_key, persist_state=KEEP).strip()
        if typed and typed != current and st.button("Use this file", key=f"{key}_use"):
            if guarded(lambda: studio.set_default_upscaler(typed)):
                st.rerun()
        return typed or current
    return current


def _pick_upscaler(studio, select_key: str) -> None:
    choice = st.session_state[select_key]
    if choice != "file":
        guarded(lambda: studio.set_default_upscaler(choice))


# --- Generate's settings ------------------------------------------------------------------
def generation_settings(studio) -> dict[str, Any]:
    """The settings form under Generate's prompt; returns ``studio.generate``'s keyword arguments."""
    model = model_picker(studio, "gen_model")
    preset = preset_for(model)
    defaults = {"gen_steps": preset.steps if preset else 25, "gen_guidance": float(preset.guidance if preset else 7.0),
                "gen_scheduler": preset.scheduler if preset else "Euler a", "gen_n": 4, "gen_aspect": "1:1",
                "gen_width": preset.size if preset else 512, "gen_height": preset.size if preset else 512,
                "gen_random_seed": True, "gen_seed": 0}
    _follow_model(model, defaults)
    with st.expander("Settings", expanded=bool(st.session_state.get("gen_prefilled"))):
        cols = st.columns(4)
        steps = cols[0].number_input("Steps", 1, 150, key=kept("gen_steps", defaults["gen_steps"]), persist_state=KEEP)
        guidance = cols[1].number_input("Guidance (CFG)", 0.0, 30.0, step=0.5,
                                        key=kept("gen_guidance", defaults["gen_guidance"]), persist_state=KEEP)
        scheduler = cols[2].selectbox("Scheduler", SCHEDULERS, key=kept("gen_scheduler", defaults["gen_scheduler"]),
                                      persist_state=KEEP)
        n = cols[3].number_input("Images (N)", 1, 16, key=kept("gen_n", 4), persist_state=KEEP)
        size_cols = st.columns(3)
        aspect = size_cols[0].selectbox("Aspect", [*ASPECTS, CUSTOM], key=kept("gen_aspect", "1:1"),
                                        persist_state=KEEP)
        base = int(defaults["gen_width"])
        if aspect == CUSTOM:
            width = size_cols[1].number_input("Width", 64, 2048, step=8, key=kept("gen_width", base),
                                              persist_state=KEEP)
            height = size_cols[2].number_input("Height", 64, 2048, step=8, key=kept("gen_height", base),
                                               persist_state=KEEP)
        else:
            width, height = aspect_size(aspect, base)
            size_cols[1].caption(f"{width} × {height}")
        seed_cols = st.columns([1, 2])
        random_seed = seed_cols[0].checkbox("Random seed", key=kept("gen_random_seed", True), persist_state=KEEP)
        seed = None if random_seed else int(seed_cols[1].number_input(
            "Seed", 0, MAX_SEED, key=kept("gen_seed", 0), persist_state=KEEP))
        chain = st.session_state.get("gen_chain") or []
        keep_chain = False
        if chain:
            keep_chain = st.checkbox(f"Keep the noise chain ({_chain_text(chain)})", key=kept("gen_keep_chain", True),
                                     persist_state=KEEP, help="the variation's noise: with the same seed this "
                                     "re-creates the image these settings came from")
    return {"model": model, "steps": int(steps), "guidance": float(guidance), "scheduler": scheduler, "n": int(n),
            "width": int(width), "height": int(height), "seed": seed, "variations": chain if keep_chain else None}


def aspect_size(aspect: str, base: int) -> tuple[int, int]:
    w, h = ASPECTS[aspect]
    scale = (base * base / (w * h)) ** 0.5
    return int(round(w * scale / 8) * 8), int(round(h * scale / 8) * 8)


def _follow_model(model: str, defaults: dict[str, Any]) -> None:
    """When the model changes, its recommended steps, guidance, scheduler and size replace the old model's."""
    if st.session_state.get("gen_for_model") == model:
        return
    first_time = "gen_for_model" not in st.session_state
    st.session_state["gen_for_model"] = model
    if first_time and st.session_state.get("gen_prefilled"):
        return
    if not first_time:
        for key in ("gen_steps", "gen_guidance", "gen_scheduler", "gen_width", "gen_height"):
            st.session_state[key] = defaults[key]


def _chain_text(chain: list[dict]) -> str:
    return " → ".join(f"{c['seed']} @ {c['strength']:g}" for c in chain)


def use_settings(studio, params: dict[str, Any]) -> str | None:
    """Fill Generate's form from an image's params; returns a warning when its model is not usable here."""
    warning = None
    model = params.get("model")
    if model and model != studio.default_model():
        try:
            studio.set_default_model(model)
            st.session_state["gwen_settings_note"] = f"Your default model is now this image's: {model}."
        except Exception as exc:  # a GwenError, or an unreachable remote: say it, keep the default
            warning = f"This image's model {model!r} cannot be used here ({exc}); your default model stays."
    st.session_state["gen_for_model"] = studio.default_model()
    st.session_state["gen_prompt"], st.session_state["gen_negative"], st.session_state["gen_styles"] = \
        own_prompt(studio, params)
    for key, name, cast in (("gen_steps", "steps", int), ("gen_guidance", "guidance", float),
                            ("gen_seed", "seed", int), ("gen_width", "width", int), ("gen_height", "height", int)):
        if params.get(name) is not None:
            st.session_state[key] = cast(params[name])
    if params.get("scheduler") in SCHEDULERS:
        st.session_state["gen_scheduler"] = params["scheduler"]
    preset = preset_for(studio.default_model())
    base = preset.size if preset else 512
    size = (st.session_state.get("gen_width"), st.session_state.get("gen_height"))
    st.session_state["gen_aspect"] = next((a for a in ASPECTS if aspect_size(a, base) == size), CUSTOM)
    st.session_state["gen_random_seed"] = params.get("seed") is None
    st.session_state["gen_chain"] = [dict(v) for v in params.get("variations") or []]
    st.session_state["gen_keep_chain"] = True
    st.session_state["gen_prefilled"] = True
    return warning
