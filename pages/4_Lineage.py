"""Lineage: the family graph of an image with every node's thumbnail; click a node to open it, compare nodes."""

import streamlit as st
from PIL import Image
from streamlit_image_coordinates import streamlit_image_coordinates

from gwen.ui import actions
from gwen.ui.cards import image_card
from gwen.ui.common import PAGES, guarded, joined, label, plural, short_id
from gwen.ui.lineage_graph import MAX_NODES, draw, node_at
from gwen.ui.state import page

HERE = PAGES["lineage"]
studio = page("Lineage", HERE)
st.title("Lineage")

image_id = actions.choose_image(studio, "an id, or a unique prefix or suffix of one")
if not image_id:
    st.info("Open an image's lineage with Tree under any image, or type its id.")
    st.stop()
tree = guarded(lambda: studio.lineage(image_id))
if tree is None:
    st.stop()
nodes = {n["id"]: n for n in tree["nodes"]}
records = studio.get_many(list(nodes))


def open_node(node_id: str) -> None:
    st.session_state[actions.CURRENT] = node_id
    st.query_params["id"] = node_id
    actions.record_pick(node_id, "pick")


thumbs = {}
for node in tree["nodes"][:MAX_NODES]:  # only the nodes that are drawn
    if node["id"] in records:
        with Image.open(studio.thumbnail(records[node["id"]])) as thumb:
            thumbs[node["id"]] = thumb.convert("RGB")
picture, boxes, left_out = draw(tree, thumbs, image_id)
st.caption(joined([plural(len(nodes), "image") + " in this family", "click an image to open it",
                   f"{left_out} more not drawn" if left_out else None]))
click = streamlit_image_coordinates(picture, key=f"graph-{image_id}", width=min(picture.width, 1300),
                                    cursor="pointer")
if click:
    clicked = node_at(boxes, click["x"] * picture.width / click["width"], click["y"] * picture.height / click["height"])
    if clicked and clicked != image_id:
        open_node(clicked)
        st.rerun()

choice = st.selectbox("Open", list(nodes), index=list(nodes).index(image_id),
                      format_func=lambda i: joined([short_id(i), nodes[i]["op"], "★" * nodes[i]["rating"] or None]))
if choice != image_id:
    open_node(choice)
    st.rerun()
with st.expander("Compare images of this family"):
    others = st.multiselect("Compare with", [i for i in nodes if i != image_id], max_selections=3,
                            format_func=lambda i: joined([short_id(i), nodes[i]["op"]]))
    if st.button("Compare", disabled=not others):
        st.switch_page(PAGES["compare"], query_params={"ids": ",".join([image_id, *others])})

record = records[image_id]
left, right = st.columns([1, 1])
with left:
    image_card(studio, record, "lineage", HERE)
with right:
    st.code(studio.infotext(record), language=None, wrap_lines=True)
    if record.parent_id and record.parent_id in records:
        parent = records[record.parent_id]
        differences = studio.compare([parent.id, record.id])["differences"]
        changed = [{"setting": label(d["parameter"]), "parent": "" if d["values"][0] is None else str(d["values"][0]),
                    "this image": "" if d["values"][1] is None else str(d["values"][1])}
                   for d in differences if d["parameter"] not in ("op", "parent_id", "rating", "favorite", "tags")]
        st.caption(f"Changed from parent {short_id(parent.id)} ({record.op})")
        st.table(changed or [{"setting": "(none)", "parent": "", "this image": ""}])
