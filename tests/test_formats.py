"""Importing what other tools write (issue 14, section 2): each file is built as its tool writes it
(tests/foreign_files.py) and imported through the real path (Studio.import_paths into a fresh GWEN_HOME), then
every field that tool writes is checked, and so is the PNG GWEN stores. Damaged files import as plain images with
a note naming what was damaged."""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import pytest
from PIL import Image

from gwen.pnginfo import parse_a1111, read_metadata
from tests import foreign_files as ff
from tests.conftest import run_cli

PLAIN_NOTE = "no generation parameters found: imported as a plain image"


def import_one(studio, tmp_path: Path, name: str, data: bytes):
    """Import one file; return (record, its source, the notes, the stored PNG's text chunks)."""
    path = tmp_path / name
    path.write_bytes(data)
    result = studio.import_paths([path])
    (record,) = result["imported"]
    notes = [n["note"] for n in result["notes"]]
    stored = studio.path_of(record)
    assert stored.suffix == ".png"
    with Image.open(path) as original, Image.open(stored) as im:
        assert im.format == "PNG" and im.size == original.size
        text = dict(im.text)
        meta = read_metadata(im)
    assert meta.source == "gwen" and meta.record["id"] == record.id  # GWEN's own chunk takes precedence
    return record, record.import_source.split(":")[0], notes, text


