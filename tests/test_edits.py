"""Vary (Region), Pan and Zoom Out on the real tiny model: the mask is respected, the canvases have their sizes, the
edits are catalog ops with their parent, mask and strength, re-render exactly, survive a reindex, and every bad
input is refused (facade, CLI, HTTP) before anything is written."""

from __future__ import annotations

import hashlib
import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from gwen import files
from gwen.errors import InvalidInput, NotFound
from gwen.records import SearchQuery
from tests.conftest import run_cli

BOX = (16, 16, 32, 32)


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def mask_inside(size, box) -> np.ndarray:
    inside = np.zeros((size[1], size[0]), bool)
    x, y, w, h = box
    inside[y:y + h, x:x + w] = True
    return inside


@pytest.fixture
def parent(studio, tiny_sd):
    [record] = studio.generate("a lighthouse at dusk", model=tiny_sd, n=1, seed=100, steps=3, guidance=5.0,
                               width=64, height=64)
    return record


def everything(home) -> tuple[int, int]:
    """(files under images/, catalog rows)."""
    from gwen.studio import Studio

    count = len(list((home / "images").glob("**/*"))) if (home / "images").exists() else 0
    with_rows = Studio(home)
    try:
        return count, with_rows.stats()["images"]
    finally:
        with_rows.close()


# --- Vary (Region) ---------------------------------------------------------------------------------------------------
def test_vary_region_redraws_the_box_and_keeps_the_rest(studio, parent):
    kids = studio.vary_region(parent.id, box=BOX, n=2, seed=7)
    inside = mask_inside((64, 64), BOX)
    before = pixels(studio.path_of(parent))
    for kid in kids:
        diff = np.abs(pixels(studio.path_of(kid)) - before).max(axis=2)
        assert diff[~inside].max() <= 2, "pixels outside the region changed"
        assert diff[inside].mean() > 5, "the region was not redrawn"
        assert (kid.op, kid.parent_id, kid.root_id, kid.width, kid.height) == ("inpaint", parent.id, parent.id, 64, 64)
        edit = kid.params["edit"]
        assert edit["kind"] == "inpaint" and edit["box"] == list(BOX) and kid.params["denoise"] == 0.75
        assert kid.params["init_image_id"] == parent.id and kid.params["prompt"] == parent.params["prompt"]
        mask_file = files.mask_path(studio.path_of(kid))
        assert mask_file.is_file() and hashlib.sha256(mask_file.read_bytes()).hexdigest() == edit["mask_sha256"]
        assert np.array_equal(np.asarray(Image.open(mask_file)) == 255, inside)
    assert [k.params["seed"] for k in kids] == [7, 8]
    assert not np.array_equal(pixels(studio.path_of(kids[0])), pixels(studio.path_of(kids[1])))
    tree = studio.lineage(kids[0].id)
    assert tree["root"] == parent.id and [e["op"] for e in tree["edges"]] == ["inpaint"]
    assert tree["edges"][0]["strength"] == 0.75
    info = studio.infotext(kids[0])
    for field in ("Denoising strength: 0.75", "Mask blur: 4", "Inpaint area: Whole picture",
                  "Masked content: original", f"Init image: {parent.id}", "Edit: \"inpaint box 16,16,32,32\""):
        assert field in info, info
    assert studio.search(SearchQuery(op="inpaint"))[1] == 2


def test_a_painted_mask_with_a_new_prompt(studio, parent):
    painted = Image.new("RGBA", (64, 64), (0, 0, 0, 0))  # transparent, as a drawing canvas gives it
    ImageDraw.Draw(painted).ellipse((8, 24, 40, 56), fill=(255, 255, 255, 255))
    inside = np.asarray(painted.getchannel("A")) >= 128
    [kid] = studio.vary_region(parent.id, mask=png(painted), prompt="a red boat", n=1, seed=3, strength=0.9)
    diff = np.abs(pixels(studio.path_of(kid)) - pixels(studio.path_of(parent))).max(axis=2)
    assert diff[~inside].max() <= 2 and diff[inside].mean() > 5
    assert kid.params["prompt"] == "a red boat" and "box" not in kid.params["edit"]
    stored = files.mask_path(studio.path_of(kid))
    assert np.array_equal(np.asarray(Image.open(stored)) == 255, inside)
    assert studio.verify(kid.id).max_diff == 0


