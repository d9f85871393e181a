"""Prompt styles on the Generate page: pick several, see the prompt they make, save one, import a styles.csv.

Contract:
- ``style_picker(studio, prompt, negative)`` is a multiselect of every style the studio knows (built-in,
  styles.toml, styles.csv; kept for the session, names that no longer exist dropped) and returns the chosen
  names, in the order chosen; when any are chosen, the prompt and negative the grid will render with are shown
  under it.
- ``style_manager(studio, prompt, negative)`` saves the typed prompt and negative as a style, or imports an
  A1111 styles.csv, through the facade; a refusal is ``st.error`` and nothing is written.
- ``own_prompt(studio, params)`` ("Use these settings"): (prompt, negative, style names) to refill the form,
  the styles taken back out of the recorded text (``gwen.styles.extract``); when a style changed since, the
  recorded text as it is, with no style.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from gwen import styles as style_rules
from gwen.ui.common import guarded

KEY = "gen_styles"
NOTE = "style_note"


def _book(studio) -> dict[str, style_rules.Style]:
    return {s["name"]: style_rules.Style(**s) for s in guarded(studio.list_styles) or []}


def style_picker(studio, prompt: str, negative: str) -> list[str]:
    book = _book(studio)
    st.session_state[KEY] = [n for n in st.session_state.get(KEY, []) if n in book]
    chosen = st.multiselect("Styles", list(book), key=KEY, max_selections=style_rules.MAX_STYLES,
                            persist_state="session",
                            placeholder="none: the prompt as typed",
                            help="prompt templates applied in the order chosen; the record keeps both the "
                                 "expanded prompt and the style names")
    if chosen:
        styled, styled_negative = style_rules.apply(prompt, negative, [book[n] for n in chosen])
        st.caption(f"Renders: {styled}" + (f"  \nNegative: {styled_negative}" if styled_negative else ""))
    return chosen


def style_manager(studio, prompt: str, negative: str) -> None:
    with st.expander("Manage styles", expanded=bool(st.session_state.get(NOTE))):
        if st.session_state.get(NOTE):
            st.success(st.session_state.pop(NOTE))
        name = st.text_input("Save the prompt above as a style named", key="style_new_name",
                             help="write {prompt} in the prompt where a grid's prompt goes; without it the "
                                  "style's text is added after the prompt")
        if st.button("Save style", disabled=not name.strip()):
            saved = guarded(lambda: studio.save_style(name, prompt, negative))
            if saved:
                _done(f"Style {name.strip()!r} saved in {saved['path']}.")
        upload = st.file_uploader("Import an A1111 styles.csv", type=["csv"], key="style_upload")
        if upload is not None and st.button("Import styles"):
            imported = guarded(lambda: studio.import_styles(upload.getvalue(), upload.name))
            if imported:
                _done(f"Imported {len(imported['added']) + len(imported['replaced'])} styles "
                      f"({len(imported['replaced'])} replaced) into {imported['path']}.")


def _done(note: str) -> None:
    """Say it after a rerun, so the picker above lists what was just saved."""
    st.session_state[NOTE] = note
    st.rerun()


def own_prompt(studio, params: dict[str, Any]) -> tuple[str, str, list[str]]:
    names = params.get("styles") or []
    return style_rules.typed_text(params.get("prompt") or "", params.get("negative_prompt") or "", names,
                                  (guarded(studio.list_styles) or []) if names else [])