def assert_params(params: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert params.get(key) == value, f"{key}: {params.get(key)!r} != {value!r}"


def assert_loras(params: dict, expected: list[tuple[str, float, str | None]]) -> None:
    got = [(lora["name"], lora["weight"], lora.get("hash")) for lora in params["loras"]]
    assert got == expected


A1111_EXPECTED = {
    "prompt": "masterpiece, 1girl, café <lora:add_detail:0.5> <lora:lcm-lora-sdv1-5:1>",
    "negative_prompt": "easynegative, lowres", "steps": 20, "guidance": 7.0, "seed": 1234567890,
    "scheduler": "DPM++ 2M Karras", "width": 512, "height": 768, "model": "v1-5-pruned-emaonly",
    "model_hash": "6ce0161689", "variations": [{"seed": 987654321, "strength": 0.25}], "denoise": 0.45}
A1111_LORAS = [("add_detail", 0.5, "7c6bad76eb54"), ("lcm-lora-sdv1-5", 1.0, "1a9d2a3e54b6")]


# --- A1111 / Forge ------------------------------------------------------------------------------------------------
def test_a1111_png_every_field_and_loras(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "00001-1234567890.png", ff.a1111_png())
    assert source == "a1111" and notes == []
    assert_params(record.params, A1111_EXPECTED)
    assert_loras(record.params, A1111_LORAS)
    assert text["parameters"] == ff.A1111_TEXT


@pytest.mark.parametrize("name, data, text", [
    ("a1111.jpg", ff.a1111_exif(fmt="JPEG"), ff.A1111_TEXT),  # piexif: UNICODE + UTF-16BE in a big-endian TIFF
    ("a1111.webp", ff.a1111_exif(fmt="WEBP"), ff.A1111_TEXT),
    ("little-endian.jpg", ff.a1111_exif(encoding="utf-16-le", byte_order="II"), ff.A1111_TEXT),
    ("little-endian-in-mm.webp", ff.a1111_exif(fmt="WEBP", encoding="utf-16-le"), ff.A1111_TEXT),
    ("ascii.jpg", ff.a1111_exif(ff.A1111_TEXT.replace("é", "e"), encoding="ascii"),
     ff.A1111_TEXT.replace("é", "e")),
])
def test_a1111_jpeg_and_webp_exif_user_comment(studio, tmp_path, name, data, text):
    with Image.open(io.BytesIO(data)) as im:
        assert im.format in ("JPEG", "WEBP") and "parameters" not in im.info
    record, source, notes, stored_text = import_one(studio, tmp_path, name, data)
    assert source == "a1111" and notes == []
    assert_params(record.params, {**A1111_EXPECTED, "prompt": text.split("\n")[0]})
    assert_loras(record.params, A1111_LORAS)
    assert stored_text["parameters"] == text  # the infotext travels into the stored PNG as A1111 writes it


def test_a1111_jpeg_through_the_cli(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "forge.jpg").write_bytes(ff.a1111_exif())
    out = run_cli("import", str(tmp_path / "in"), "--json", home=tmp_path / "home")
    assert out.returncode == 0, out.stderr
    (image,) = json.loads(out.stdout)["images"]
    assert image["params"]["seed"] == 1234567890 and image["params"]["scheduler"] == "DPM++ 2M Karras"
    assert image["path"].endswith(".png") and Image.open(image["path"]).text["parameters"] == ff.A1111_TEXT


@pytest.mark.parametrize("mode", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [True, False])
def test_a1111_stealth_pnginfo(studio, tmp_path, mode, compressed):
    data = ff.stealth_png(ff.A1111_TEXT.encode(), mode=mode, compressed=compressed,
                          image=ff.blank(size=(96, 96)))
    with Image.open(io.BytesIO(data)) as im:
        assert not im.text and im.mode == ("RGBA" if mode == "alpha" else "RGB")  # nothing but the pixels
    record, source, notes, text = import_one(studio, tmp_path, f"stealth-{mode}.png", data)
    assert source == "a1111" and notes == []
    assert_params(record.params, A1111_EXPECTED)
    assert_loras(record.params, A1111_LORAS)
    assert text["parameters"] == ff.A1111_TEXT


def test_lora_tags_weights_and_hashes():
    text = ("a <lora:one:0.5> b <lora:two> <lyco:three:te=0.3:unet=0.9> <lora:one:0.25>\n"
            'Steps: 4, Sampler: Euler a, Seed: 1, Lora hashes: "one: aaa111, four: ddd444"')
    params = parse_a1111(text)
    assert params["prompt"] == "a <lora:one:0.5> b <lora:two> <lyco:three:te=0.3:unet=0.9> <lora:one:0.25>"
    assert_loras(params, [("one", 0.75, "aaa111"), ("two", 1.0, None), ("three", 0.3, None), ("four", 1.0, "ddd444")])
    assert "loras" not in parse_a1111("a cat\nSteps: 4, Sampler: Euler a, Seed: 1")


# --- ComfyUI --------------------------------------------------------------------------------------------------------
def test_comfyui_hires_graph_takes_the_sampler_that_feeds_save_image(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "ComfyUI_00001_.png", ff.comfy_png(ff.COMFY_HIRES))
    assert source == "comfyui" and notes == []
    assert_params(record.params, {
        "seed": 156680208700287, "steps": 12, "guidance": 7.0, "scheduler": "Euler a", "denoise": 0.5,
        "prompt": "masterpiece, a cozy cabin in the snowy woods", "negative_prompt": "lowres, blurry",
        "model": "v1-5-pruned-emaonly.safetensors", "width": 64, "height": 64,  # upscaled latent: the file's size
        "other_seeds": [156680208700286]})
    assert_loras(record.params, [("add_detail.safetensors", 0.6, None)])
    assert json.loads(text["prompt"]) == ff.COMFY_HIRES


def test_comfyui_refiner_with_a_lower_node_id_is_still_the_one_saved(studio, tmp_path):
    record, source, _, _ = import_one(studio, tmp_path, "refiner.png", ff.comfy_png(ff.COMFY_REFINER))
    assert source == "comfyui"
    assert_params(record.params, {"seed": 222, "steps": 25, "guidance": 8.0, "scheduler": "DPM++ 2M Karras",
                                  "prompt": "a lighthouse at dusk, sharp", "negative_prompt": "blur",
                                  "model": "sd_xl_refiner_1.0.safetensors", "other_seeds": [111]})


def test_comfyui_sampler_custom_advanced_reads_settings_from_linked_nodes(studio, tmp_path):
    record, source, _, _ = import_one(studio, tmp_path, "flux.png", ff.comfy_png(ff.COMFY_CUSTOM))
    assert source == "comfyui" and "other_seeds" not in record.params
    assert_params(record.params, {"seed": 424242, "steps": 28, "guidance": 3.5, "scheduler": "Euler",
                                  "prompt": "a red fox in the snow", "negative_prompt": "",
                                  "model": "flux1-dev.safetensors", "width": 1024, "height": 768})


def test_comfyui_save_image_wins_over_a_preview_of_the_base_pass():
    graph = {**ff.COMFY_HIRES, "1": ff._node("PreviewImage", "Preview", images=["2", 0]),
             "2": ff._node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2])}
    meta = read_metadata(Image.open(io.BytesIO(ff.comfy_png(graph))))
    assert meta.params["seed"] == 156680208700287 and meta.params["other_seeds"] == [156680208700286]


