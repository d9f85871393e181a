"""Upscale: a catalog image or an uploaded PNG, with Real-ESRGAN presets or your own model file."""

import os
import tempfile
from pathlib import Path

import streamlit as st

from gwen.files import open_image_checked
from gwen.ui.state import page
from gwen.ui.widgets import breadcrumb, choose_image, follow_navigation, guarded, record_pick
from gwen.upscale import UPSCALER_PRESETS

studio = page("Upscale")
follow_navigation()
st.title("Upscale")
breadcrumb(studio)

upload = st.file_uploader("…or upload an image (PNG metadata from A1111, ComfyUI, InvokeAI is kept)",
                          type=["png", "jpg", "jpeg", "webp"])
if upload is not None and st.session_state.get("gwen_uploaded") != upload.file_id:
    data = upload.getvalue()
    if guarded(lambda: open_image_checked(data)) is not None:  # not an image, truncated, or a bomb: st.error
        folder = Path(tempfile.mkdtemp())
        path = folder / Path(upload.name).name
        path.write_bytes(data)
        result = guarded(lambda: studio.import_paths([path]))
        if result:
            record = (result["imported"] or [studio.get(result["skipped"][0]["id"])])[0]
            st.session_state["gwen_current"] = record.id
            st.session_state["gwen_uploaded"] = upload.file_id
            st.query_params["id"] = record.id
            st.success(f"Imported as {record.id}")
source_id = choose_image(studio, "an image id, or U under any image, or upload one above")
if not source_id:
    st.info("Pick an image (U under any image), type its id, or upload one.")
    st.stop()
source = studio.get(source_id)

default_model = os.environ.get("GWEN_UPSCALER", "x4plus")
options = [*UPSCALER_PRESETS, "file…"]
cols = st.columns(4)
choice = cols[0].selectbox("Upscaler", options, index=options.index(default_model) if default_model in options
                           else len(options) - 1, format_func=lambda n: UPSCALER_PRESETS[n].label
                           if n in UPSCALER_PRESETS else "A model file (.pth / .safetensors)")
model = choice if choice != "file…" else cols[0].text_input("Model file", value=default_model
                                                            if default_model not in options else "")
scale = cols[1].number_input("Final scale", 1.0, 4.0, 4.0 if choice != "x2plus" else 2.0, 0.5)
tile = cols[2].number_input("Tile (px)", 0, 2048, 0, 32, help="0 = the device's default")
pre_shrink = cols[3].number_input("Pre-shrink", 0.05, 1.0, 1.0, 0.05)

if st.button("Upscale", type="primary"):
    with st.spinner("Upscaling…"):
        result = guarded(lambda: studio.upscale(source.id, model=model, scale=float(scale),
                                                tile=int(tile) or None, pre_shrink=float(pre_shrink)))
    if result:
        st.session_state["gwen_upscaled"] = result.id
        record_pick(result.id, "upscale")

before, after = st.columns(2)
before.image(str(studio.path_of(source)), caption=f"before · {source.width}×{source.height}")
done_id = st.session_state.get("gwen_upscaled")
if done_id:
    done = studio.get(done_id)
    if done.parent_id == source.id:
        after.image(str(studio.path_of(done)), caption=f"after · {done.width}×{done.height} · {done.id[-8:]}")
        after.download_button("Download PNG", studio.path_of(done).read_bytes(), file_name=f"{done.id}.png",
                              mime="image/png")
