"""Gallery: search and filter the catalog, act on many images at once, inspect one, see what you like."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from gwen.records import OPS, SORT_FIELDS, Filter, SearchQuery
from gwen.ui import actions
from gwen.ui.cards import image_card, made_by, tags_editor
from gwen.ui.common import PAGES, guarded, joined, plural, short_id
from gwen.ui.forms import use_settings
from gwen.ui.state import page

HERE = PAGES["gallery"]
PAGE_SIZE = 24
studio = page("Gallery", HERE)
st.title("Gallery")

with st.sidebar:
    st.header("Filters")
    text = st.text_input("Search prompts", key="g_text")
    model = st.text_input("Model contains", key="g_model")
    op = st.selectbox("Operation", ["any", *OPS], key="g_op")
    min_rating = st.slider("Minimum rating", 0, 5, 0, key="g_rating")
    favorite = st.checkbox("Favorites only", key="g_fav")
    tags = st.text_input("Tags (comma-separated, all must match)", key="g_tags")
    style_names = [s["name"] for s in guarded(studio.list_styles) or []]
    style_names += [n for n in st.session_state.get("g_styles", []) if n not in style_names]
    styles = st.multiselect("Styles (all must match)", style_names, key="g_styles")
    dates = st.date_input("Created between", value=(), key="g_dates")
    guidance = st.slider("Guidance", 0.0, 30.0, (0.0, 30.0), 0.5, key="g_guidance")
    steps = st.slider("Steps", 1, 150, (1, 150), key="g_steps")
    extra = st.text_area("More filters, one per line (e.g. seed>=100, scheduler=DDIM)", key="g_extra")
    show_deleted = st.checkbox("Show deleted images only", key="g_deleted")
    sort = st.selectbox("Sort by", sorted(SORT_FIELDS), index=sorted(SORT_FIELDS).index("created_at"), key="g_sort")
    descending = st.checkbox("Descending", value=True, key="g_desc")


def build_query(page_number: int) -> SearchQuery:
    filters = [Filter.parse(line) for line in extra.splitlines() if line.strip()]
    if guidance != (0.0, 30.0):
        filters += [Filter.build("guidance", ">=", guidance[0]), Filter.build("guidance", "<=", guidance[1])]
    if steps != (1, 150):
        filters += [Filter.build("steps", ">=", steps[0]), Filter.build("steps", "<=", steps[1])]
    since, until = (dates + (None, None))[:2] if isinstance(dates, tuple) else (dates, None)
    return SearchQuery(text=text or None, filters=tuple(filters), model=model or None,
                       op=None if op == "any" else op, min_rating=min_rating or None,
                       favorite=True if favorite else None,
                       tags=tuple(t.strip() for t in tags.split(",") if t.strip()), styles=tuple(styles),
                       since=since, until=until,
                       only_deleted=show_deleted, sort=sort, descending=descending, limit=PAGE_SIZE,
                       offset=page_number * PAGE_SIZE)


def open_detail(image_id: str) -> None:
    st.query_params["id"] = image_id


def close_detail() -> None:
    st.query_params.pop("id", None)


@st.dialog("Image", width="large", on_dismiss=close_detail)
def detail(image_id: str) -> None:
    record = guarded(lambda: studio.get(image_id))  # read again on every rerun of the dialog: marks change in it
    if record is None:
        return
    left, right = st.columns([1, 1])
    with left:
        image_card(studio, record, "detail", HERE)
    with right:
        st.subheader(f"Image {record.id}")
        st.caption(made_by(record))
        st.code(studio.infotext(record), language=None, wrap_lines=True)
        with st.expander("The whole record"):
            st.json(record.to_dict())
        if record.params.get("model") and st.button("Use these settings", type="primary"):
            warning = use_settings(studio, record.params)
            if warning:
                st.session_state["gwen_settings_warning"] = warning
            st.switch_page(PAGES["generate"])
        links = st.columns(4)
        links[0].page_link(PAGES["variations"], label="Vary…", query_params={"id": record.id})
        links[1].page_link(PAGES["upscale"], label="Upscale…", query_params={"id": record.id})
        links[2].page_link(PAGES["lineage"], label="Lineage", query_params={"id": record.id})
        links[3].page_link(PAGES["compare"], label="Compare…", query_params={"ids": record.id})
    actions.arrive(HERE)  # a U / V press inside the dialog changes page now


page_number = int(st.session_state.get("g_page", 0))
query = guarded(lambda: build_query(page_number))
if query is None:
    st.stop()
results = guarded(lambda: studio.search(query))
if results is None:
    st.stop()
records, total = results
pages = max(1, -(-total // PAGE_SIZE))
nav = st.columns([1, 1, 4])
if nav[0].button("◀ Previous", disabled=page_number == 0):
    st.session_state["g_page"] = page_number - 1
    st.rerun()
if nav[1].button("Next ▶", disabled=page_number + 1 >= pages):
    st.session_state["g_page"] = page_number + 1
    st.rerun()
nav[2].caption(f"{plural(total, 'image')} · page {page_number + 1} of {pages}")

selected = []
cols = st.columns(6)
for i, record in enumerate(records):
    with cols[i % 6]:
        st.image(str(studio.thumbnail(record)), caption=joined([short_id(record.id), "★" * record.rating or None,
                                                                "♥" if record.favorite else None]), width="stretch")
        pick, more = st.columns([1, 2])
        if pick.checkbox("select", key=f"sel-{record.id}", label_visibility="collapsed"):
            selected.append(record.id)
        more.button("details", key=f"open-{record.id}", on_click=open_detail, args=(record.id,))
        tags_editor(studio, record, f"gtags-{i}")

with st.expander(f"Bulk actions on {plural(len(selected), 'selected image')}", expanded=bool(selected)):
    a, b, c, d, e = st.columns(5)
    stars = a.selectbox("Rate", range(6), key="bulk_rate")
    if a.button("Apply rating", disabled=not selected):
        for image_id in selected:
            guarded(lambda: studio.rate(image_id, int(stars)))
        st.rerun()
    tag = b.text_input("Tag", key="bulk_tag")
    if b.button("Add tag", disabled=not selected or not tag):
        for image_id in selected:
            guarded(lambda: studio.tag(image_id, [tag]))
        st.rerun()
    if c.button("♥ Favorite", disabled=not selected):
        for image_id in selected:
            guarded(lambda: studio.favorite(image_id, True))
        st.rerun()
    if d.button("Restore" if show_deleted else "Delete", disabled=not selected):
        for image_id in selected:
            guarded(lambda: (studio.restore if show_deleted else studio.delete)(image_id))
        st.rerun()
    if e.button("Compare", disabled=not (2 <= len(selected) <= 4), help="2 to 4 selected images side by side"):
        st.switch_page(PAGES["compare"], query_params={"ids": ",".join(selected)})
    fmt = st.radio("Export", ["zip of PNGs", "Parquet", "CSV"], horizontal=True, key="bulk_fmt")
    if st.button("Prepare export of all matching images"):
        suffix = {"zip of PNGs": ".zip", "Parquet": ".parquet", "CSV": ".csv"}[fmt]
        target = Path(tempfile.mkdtemp()) / f"gwen-export{suffix}"
        result = guarded(lambda: studio.export(build_query(0), target))
        if result:
            st.download_button(f"Download {plural(result['images'], 'image')} ({suffix})", target.read_bytes(),
                               file_name=target.name)

if st.query_params.get("id"):
    detail_id = actions.current_image(studio)
    if detail_id:
        detail(detail_id)

st.divider()
st.subheader("What you like")
st.caption("Among the images the filters above select.")
chart_by = st.selectbox("Mean rating by", ["guidance", "steps", "scheduler", "model", "style"], key="g_chart")
rating_rows = guarded(lambda: studio.rating_stats(chart_by, query))
if rating_rows:
    frame = pd.DataFrame(rating_rows)
    st.bar_chart(frame, x="group", y="mean_rating", x_label=chart_by, y_label="mean rating (★)")
    st.dataframe(frame.rename(columns={"group": chart_by, "mean_rating": "mean rating", "images": "rated images"}),
                 hide_index=True)
else:
    st.caption("Rate some of these images to see which settings you like.")