def test_comfyui_webp_graph_in_exif(studio, tmp_path):
    data = ff.comfy_webp(ff.COMFY_HIRES, {"nodes": [], "links": []})
    record, source, notes, text = import_one(studio, tmp_path, "ComfyUI_00001_.webp", data)
    assert source == "comfyui" and notes == []
    assert_params(record.params, {"seed": 156680208700287, "steps": 12, "other_seeds": [156680208700286]})
    assert json.loads(text["prompt"]) == ff.COMFY_HIRES and json.loads(text["workflow"]) == {"nodes": [], "links": []}


def test_comfyui_without_save_image_takes_the_last_pass():
    graph = {k: v for k, v in ff.COMFY_HIRES.items() if k != "9"}
    meta = read_metadata(Image.open(io.BytesIO(ff.comfy_png(graph))))
    assert meta.source == "comfyui" and meta.params["seed"] == 156680208700287
    assert meta.params["other_seeds"] == [156680208700286]


# --- InvokeAI -------------------------------------------------------------------------------------------------------
def test_invokeai_2_dream_and_sd_metadata(studio, tmp_path):
    data = ff.invoke2_png(sd_metadata=json.dumps(ff.INVOKE2_META))
    record, source, notes, text = import_one(studio, tmp_path, "000001.3914633383.png", data)
    assert source == "invokeai" and notes == []
    assert_params(record.params, {
        "prompt": "a fantasy castle on a hill", "negative_prompt": "blurry, lowres", "seed": 3914633383,
        "steps": 50, "guidance": 7.5, "scheduler": "LMS", "width": 512, "height": 512,
        "model": "stable-diffusion-1.5", "model_hash": ff.INVOKE2_META["model_hash"],
        "variations": [{"seed": 1111, "strength": 0.1}]})
    assert text["Dream"] == ff.INVOKE2_DREAM


@pytest.mark.parametrize("dream", [
    '"a cat on a mat [dog, blurry]" -s 30 -S 42 -W 576 -H 448 -C 6.5 -A k_euler_a',  # web UI
    'a cat on a mat [dog, blurry] -s 30 -S 42 -W 576 -H 448 -C 6.5 -A k_euler_a',  # 2.2/2.3 CLI: unquoted
    '"a cat on a mat [dog, blurry]" -s30 -W576 -H448 -C6.5 -Ak_euler_a -S42',  # dream.py: no spaces
])
def test_invokeai_2_dream_command_alone(studio, tmp_path, dream):
    record, source, notes, _ = import_one(studio, tmp_path, "dream.png", ff.invoke2_png(dream))
    assert source == "invokeai" and notes == []
    assert_params(record.params, {"prompt": "a cat on a mat", "negative_prompt": "dog, blurry", "seed": 42,
                                  "steps": 30, "guidance": 6.5, "scheduler": "Euler a", "width": 576, "height": 448})


def test_invokeai_3_metadata(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "invoke3.png", ff.invoke3_png())
    assert source == "invokeai" and notes == []
    assert_params(record.params, {
        "prompt": "landscape", "negative_prompt": "low quality", "width": 768, "height": 432, "seed": 356120443,
        "guidance": 7.5, "steps": 50, "scheduler": "DPM++ 2M SDE Karras", "model": "amixx_3Prunedfp16"})
    assert_loras(record.params, [("add_detail", 0.75, None)])
    assert "invokeai_workflow" in text


def test_invokeai_5_metadata_compact_utf8(studio, tmp_path):
    record, source, notes, _ = import_one(studio, tmp_path, "invoke5.png", ff.invoke5_png())
    assert source == "invokeai" and notes == []
    assert_params(record.params, {
        "prompt": "dark abstract colored painting, 猫", "negative_prompt": "image frame", "width": 832,
        "height": 1216, "seed": 1554095076, "guidance": 15.0, "steps": 50, "scheduler": "Euler",
        "model": "duchaitenRealnsfwXL_v10", "model_hash": ff.INVOKE5_META["model"]["hash"]})
    assert_loras(record.params, [("add-detail-xl", 0.75, "blake3:0123abcd")])


