"""The Lineage graph as a picture: every node's thumbnail, edges labelled with the op and strength (pure Pillow).

Contract:
- ``draw(tree, thumbnails, focus)`` lays a family out left to right by
  generation (the root on the left, each child one column further), one
  thumbnail per node with its short id, op and rating under it, the focused
  image framed, edges from parent to child labelled like the catalog's
  (``vary 0.65``, ``upscale``). Returns the picture and each node's box, so a
  click on the picture (``node_at``) tells which image was clicked.
- At most ``MAX_NODES`` nodes are drawn (ancestors first, then the nearest
  descendants); ``draw`` says how many were left out.
- No Streamlit, no I/O: thumbnails come in as Pillow images.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

THUMB = 96
PAD = 10
LABEL_H = 34
COLUMN_GAP = 70
ROW_GAP = 14
MAX_NODES = 60
FOCUS = (255, 190, 0)
EDGE = (120, 130, 150)
TEXT = (40, 40, 40)


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def contains(self, x: float, y: float) -> bool:
        return self.x <= x < self.x + self.w and self.y <= y < self.y + self.h


def depths(tree: dict) -> dict[str, int]:
    """Generation of each node counted from the family's first node (the root when it is in the tree)."""
    nodes = [n["id"] for n in tree["nodes"]][:MAX_NODES]
    parent = {n["id"]: n["parent_id"] for n in tree["nodes"]}
    known = set(nodes)
    depth: dict[str, int] = {}

    def of(node: str, seen: int = 0) -> int:
        if node in depth:
            return depth[node]
        up = parent.get(node)
        depth[node] = 0 if up not in known or seen > len(known) else of(up, seen + 1) + 1
        return depth[node]
    for node in nodes:
        of(node)
    return depth


def draw(tree: dict, thumbnails: dict[str, Image.Image], focus: str) -> tuple[Image.Image, dict[str, Box], int]:
    """(picture, box of every drawn node, how many nodes were left out)."""
    nodes = {n["id"]: n for n in tree["nodes"][:MAX_NODES]}
    depth = depths(tree)
    columns: dict[int, list[str]] = {}
    for node_id in nodes:
        columns.setdefault(depth[node_id], []).append(node_id)
    cell_w, cell_h = THUMB + 2 * PAD, THUMB + LABEL_H + 2 * PAD
    rows = max(len(c) for c in columns.values())
    width = len(columns) * cell_w + (len(columns) - 1) * COLUMN_GAP + 2 * PAD
    height = rows * cell_h + (rows - 1) * ROW_GAP + 2 * PAD
    picture = Image.new("RGB", (width, height), (250, 250, 252))
    pen = ImageDraw.Draw(picture)
    font = ImageFont.load_default()
    boxes: dict[str, Box] = {}
    for level, members in sorted(columns.items()):
        top = PAD + (height - 2 * PAD - (len(members) * cell_h + (len(members) - 1) * ROW_GAP)) // 2
        for k, node_id in enumerate(members):
            boxes[node_id] = Box(PAD + level * (cell_w + COLUMN_GAP), top + k * (cell_h + ROW_GAP), cell_w, cell_h)
    for edge in tree["edges"]:
        if edge["parent"] in boxes and edge["child"] in boxes:
            a, b = boxes[edge["parent"]], boxes[edge["child"]]
            start, end = (a.x + a.w, a.y + PAD + THUMB // 2), (b.x, b.y + PAD + THUMB // 2)
            pen.line([start, end], fill=EDGE, width=2)
            label = edge["op"] + (f" {edge['strength']:g}" if edge.get("strength") is not None else "")
            middle = ((start[0] + end[0]) // 2, (start[1] + end[1]) // 2)
            pen.text((middle[0], middle[1] - 12), label, fill=TEXT, font=font, anchor="ms")
    for node_id, box in boxes.items():
        node = nodes[node_id]
        frame = FOCUS if node_id == focus else ((200, 200, 200) if node.get("deleted") else (180, 200, 230))
        pen.rounded_rectangle([box.x, box.y, box.x + box.w - 1, box.y + box.h - 1], radius=8, fill=(255, 255, 255),
                              outline=frame, width=4 if node_id == focus else 2)
        thumb = thumbnails.get(node_id)
        if thumb is not None:
            fitted = ImageOps.contain(thumb.convert("RGB"), (THUMB, THUMB))  # small images are scaled up too
            picture.paste(fitted, (box.x + PAD + (THUMB - fitted.width) // 2, box.y + PAD + (THUMB - fitted.height) // 2))
        stars = "*" * int(node.get("rating") or 0)
        pen.text((box.x + box.w // 2, box.y + PAD + THUMB + 4), node_id[-8:], fill=TEXT, font=font, anchor="mt")
        pen.text((box.x + box.w // 2, box.y + PAD + THUMB + 18), f"{node['op']} {stars}".strip(), fill=TEXT,
                 font=font, anchor="mt")
    return picture, boxes, max(0, len(tree["nodes"]) - len(nodes))


def node_at(boxes: dict[str, Box], x: float, y: float) -> str | None:
    return next((node_id for node_id, box in boxes.items() if box.contains(x, y)), None)
