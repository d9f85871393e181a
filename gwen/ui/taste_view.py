"""The Variations page's "why" of a taste-guided plan: per parameter, the parent's value, what the user's ratings
like (the liked region and its mean rating) and where the sampled children fell.

Contract: ``show_why(plan, parent, children, locks)`` draws nothing at taste 0; with a taste it draws the plan's
note (no rated images, no jitter) as a caption, and, when a taste model was fitted, a caption naming the taste
weight and the ratings snapshot it was fitted on, then the table (``gwen.taste.why``). It reads and writes nothing.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from gwen.taste import sharpness_note, why
from gwen.variation import taste_leans


def show_why(plan, parent, children, locks) -> None:
    if plan.taste <= 0:
        return
    if plan.taste_note:
        st.caption(f"Taste: {plan.taste_note}")
    if not plan.liked:
        return
    rows = why(plan.liked, {**parent.params, "variation_strength": (parent.variation or {}).get("strength")},
               [{**c.to_dict(), "variation_strength": plan.strength} for c in children], taste_leans(plan, locks))
    st.subheader("Why: what your ratings like")
    st.caption(f"taste {plan.taste:g}, fitted on ratings snapshot {(plan.ratings_snapshot or '')[:12]}; "
               f"{sharpness_note()}. Strength and model are your choice: shown, not leaned.")
    st.dataframe(pd.DataFrame([{k: "-" if v is None else str(v) for k, v in row.items()} for row in rows]),
                 hide_index=True)
