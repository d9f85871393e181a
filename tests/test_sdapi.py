"""The A1111-compatible API (``/sdapi/v1``), driven by a real A1111 client library (``webuiapi`` from PyPI)
against a real ``gwen serve`` subprocess on the tiny model. Every image made lands in the catalog, which the
tests read back through ``RemoteStudio``."""

from __future__ import annotations

import base64
import io
import json
import os
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from gwen.records import SearchQuery
from tests.servers import TOKEN, served_home, start_server, stop

try:
    import webuiapi  # the A1111 client library under test (requirements-dev.txt)
except ImportError:
    if os.environ.get("CI"):
        raise  # CI installs requirements-dev.txt: these tests are never skipped there
    pytest.skip("webuiapi (requirements-dev.txt) is the A1111 client under test", allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models):
    from gwen.tiny_models import build_tiny_lora

    home, token_file = served_home(tmp_path_factory.mktemp("sdapi"), tiny_models["sd"])
    build_tiny_lora(tiny_models["sd"], home / "models" / "lora" / "tiny-lora.safetensors")
    proc, url = start_server(home, token_file)
    yield {"url": url, "home": home, "port": int(url.rsplit(":", 1)[1])}
    stop(proc)


@pytest.fixture(scope="module")
def api(server):
    client = webuiapi.WebUIApi(host="127.0.0.1", port=server["port"], username="anyone", password=TOKEN)
    client.util_set_model("tiny-sd")
    return client


@pytest.fixture(scope="module")
def remote(server):
    from gwen.remote import RemoteStudio

    studio = RemoteStudio(server["url"], TOKEN)
    yield studio
    studio.close()


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def catalog_size(remote) -> int:
    return remote.search(SearchQuery(limit=1))[1]


def post(server, route: str, body: dict, auth=("u", TOKEN)) -> httpx.Response:
    return httpx.post(f"{server['url']}/sdapi/v1/{route}", json=body, auth=auth, timeout=120)


def test_basic_auth_with_the_token_as_password_and_401_without(server):
    url = f"{server['url']}/sdapi/v1/sd-models"
    assert httpx.get(url, auth=("whoever", TOKEN)).status_code == 200
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert httpx.get(url, auth=("whoever", "wrong-password-123456")).status_code == 401
    answer = httpx.get(url)
    assert answer.status_code == 401 and "error" in answer.json()
    anonymous = webuiapi.WebUIApi(host="127.0.0.1", port=server["port"])
    with pytest.raises(RuntimeError) as refused:
        anonymous.txt2img(prompt="a lighthouse", steps=2, width=64, height=64)
    assert refused.value.args[0] == 401


def test_models_options_samplers_schedulers_upscalers(api, server):
    assert "tiny-sd" in api.util_get_model_names()
    assert api.util_get_current_model() == "tiny-sd"
    assert 'model = "tiny-sd"' in (server["home"] / "settings.toml").read_text()  # the user's default from now on
    assert {"Euler a", "Euler", "DPM++ 2M", "DDIM"} <= set(api.util_get_sampler_names())
    assert {"automatic", "karras"} <= set(api.util_get_scheduler_names())
    upscalers = {u["name"]: u for u in api.get_upscalers()}
    assert upscalers["tiny"]["scale"] == 4 and "tiny-esrgan-x4.pth" not in upscalers  # the preset's own file
    assert api.get_scripts() == {"txt2img": [], "img2img": []}
    refused = post(server, "options", {"sd_model_checkpoint": "no-such-model.safetensors"})
    assert refused.status_code == 400 and "no-such-model" in refused.json()["error"]
    assert api.util_get_current_model() == "tiny-sd"


