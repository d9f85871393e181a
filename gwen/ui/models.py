"""What the dashboard says when a model cannot be used, and the one-click way out.

Contract:
- ``guarded_render(action, retry)`` is ``guarded`` for renders: a
  ``ModelUnavailable`` about a Hub model (offline, unreachable, gated,
  missing) is explained for the dashboard (not the CLI's flags): what is
  missing, a "Use the offline demo model" button that makes ``tiny`` the
  default and renders again (``retry``), and the Hub command that exists in
  this install to fetch the model on a connected machine.
- ``model_line(studio)`` is Home's and Generate's one line about the default
  model: its name and what it needs before it can render (nothing, a
  download, a first-use build).
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from gwen.errors import GwenError, ModelUnavailable
from gwen.ui.common import guarded

DEMO_BUTTON = "Use the offline demo model"
AUTORUN = "gwen_autorun"
_NEEDS = {"ready": "ready on this machine", "download": "not on this machine yet: downloaded from the Hugging Face "
          "Hub on first use", "builds": "built on this machine on first use (a few seconds)",
          "missing": "NOT FOUND: choose another model"}


def model_line(studio) -> None:
    status = guarded(studio.model_status)
    if status:
        origin = " (set by GWEN_MODEL)" if status.get("from_environment") else ""
        st.caption(f"Model: **{status['label']}**{origin} · {_NEEDS.get(status['availability'], '')}")


def explain(studio, exc: ModelUnavailable, retry: Callable[[], None] | None) -> None:
    if exc.reason not in ("offline", "unreachable", "gated", "missing") or not exc.hub_id:
        st.error(str(exc))
        return
    why = {"offline": "this dashboard runs with the Hugging Face Hub switched off (HF_HUB_OFFLINE)",
           "unreachable": "the Hugging Face Hub cannot be reached from this machine",
           "gated": "it is gated on the Hub: accept its licence on huggingface.co and log in (`hf auth login`)",
           "missing": "the Hub has no such model"}[exc.reason]
    st.error(f"The model **{exc.model}** (`{exc.hub_id}`) is not on this machine, and {why}.\n\n"
             f"Try the whole loop now with the offline demo model (tiny, random weights: it makes noise, but "
             f"every step works), or fetch the real one on a connected machine with "
             f"`{exc.hint or 'hf download ' + exc.hub_id}` and copy its Hugging Face cache into the cache of the "
             "machine that renders (see the message below). "
             "A local diffusers folder or a .safetensors file also works: choose \"Other\" as the model.")
    with st.expander("The full message"):
        st.code(str(exc), language=None, wrap_lines=True)
    st.button(DEMO_BUTTON, type="primary", key=f"demo-{exc.hub_id}", on_click=_use_demo, args=(studio, retry))


def _use_demo(studio, retry: Callable[[], None] | None) -> None:
    if guarded(lambda: studio.set_default_model("tiny")) and retry is not None:
        retry()


def guarded_render(studio, action: Callable[[], Any], retry: Callable[[], None] | None = None) -> Any:
    try:
        return action()
    except ModelUnavailable as exc:
        explain(studio, exc, retry)
    except GwenError as exc:
        st.error(str(exc))
    return None
