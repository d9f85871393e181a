"""Rendering from a page: a progress bar with Cancel, live previews in the grid's cells, honest outcomes.

Contract:
- ``header_slot(column)`` is the place in a grid's header row for the page's
  own controls (Reroll) and, while a render runs, its progress: ``slot.row``
  is a horizontal row that every run of the page draws at the same place.
- ``run_render(studio, pending, slot, cells)`` runs ``pending.work(on_step=,
  on_preview=)`` (a facade call). While it runs, the progress bar and a Cancel
  button follow the page's controls in ``slot.row``, and the previews
  (``gwen.preview``) fill ``cells`` (the grid's own image placeholders):
  nothing on the page moves. The page's controls are never replaced while a
  render runs: Streamlit keeps a focused widget that a run replaced (the Reroll
  button just clicked) on screen until the run ends, which would push the grid
  down for the whole render. Afterwards the bar and Cancel are gone: Cancel
  shows only while something runs. Returns the facade's result, or None when
  it raised a ``GwenError`` (shown in the slot with ``st.error``; a model that
  is not on this machine gets ``gwen.ui.models``' explanation and its
  "Use the offline demo model" button).
- Cancelling is Streamlit's own: clicking Cancel (or anything else) starts a
  new run, which stops this one at its next progress update, inside the
  render and before any file is written. A flag set before the render and
  cleared only after the facade returned tells the next run (in
  ``notice_interrupted``) that the render did not finish: it says
  "cancelled, nothing written". A render that finished is never reported as
  cancelled: its result is kept in the session before anything else is drawn.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from gwen.ui.models import guarded_render

RUNNING = "gwen_running"


@dataclass(frozen=True)
class Pending:
    """A render a page will run once its grid is laid out."""

    label: str  # "Generating", "Rerolling", "Subtle variations of …"
    count: int  # how many images (grid cells) it makes
    work: Callable[..., Any]  # work(on_step=..., on_preview=...) -> records
    keep: str  # the session key that receives the new images' ids
    retry: Callable[[], None] | None = None  # asks for the same render again (after "use the demo model")
    note: str | None = None  # shown with the grid it made ("Subtle variations of …, asked from Gallery"); "" clears


@dataclass(frozen=True)
class HeaderSlot:
    """The place of a grid's controls and of a render's progress in the grid's header row."""

    place: Any  # an st.empty: an error replaces the whole row
    row: Any  # a horizontal container in it: the page's controls, then the bar and Cancel while a render runs


def header_slot(column) -> HeaderSlot:
    """A slot in ``column`` (``st`` itself or a column of the header row), the same on every run of the page."""
    place = column.empty()
    row = place.container().container(horizontal=True, vertical_alignment="center", gap="small", wrap=False)
    return HeaderSlot(place, row)  # the row one level down: run_render's place.container() keeps it as its child


def notice_interrupted() -> None:
    """At the top of every page: say so if the previous run's render was stopped before it finished."""
    label = st.session_state.pop(RUNNING, None)
    if label:
        st.warning(f"{label}: cancelled, nothing written.")


def run_render(studio, pending: Pending, slot: HeaderSlot, cells: list) -> Any:
    """Run ``pending`` with its progress bar and Cancel after the page's controls in ``slot.row`` and its previews
    in ``cells``. An error replaces the row; after a finished render the slot is emptied for the page to redraw."""
    bar = slot.row.progress(0.0, text=f"{pending.label}…")
    slot.row.button("Cancel", key="gwen-cancel", help="stop now; nothing is written")

    def on_step(done: int, total: int) -> None:
        # every update is a Streamlit call: a click on Cancel stops the script right here
        bar.progress(min(1.0, done / max(total, 1)), text=f"{pending.label}: step {done}/{total}")

    def on_preview(first: int, images: list) -> None:
        for offset, image in enumerate(images):
            if first + offset < len(cells):
                cells[first + offset].image(image, caption="rendering…", width="stretch")

    st.session_state[RUNNING] = pending.label
    try:
        with slot.place.container():  # the row stays its first child until an error replaces it
            result = guarded_render(studio, lambda: pending.work(on_step=on_step, on_preview=on_preview),
                                    pending.retry)
    except BaseException as exc:
        if not _interrupted(exc):  # a crash of the render is not a cancellation: do not say "cancelled" later
            st.session_state.pop(RUNNING, None)
        raise
    st.session_state.pop(RUNNING, None)  # finished (or refused): not a cancellation
    if result:
        st.session_state[pending.keep] = [r.id for r in result]
        if pending.note is not None:
            st.session_state[pending.keep + "_note"] = pending.note
        slot.place.empty()
    return result


def _interrupted(exc: BaseException) -> bool:
    """Streamlit stopped this run (a click, a page change): the render did not finish and wrote nothing."""
    from streamlit.runtime.scriptrunner_utils.exceptions import RerunException, StopException

    return isinstance(exc, (RerunException, StopException))