def test_txt2img_answers_like_a1111_and_lands_in_the_catalog(api, remote):
    result = api.txt2img(prompt="a lighthouse at dusk", negative_prompt="fog", seed=7, steps=3, cfg_scale=5,
                         width=64, height=64, batch_size=2, n_iter=2, sampler_name="Euler a")
    assert len(result.images) == 4 and all(im.size == (64, 64) for im in result.images)
    info = result.info
    assert info["seed"] == 7 and info["all_seeds"] == [7, 8, 9, 10]
    assert info["sampler_name"] == "Euler a" and info["steps"] == 3 and info["cfg_scale"] == 5
    assert info["all_prompts"] == ["a lighthouse at dusk"] * 4 and info["negative_prompt"] == "fog"
    assert len(info["infotexts"]) == 4 and "Seed: 8" in info["infotexts"][1]
    assert result.parameters["prompt"] == "a lighthouse at dusk" and result.parameters["seed"] == 7
    records = [remote.get(i) for i in info["gwen_ids"]]
    assert [r.params["seed"] for r in records] == [7, 8, 9, 10] and {r.op for r in records} == {"generate"}
    assert records[0].params["scheduler"] == "Euler a"
    found, total = remote.search(SearchQuery(text="lighthouse"))
    assert {r.id for r in found} >= set(info["gwen_ids"])
    assert remote.rate(records[2].id, 5).rating == 5
    same = remote.generate("a lighthouse at dusk", negative="fog", model="tiny-sd", n=2, seed=9, steps=3,
                           guidance=5, width=64, height=64, scheduler="Euler a")
    with Image.open(remote.path_of(same[0])) as again:
        assert np.array_equal(pixels(again), pixels(result.images[2]))  # batch 2 of A1111 = GWEN's grid seed 9


def test_a1111_sampler_and_schedule_pairs_map_to_gwen_schedulers(api, remote):
    result = api.txt2img(prompt="a pier", seed=3, steps=2, width=64, height=64, sampler_name="DPM++ 2M",
                         scheduler="karras")
    assert remote.get(result.info["gwen_ids"][0]).params["scheduler"] == "DPM++ 2M Karras"
    legacy = api.txt2img(prompt="a pier", seed=3, steps=2, width=64, height=64, sampler_name="DPM++ 2M Karras")
    assert remote.get(legacy.info["gwen_ids"][0]).params["scheduler"] == "DPM++ 2M Karras"
    uniform = api.txt2img(prompt="a pier", seed=3, steps=2, width=64, height=64, sampler_name="DPM++ 2M",
                          scheduler="uniform")
    assert remote.get(uniform.info["gwen_ids"][0]).params["scheduler"] == "DPM++ 2M"
    assert uniform.info["sampler_name"] == "DPM++ 2M"


def test_lora_tags_in_the_prompt_and_the_lora_list(api, remote, server):
    from gwen.lora import short_hash

    assert [lo["name"] for lo in api.get_loras()] == ["tiny-lora"]
    plain = api.txt2img(prompt="a lantern", seed=13, steps=3, width=64, height=64)
    styled = api.txt2img(prompt="a lantern <lora:tiny-lora:1>", seed=13, steps=3, width=64, height=64)
    record = remote.get(styled.info["gwen_ids"][0])
    expected = short_hash(server["home"] / "models" / "lora" / "tiny-lora.safetensors")
    assert record.params["loras"] == [{"name": "tiny-lora", "weight": 1.0, "hash": expected}]
    assert f'Lora hashes: "tiny-lora: {expected}"' in styled.info["infotexts"][0]
    assert np.abs(pixels(styled.image) - pixels(plain.image)).mean() > 1  # the LoRA changed the image
    missing = post(server, "txt2img", {"prompt": "a lantern <lora:nowhere:1>", "steps": 2, "width": 64, "height": 64})
    assert missing.status_code == 400 and "nowhere.safetensors" in missing.json()["error"]


def test_styles_are_listed_and_applied_like_a1111s(api, remote, server):
    from gwen.styles import BUILT_IN, apply

    listed = {style["name"]: style for style in api.get_prompt_styles()}
    assert set(listed["Cinematic"]) == {"name", "prompt", "negative_prompt"}
    assert listed["Cinematic"]["prompt"] == BUILT_IN[0].prompt
    result = api.txt2img(prompt="a lantern", negative_prompt="fog", styles=["Cinematic", "Enhance"], seed=3, steps=2,
                         width=64, height=64)
    record = remote.get(result.info["gwen_ids"][0])
    expected = apply("a lantern", "fog", [BUILT_IN[0], BUILT_IN[-1]])
    assert (record.params["prompt"], record.params["negative_prompt"]) == expected
    assert record.params["styles"] == ["Cinematic", "Enhance"] and result.info["styles"] == ["Cinematic", "Enhance"]
    assert result.info["all_prompts"] == [expected[0]]  # A1111 answers with the prompts as rendered
    unknown = post(server, "txt2img", {"prompt": "a lantern", "styles": ["Nope", "Enhance"], "steps": 2, "width": 64,
                                        "height": 64})  # A1111 ignores a style name it does not know
    assert unknown.status_code == 200, unknown.text
    record = remote.get(json.loads(unknown.json()["info"])["gwen_ids"][0])
    assert record.params["styles"] == ["Enhance"]
    assert record.params["prompt"] == apply("a lantern", "", [BUILT_IN[-1]])[0]