# --- Pan and Zoom Out ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("side,size,offset", [("left", (96, 64), (32, 0)), ("right", (96, 64), (0, 0)),
                                              ("up", (64, 96), (0, 32)), ("down", (64, 96), (0, 0))])
def test_pan_extends_one_side_and_keeps_the_image(studio, parent, side, size, offset):
    [kid] = studio.pan(parent.id, side, 0.5, n=1, seed=11)
    assert (kid.op, kid.parent_id, (kid.width, kid.height)) == ("pan", parent.id, size)
    assert kid.params["edit"]["side"] == side and kid.params["edit"]["fraction"] == 0.5
    out, before = pixels(studio.path_of(kid)), pixels(studio.path_of(parent))
    x, y = offset
    kept = out[y:y + 64, x:x + 64]
    # the parent is kept, except a band of 8 px along the edge that borders the new area (redrawn for the seam)
    core = {"left": (slice(None), slice(8, None)), "right": (slice(None), slice(None, 56)),
            "up": (slice(8, None), slice(None)), "down": (slice(None, 56), slice(None))}[side]
    assert np.abs(kept[core] - before[core]).max() <= 2
    with Image.open(files.mask_path(studio.path_of(kid))) as mask:
        assert mask.size == size


@pytest.mark.parametrize("factor,side", [(1.5, 96), (2, 128)])
def test_zoom_out_extends_every_side(studio, parent, factor, side):
    [kid] = studio.zoom(parent.id, factor, n=1, seed=5)
    assert (kid.op, kid.width, kid.height, kid.params["edit"]["factor"]) == ("zoom", side, side, factor)
    margin = (side - 64) // 2
    out, before = pixels(studio.path_of(kid)), pixels(studio.path_of(parent))
    core = out[margin + 8:margin + 56, margin + 8:margin + 56]
    assert np.abs(core - before[8:56, 8:56]).max() <= 2
    new_area = out[:margin, :]
    assert new_area.std() > 1  # filled, not a flat colour
    assert "Denoising strength: 0.9" in studio.infotext(kid) and "Edit: zoom out" in studio.infotext(kid)


def test_a_pan_or_zoom_over_the_size_limit_says_so(studio, parent, monkeypatch):
    import gwen.editing

    monkeypatch.setattr(gwen.editing, "MAX_SIDE", 80)
    with pytest.raises(InvalidInput, match=r"pan right 0.5 of the 64x64 image would make 96x64: over the limit of 80"):
        studio.pan(parent.id, "right", 0.5)
    with pytest.raises(InvalidInput, match="zoom out 2 of the 64x64 image would make 128x128"):
        studio.zoom(parent.id, 2)
    assert studio.stats()["images"] == 1


# --- verify, reroll, vary, reindex -----------------------------------------------------------------------------------
def test_verify_reroll_and_variations_of_edits(studio, parent):
    region = studio.vary_region(parent.id, box=BOX, n=2, seed=1)
    [panned] = studio.pan(parent.id, "right", 0.25, n=1, seed=2)
    [zoomed] = studio.zoom(parent.id, 1.5, n=1, seed=3)
    for record in (*region, panned, zoomed):
        assert studio.verify(record.id).max_diff == 0, record.op
    [again] = studio.reroll(region[0].id, n=1, seed=9)  # the same edit of the same parent, a new seed
    assert again.op == "reroll" and again.params["edit"] == region[0].params["edit"]
    diff = np.abs(pixels(studio.path_of(again)) - pixels(studio.path_of(parent))).max(axis=2)
    assert diff[~mask_inside((64, 64), BOX)].max() <= 2
    assert files.mask_path(studio.path_of(again)).is_file() and studio.verify(again.id).max_diff == 0
    kids = studio.vary(panned.id, strength="subtle", modes="noise", n=2, seed=4)  # noise chains on an edit
    assert [(k.width, k.height) for k in kids] == [(80, 64)] * 2
    assert not np.array_equal(pixels(studio.path_of(kids[0])), pixels(studio.path_of(kids[1])))
    assert studio.verify(kids[1].id).max_diff == 0


