"""LoRAs with A1111's prompt syntax: tags parsed and stripped, files located inside models/lora, applied through
diffusers + peft for one job and unloaded after it, recorded with A1111's hash. Renders go through the real
Studio.generate path on the tiny model with a tiny LoRA built by peft."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwen.boundary import ModelBoundary
from gwen.engine import plan_chunks
from gwen.errors import InvalidInput
from gwen.lora import locate, short_hash
from gwen.params import ImageParams
from gwen.prompt_tags import lora_tags, strip_lora_tags

OPTIONS = dict(n=1, seed=21, steps=3, guidance=5.0, width=64, height=64, scheduler="Euler a")


def addnet_hash(path: Path) -> str:
    """A1111's LoRA short hash, computed independently: sha256 of a .safetensors' bytes after its header."""
    data = path.read_bytes()
    return hashlib.sha256(data[8 + int.from_bytes(data[:8], "little"):]).hexdigest()[:12]


@pytest.fixture(scope="module")
def lora_file(tiny_models, tmp_path_factory) -> Path:
    from gwen.tiny_models import build_tiny_lora

    return build_tiny_lora(tiny_models["sd"], tmp_path_factory.mktemp("lora") / "tinylora.safetensors")


@pytest.fixture(scope="module")
def lora_studio(tmp_path_factory, lora_file):
    """A studio whose engine reads this GWEN_HOME's models folder, with models/lora/tinylora.safetensors."""
    from gwen.studio import Studio

    home = tmp_path_factory.mktemp("lora-home")
    (home / "models" / "lora").mkdir(parents=True)
    shutil.copyfile(lora_file, home / "models" / "lora" / "tinylora.safetensors")
    studio = Studio(home)
    yield studio
    studio.close()


@pytest.fixture(scope="module")
def renders(lora_studio, tiny_sd):
    """The same params before, with weight 0, with weight 1, and after a LoRA job."""
    out = {}
    for key, prompt in (("before", "a red boat"), ("zero", "a red boat <lora:tinylora:0>"),
                        ("one", "a red boat <lora:tinylora:1>"), ("after", "a red boat")):
        [out[key]] = lora_studio.generate(prompt, model=tiny_sd, **OPTIONS)
    return out


def image_count(studio) -> int:
    return len(list((studio.home / "images").rglob("*.png")))


