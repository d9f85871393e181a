"""Upscaling through spandrel on tiny ESRGAN files the project builds; downloads against a local HTTP server."""

import hashlib
import http.server
import socketserver
import threading

import numpy as np
import pytest
from PIL import Image

from gwen.errors import ImageRejected, InvalidInput, ModelUnavailable
from gwen.upscale import (UPSCALER_PRESETS, UpscaleSettings, Upscaler, build_tiny_esrgan, download_file,
                          resolve_upscaler)


@pytest.fixture(scope="session")
def tiny_esrgan(tmp_path_factory):
    root = tmp_path_factory.mktemp("esrgan")
    return {4: build_tiny_esrgan(root / "tiny-esrgan-x4.pth", 4), 2: build_tiny_esrgan(root / "tiny-esrgan-x2.pth", 2)}


@pytest.fixture(scope="session")
def upscaler():
    return Upscaler(device="cpu")


def noise_image(w, h, seed=0):
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def px(image):
    return np.asarray(image, dtype=np.int16)


def test_catalog_image_upscales_x4_into_a_child(studio, grid, tiny_esrgan):
    child = studio.upscale(grid[1].id, model=str(tiny_esrgan[4]))
    assert (child.width, child.height, child.op) == (256, 256, "upscale")
    assert child.parent_id == grid[1].id and child.root_id == grid[1].root_id
    up = child.params["upscale"]
    assert up["model_scale"] == 4 and up["scale"] == 4 and up["tile"] == 256 and up["pre_shrink"] == 1.0
    assert up["model_sha256"] == hashlib.sha256(tiny_esrgan[4].read_bytes()).hexdigest()
    with Image.open(studio.path_of(child)) as im:
        assert im.size == (256, 256)
        assert "Postprocess upscaler" in im.text["parameters"] and '"op":"upscale"' in im.text["gwen"]
    assert studio.lineage(child.id)["edges"][-1]["op"] == "upscale"
    assert studio.verify(child.id).identical
    from gwen.records import Filter, SearchQuery
    found = studio.search(SearchQuery(text="lighthouse", filters=(Filter.parse("upscale_scale>=4"),)))[0]
    assert [r.id for r in found] == [child.id]


def test_tiled_output_equals_untiled_output(upscaler, tiny_esrgan, capsys):
    loaded = upscaler.load(tiny_esrgan[4])
    image = noise_image(150, 110, seed=1)
    whole, tile_whole = upscaler.upscale(image, loaded, UpscaleSettings(tile=256))
    tiled, tile_used = upscaler.upscale(image, loaded, UpscaleSettings(tile=48, overlap=16))
    assert tile_whole == 256 and tile_used == 48 and whole.size == tiled.size == (600, 440)
    diff = np.abs(px(whole) - px(tiled))
    with capsys.disabled():
        print(f"\ntiled(48, overlap 16) vs untiled: max abs diff {diff.max()}/255, mean {diff.mean():.4f}")
    assert diff.max() <= 2  # feathered seams: invisible


def test_x2_unshuffle_model_respects_its_size_rule(upscaler, tiny_esrgan):
    loaded = upscaler.load(tiny_esrgan[2])
    assert loaded.scale == 2 and loaded.multiple_of == 4
    for w, h in ((63, 61), (64, 64), (90, 37)):
        out, _ = upscaler.upscale(noise_image(w, h), loaded, UpscaleSettings(tile=32))
        assert out.size == (2 * w, 2 * h)


def test_pre_shrink_and_final_scale(upscaler, tiny_esrgan):
    loaded = upscaler.load(tiny_esrgan[4])
    out, _ = upscaler.upscale(noise_image(100, 80), loaded, UpscaleSettings(pre_shrink=0.3, scale=2))
    assert out.size == (200, 160)
    out, _ = upscaler.upscale(noise_image(100, 80), loaded, UpscaleSettings(scale=1))
    assert out.size == (100, 80)


