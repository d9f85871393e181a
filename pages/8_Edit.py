"""Edit: Vary (Region), Pan and Zoom Out of one image; the children render here (✎ under any image comes here)."""

import random

import streamlit as st

from gwen.params import MAX_SEED
from gwen.ui import actions
from gwen.ui.cards import caption, grid
from gwen.ui.common import PAGES, guarded, plural, short_id
from gwen.ui.forms import KEEP, kept
from gwen.ui.progress import Pending, header_slot
from gwen.ui.region import region_picker
from gwen.ui.state import page

HERE = PAGES["edit"]
PANS = {"←": "left", "→": "right", "↑": "up", "↓": "down"}
ZOOMS = (1.5, 2.0)
studio = page("Edit", HERE)
st.title("Edit: Vary (Region), Pan, Zoom Out")
actions.breadcrumb()

request = actions.take(HERE)
image_id = request.image_id if request else actions.choose_image(
    studio, "an id, or a unique prefix or suffix of one; or ✎ under any image")
if not image_id:
    st.info("Choose an image first: type its id, or press ✎ under any image.")
    st.stop()
source = guarded(lambda: studio.get(image_id))
if source is None:
    st.stop()
st.query_params["id"] = source.id
if request is not None:
    st.info(f"{request.describe()}: performed here. Mark a region to redraw, or pan or zoom out.")

picture, controls = st.columns([3, 2])
with picture:
    region = region_picker(studio, source)
    st.caption(caption(source) + f" · {source.width}×{source.height}")
with controls:
    prompt = st.text_area("Prompt (for the redrawn area)", value=source.params.get("prompt") or "",
                          key=f"edit_prompt-{source.id}")
    n = st.number_input("Images", 1, 8, key=kept("edit_n", 4), persist_state=KEEP)
    seed = st.number_input("Seed (-1 = random)", -1, MAX_SEED, key=kept("edit_seed", -1), persist_state=KEEP)
    blur = st.number_input("Mask blur (px)", 0, 64, key=kept("edit_blur", 4), persist_state=KEEP)
    strength = st.slider("Region strength", 0.05, 1.0, step=0.05, key=kept("edit_strength", 0.75),
                         persist_state=KEEP)
    asked = None
    if st.button("Vary (Region)", type="primary", help="redraw the marked region; the rest is kept"):
        asked = ("Vary (Region)", lambda o: studio.vary_region(source.id, **region, strength=float(strength), **o))
    st.subheader("Pan")
    fraction = st.select_slider("Extend by (of the image)", [0.25, 0.5, 0.75, 1.0], key=kept("edit_pan", 0.5),
                                persist_state=KEEP)
    for col, (arrow, side) in zip(st.columns(4), PANS.items()):
        if col.button(arrow, key=f"pan-{side}", help=f"pan {side}: extend the canvas {fraction:g} of the image"):
            asked = (f"Pan {side}", lambda o, side=side: studio.pan(source.id, side, float(fraction), **o))
    st.subheader("Zoom Out")
    for col, factor in zip(st.columns(len(ZOOMS)), ZOOMS):
        if col.button(f"Zoom Out {factor:g}×", key=f"zoom-{factor:g}"):
            asked = (f"Zoom Out {factor:g}×", lambda o, factor=factor: studio.zoom(source.id, factor, **o))

pending = None
if asked is not None:
    label, work = asked
    options = dict(prompt=prompt if prompt != source.params.get("prompt") else None, n=int(n),
                   seed=int(seed) if seed >= 0 else random.randrange(MAX_SEED - 64), mask_blur=int(blur))
    pending = Pending(f"{label} of {short_id(source.id)}", int(n), lambda **cb: work({**options, **cb}),
                      "gwen_edit_grid", note=f"{label} of {short_id(source.id)}")

found = studio.get_many(st.session_state.get("gwen_edit_grid") or [])
records = [found[i] for i in st.session_state.get("gwen_edit_grid") or [] if i in found]
slot = None
if records or pending:
    head, side = st.columns([3, 2], vertical_alignment="center")
    head.subheader(plural(len(records), "edit") if records else "Rendering")
    if st.session_state.get("gwen_edit_grid_note"):
        head.caption(st.session_state["gwen_edit_grid_note"])
    slot = header_slot(side)
made = grid(studio, records, "edgrid", HERE, pending, slot)
if made:
    actions.record_pick(made[0].id, made[0].op)
    st.rerun()
