"""The region picker of the Edit page: drag a box on the image, or type it, or upload a painted mask.

Contract:
- ``region_picker(studio, record)`` draws the image with the current box outlined
  (``streamlit_image_coordinates`` with ``click_and_drag``: a drag gives its two corners in displayed pixels,
  scaled here to the image's pixels and clipped to it), four number inputs that hold the box (a drag fills
  them; typing moves the outline), and an uploader for a painted mask (PNG the image's size, white = redraw).
- Returns ``{"box": (x, y, w, h)}`` or ``{"mask": bytes}`` (an uploaded mask wins): exactly what
  ``vary_region`` takes. Nothing is checked here: the studio refuses a bad box or mask with a message.
"""

from __future__ import annotations

import streamlit as st
from PIL import Image, ImageDraw
from streamlit_image_coordinates import streamlit_image_coordinates

from gwen.records import ImageRecord

SHOWN = 512  # displayed width of the picture (small images are enlarged, large ones shrunk)


def region_picker(studio, record: ImageRecord) -> dict:
    keys = {name: f"edit_box_{name}-{record.id}" for name in ("x", "y", "w", "h")}
    for name, value in zip(keys, default_box(record.width, record.height)):
        st.session_state.setdefault(keys[name], value)
    box = tuple(int(st.session_state[keys[name]]) for name in keys)
    with Image.open(studio.path_of(record)) as image:
        picture = outlined(image.convert("RGB"), box)
    st.caption("Drag over the region to redraw (or type the box, or upload a mask)")
    drag = streamlit_image_coordinates(picture, key=f"edit_drag-{record.id}", width=SHOWN, click_and_drag=True,
                                       cursor="crosshair")
    seen = f"edit_drag_seen-{record.id}"
    if drag and "x1" in drag and drag.get("unix_time") != st.session_state.get(seen):
        st.session_state[seen] = drag.get("unix_time")
        dragged = box_from_drag(drag, record.width, record.height)
        if dragged:
            for name, value in zip(keys, dragged):
                st.session_state[keys[name]] = value
            st.rerun()
    cols = st.columns(4)
    limits = {"x": record.width - 1, "y": record.height - 1, "w": record.width, "h": record.height}
    for col, name in zip(cols, keys):
        col.number_input(name, 0 if name in ("x", "y") else 1, limits[name], step=8, key=keys[name])
    upload = st.file_uploader("…or a painted mask (PNG of the image's size, white = redraw)", type=["png"],
                              key=f"edit_mask-{record.id}")
    if upload is not None:
        return {"mask": upload.getvalue()}
    return {"box": tuple(int(st.session_state[keys[name]]) for name in keys)}


def default_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The middle of the image, half its width and height."""
    return width // 4, height // 4, max(1, width // 2), max(1, height // 2)


def box_from_drag(drag: dict, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The dragged rectangle in the image's pixels, clipped to it; None when it has no area."""
    sx, sy = width / max(1, drag.get("width") or width), height / max(1, drag.get("height") or height)
    xs = sorted(min(width, max(0, round(drag[k] * sx))) for k in ("x1", "x2"))
    ys = sorted(min(height, max(0, round(drag[k] * sy))) for k in ("y1", "y2"))
    if xs[1] - xs[0] < 1 or ys[1] - ys[0] < 1:
        return None
    return xs[0], ys[0], xs[1] - xs[0], ys[1] - ys[0]


def outlined(image: Image.Image, box: tuple[int, int, int, int]) -> Image.Image:
    x, y, w, h = box
    shown = image.copy()
    draw = ImageDraw.Draw(shown)
    line = max(1, image.width // 128)
    draw.rectangle((x, y, x + w - 1, y + h - 1), outline=(255, 64, 64), width=line)
    return shown