@pytest.mark.parametrize("kwargs, message", [
    ({"tile": 16}, "tile=16: must be at least 32"),
    ({"tile": 64.5}, "must be an integer"),
    ({"tile": "64"}, "must be an integer"),
    ({"pre_shrink": 0}, "pre-shrink=0"),
    ({"pre_shrink": 1.5}, "pre-shrink=1.5"),
    ({"pre_shrink": -0.2}, "pre-shrink=-0.2"),
])
def test_bad_settings(kwargs, message):
    with pytest.raises(InvalidInput, match=message):
        UpscaleSettings(**kwargs)


def test_bad_scale_and_output_budget(upscaler, tiny_esrgan):
    loaded = upscaler.load(tiny_esrgan[4])
    with pytest.raises(InvalidInput, match="choose a scale from 1 to 4"):
        UpscaleSettings(scale=8).check_against(loaded.scale, 64, 64)
    with pytest.raises(InvalidInput, match="choose a scale from 1 to 4"):
        UpscaleSettings(scale=0.5).check_against(loaded.scale, 64, 64)
    with pytest.raises(InvalidInput, match="over the output budget"):
        UpscaleSettings().check_against(loaded.scale, 4096, 4096)


def test_bad_models_and_sources_write_nothing(studio, grid, tiny_esrgan, tmp_path, home):
    from gwen.records import SearchQuery
    count = studio.search(SearchQuery())[1]
    with pytest.raises(ModelUnavailable, match="not a preset"):
        studio.upscale(grid[0].id, model="x8ultra")
    with pytest.raises(ModelUnavailable, match="no such file or folder here, and none named 'missing.pth'"):
        studio.upscale(grid[0].id, model=str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"definitely not a torch file")
    with pytest.raises(ModelUnavailable, match="spandrel cannot identify"):
        studio.upscale(grid[0].id, model=str(junk))
    import torch
    torch.save({"weight": torch.zeros(3, 3)}, tmp_path / "unknown.pth")
    with pytest.raises(ModelUnavailable, match="spandrel cannot identify"):
        studio.upscale(grid[0].id, model=str(tmp_path / "unknown.pth"))
    text = tmp_path / "text.png"
    text.write_text("not an image")
    with pytest.raises(ImageRejected, match="not an image"):
        studio.upscale(text, model=str(tiny_esrgan[4]))
    good = tmp_path / "good.png"
    noise_image(64, 64).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ImageRejected, match="truncated"):
        studio.upscale(truncated, model=str(tiny_esrgan[4]))
    big = tmp_path / "big.png"
    Image.new("RGB", (9000, 8000)).save(big)
    with pytest.raises(ImageRejected, match="over the limit"):
        studio.upscale(big, model=str(tiny_esrgan[4]))
    with pytest.raises(InvalidInput, match="tile=8"):
        studio.upscale(grid[0].id, model=str(tiny_esrgan[4]), tile=8)
    assert studio.search(SearchQuery())[1] == count
    assert len(list((home / "images").glob("**/*.png"))) == count


def test_upscaling_a_file_imports_it_first(studio, tiny_esrgan, tmp_path):
    source = tmp_path / "photo.png"
    noise_image(40, 30).save(source)
    child = studio.upscale(source, model=str(tiny_esrgan[4]))
    parent = studio.get(child.parent_id)
    assert parent.op == "import" and (child.width, child.height) == (160, 120)
    again = studio.upscale(source, model=str(tiny_esrgan[4]))
    assert again.parent_id == parent.id  # the same file is not imported twice


def test_oom_retries_with_smaller_tiles(upscaler, tiny_esrgan, monkeypatch):
    loaded = upscaler.load(tiny_esrgan[4])
    real = upscaler._run_tiled
    tiles = []

    def flaky(image, loaded_, tile, overlap):
        tiles.append(tile)
        if tile > 64:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(image, loaded_, tile, overlap)
    monkeypatch.setattr(upscaler, "_run_tiled", flaky)
    out, used = upscaler.upscale(noise_image(80, 80), loaded, UpscaleSettings(tile=256))
    assert tiles == [256, 128, 64] and used == 64 and out.size == (320, 320)


