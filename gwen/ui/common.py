"""Small things every page and widget shares: page names, error display, wording.

Contract:
- ``PAGES`` names every page script (relative to the app folder), for links,
  ``st.switch_page`` and the action router.
- ``guarded(action)`` runs ``action``; a ``GwenError`` is shown with
  ``st.error`` and None is returned (nothing was written: that is the error
  classes' promise). Anything else propagates.
- ``plural``, ``short_id``, ``joined`` word things the same way everywhere: "1 image",
  "4 images", the last 8 characters of an id (which work as input anywhere an
  id is asked for), no dangling separators.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import streamlit as st

from gwen.errors import GwenError

PAGES = {
    "home": "Home.py",
    "generate": "pages/1_Generate.py",
    "variations": "pages/2_Variations.py",
    "gallery": "pages/3_Gallery.py",
    "lineage": "pages/4_Lineage.py",
    "upscale": "pages/5_Upscale.py",
    "queue": "pages/6_Queue.py",
    "compare": "pages/7_Compare.py",
    "edit": "pages/8_Edit.py",
}
TITLES = {script: name.capitalize() for name, script in PAGES.items()}
SHORT = 8  # characters of an id the UI shows


def guarded(action: Callable[[], Any]) -> Any:
    """Run ``action``; show a GwenError as ``st.error`` and return None instead of raising."""
    try:
        return action()
    except GwenError as exc:
        st.error(str(exc))
        return None


def plural(count: int, word: str, words: str | None = None) -> str:
    return f"{count} {word if count == 1 else (words or word + 's')}"


def short_id(image_id: str) -> str:
    return image_id[-SHORT:]


def joined(parts: Iterable[Any], sep: str = " · ") -> str:
    """Parts that say something, joined: never a dangling or doubled separator."""
    return sep.join(str(p) for p in parts if p is not None and str(p).strip())


SETTING_LABELS = {"negative_prompt": "negative prompt", "model_hash": "model hash", "init_image_id": "img2img source",
                  "parent_id": "parent", "op": "made by"}


def label(name: str) -> str:
    """How a setting (a ``gwen.compare`` row) is called on screen."""
    return SETTING_LABELS.get(name, name.replace("_", " "))