def test_reindex_rebuilds_edits_and_never_takes_a_mask_for_an_image(studio, parent, tmp_path):
    region = studio.vary_region(parent.id, box=BOX, n=1, seed=1)
    [zoomed] = studio.zoom(parent.id, 2, n=1, seed=3)
    studio.close()
    (studio.home / "gwen.duckdb").unlink()
    result = studio.reindex()
    assert result["images"] == 3 and result["skipped"] == []
    assert studio.get(zoomed.id).op == "zoom" and studio.get(region[0].id).parent_id == parent.id
    assert studio.verify(region[0].id).max_diff == 0
    ops = [e["op"] for e in studio.lineage(parent.id)["edges"]]
    assert sorted(ops) == ["inpaint", "zoom"]
    rows = {row["parameter"]: row["values"] for row in studio.compare([parent.id, zoomed.id])["differences"]}
    assert rows["edit"] == [None, "zoom out 2"] and rows["op"] == ["generate", "zoom"]
    exported = studio.export(SearchQuery(), tmp_path / "all.zip")
    assert exported["images"] == 3
    import zipfile
    assert not any(n.endswith(".mask.png") for n in zipfile.ZipFile(exported["path"]).namelist())
    from gwen.archive import expand
    assert not any(files.is_mask(p) for p in expand([studio.home / "images"]))


# --- bad input, everywhere -------------------------------------------------------------------------------------------
def bad_region_cases():
    black = png(Image.new("L", (64, 64), 0))
    white = png(Image.new("L", (64, 64), 255))
    small = png(Image.new("L", (32, 32), 255))
    return [
        (dict(box=(40, 40, 32, 32)), "must lie inside the 64x64 image"),
        (dict(box=(0, 0, 0, 8)), "w and h at least 1"),
        (dict(box=(0, 0, 64, 64)), "covers the whole image"),
        (dict(box=(1, 2, 3)), "four whole numbers"),
        (dict(mask=small), "mask is 32x32: must be the image's size, 64x64"),
        (dict(mask=black), "marks nothing"),
        (dict(mask=white), "covers the whole image"),
        (dict(mask=b"not a png"), "not an image"),
        (dict(box=BOX, mask=white), "not both"),
        (dict(), "not neither"),
        (dict(box=BOX, strength=1.5), "strength=1.5"),
        (dict(box=BOX, n=0), "n=0"),
        (dict(box=BOX, seed=-1), "seed=-1"),
        (dict(box=BOX, prompt="  "), "prompt"),
        (dict(box=BOX, mask_blur=99), "mask_blur=99"),
    ]


def test_every_bad_input_is_refused_before_anything_is_written(studio, parent):
    before = everything(studio.home)
    for options, words in bad_region_cases():
        with pytest.raises(InvalidInput, match=words):
            studio.vary_region(parent.id, **options)
    for side, fraction, words in (("diagonal", 0.5, "side='diagonal'"), ("left", 0, "fraction=0"),
                                  ("up", 1.5, "fraction=1.5")):
        with pytest.raises(InvalidInput, match=words):
            studio.pan(parent.id, side, fraction)
    for factor in (1, 0.5, 9):
        with pytest.raises(InvalidInput, match="zoom factor"):
            studio.zoom(parent.id, factor)
    with pytest.raises(NotFound):
        studio.pan("01ARZ3NDEKTSV4RRFFQ69G5FAV", "left", 0.5)
    imported = studio.import_files([("plain.png", png(Image.new("RGB", (64, 64), (9, 9, 9))))])["imported"][0]
    with pytest.raises(InvalidInput, match="no complete generation parameters"):
        studio.zoom(imported.id, 2)
    assert everything(studio.home) == (before[0] + 1, before[1] + 1)  # the import, nothing else


