"""Generate: prompt → a grid of N images, each with its own seed; U / V·s / V·S / rate / ♥ under each."""

import streamlit as st

from gwen.ui.state import page
from gwen.ui.widgets import (Progress, breadcrumb, follow_navigation, generation_settings, guarded, image_grid,
                             record_pick, run_vary_request)

studio = page("Generate")
follow_navigation()
st.title("Generate")
breadcrumb(studio)

prefill = st.session_state.pop("gwen_prefill", None) or {}
if prefill.get("prompt"):
    st.session_state["prompt"] = prefill["prompt"]
    st.session_state["negative"] = prefill.get("negative_prompt", "")
    st.session_state["model_default"] = prefill.get("model")
prompt = st.text_area("Prompt", key="prompt", placeholder="a lighthouse at dusk, oil painting")
negative = st.text_input("Negative prompt", key="negative")
settings = generation_settings(studio, prefill)
if st.button("Generate", type="primary") or st.session_state.pop("gwen_autorun", False):
    progress = Progress("Generating")
    records = guarded(lambda: studio.generate(prompt, negative=negative, on_step=progress, **settings))
    progress.done()
    if records:
        st.session_state["gwen_grid"] = [r.id for r in records]
        record_pick(records[0].id, f"“{prompt[:30]}”")

children = run_vary_request(studio)
if children:
    st.session_state["gwen_grid"] = [c.id for c in children]

grid_ids = st.session_state.get("gwen_grid") or []
if grid_ids:
    found = studio.get_many(grid_ids)
    records = [found[i] for i in grid_ids if i in found]
    st.subheader(f"{len(records)} images" + (f" · {records[0].op}" if records else ""))
    if records and st.button("🔄 Reroll the grid", help="same settings, new seeds"):
        progress = Progress("Rerolling")
        rerolled = guarded(lambda: studio.reroll(records[0].id, n=len(records), on_step=progress))
        progress.done()
        if rerolled:
            st.session_state["gwen_grid"] = [r.id for r in rerolled]
            st.rerun()
    image_grid(studio, records, key="grid")