# --- Fooocus --------------------------------------------------------------------------------------------------------
FOOOCUS_EXPECTED = {
    "prompt": "a red fox in the snow", "negative_prompt": "", "seed": 1234567890, "steps": 30, "guidance": 4.0,
    "scheduler": "DPM++ 2M SDE Karras", "width": 1152, "height": 896, "model": "juggernautXL_v8Rundiffusion",
    "model_hash": "aeb7e9e689", "styles": ["Fooocus V2", "Fooocus Enhance", "Fooocus Sharp"]}


def test_fooocus_png_json_scheme(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "fooocus.png", ff.fooocus_png())
    assert source == "fooocus" and notes == []
    assert_params(record.params, FOOOCUS_EXPECTED)
    assert_loras(record.params, [("sd_xl_offset_example-lora_1.0", 0.1, "4852686128")])
    assert text["fooocus_scheme"] == "fooocus"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_fooocus_jpeg_and_webp_exif(studio, tmp_path, fmt):
    record, source, notes, text = import_one(studio, tmp_path, f"fooocus.{fmt.lower()}", ff.fooocus_exif(fmt=fmt))
    assert source == "fooocus" and notes == []
    assert_params(record.params, FOOOCUS_EXPECTED)
    assert_loras(record.params, [("sd_xl_offset_example-lora_1.0", 0.1, "4852686128")])
    assert json.loads(text["parameters"]) == json.loads(ff.FOOOCUS_JSON) and text["fooocus_scheme"] == "fooocus"


@pytest.mark.parametrize("maker", [lambda: ff.fooocus_png(ff.FOOOCUS_A1111, "a1111"),
                                   lambda: ff.fooocus_exif(ff.FOOOCUS_A1111, "a1111")], ids=["png", "jpeg"])
def test_fooocus_a1111_scheme_reads_as_a1111(studio, tmp_path, maker):
    record, source, notes, text = import_one(studio, tmp_path, "fooocus-a1111.png", maker())
    assert source == "a1111" and notes == []
    assert_params(record.params, {
        "prompt": "a red fox in the snow, a red fox in the snow, intricate, elegant, highly detailed",
        "negative_prompt": "(worst quality, low quality:1.4)", "steps": 30, "seed": 1234567890, "guidance": 4.0,
        "scheduler": "DPM++ 2M SDE Karras", "width": 1152, "height": 896, "model": "juggernautXL_v8Rundiffusion",
        "model_hash": "aeb7e9e689"})
    assert_loras(record.params, [("sd_xl_offset_example-lora_1.0", 0.1, "4852686128")])  # from Lora weights
    assert text["parameters"] == ff.FOOOCUS_A1111


# --- NovelAI --------------------------------------------------------------------------------------------------------
NOVELAI_EXPECTED = {
    "prompt": ff.NOVELAI_PROMPT, "negative_prompt": ff.NOVELAI_COMMENT["uc"], "steps": 28, "guidance": 5.0,
    "seed": 210306140, "scheduler": "Euler a", "width": 1216, "height": 832, "model": "Stable Diffusion XL",
    "model_hash": "C1E1DE52"}


def test_novelai_png(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "nai.png", ff.novelai_png())
    assert source == "novelai" and notes == []
    assert_params(record.params, NOVELAI_EXPECTED)
    assert text["Software"] == "NovelAI" and json.loads(text["Comment"]) == ff.NOVELAI_COMMENT


def test_novelai_stealth_alone_when_a_site_stripped_the_text(studio, tmp_path):
    record, source, notes, text = import_one(studio, tmp_path, "nai-stripped.png", ff.novelai_png(with_text=False))
    assert source == "novelai" and notes == []
    assert_params(record.params, NOVELAI_EXPECTED)
    assert text["Software"] == "NovelAI" and text["Description"] == ff.NOVELAI_PROMPT  # chunks rebuilt from bits


