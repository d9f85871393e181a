"""An image with everything one can do to it: caption, U / V·s / V·S / ✎ / Tree, rating, ♥, tags; and grids of them.

Contract:
- ``caption(record)`` tells images apart by what made them: a root shows its
  seed; a noise variation its own variation seed and strength; an img2img
  child its seed and denoise; an upscale its upscaler and scale; an edit
  what it did (region, pan side and fraction, zoom factor), seed and strength.
- ``image_card(studio, record, key, here)`` draws one image (filling its
  column, so images of one size share one display size) with its actions.
  U / V·s / V·S / ✎ (Vary Region, Pan, Zoom Out) go through
  ``gwen.ui.actions`` (performed here, or on the page that performs them, which
  says so). Rating, ♥ and tags act at once through
  the facade; their widgets are keyed by the record's current marks, so a mark
  changed elsewhere shows up here.
- ``grid(studio, records, key, here, pending, slot)`` lays out a grid; when a
  render is pending it reserves one cell per new image and runs the render into
  them (``gwen.ui.progress``, the bar in ``slot``, a ``header_slot``), the old images staying in
  place until their previews, then the new images, arrive. Returns the new
  records, or None.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from gwen.records import ImageRecord
from gwen.ui import actions
from gwen.ui.common import PAGES, guarded, joined, short_id
from gwen.ui.progress import HeaderSlot, Pending, header_slot, run_render

COLUMNS = 4


def caption(record: ImageRecord) -> str:
    """What tells this image apart from its siblings: its own seed, variation seed and strength, denoise, or the
    values a jitter sampled for it."""
    p = record.params
    chain = p.get("variations") or []
    modes = (record.variation or {}).get("modes") or []
    parts: list = []
    if record.op == "upscale" and isinstance(p.get("upscale"), dict):
        parts.append(f"{Path(str(p['upscale'].get('model'))).name} ×{p['upscale'].get('scale', 0):g}")
    elif isinstance(p.get("edit"), dict) and p.get("denoise") is not None:  # inpaint, pan, zoom
        parts.append(f"{_edit_words(p['edit'])} · seed {p.get('seed')} · strength {p['denoise']:g}")
    elif record.op == "vary" and "noise" in modes and chain and isinstance(chain[-1], dict):
        parts.append(f"var seed {chain[-1].get('seed')} @ {chain[-1].get('strength', 0):g}")
    elif p.get("init_image_id") and p.get("denoise") is not None:
        parts.append(f"seed {p.get('seed')} · denoise {p.get('denoise'):g}")
    elif p.get("seed") is not None and not (record.op == "vary" and "jitter" in modes):
        parts.append(f"seed {p.get('seed')}")
    if record.op == "vary" and "jitter" in modes:  # the values sampled for this child
        parts.append(joined([f"cfg {p['guidance']:g}" if isinstance(p.get("guidance"), (int, float)) else None,
                             f"{p['steps']} steps" if p.get("steps") else None, p.get("scheduler")]))
    return joined([short_id(record.id), record.op, *parts])


def _edit_words(edit: dict) -> str:
    if edit.get("kind") == "pan":
        return f"pan {edit.get('side')} {edit.get('fraction', 0):g}"
    if edit.get("kind") == "zoom":
        return f"zoom out {edit.get('factor', 0):g}×"
    return "region " + ("box" if edit.get("box") else "mask")


def made_by(record: ImageRecord) -> str:
    """Where and how fast it was made: the worker (a pool's replica, or host:pid), device and dtype, time."""
    seconds = f"{record.duration_ms / 1000:.1f} s per image" if record.duration_ms else None
    device = joined([record.device, record.dtype]) if record.device else None
    return "made by " + joined([record.worker or "an unknown worker", device, seconds])


def image_card(studio, record: ImageRecord, key: str, here: str, *, thumbnail: bool = False,
               actions_row: bool = True) -> None:
    path = studio.thumbnail(record) if thumbnail else studio.path_of(record)
    st.image(str(path), caption=caption(record), width="stretch")
    if not actions_row:
        return
    u, vs, vS = st.columns(3)  # two rows: five buttons in one row of a 4-wide grid cut their labels
    edit, tree = st.columns(2)
    u.button("U", key=f"u-{key}", help="upscale this image", on_click=actions.ask,
             args=("upscale", record.id, None, here))
    vs.button("V·s", key=f"vs-{key}", help="subtle variations", on_click=actions.ask,
              args=("vary", record.id, "subtle", here))
    vS.button("V·S", key=f"vS-{key}", help="strong variations", on_click=actions.ask,
              args=("vary", record.id, "strong", here))
    edit.button("✎", key=f"edit-{key}", help="Vary (Region), Pan, Zoom Out: on the Edit page", on_click=actions.ask,
                args=("edit", record.id, None, here))
    tree.page_link(PAGES["lineage"], label="Tree", query_params={"id": record.id}, help="open in Lineage")
    marks(studio, record, key)


def marks(studio, record: ImageRecord, key: str) -> None:
    """Rating, ♥ and tags of one image, each applied at once."""
    rate_col, fav_col = st.columns([3, 1])
    rate_key = f"rate-{key}-{record.id}-{record.rating}"
    rate_col.selectbox("Rating", range(6), index=record.rating, key=rate_key, label_visibility="collapsed",
                       format_func=lambda s: "☆ unrated" if s == 0 else "★" * s,
                       on_change=_rate, args=(studio, record.id, rate_key))
    fav_col.button("♥" if record.favorite else "♡", key=f"fav-{key}-{record.id}-{record.favorite}",
                   help="remove from favorites" if record.favorite else "add to favorites",
                   on_click=_favorite, args=(studio, record.id, not record.favorite))
    tags_editor(studio, record, f"tags-{key}")


def tags_editor(studio, record: ImageRecord, key: str, suggestions: list[str] | None = None) -> None:
    """The image's tags, editable: remove one, pick a known one, or type a new one."""
    current = list(record.tags)
    options = sorted(set(current) | set(suggestions or _suggestions(studio)))
    widget_key = f"{key}-{record.id}-{'|'.join(current)}"
    st.multiselect("Tags", options, default=current, key=widget_key, accept_new_options=True,
                   placeholder="add tags", label_visibility="collapsed",
                   on_change=_retag, args=(studio, record.id, tuple(current), widget_key))


def grid(studio, records: list[ImageRecord], key: str, here: str, pending: Pending | None = None,
         slot: HeaderSlot | None = None) -> list[ImageRecord] | None:
    """``slot``: where the progress bar goes (the page's grid header row); by default a new row above."""
    count = max(len(records), pending.count if pending else 0)
    if not count:
        return None
    slot = slot if slot is not None else header_slot(st)
    cells: list = []
    columns = st.columns(COLUMNS)
    for i in range(count):
        with columns[i % COLUMNS]:
            cell = st.empty()
            cells.append(cell)
            if i < len(records):
                with cell.container():
                    image_card(studio, records[i], f"{key}-{i}", here)
    if pending is None:
        return None
    return run_render(studio, pending, slot, cells)


def _suggestions(studio) -> list[str]:
    cache = st.session_state.setdefault("gwen_tag_suggestions", {})
    if "tags" not in cache:
        cache["tags"] = [t for t, _count in (guarded(studio.tags) or [])][:50]
    return cache["tags"]


def _rate(studio, image_id: str, key: str) -> None:
    guarded(lambda: studio.rate(image_id, int(st.session_state[key])))


def _favorite(studio, image_id: str, on: bool) -> None:
    guarded(lambda: studio.favorite(image_id, on))


def _retag(studio, image_id: str, before: tuple[str, ...], key: str) -> None:
    after = [t.strip() for t in st.session_state.get(key) or [] if str(t).strip()]
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    if added:
        guarded(lambda: studio.tag(image_id, added))
    if removed:
        guarded(lambda: studio.tag(image_id, removed, remove=True))
    st.session_state.pop("gwen_tag_suggestions", None)

