"""Generate: prompt → a grid of N images, each with its own seed; U / V·s / V·S / rate / ♥ / tags under each."""

import streamlit as st

from gwen.ui import actions
from gwen.ui.cards import grid
from gwen.ui.common import PAGES, joined, plural
from gwen.ui.forms import KEEP, generation_settings, kept
from gwen.ui.models import AUTORUN, model_line
from gwen.ui.progress import Pending, header_slot
from gwen.ui.state import page
from gwen.ui.styles_view import style_manager, style_picker

HERE = PAGES["generate"]
studio = page("Generate", HERE)
st.title("Generate")
actions.breadcrumb()

prompt = st.text_area("Prompt", key=kept("gen_prompt", ""), persist_state=KEEP,
                      placeholder="a lighthouse at dusk, oil painting")
negative = st.text_input("Negative prompt", key=kept("gen_negative", ""), persist_state=KEEP)
chosen_styles = style_picker(studio, prompt, negative)
style_manager(studio, prompt, negative)
settings = generation_settings(studio)
model_line(studio)
if st.session_state.get("gwen_settings_warning"):
    st.warning(st.session_state.pop("gwen_settings_warning"))
if st.session_state.get("gwen_settings_note"):
    st.info(st.session_state.pop("gwen_settings_note"))


def again() -> None:
    st.session_state[AUTORUN] = True


pending = None
autorun = st.session_state.pop(AUTORUN, False)  # "Use the offline demo model", or Home's prompt
if st.button("Generate", type="primary") or autorun:
    pending = Pending("Generating", settings["n"],
                      lambda **cb: studio.generate(prompt, negative=negative, styles=chosen_styles,
                                                     **settings, **cb), "gwen_grid", again,
                      note="")
request = actions.take(HERE)
if request is not None:
    pending = Pending(request.describe(), 4, lambda **cb: studio.vary(request.image_id, strength=request.strength,
                                                                        n=4, **cb), "gwen_grid",
                      note=request.describe())

found = studio.get_many(st.session_state.get("gwen_grid") or [])
records = [found[i] for i in st.session_state.get("gwen_grid") or [] if i in found]
slot = None
if records:
    head, side = st.columns([3, 2], vertical_alignment="center")
    head.subheader(joined([plural(len(records), "image"), records[0].op]))
    if st.session_state.get("gwen_grid_note"):
        head.caption(st.session_state["gwen_grid_note"])
    slot = header_slot(side)  # Reroll, then the progress bar and Cancel while a render runs: the grid never moves
    if slot.row.button("↻ Reroll", help="the same settings, new seeds") and pending is None:
        parent = records[0]
        pending = Pending("Rerolling", len(records),
                          lambda **cb: studio.reroll(parent.id, n=len(records), **cb), "gwen_grid", note="")
made = grid(studio, records, "grid", HERE, pending, slot)
if made:
    actions.record_pick(made[0].id, f"“{made[0].params.get('prompt', '')[:30]}”" if made[0].op == "generate"
                        else made[0].op)
    st.rerun()
