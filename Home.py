"""GWEN home: what is loaded, what the catalog holds, the latest images. Loads no model."""

import streamlit as st

from gwen.catalog import SearchQuery
from gwen.ui.state import get_studio

st.set_page_config(page_title="GWEN", page_icon="🎨", layout="wide")
studio = get_studio()
st.title("GWEN")
st.caption("Prompt → grid → pick → variations → pick → upscale. Every image lands in the catalog.")

stats = studio.stats()
loaded = studio._engine.loaded_model if studio._engine is not None else None
cols = st.columns(4)
cols[0].metric("Images", stats["images"])
cols[1].metric("Favorites", stats["favorites"])
cols[2].metric("Deleted", stats["deleted"])
cols[3].metric("Model loaded", loaded or "none yet")
st.write(f"Data folder: `{studio.home}`")

latest, _total = studio.search(SearchQuery(limit=8))
if latest:
    st.subheader("Latest images")
    grid = st.columns(4)
    for i, record in enumerate(latest):
        grid[i % 4].image(str(studio.path_of(record)), caption=f"{record.id[-8:]} · {record.op} · seed "
                          f"{record.params.get('seed')}")
else:
    st.info("No images yet. Try `python -m gwen generate \"a lighthouse at dusk\" --model tiny` for the offline demo.")
