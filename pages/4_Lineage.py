"""Lineage: the family graph of an image; select a node to see it, its parameters and its diff to its parent."""

import streamlit as st

from gwen.ui.state import page
from gwen.ui.widgets import choose_image, follow_navigation, image_card, record_pick

studio = page("Lineage")
follow_navigation()
st.title("Lineage")

image_id = choose_image(studio, "an image id or a unique prefix of one")
if not image_id:
    st.info("Open an image's lineage from Generate, Gallery or Variations, or type its id.")
    st.stop()

tree = studio.lineage(image_id)
nodes = {n["id"]: n for n in tree["nodes"]}


def dot(tree: dict, focus: str) -> str:
    lines = ["digraph G {", "rankdir=LR;", 'node [shape=box, style="rounded,filled", fontname="Helvetica"];']
    for n in tree["nodes"]:
        colour = "#ffd966" if n["id"] == focus else ("#dddddd" if n["deleted"] else "#cfe2f3")
        stars = "★" * n["rating"]
        lines.append(f'"{n["id"]}" [label="{n["id"][-6:]}\\n{n["op"]} {stars}", fillcolor="{colour}"];')
    for e in tree["edges"]:
        label = e["op"] + (f" {e['strength']:g}" if e["strength"] is not None else "")
        lines.append(f'"{e["parent"]}" -> "{e["child"]}" [label="{label}"];')
    lines.append("}")
    return "\n".join(lines)


st.graphviz_chart(dot(tree, image_id))
choice = st.selectbox("Node", list(nodes), index=list(nodes).index(image_id),
                      format_func=lambda i: f"{i[-8:]} · {nodes[i]['op']} · {'★' * nodes[i]['rating']}")
record = studio.get(choice)
if choice != image_id and st.button("Make this the current image"):
    st.session_state["gwen_current"] = choice
    record_pick(choice, "pick")
    st.query_params["id"] = choice
    st.rerun()

left, right = st.columns([1, 1])
with left:
    image_card(studio, record, "lineage")
with right:
    st.code(studio.infotext(record), language=None)
    if record.parent_id:
        parent = studio.get(record.parent_id)
        keys = sorted(set(parent.params) | set(record.params))
        changed = [{"parameter": k, "parent": str(parent.params.get(k)), "this image": str(record.params.get(k))}
                   for k in keys if parent.params.get(k) != record.params.get(k)]
        st.caption(f"Changed from parent {parent.id[-8:]} ({record.op})")
        st.table(changed or [{"parameter": "(none)", "parent": "", "this image": ""}])