# --- cost: no pixel decode where none is needed -----------------------------------------------------------------------
def _loads_counted(data: bytes):
    im = Image.open(io.BytesIO(data))
    calls = []
    original = im.load
    im.load = lambda: calls.append(1) or original()
    return im, calls


@pytest.mark.parametrize("data", [ff.a1111_png(), ff.novelai_png(), ff.comfy_png(ff.COMFY_HIRES)],
                         ids=["a1111", "novelai-with-stealth", "comfyui"])
def test_text_metadata_is_read_without_decoding_pixels(data):
    im, calls = _loads_counted(data)
    meta = read_metadata(im)
    assert meta.source != "none" and meta.recovered == {} and calls == []  # NovelAI's stealth copy is not read


@pytest.mark.parametrize("mode", ["L", "P", "LA", "RGB", "RGBA", "I;16"])
def test_an_image_without_metadata_is_plain_in_every_mode(mode):
    buffer = io.BytesIO()
    Image.new(mode, (32, 32)).save(buffer, "PNG")
    meta = read_metadata(Image.open(buffer))
    assert meta.source == "none" and meta.notes == [] and meta.params == {"width": 32, "height": 32}


# --- damaged files: imported as plain images, with a note naming the damage -------------------------------------
def _jpeg_with_app1(payload: bytes) -> bytes:
    data = ff.a1111_exif()
    length = struct.unpack(">H", data[4:6])[0]
    return data[:4] + struct.pack(">H", len(payload) + 2) + payload + data[4 + length:]


_BIG = 64 * 64 * 8
_TEXT = ff.A1111_TEXT.encode()
DAMAGED = {
    "exif-garbage-tiff": (_jpeg_with_app1(b"Exif\x00\x00garbage!!"), "EXIF block is damaged (no TIFF header"),
    "exif-odd-utf16": (ff.with_exif(ff.exif_tiff(b"UNICODE\x00\x00a\x00b\x07")), "odd length"),
    "exif-bad-utf16": (ff.with_exif(ff.exif_tiff(b"UNICODE\x00\xd8\x00\x00a")), "not UTF-16 text"),
    "exif-not-utf8": (ff.with_exif(ff.exif_tiff(b"JIS\x00\x00\x00\x00\x00\xff\xfe\x00")), "not UTF-8 text"),
    "exif-not-infotext": (ff.with_exif(ff.exif_tiff(ff.user_comment("hello from my camera"))),
                          "EXIF UserComment holds no generation parameters (no A1111 settings line"),
    "exif-truncated-infotext": (ff.a1111_exif(ff.A1111_TEXT[:60]), "no A1111 settings line"),
    "stealth-truncated": (ff.stealth_png(_TEXT, length_bits=_BIG), "truncated"),
    "stealth-absurd-length": (ff.stealth_png(_TEXT, length_bits=2**31), "over the limit"),
    "stealth-odd-length": (ff.stealth_png(_TEXT, length_bits=13), "not a whole number of bytes"),
    "stealth-bad-gzip": (ff.stealth_png(b"not gzip at all", compressed=False, signature=b"stealth_pngcomp"),
                         "bad gzip data"),
    "stealth-cut-gzip": (ff.stealth_png(gzip.compress(_TEXT)[:40], compressed=False, signature=b"stealth_rgbcomp",
                                        mode="rgb"), "truncated gzip data"),
    "stealth-not-utf8": (ff.stealth_png(b"\xff\xfe\xfd", compressed=False), "not UTF-8 text"),
    "stealth-not-infotext": (ff.stealth_png(b"just some words", compressed=False), "no A1111 settings line"),
    "stealth-unknown-json": (ff.stealth_png(b'{"foo": 1}'), "a JSON object of a tool GWEN does not know"),
    "comfy-not-json": (ff.png([("prompt", "{not json")]), "ComfyUI 'prompt' graph is damaged (not JSON"),
    "comfy-a-list": (ff.png([("prompt", "[1, 2]")]), "a JSON list, not an object"),
    "comfy-no-sampler": (ff.comfy_png({"9": ff.COMFY_HIRES["9"], "8": ff.COMFY_HIRES["8"]}), "no sampler node"),
    "comfy-wrong-types": (ff.comfy_png({"3": {"class_type": "KSampler", "inputs": "oops"}, "9": "x"}),
                          "(sampler node 3) is damaged (no usable generation parameters)"),
    "comfy-bad-values": (ff.comfy_png({"3": {"class_type": "KSampler", "inputs": {
        "seed": "abc", "steps": [1], "cfg": {}, "sampler_name": 5, "positive": ["99", 0], "latent_image": ["3", 0]}}}),
        "no usable generation parameters: seed='abc' is not a whole number; cfg={} is not a number"),
    "invoke3-not-json": (ff.invoke3_png("{'positive_prompt': 'x'}"),
                         "InvokeAI 'invokeai_metadata' is damaged (not JSON"),
    "invoke3-a-string": (ff.invoke3_png('"landscape"'), "a JSON str, not an object"),
    "invoke3-wrong-types": (ff.invoke5_png(json.dumps({"positive_prompt": 5, "seed": "abc", "steps": [50],
                                                      "model": 3})),
                            "no usable generation parameters: positive_prompt=5 is not text; seed='abc' is not a"),
    "invoke2-not-json": (ff.invoke2_png(None, "{oops"), "InvokeAI 2 'sd-metadata' is damaged (not JSON"),
    "invoke2-image-not-object": (ff.invoke2_png(None, json.dumps({"image": "castle"})), "'image' is a str"),
    "invoke2-dream-no-prompt": (ff.invoke2_png("-s abc -S x"), "'Dream' command is damaged (no usable generation "
                                                              "parameters: -s='abc' is not a whole number"),
    "fooocus-not-json": (ff.fooocus_png("{broken"), "Fooocus 'parameters' JSON is damaged (not a JSON object)"),
    "fooocus-wrong-types": (ff.fooocus_png(json.dumps({"prompt": 5, "seed": "x", "resolution": [1, 2],
                                                       "version": "Fooocus v2.5.5"})),
                            "no usable generation parameters: prompt=5 is not text; seed='x' is not a whole number"),
    "fooocus-jpeg-not-json": (ff.fooocus_exif("{broken"), "Fooocus 'parameters' JSON is damaged"),
    "novelai-not-json": (ff.png([("Software", "NovelAI"), ("Comment", "{oops")]),
                         "NovelAI 'Comment' JSON is damaged (not JSON"),
    "novelai-a-list": (ff.png([("Software", "NovelAI"), ("Comment", "[28, 5.0]")]), "a JSON list, not an object"),
}