def pixels(studio, record) -> np.ndarray:
    with Image.open(studio.library.path_of(record)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


# --- the tag syntax ----------------------------------------------------------------------------------------------
def test_tags_give_names_and_weights_and_leave_the_text():
    prompt = "a cat <lora:ink:0.6>, <lora:film grain> and <lora:ink:0.4>"
    assert lora_tags(prompt) == (("ink", 1.0), ("film grain", 1.0))
    assert strip_lora_tags(prompt) == "a cat ,  and "
    assert lora_tags("no tags <lyco:x>") == ()


@pytest.mark.parametrize("tag, says", [
    ("<lora:../outside:1>", "'../outside'"), ("<lora:/etc/passwd>", "'/etc/passwd'"), ("<lora:a\\b>", "plain file"),
    ("<lora:ink:strong>", "'strong' must be a number"), ("<lora:ink:11>", "from -10 to 10"),
    ("<lora:ink:nan>", "from -10 to 10"), ("<lora:ink:1:0.5>", "only <lora:NAME>"), ("<lora::1>", "must name"),
])
def test_bad_tags_are_refused_naming_the_value_and_the_rule(tag, says):
    with pytest.raises(InvalidInput) as info:
        ImageParams.build(prompt=f"a cat {tag}", model="tiny")
    assert says in str(info.value) and tag in str(info.value)


# --- the params field ----------------------------------------------------------------------------------------------
def test_params_without_loras_keep_their_canonical_json_and_hash():
    params = ImageParams.build(prompt="a lighthouse at dusk", negative_prompt="fog", model="tiny", seed=42, steps=12,
                               guidance=6.5, width=64, height=96, variations=[{"seed": 7, "strength": 0.25}])
    # the canonical JSON and hash these params had before the loras field existed
    assert params.canonical_json() == (
        '{"denoise":null,"guidance":6.5,"height":96,"init_image_id":null,"model":"tiny","negative_prompt":"fog",'
        '"prompt":"a lighthouse at dusk","scheduler":"Euler a","seed":42,"steps":12,'
        '"variations":[{"seed":7,"strength":0.25}],"width":64}')
    assert params.params_hash() == "ea52c8f93933358b2b6b4514788c52e5d9acbb48ac8969d48e9b543954268805"
    tagged = params.replace(prompt="a lighthouse at dusk <lora:ink:0.5>")
    assert tagged.to_dict()["loras"] == [{"name": "ink", "weight": 0.5, "hash": None}]
    assert tagged.params_hash() != params.params_hash()


def test_loras_follow_the_tags_and_keep_an_imported_hash():
    imported = {"prompt": "a cat <lora:ink:0.7>", "model": "tiny",
                "loras": [{"name": "ink", "weight": 0.7, "hash": "0123456789AB"},
                          {"name": "gone", "weight": 1.0, "hash": "ba9876543210"}]}
    params = ImageParams.from_json(imported)
    assert [lora.model_dump() for lora in params.loras] == [{"name": "ink", "weight": 0.7, "hash": "0123456789ab"}]
    assert ImageParams.from_json({"prompt": "a cat", "model": "tiny"}).loras == ()  # an old record


def test_infotext_writes_lora_hashes_as_a1111_does():
    params = ImageParams.build(prompt="a cat <lora:ink:0.5> <lora:film:1>", model="tiny",
                               loras=[{"name": "ink", "weight": 0.5, "hash": "0123456789ab"},
                                      {"name": "film", "weight": 1, "hash": "ba9876543210"}])
    assert 'Lora hashes: "ink: 0123456789ab, film: ba9876543210"' in params.infotext()


def test_params_with_different_lora_sets_never_share_a_pipeline_call():
    base = ImageParams.build(prompt="a cat", model="tiny", steps=2, width=64, height=64)
    grid = [base, base.replace(seed=1), base.replace(prompt="a cat <lora:ink:1>"),
            base.replace(prompt="a cat <lora:ink:1>", seed=1), base.replace(prompt="a cat <lora:ink:0.5>")]
    assert [len(chunk) for chunk in plan_chunks(grid, lambda _first: 8)] == [2, 2, 1]


# --- files -------------------------------------------------------------------------------------------------------
def test_lora_names_stay_inside_the_lora_folder(tmp_path):
    models = tmp_path / "models"
    (models / "lora").mkdir(parents=True)
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(b"x")
    (models / "lora" / "link.safetensors").symlink_to(outside)
    with pytest.raises(InvalidInput, match="plain file name"):
        locate("../secret", models)
    with pytest.raises(InvalidInput, match="link.safetensors"):
        locate("link", ModelBoundary(models, confined=True))  # a served studio follows no link out
    assert locate("link", models) == outside.resolve()  # the user's own machine: their link


def test_short_hash_is_a1111s(lora_file):
    assert short_hash(lora_file) == addnet_hash(lora_file)
    assert short_hash(lora_file) != hashlib.sha256(lora_file.read_bytes()).hexdigest()[:12]


# --- rendering ---------------------------------------------------------------------------------------------------
def test_weight_zero_renders_exactly_like_no_lora(lora_studio, renders):
    assert np.array_equal(pixels(lora_studio, renders["zero"]), pixels(lora_studio, renders["before"]))


def test_weight_one_changes_the_image(lora_studio, renders):
    assert np.abs(pixels(lora_studio, renders["one"]) - pixels(lora_studio, renders["before"])).mean() > 2.0


def test_the_job_after_a_lora_job_renders_as_before_it(lora_studio, renders):
    assert np.array_equal(pixels(lora_studio, renders["after"]), pixels(lora_studio, renders["before"]))
    assert lora_studio.engine.loaded.pipe.get_list_adapters() == {}  # nothing left loaded


def test_record_carries_the_lora_and_the_tagged_prompt(lora_studio, renders, lora_file):
    record = renders["one"]
    assert record.params["prompt"] == "a red boat <lora:tinylora:1>"
    assert record.params["loras"] == [{"name": "tinylora", "weight": 1.0, "hash": addnet_hash(lora_file)}]
    assert "loras" not in renders["before"].params
    assert f'Lora hashes: "tinylora: {addnet_hash(lora_file)}"' in lora_studio.infotext(record)


def test_verify_rerenders_a_lora_image_with_its_lora(lora_studio, renders):
    assert lora_studio.verify(renders["one"].id).max_diff == 0


def test_missing_lora_is_an_input_error_before_any_render(lora_studio, tiny_sd):
    before = image_count(lora_studio)
    with pytest.raises(InvalidInput) as info:
        lora_studio.generate("a red boat <lora:nowhere:0.8>", model=tiny_sd, **OPTIONS)
    folder = (lora_studio.home / "models" / "lora").resolve()
    assert f"put nowhere.safetensors in {folder}/" in str(info.value)
    assert image_count(lora_studio) == before


def test_escaping_name_is_refused_before_any_render(lora_studio, tiny_sd):
    before = image_count(lora_studio)
    with pytest.raises(InvalidInput, match=r"\.\./tinylora"):
        lora_studio.generate("a red boat <lora:../tinylora:1>", model=tiny_sd, **OPTIONS)
    assert image_count(lora_studio) == before