# --- downloads -------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""
    cut_after: int | None = None

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        body = self.payload if self.cut_after is None else self.payload[: self.cut_after]
        self.wfile.write(body)
        self.wfile.flush()
        if self.cut_after is not None:
            self.connection.shutdown(2)  # the connection drops mid-file

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    class Handler(_Handler):
        pass
    httpd = socketserver.TCPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield Handler, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_download_checks_size_and_sha256(server, tmp_path, tiny_esrgan):
    handler, base = server
    handler.payload = tiny_esrgan[4].read_bytes()
    sha = hashlib.sha256(handler.payload).hexdigest()
    target = tmp_path / "models" / "tiny.pth"
    assert download_file(f"{base}/tiny.pth", target, len(handler.payload), sha, progress=False) == target
    assert target.read_bytes() == handler.payload
    assert list(target.parent.iterdir()) == [target]


def test_checksum_mismatch_leaves_no_file(server, tmp_path):
    handler, base = server
    handler.payload = b"x" * 1000
    target = tmp_path / "m.pth"
    with pytest.raises(ModelUnavailable, match="checksum mismatch"):
        download_file(f"{base}/m.pth", target, 1000, "0" * 64, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_leaves_no_file(server, tmp_path):
    handler, base = server
    handler.payload = b"y" * 100_000
    handler.cut_after = 30_000
    target = tmp_path / "m.pth"
    with pytest.raises(ModelUnavailable, match="stopped at|interrupted"):
        download_file(f"{base}/m.pth", target, 100_000, None, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_presets_download_from_a_mirror_and_offline_says_where_to_put_the_file(server, tmp_path, monkeypatch):
    handler, base = server
    handler.payload = b"not the real weights"
    monkeypatch.setenv("GWEN_MODELS_MIRROR", base)
    with pytest.raises(ModelUnavailable) as err:
        resolve_upscaler("x4plus", tmp_path, progress=False)
    message = str(err.value)
    assert "RealESRGAN_x4plus.pth" in message and str(tmp_path / "RealESRGAN_x4plus.pth") in message
    assert "67,040,989 bytes" in message and UPSCALER_PRESETS["x4plus"].sha256 in message
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("GWEN_MODELS_MIRROR", "http://127.0.0.1:9")  # nothing listens: refused at once
    with pytest.raises(ModelUnavailable, match="could not download"):
        resolve_upscaler("general-x4v3", tmp_path, progress=False)


def test_preset_already_present_is_used_without_network(tmp_path):
    (tmp_path / "RealESRGAN_x2plus.pth").write_bytes(b"placed by hand")
    assert resolve_upscaler("x2plus", tmp_path) == tmp_path / "RealESRGAN_x2plus.pth"


@pytest.mark.parametrize("length", [31, 64, 256, 257, 300, 511, 512, 1000, 1024, 4099])
@pytest.mark.parametrize("tile, overlap, multiple", [(256, 16, 1), (64, 16, 4), (512, 16, 8), (48, 12, 1)])
def test_tile_layout_covers_with_the_fewest_evenly_shared_tiles(length, tile, overlap, multiple):
    from gwen.upscale import _layout

    size, starts = _layout(length, tile, overlap, multiple)
    if length <= tile:
        assert (size, starts) == (length, [0])
        return
    assert size <= tile and size % multiple == 0
    assert starts[0] == 0 and starts[-1] + size == length  # covered, nothing past the edge
    assert all(b - a <= size - 2 * overlap for a, b in zip(starts, starts[1:]))  # neighbours share 2·overlap
    assert len(starts) == -(-(length - 2 * overlap) // (tile - 2 * overlap))  # no more tiles than needed