def test_variation_seed_is_a_noise_variation(api, remote):
    result = api.txt2img(prompt="a dune", seed=11, subseed=99, subseed_strength=0.3, steps=2, width=64, height=64)
    record = remote.get(result.info["gwen_ids"][0])
    assert record.params["variations"] == [{"seed": 99, "strength": 0.3}]
    assert result.info["subseed"] == 99 and result.info["subseed_strength"] == 0.3


def test_img2img_of_an_image_gwen_has_becomes_its_child(api, remote):
    source = api.txt2img(prompt="a red barn", seed=21, steps=2, width=64, height=64)
    parent_id = source.info["gwen_ids"][0]
    before = catalog_size(remote)
    child = api.img2img(images=[source.image], prompt="a red barn in snow", seed=5, steps=4, width=64, height=64,
                        denoising_strength=0.6)
    record = remote.get(child.info["gwen_ids"][0])
    assert record.op == "img2img" and record.parent_id == parent_id
    assert record.params["init_image_id"] == parent_id and record.params["denoise"] == 0.6
    assert child.info["denoising_strength"] == 0.6 and catalog_size(remote) == before + 1  # the source not copied
    assert parent_id in {n["id"] for n in remote.lineage(record.id)["nodes"]}


def test_img2img_of_a_foreign_image_imports_it_first(api, remote):
    foreign = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    child = api.img2img(images=[foreign], prompt="a painting", seed=1, steps=4, width=64, height=64,
                        denoising_strength=0.5)
    record = remote.get(child.info["gwen_ids"][0])
    parent = remote.get(record.parent_id)
    assert record.op == "img2img" and parent.op == "import"


def test_png_info_reads_gwen_and_a1111_text(api, server):
    made = api.txt2img(prompt="a green door", seed=42, steps=2, width=64, height=64, cfg_scale=6)
    info = api.png_info(made.image)
    assert info.info.startswith("a green door") and "Seed: 42" in info.info
    assert info.parameters["Seed"] == "42" and info.parameters["Size-1"] == "64"
    assert info.parameters["Prompt"] == "a green door" and info.parameters["CFG scale"] == "6"
    plain = api.png_info(Image.new("RGB", (16, 16)))
    assert plain.info == "" and plain.parameters == {}


def test_extra_single_image_upscales_into_the_catalog(api, remote):
    made = api.txt2img(prompt="a small boat", seed=8, steps=2, width=64, height=64)
    result = api.extra_single_image(image=made.image, upscaler_1="tiny", upscaling_resize=4)
    assert result.image.size == (256, 256) and "Postprocess upscaler: tiny" in result.info
    upscaled, _ = remote.search(SearchQuery(text="small boat", op="upscale"))
    assert upscaled and upscaled[0].parent_id == made.info["gwen_ids"][0]


def test_progress_preview_skip_and_interrupt(api, remote, server):
    assert api.get_progress()["state"]["job_count"] == 0
    answer: dict = {}
    worker = threading.Thread(target=lambda: answer.update(result=api.txt2img(
        prompt="a long night", seed=500, steps=30, width=64, height=64, n_iter=4)))
    worker.start()
    try:
        seen = wait_for(api, lambda p: p["state"]["job_no"] == 1 and p["current_image"] is not None)
        assert seen["state"]["job_count"] == 4 and 0 < seen["progress"] < 1
        preview = Image.open(io.BytesIO(base64.b64decode(seen["current_image"])))
        assert preview.size[0] > 0
        api.skip()
        wait_for(api, lambda p: p["state"]["job_no"] == 2 and p["state"]["sampling_step"] >= 1)
    finally:
        api.interrupt()  # also when an assertion failed: later tests must not wait behind this render
        worker.join(timeout=300)
    result = answer["result"]
    assert result.info["all_seeds"] == [500]  # batch 0 done, batch 1 skipped, batch 2 interrupted, 3 never ran
    seeds = {r.params["seed"] for r in remote.search(SearchQuery(text="long night"))[0]}
    assert seeds == {500}
    assert wait_for(api, lambda p: p["state"]["job_count"] == 0)["progress"] == 0.0


