"""Where a click's work happens: U / V·s / V·S requests, page changes, and the chain of picks.

Contract:
- A button under an image calls ``ask(kind, image_id, strength, here)``. The
  request names the page that performs it: variations render on Generate and
  Variations where they were asked; from anywhere else (Gallery, Lineage,
  Compare) they go to the Variations page, U always goes to the Upscale
  page and ✎ (Vary Region, Pan, Zoom Out) to the Edit page. When the target
  is another page, the browser is sent there (with ``?id=``) and the target
  page says what was asked and from where.
- ``arrive(script)`` runs in every page's preamble: it follows a pending page
  change, and it drops any request addressed to another page. So a request is
  performed by the page it names, in the run that follows the click, or never:
  it is never held and fired later somewhere else.
- ``take(script)`` hands the page its request (once).
- ``record_pick`` / ``breadcrumb``: this browser session's chain of picks.
- ``current_image(studio)`` is the image a page works on: ``?id=`` (a deep
  link) first, else this session's current image; ``choose_image`` adds a box
  to type another id (whole, or a unique prefix or suffix of 6+ characters).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from gwen.ui.common import PAGES, TITLES, guarded, short_id

REQUEST = "gwen_request"
GOTO = "gwen_goto"
PICKS = "gwen_picks"
CURRENT = "gwen_current"
VARY_HERE = (PAGES["generate"], PAGES["variations"])


@dataclass(frozen=True)
class Request:
    kind: str  # "vary" | "upscale" | "edit"
    image_id: str
    strength: str | None
    target: str  # the page script that performs it
    origin: str  # the page script where it was asked

    def describe(self) -> str:
        what = f"{str(self.strength).capitalize()} variations" if self.kind == "vary" else \
            "Edit (Vary Region, Pan, Zoom Out)" if self.kind == "edit" else "Upscale"
        where = "" if self.origin == self.target else f", asked from {TITLES.get(self.origin, self.origin)}"
        return f"{what} of `{short_id(self.image_id)}`{where}"


def target_for(kind: str, here: str) -> str:
    if kind == "vary":
        return here if here in VARY_HERE else PAGES["variations"]
    return PAGES["edit"] if kind == "edit" else PAGES["upscale"]


def ask(kind: str, image_id: str, strength: str | None, here: str) -> None:
    """A button callback: ask for ``kind`` on ``image_id``; performed by the page ``target_for`` names."""
    request = Request(kind, image_id, strength, target_for(kind, here), here)
    st.session_state[REQUEST] = request
    st.session_state[CURRENT] = image_id
    record_pick(image_id, f"pick → V {strength}" if kind == "vary" else "pick → ✎" if kind == "edit" else "pick → U")
    if request.target != here:
        go(request.target, image_id)


def go(script: str, image_id: str | None = None) -> None:
    """From a callback: change page at the start of the next run (``arrive`` does it)."""
    st.session_state[GOTO] = (script, image_id)


def arrive(script: str) -> None:
    """Every page's preamble: follow a page change asked by a callback; forget requests meant elsewhere."""
    goto = st.session_state.pop(GOTO, None)
    if goto and goto[0] != script:
        st.switch_page(goto[0], query_params={"id": goto[1]} if goto[1] else None)
    request = st.session_state.get(REQUEST)
    if request is not None and request.target != script:
        st.session_state.pop(REQUEST, None)


def take(script: str) -> Request | None:
    request = st.session_state.get(REQUEST)
    if request is not None and request.target == script:
        return st.session_state.pop(REQUEST)
    return None


def record_pick(image_id: str, what: str) -> None:
    picks = st.session_state.setdefault(PICKS, [])
    if not picks or picks[-1] != (image_id, what):
        picks.append((image_id, what))


def breadcrumb() -> None:
    """prompt → pick → vary → pick → upscale, for this browser session."""
    picks = st.session_state.get(PICKS) or []
    if picks:
        st.caption("Your picks: " + " → ".join(f"{what} `{short_id(i)}`" for i, what in picks[-8:]))


def current_image(studio) -> str | None:
    """The image named by ``?id=`` (deep link), else this session's current image."""
    from_link = st.query_params.get("id")
    if from_link:
        resolved = guarded(lambda: studio.resolve(from_link))
        if resolved:
            st.session_state[CURRENT] = resolved
        return resolved
    return st.session_state.get(CURRENT)


def choose_image(studio, hint: str) -> str | None:
    """The current image, changeable by typing an id (or a unique prefix or suffix of one)."""
    image_id = current_image(studio)
    typed = st.text_input("Image id", value=image_id or "", help=hint, key=f"typed-{image_id}")
    if typed.strip() and typed.strip() != image_id:
        found = guarded(lambda: studio.resolve(typed.strip()))
        if found:
            st.session_state[CURRENT] = found
            st.query_params["id"] = found
            return found
    return image_id