def test_cli_edits_and_their_bad_input(studio, parent, tmp_path):
    studio.close()
    mask = tmp_path / "mask.png"
    Image.new("L", (64, 64), 0).save(mask)
    refused = [
        (("vary-region", parent.id, "--box", "1,2"), "--box='1,2'"),
        (("vary-region", parent.id, "--box", "40,40,32,32"), "must lie inside the 64x64 image"),
        (("vary-region", parent.id, "--mask", str(tmp_path / "missing.png")), "no such file"),
        (("vary-region", parent.id, "--mask", str(mask)), "marks nothing"),
        (("pan", parent.id, "--left", "2"), "fraction=2.0"),
        (("zoom", parent.id, "--out", "9"), "zoom factor=9.0"),
        (("pan", parent.id), "one of the arguments --left --right --up --down is required"),
    ]
    before = everything(studio.home)
    for args, words in refused:
        out = run_cli(*args, home=studio.home)
        assert out.returncode == 2 and words in out.stderr, (args, out.stderr)
    assert everything(studio.home) == before
    made = run_cli("pan", parent.id, "--right", "0.25", "--n", "1", "--seed", "4", "--json", home=studio.home)
    assert made.returncode == 0, made.stderr
    [image] = json.loads(made.stdout)["images"]
    assert (image["op"], image["params"]["width"], image["params"]["height"], image["parent_id"]) == \
        ("pan", 80, 64, parent.id)
    verified = run_cli("verify", image["id"], "--json", home=studio.home)
    assert verified.returncode == 0 and json.loads(verified.stdout)["max_diff"] == 0


def test_use_of_an_edit_prints_the_edit_and_run_makes_the_same_image(studio, parent, tmp_path):
    painted = Image.new("L", (64, 64), 0)
    ImageDraw.Draw(painted).ellipse((10, 12, 40, 44), fill=255)
    made = {"box": studio.vary_region(parent.id, box=BOX, n=1, seed=3, strength=0.6)[0],
            "mask": studio.vary_region(parent.id, mask=png(painted), prompt="a red door", n=1, seed=4)[0],
            "pan": studio.pan(parent.id, "up", 0.5, n=1, seed=5, mask_blur=6)[0],
            "zoom": studio.zoom(parent.id, 1.5, n=1, seed=6)[0]}
    studio.close()
    expected = {"box": ["vary-region", parent.id, "--box", "16,16,32,32"], "pan": ["pan", parent.id, "--up", "0.5"],
                "zoom": ["zoom", parent.id, "--out", "1.5"]}
    for kind, child in made.items():
        used = json.loads(run_cli("use", child.id, "--json", home=studio.home).stdout)
        argv = used["argv"]
        assert argv[argv.index("--seed") + 1] == str(child.params["seed"]) and argv[argv.index("--n") + 1] == "1"
        assert argv[argv.index("--prompt") + 1] == child.params["prompt"]
        if kind == "mask":
            assert argv[3:6] == ["vary-region", parent.id, "--mask"] and argv[6].endswith(f"{child.id}.mask.png")
        else:
            assert argv[3:7] == expected[kind], argv
        if kind in ("mask", "pan"):  # the runs cost a render each: two kinds show that --run makes the same image
            rerun = json.loads(run_cli("use", child.id, "--run", "--json", home=studio.home).stdout)["images"][0]
            assert rerun["op"] == child.op and rerun["params"] == child.params
            assert np.array_equal(pixels(studio.home / rerun["path"]), pixels(studio.path_of(child)))


