"""Compare: 2–4 images side by side at one size, only the settings that differ, and a wipe overlay for two."""

import pandas as pd
import streamlit as st
from PIL import Image

from gwen.ui.cards import caption
from gwen.ui.common import PAGES, guarded, label, short_id
from gwen.ui.compare_view import same_size, wipe
from gwen.ui.state import page

HERE = PAGES["compare"]
studio = page("Compare", HERE)
st.title("Compare")

given = st.query_params.get("ids", "")
typed = st.text_input("Images (2 to 4 ids, or unique prefixes or suffixes, separated by commas)", value=given)
ids = [part.strip() for part in typed.replace(" ", ",").split(",") if part.strip()]
if len(ids) < 2:
    st.info(("Add 1 to 3 more ids above, or " if ids else "Pick 2 to 4 images: ") +
            "select them in the Gallery and press Compare, or use the Lineage page.")
    st.stop()
result = guarded(lambda: studio.compare(ids))
if result is None:
    st.stop()
if typed != given:
    st.query_params["ids"] = ",".join(result["ids"])
records = result["images"]
pictures = same_size([Image.open(studio.path_of(r)) for r in records])
for column, record, picture in zip(st.columns(len(records)), records, pictures):
    column.image(picture, caption=caption(record) + f" · {record.width}×{record.height}", width="stretch")
    column.page_link(PAGES["gallery"], label="open", query_params={"id": record.id})

st.subheader("What differs")
if result["differences"]:
    st.table(pd.DataFrame([{"setting": label(d["parameter"]), **{short_id(i): "" if v is None else str(v)
                                                                   for i, v in zip(result["ids"], d["values"])}}
                           for d in result["differences"]]))
else:
    st.caption("Nothing: the same settings.")
if result["same"]:
    st.caption("The same in all: " + ", ".join(label(name) for name in result["same"]))

if len(records) == 2:
    st.subheader("Overlay")
    view, _rest = st.columns(2)  # the size of one image above
    position = view.slider(f"← {short_id(records[0].id)} · {short_id(records[1].id)} →", 0, 100, 50,
                           key="compare_wipe")
    view.image(wipe(pictures[0], pictures[1], position), width="stretch")
