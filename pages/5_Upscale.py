"""Upscale: a catalog image or an uploaded one, with Real-ESRGAN presets (``tiny`` works offline) or a model file."""

from pathlib import Path

import streamlit as st

from gwen.files import open_image_checked
from gwen.ui import actions
from gwen.ui.common import PAGES, guarded, joined, short_id
from gwen.ui.forms import KEEP, kept, upscaler_picker
from gwen.ui.state import page

HERE = PAGES["upscale"]
studio = page("Upscale", HERE)
st.title("Upscale")
actions.breadcrumb()

upload = st.file_uploader("…or upload an image (the parameters of A1111/Forge, ComfyUI, InvokeAI, Fooocus and "
                          "NovelAI are read and kept)",
                          type=["png", "jpg", "jpeg", "webp"])
if upload is not None and st.session_state.get("gwen_uploaded") != upload.file_id:
    data = upload.getvalue()
    if guarded(lambda: open_image_checked(data, name=upload.name)) is not None:  # not an image, cut, a bomb
        result = guarded(lambda: studio.import_files([(Path(upload.name).name, data)]))
        if result:
            record = (result["imported"] or [studio.get(result["skipped"][0]["id"])])[0]
            st.session_state[actions.CURRENT] = record.id
            st.session_state["gwen_uploaded"] = upload.file_id
            st.query_params["id"] = record.id
            st.success(f"Imported as {record.id}")

request = actions.take(HERE)
source_id = request.image_id if request else actions.choose_image(
    studio, "an id (or a unique prefix or suffix), U under any image, or upload one above")
if not source_id:
    st.info("Pick an image (U under any image), type its id, or upload one.")
    st.stop()
source = guarded(lambda: studio.get(source_id))
if source is None:
    st.stop()
st.query_params["id"] = source.id

cols = st.columns(4)
with cols[0]:
    model = upscaler_picker(studio)
scale = cols[1].number_input("Final scale (0 = the model's)", 0.0, 8.0, step=0.5, key=kept("up_scale", 0.0),
                             persist_state=KEEP)
tile = cols[2].number_input("Tile (px, 0 = the device's default)", 0, 2048, step=32, key=kept("up_tile", 0),
                            persist_state=KEEP)
pre_shrink = cols[3].number_input("Pre-shrink", 0.05, 1.0, step=0.05, key=kept("up_pre_shrink", 1.0),
                                  persist_state=KEEP)

go = st.button("Upscale", type="primary")
if request is not None:
    st.info(f"{request.describe()}: upscaling with {Path(model).name}.")
if go or request is not None:
    with st.spinner(f"Upscaling with {model}…"):
        result = guarded(lambda: studio.upscale(source.id, model=model, scale=float(scale) or None,
                                                tile=int(tile) or None, pre_shrink=float(pre_shrink)))
    if result:
        st.session_state["gwen_upscaled"] = result.id
        st.session_state["gwen_upscale_note"] = (request.describe() if request else "Upscale") + \
            f": done with {Path(model).name}."
        actions.record_pick(result.id, "upscale")

done_id = st.session_state.get("gwen_upscaled")
done = guarded(lambda: studio.get(done_id)) if done_id else None
before, after = st.columns(2)
if done is not None and done.parent_id == source.id:
    if st.session_state.get("gwen_upscale_note"):
        st.success(st.session_state.pop("gwen_upscale_note"))
    # two equal columns, each image stretched to its column: one display size, whatever the pixels
    before.image(str(studio.path_of(source)), caption=f"before · {source.width}×{source.height}", width="stretch")
    after.image(str(studio.path_of(done)), caption=joined([f"after · {done.width}×{done.height}", short_id(done.id)]),
                width="stretch")
    after.download_button("Download PNG", studio.path_of(done).read_bytes(), file_name=f"{done.id}.png",
                          mime="image/png")
else:
    before.image(str(studio.path_of(source)), caption=f"before · {source.width}×{source.height}", width="stretch")