def test_http_edits_refuse_bad_input_with_400(studio, parent):
    import base64

    from starlette.testclient import TestClient

    from gwen.service import create_app
    from tests.servers import TOKEN

    auth = {"Authorization": f"Bearer {TOKEN}"}
    before = everything(studio.home)
    cases = [
        ("vary-region", {"box": [40, 40, 32, 32]}, "must lie inside"),
        ("vary-region", {"mask": base64.b64encode(png(Image.new("L", (8, 8), 255))).decode()}, "mask is 8x8"),
        ("vary-region", {"mask": "%%%"}, "base64"),
        ("vary-region", {}, "not neither"),
        ("pan", {"side": "diagonal"}, "side='diagonal'"),
        ("pan", {"side": "left", "fraction": 1.5}, "fraction=1.5"),
        ("zoom", {"factor": 9}, "zoom factor=9.0"),
        ("zoom", {"factor": 2, "strength": 0}, "strength=0.0"),
    ]
    with TestClient(create_app(studio, TOKEN)) as client:
        for route, body, words in cases:
            answer = client.post(f"/api/images/{parent.id}/{route}", json=body, headers=auth)
            assert answer.status_code == 400 and words in answer.json()["error"], (route, body, answer.json())
            assert answer.json()["type"] == "InvalidInput"
        assert client.post(f"/api/images/{parent.id}/zoom", json={"factor": 2, "colour": 1},
                           headers=auth).status_code == 422
    assert everything(studio.home) == before


# --- the pure parts --------------------------------------------------------------------------------------------------
def test_feather_is_zero_outside_the_mask_and_params_without_an_edit_keep_their_json():
    from gwen.editing import blend, box_mask, feather
    from gwen.params import ImageParams

    mask = box_mask((64, 64), BOX)
    weight = feather(mask, 4)
    inside = mask_inside((64, 64), BOX)
    assert weight[~inside].max() == 0 and weight[32, 32] > 0.99 and 0 < weight[18, 32] < 0.5
    base, other = Image.new("RGB", (64, 64), (10, 20, 30)), Image.new("RGB", (64, 64), (200, 100, 0))
    blended = np.asarray(blend(base, other, weight))
    assert (blended[~inside] == (10, 20, 30)).all() and tuple(blended[32, 32]) == (200, 100, 0)
    plain = ImageParams.build(prompt="a fox", model="m", seed=1)
    assert "edit" not in plain.to_dict() and '"edit"' not in plain.canonical_json()
    assert ImageParams.from_json(plain.canonical_json()).params_hash() == plain.params_hash()


def test_a_dragged_box_becomes_image_pixels():
    from gwen.ui.region import box_from_drag, default_box

    drag = {"x1": 400, "y1": 100, "x2": 100, "y2": 300, "width": 512, "height": 512}
    assert box_from_drag(drag, 64, 64) == (12, 12, 38, 26)
    assert box_from_drag({**drag, "x2": 700}, 64, 64) == (50, 12, 14, 26)  # clipped to the image
    assert box_from_drag({**drag, "x2": 400}, 64, 64) is None
    assert default_box(64, 96) == (16, 24, 32, 48)


def test_a_failed_catalog_write_takes_back_the_images_and_their_masks(studio, parent, monkeypatch):
    from gwen.errors import CatalogBusy

    def busy(records):
        raise CatalogBusy("the catalog is busy")
    monkeypatch.setattr(studio.library, "insert_later", busy)  # the rows, written behind the call
    with pytest.raises(CatalogBusy):
        studio.vary_region(parent.id, box=BOX, n=2, seed=1)
    assert [p.name for p in (studio.home / "images").glob("**/*.png")] == [f"{parent.id}.png"]
    assert studio.stats()["images"] == 1