def wait_for(api, condition, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        progress = api.get_progress()
        if condition(progress):
            return progress
        time.sleep(0.05)
    raise AssertionError(f"progress never reached the state; last: {progress}")


BAD_REQUESTS = [
    ("txt2img", {"prompt": "x", "enable_hr": True}, "enable_hr"),
    ("txt2img", {"prompt": "x", "restore_faces": True}, "restore_faces"),
    ("txt2img", {"prompt": "x", "tiling": True}, "tiling"),
    ("txt2img", {"prompt": "x", "script_name": "x/y/z plot"}, "script_name"),
    ("txt2img", {"prompt": "x", "sampler_name": "Bogus Sampler"}, "Bogus Sampler"),
    ("txt2img", {"prompt": "x", "sampler_name": "Euler", "scheduler": "wobbly"}, "wobbly"),
    ("txt2img", {"prompt": "x", "width": 65, "height": 64, "steps": 2}, "width=65"),
    ("txt2img", {"prompt": "x", "steps": 0, "width": 64, "height": 64}, "steps=0"),
    ("txt2img", {"prompt": "x", "batch_size": 0}, "batch_size"),
    ("txt2img", {"prompt": "x", "override_settings": {"sd_model_checkpoint": "../../etc/passwd"}}, "passwd"),
    ("img2img", {"prompt": "x"}, "init_images"),
    ("img2img", {"prompt": "x", "init_images": ["%%%not-base64%%%"]}, "base64"),
    ("img2img", {"prompt": "x", "init_images": ["https://example.com/a.png"]}, "URL"),
    ("img2img", {"prompt": "x", "init_images": ["iVBORw0KGgo="], "mask": "iVBORw0KGgo="}, "mask"),
    ("img2img", {"prompt": "x", "init_images": [base64.b64encode(b"not an image").decode()]}, "image"),
    ("img2img", {"prompt": "x", "init_images": ["iVBORw0KGgo="], "resize_mode": 2}, "resize_mode"),
    ("img2img", {"prompt": "x", "init_images": ["iVBORw0KGgo="], "denoising_strength": 1.5}, "denoising_strength"),
    ("extra-single-image", {"image": "", "upscaler_1": "tiny"}, "image"),
    ("png-info", {"image": "!!!"}, "base64"),
]


@pytest.mark.parametrize("route,body,named", BAD_REQUESTS, ids=[f"{r}:{n}" for r, _, n in BAD_REQUESTS])
def test_bad_requests_are_400_naming_the_field_and_write_nothing(server, remote, route, body, named):
    before = catalog_size(remote)
    answer = post(server, route, body)
    assert answer.status_code in (400, 422), answer.text
    assert named.lower() in answer.text.lower()
    assert catalog_size(remote) == before


def test_extras_refuses_what_gwen_cannot_do(server, remote, api):
    made = api.txt2img(prompt="a kite", seed=2, steps=2, width=64, height=64)
    buffer = io.BytesIO()
    made.image.save(buffer, format="PNG")
    image = base64.b64encode(buffer.getvalue()).decode()
    before = catalog_size(remote)
    for body, named in (({"upscaler_1": "Lanczos"}, "Lanczos"), ({"upscaler_1": "tiny", "gfpgan_visibility": 1},
                                                                   "gfpgan_visibility"),
                        ({"upscaler_1": "tiny", "resize_mode": 1, "upscaling_resize_w": 256,
                          "upscaling_resize_h": 128}, "upscaling_resize_w")):
        answer = post(server, "extra-single-image", {"image": image, **body})
        assert answer.status_code == 400 and named in answer.json()["error"], answer.text
    assert catalog_size(remote) == before