@pytest.mark.parametrize("name", list(DAMAGED))
def test_damaged_metadata_imports_a_plain_image_with_a_note(studio, tmp_path, name):
    data, expected = DAMAGED[name]
    suffix = ".jpg" if data[:2] == b"\xff\xd8" else ".png"
    record, source, notes, _ = import_one(studio, tmp_path, name + suffix, data)
    assert source == "none" and set(record.params) == {"width", "height"}
    assert any(expected in note for note in notes), notes
    assert notes[-1] == PLAIN_NOTE


@pytest.mark.parametrize("data, source, expected, note", [
    (ff.novelai_png("{oops", with_text=True), "novelai", {"prompt": ff.NOVELAI_PROMPT},
     "only the prompt (Description) was read"),
    (ff.invoke5_png(json.dumps({**ff.INVOKE5_META, "seed": "abc", "loras": "none"})), "invokeai",
     {"prompt": "dark abstract colored painting, 猫", "steps": 50}, "seed='abc' is not a whole number; left out"),
    (ff.invoke2_png(sd_metadata="{oops"), "invokeai", {"prompt": "a fantasy castle on a hill", "seed": 3914633383},
     "read the 'Dream' command instead"),
    (ff.fooocus_png(json.dumps({**json.loads(ff.FOOOCUS_JSON), "resolution": "big"})), "fooocus",
     {"seed": 1234567890}, "resolution='big' is not '(width, height)'; left out"),
])
def test_partly_damaged_metadata_keeps_what_it_can_and_says_what_it_left_out(studio, tmp_path, data, source,
                                                                            expected, note):
    record, got_source, notes, _ = import_one(studio, tmp_path, "partial.png", data)
    assert got_source == source
    assert_params(record.params, expected)
    assert any(note in n for n in notes), notes
