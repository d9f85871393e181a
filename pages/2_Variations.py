"""Variations: sample new parameter sets around a chosen image, preview them, then render them."""

import random

import pandas as pd
import streamlit as st

from gwen.params import MAX_SEED
from gwen.ui.state import page
from gwen.ui.widgets import (Progress, breadcrumb, choose_image, follow_navigation, guarded, image_grid,
                             run_vary_request)
from gwen.variation import JITTERABLE, STRENGTH_PRESETS

studio = page("Variations")
follow_navigation()
st.title("Variations")
breadcrumb(studio)

image_id = choose_image(studio, "or open an image from Generate, Gallery or Lineage")
if not image_id:
    st.info("Choose an image first (its id, or V·s / V·S under any image).")
    st.stop()
parent = studio.get(image_id)
st.query_params["id"] = parent.id

left, right = st.columns([1, 2])
left.image(str(studio.path_of(parent)), caption=f"{parent.id} · {parent.op}")
with right:
    preset = st.selectbox("Preset", ["custom", *STRENGTH_PRESETS], index=1 + list(STRENGTH_PRESETS).index("subtle"))
    strength = st.slider("Strength", 0.0, 1.0, STRENGTH_PRESETS.get(preset, 0.3), 0.05, disabled=preset != "custom")
    modes = st.multiselect("Mechanisms", ["noise", "img2img", "jitter"], default=["noise", "jitter"])
    locks = st.multiselect("Lock", list(JITTERABLE), default=[])
    g_lo, g_hi = st.slider("Guidance range", 0.0, 30.0, (0.0, 30.0), 0.5)
    s_lo, s_hi = st.slider("Steps range", 1, 150, (1, 150))
    remix = st.text_input("Remix prompt (optional)", value="")
    n = st.number_input("Images", 1, 16, 4)
    if "gwen_sampler_seed" not in st.session_state or st.button("🎲 Sample again"):
        st.session_state["gwen_sampler_seed"] = random.randrange(MAX_SEED)

plan = guarded(lambda: studio.plan_variations(
    parent.id, strength=strength if preset == "custom" else preset, modes=modes, n=int(n), prompt=remix or None,
    locks=locks, guidance_range=(g_lo, g_hi), steps_range=(s_lo, s_hi), seed=st.session_state["gwen_sampler_seed"]))
if plan:
    _parent, children, variation_plan = plan
    st.subheader("Sampled parameters")
    st.dataframe(pd.DataFrame([{
        "seed": c.seed, "variation seed": c.variations[-1].seed if c.variations else None,
        "strength": c.variations[-1].strength if c.variations else None, "steps": c.steps, "guidance": c.guidance,
        "scheduler": c.scheduler, "denoise": c.denoise, "prompt": c.prompt} for c in children]), hide_index=True)
    if st.button("Render these variations", type="primary"):
        progress = Progress("Rendering variations")
        kids = guarded(lambda: studio.render_planned(parent.id, children, variation_plan, on_step=progress))
        progress.done()
        if kids:
            st.session_state["gwen_variation_grid"] = [k.id for k in kids]
            st.session_state.pop("gwen_sampler_seed", None)

quick = run_vary_request(studio)  # V·s / V·S under a result
if quick:
    st.session_state["gwen_variation_grid"] = [k.id for k in quick]
grid_ids = st.session_state.get("gwen_variation_grid") or []
if grid_ids:
    found = studio.get_many(grid_ids)
    image_grid(studio, [found[i] for i in grid_ids if i in found], key="vgrid")
