"""GWEN home: the default model (shown and changeable), a quick prompt, catalog and queue at a glance, the latest
images. Loads no model and imports no torch."""

import psutil
import streamlit as st

from gwen.params import check_prompt
from gwen.records import SearchQuery
from gwen.ui import actions
from gwen.ui.common import PAGES, guarded, joined, plural, short_id
from gwen.ui.forms import model_picker
from gwen.ui.models import AUTORUN, model_line
from gwen.ui.state import page

studio = page("Home", PAGES["home"])
st.title("GWEN")
st.caption("Prompt → grid → pick → variations → pick → upscale. Every image lands in the catalog.")

with st.form("quick"):
    prompt = st.text_input("Prompt", placeholder="a lighthouse at dusk, oil painting")
    if st.form_submit_button("Generate", type="primary") and guarded(lambda: check_prompt(prompt)):
        st.session_state["gen_prompt"] = prompt
        st.session_state[AUTORUN] = True
        st.switch_page(PAGES["generate"])
left, right = st.columns([2, 3], vertical_alignment="bottom")
with left:
    model_picker(studio, "home_model")
with right:
    model_line(studio)
actions.breadcrumb()

stats = studio.stats()
status = studio.engine_status()
memory = psutil.virtual_memory()
cols = st.columns(4)
cols[0].metric("Images", stats["images"])
cols[1].metric("Favorites", stats["favorites"])
cols[2].metric("Loaded now", (status["loaded_model"] or "none yet").split("/")[-1])
cols[3].metric("RAM free (this machine)", f"{memory.available / 2**30:.1f} GiB",
               help=f"of {memory.total / 2**30:.1f} GiB")
jobs = studio.queue_counts()
st.caption(joined([f"Device: {status['device'] or 'auto'}",
                   f"VRAM {status['vram_free_gib']:.1f} of {status['vram_total_gib']:.1f} GiB free"
                   if status.get("vram_free_gib") is not None else None,
                   f"Data: `{status['location']}`",
                   "Queue: " + (", ".join(f"{plural(n, 'job')} {state}" for state, n in sorted(jobs.items()))
                                if jobs else "empty")]))

latest, _total = studio.search(SearchQuery(limit=8))
if latest:
    st.subheader("Latest images")
    grid = st.columns(4)
    for i, record in enumerate(latest):
        with grid[i % 4]:
            st.image(str(studio.thumbnail(record)), caption=joined([short_id(record.id), record.op]), width="stretch")
            st.page_link(PAGES["gallery"], label="open", query_params={"id": record.id})
else:
    st.info("No images yet: type a prompt above. The `tiny` model runs offline (random weights: it makes noise, "
            "but the whole loop works).")
