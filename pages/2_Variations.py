"""Variations: sample new parameter sets around a chosen image, preview every sampled value, then render them."""

import random

import pandas as pd
import streamlit as st

from gwen.params import MAX_SEED, SCHEDULERS
from gwen.ui import actions
from gwen.ui.cards import caption, grid
from gwen.ui.common import PAGES, guarded, plural, short_id
from gwen.ui.forms import KEEP, kept
from gwen.ui.progress import Pending, header_slot
from gwen.ui.state import page
from gwen.ui.taste_view import show_why
from gwen.variation import JITTER_SCHEDULERS, JITTERABLE, STRENGTH_PRESETS

HERE = PAGES["variations"]
# the combinations that work (noise and img2img exclude each other: img2img draws fresh noise)
MECHANISMS = {"noise + jitter (default)": "noise,jitter", "noise": "noise", "jitter": "jitter",
              "img2img": "img2img", "img2img + jitter": "img2img,jitter"}
studio = page("Variations", HERE)
st.title("Variations")
actions.breadcrumb()

request = actions.take(HERE)
image_id = request.image_id if request else actions.choose_image(
    studio, "an id, or a unique prefix or suffix of one; or V·s / V·S under any image")
if not image_id:
    st.info("Choose an image first: type its id, or press V·s / V·S under any image.")
    st.stop()
parent = guarded(lambda: studio.get(image_id))
if parent is None:
    st.stop()
st.query_params["id"] = parent.id

left, right = st.columns([1, 2])
left.image(str(studio.path_of(parent)), caption=caption(parent), width="stretch")
with right:
    preset = st.selectbox("Preset", ["custom", *STRENGTH_PRESETS], key=kept("var_preset", "subtle"),
                          persist_state=KEEP)
    strength = st.slider("Strength", 0.0, 1.0, step=0.05, key=kept("var_strength", 0.3), persist_state=KEEP) \
        if preset == "custom" else STRENGTH_PRESETS[preset]
    if preset != "custom":
        st.caption(f"strength {strength:g}")
    mechanism = st.radio("Mechanisms", list(MECHANISMS), key=kept("var_mechanism", "noise + jitter (default)"),
                         persist_state=KEEP, horizontal=True)
    locks = st.multiselect("Lock", list(JITTERABLE), key=kept("var_locks", []), persist_state=KEEP)
    schedulers = st.multiselect("Schedulers a jitter may choose", [s for s in SCHEDULERS if s not in ("LCM", "Turbo")],
                                key=kept("var_schedulers", list(JITTER_SCHEDULERS)), persist_state=KEEP)
    g_lo, g_hi = st.slider("Guidance range", 0.0, 30.0, step=0.5, key=kept("var_guidance", (0.0, 30.0)),
                           persist_state=KEEP)
    s_lo, s_hi = st.slider("Steps range", 1, 150, key=kept("var_steps", (1, 150)), persist_state=KEEP)
    d_lo, d_hi = st.slider("Denoise range (img2img children)", 0.0, 1.0, step=0.05,
                           key=kept("var_denoise", (0.0, 1.0)), persist_state=KEEP,
                           help="bounds for a jittered denoise of children that start from an image")
    taste = st.slider("Taste", 0.0, 1.0, step=0.05, key=kept("var_taste", 0.0), persist_state=KEEP,
                      help="lean the jittered values toward what your ratings and favorites like; 0: plain jitter")
    remix = st.text_input("Remix prompt (optional)", key=kept("var_remix", ""), persist_state=KEEP)
    own_model, default_model = parent.params.get("model"), studio.default_model()
    render_with = None
    if own_model != default_model:
        usable = own_model and guarded(lambda: studio.model_status(own_model))
        usable = bool(usable) and usable["availability"] != "missing"
        choices = ([f"the image's model: {own_model}"] if usable else []) + [f"your default model: {default_model}"]
        picked = st.radio("Render with", choices, key=f"var_model-{parent.id}", horizontal=True,
                          help="an image imported from another tool may name a model that is not here")
        render_with = default_model if picked.startswith("your default") else None
    n = st.number_input("Images", 1, 16, key=kept("var_n", 4), persist_state=KEEP)
    if "gwen_sampler_seed" not in st.session_state:
        st.session_state["gwen_sampler_seed"] = random.randrange(MAX_SEED)
    if st.button("⟳ Sample again", help="draw new parameter sets with these settings"):
        st.session_state["gwen_sampler_seed"] = random.randrange(MAX_SEED)

plan = guarded(lambda: studio.plan_variations(
    parent.id, strength=strength if preset == "custom" else preset, modes=MECHANISMS[mechanism], n=int(n),
    prompt=remix or None, locks=locks, guidance_range=(g_lo, g_hi), steps_range=(s_lo, s_hi),
    schedulers=schedulers or None, seed=st.session_state["gwen_sampler_seed"], model=render_with,
    denoise_range=(d_lo, d_hi), taste=taste))
pending = None
if request is not None:
    st.info(request.describe() + ": rendering here.")
    pending = Pending(request.describe(), 4, lambda **cb: studio.vary(parent.id, strength=request.strength, n=4,
                                                                        model=render_with, **cb),
                      "gwen_variation_grid", note=request.describe())
if plan:
    _parent, children, variation_plan = plan
    st.subheader("Sampled parameters")
    st.dataframe(pd.DataFrame([{
        "seed": c.seed, "variation seed": c.variations[-1].seed if c.variations else None,
        "strength": c.variations[-1].strength if c.variations else None,
        "noise chain": " ".join(f"{v.seed}:{v.strength:g}" for v in c.variations) or None, "steps": c.steps,
        "guidance": c.guidance, "scheduler": c.scheduler, "denoise": c.denoise, "model": c.model, "prompt": c.prompt,
        "taste": variation_plan.taste} for c in children]), hide_index=True)
    show_why(variation_plan, parent, children, locks)
    if st.button("Render these variations", type="primary") and pending is None:
        pending = Pending(f"Rendering {plural(len(children), 'variation')}", len(children),
                          lambda **cb: studio.render_planned(parent.id, children, variation_plan, **cb),
                          "gwen_variation_grid", note="")

found = studio.get_many(st.session_state.get("gwen_variation_grid") or [])
records = [found[i] for i in st.session_state.get("gwen_variation_grid") or [] if i in found]
slot = None
if records:
    head, side = st.columns([3, 2], vertical_alignment="center")
    head.subheader(plural(len(records), "variation") +
                   (f" of {short_id(records[0].parent_id)}" if records[0].parent_id else ""))
    if st.session_state.get("gwen_variation_grid_note"):
        head.caption(st.session_state["gwen_variation_grid_note"])
    slot = header_slot(side)
made = grid(studio, records, "vgrid", HERE, pending, slot)
if made:
    actions.record_pick(made[0].parent_id or made[0].id, "vary")
    st.session_state["gwen_sampler_seed"] = random.randrange(MAX_SEED)
    st.rerun()
