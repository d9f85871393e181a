"""PNG metadata written by GWEN and read from A1111/Forge, ComfyUI and InvokeAI files; hostile files."""

import json
import zlib

import pytest
from PIL import Image, PngImagePlugin

from gwen.errors import ImageRejected
from gwen.pnginfo import parse_a1111, parse_comfyui, parse_invokeai, read_metadata

A1111_TEXT = """masterpiece, a "cozy" cabin,
snowy forest at night
Negative prompt: blurry, lowres
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3141592653, Size: 512x768, \
Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "detail: abc123, style: def456", Version: v1.10.1"""

COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 156680208700286, "steps": 20, "cfg": 8.0,
                                               "sampler_name": "euler", "scheduler": "normal", "denoise": 1.0,
                                               "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0],
                                               "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "beautiful scenery nature glass bottle",
                                                     "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
}

INVOKE_META = {"generation_mode": "txt2img", "positive_prompt": "a tabby cat on a windowsill",
               "negative_prompt": "dog", "width": 640, "height": 512, "seed": 2233, "cfg_scale": 7.5,
               "steps": 30, "scheduler": "dpmpp_2m_k", "model": {"key": "abc", "name": "Deliberate v5",
                                                                  "base": "sd-1", "type": "main"}}


def png_with(path, chunks: dict[str, str], size=(64, 64)):
    info = PngImagePlugin.PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v)
    Image.new("RGB", size, (120, 30, 200)).save(path, pnginfo=info)
    return path


def test_parse_a1111_quoted_values_and_multiline_prompt():
    p = parse_a1111(A1111_TEXT)
    assert p["prompt"] == 'masterpiece, a "cozy" cabin,\nsnowy forest at night'
    assert p["negative_prompt"] == "blurry, lowres"
    assert (p["steps"], p["guidance"], p["seed"], p["width"], p["height"]) == (28, 6.5, 3141592653, 512, 768)
    assert p["scheduler"] == "DPM++ 2M Karras" and p["model"] == "v1-5-pruned-emaonly"
    assert p["model_hash"] == "6ce0161689"


def test_parse_a1111_prompt_only_and_garbage():
    assert parse_a1111("just a prompt") == {"prompt": "just a prompt"}
    assert parse_a1111("") == {}


def test_parse_comfyui_graph():
    p = parse_comfyui(json.dumps(COMFY_PROMPT))
    assert p["prompt"] == "beautiful scenery nature glass bottle" and p["negative_prompt"] == "text, watermark"
    assert (p["seed"], p["steps"], p["guidance"], p["width"], p["height"]) == (156680208700286, 20, 8.0, 512, 512)
    assert p["scheduler"] == "Euler" and p["model"] == "v1-5-pruned-emaonly.safetensors"
    assert parse_comfyui("{not json") == {} and parse_comfyui(json.dumps({"1": {"class_type": "Foo"}})) == {}


def test_parse_invokeai():
    p = parse_invokeai(json.dumps(INVOKE_META))
    assert p["prompt"] == "a tabby cat on a windowsill" and p["negative_prompt"] == "dog"
    assert (p["seed"], p["steps"], p["guidance"], p["width"], p["height"]) == (2233, 30, 7.5, 640, 512)
    assert p["scheduler"] == "DPM++ 2M Karras" and p["model"] == "Deliberate v5"


@pytest.mark.parametrize("chunks, source, expected", [
    ({"parameters": A1111_TEXT}, "a1111", {"seed": 3141592653, "steps": 28, "guidance": 6.5, "width": 512}),
    ({"prompt": json.dumps(COMFY_PROMPT), "workflow": "{}"}, "comfyui", {"seed": 156680208700286, "steps": 20}),
    ({"invokeai_metadata": json.dumps(INVOKE_META)}, "invokeai", {"seed": 2233, "steps": 30, "guidance": 7.5}),
    ({}, "none", {}),
])
def test_import_reads_each_tool(studio, tmp_path, chunks, source, expected):
    path = png_with(tmp_path / "in.png", chunks)
    result = studio.import_paths([path])
    (record,) = result["imported"]
    assert record.op == "import" and record.parent_id is None and record.import_source.startswith(source)
    for key, value in expected.items():
        assert record.params[key] == value
    assert record.width == 64  # the file's pixel size; params keep the generation size
    stored = studio.path_of(record)
    with Image.open(stored) as im:
        meta = read_metadata(im)
        assert meta.source == "gwen" and meta.record["id"] == record.id
        if "parameters" in chunks:
            assert im.text["parameters"] == A1111_TEXT  # the original chunk is kept for A1111/Civitai
    again = studio.import_paths([path])
    assert again["imported"] == [] and "already in the catalog" in again["skipped"][0]["reason"]


def test_imported_a1111_image_with_complete_params_can_be_searched(studio, tmp_path):
    png_with(tmp_path / "a.png", {"parameters": A1111_TEXT})
    studio.import_paths([tmp_path])
    from gwen.records import Filter, SearchQuery

    found, total = studio.search(SearchQuery(text="cabin", filters=(Filter.parse("guidance>=6"),)))
    assert total == 1 and found[0].params["scheduler"] == "DPM++ 2M Karras"


def _bomb(path):
    # A 1-bit 12000x12000 PNG (144 MP) compresses to a few kB: Pillow's decompression-bomb guard must refuse it.
    import struct

    width = height = 12000
    raw = zlib.compress(b"".join(b"\x00" + b"\x00" * (width // 8) for _ in range(height)), 9)

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", raw) + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("maker, message", [
    (lambda p: p.write_bytes(open(png_with(p.with_suffix(".src.png"), {}), "rb").read()[:60]) or p,
     "damaged or truncated"),
    (lambda p: p.write_text("this is not a picture") or p, "not an image"),
    (_bomb, "decompression bomb"),
])
def test_hostile_files_are_refused_and_nothing_is_written(studio, home, tmp_path, maker, message):
    from tests.conftest import nothing_written

    good = png_with(tmp_path / "good.png", {})
    bad = tmp_path / "bad.png"
    maker(bad)
    with pytest.raises(ImageRejected, match=message):
        studio.import_paths([good, bad])  # all files are checked before any is written
    assert nothing_written(home)


def test_missing_path_is_refused(studio, tmp_path):
    with pytest.raises(ImageRejected, match="no such file"):
        studio.import_paths([tmp_path / "nope.png"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageRejected, match="no images"):
        studio.import_paths([tmp_path / "empty"])


def test_text_chunks_after_the_pixel_data_are_read_too(tmp_path):
    """Pillow writes text before IDAT, other tools may append it after; the fast path must not miss those."""
    buffer = tmp_path / "plain.png"
    Image.new("RGB", (16, 16), "navy").save(buffer)
    data = buffer.read_bytes()
    body = b"parameters\x00" + A1111_TEXT.encode("latin-1")
    chunk = len(body).to_bytes(4, "big") + b"tEXt" + body + zlib.crc32(b"tEXt" + body).to_bytes(4, "big")
    iend = data.rindex(b"IEND") - 4
    late = tmp_path / "late.png"
    late.write_bytes(data[:iend] + chunk + data[iend:])
    with Image.open(late) as im:
        assert "parameters" not in im.info  # really after the pixels
        meta = read_metadata(im)
    assert meta.source == "a1111" and meta.params["seed"] == 3141592653 and meta.params["steps"] == 28
