"""GWEN home: device and memory, which model is loaded, catalog stats, the latest images. Loads no model."""

import psutil
import streamlit as st

from gwen.records import SearchQuery
from gwen.ui.state import page
from gwen.ui.widgets import breadcrumb

studio = page("Home")
st.title("GWEN")
st.caption("Prompt → grid → pick → variations → pick → upscale. Every image lands in the catalog.")

with st.form("quick"):
    prompt = st.text_input("Prompt", placeholder="a lighthouse at dusk, oil painting")
    if st.form_submit_button("Generate", type="primary") and prompt.strip():
        st.session_state["gwen_prefill"] = {"prompt": prompt}
        st.session_state["gwen_autorun"] = True
        st.switch_page("pages/1_Generate.py")
breadcrumb(studio)

stats = studio.stats()
status = studio.engine_status()
memory = psutil.virtual_memory()
cols = st.columns(5)
cols[0].metric("Images", stats["images"])
cols[1].metric("Favorites", stats["favorites"])
cols[2].metric("Model loaded", (status["loaded_model"] or "none yet").split("/")[-1])
cols[3].metric("Device", status["device"] or "auto")
cols[4].metric("RAM free (this machine)", f"{memory.available / 2**30:.1f} GiB",
               help=f"of {memory.total / 2**30:.1f} GiB")
if status.get("vram_free_gib") is not None:
    st.caption(f"VRAM: {status['vram_free_gib']:.1f} GiB free of {status['vram_total_gib']:.1f} GiB")
st.caption(f"Data: `{status['location']}` · jobs: {studio.queue_counts() or 'none'}")

latest, _total = studio.search(SearchQuery(limit=8))
if latest:
    st.subheader("Latest images")
    grid = st.columns(4)
    for i, record in enumerate(latest):
        with grid[i % 4]:
            st.image(str(studio.thumbnail(record)), caption=f"{record.id[-8:]} · {record.op}")
            st.page_link("pages/3_Gallery.py", label="open", query_params={"id": record.id})
else:
    st.info("No images yet: type a prompt above. The `tiny` model runs offline (random weights: it makes noise, "
            "but the whole loop works).")
