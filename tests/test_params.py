import pytest

from gwen.errors import InvalidInput
from gwen.params import SCHEDULERS, ImageParams, NoiseVariation, canonical_scheduler
from gwen.pnginfo import parse_a1111

BASE = dict(prompt="a cat", model="tiny", steps=20, guidance=7.0, width=512, height=512, seed=1)


def build(**changes):
    return ImageParams.build(**{**BASE, **changes})


@pytest.mark.parametrize("changes, words", [
    ({"prompt": ""}, ["prompt", "empty"]),
    ({"prompt": "   \n\t"}, ["prompt", "whitespace"]),
    ({"prompt": "x" * 2001}, ["2001", "at most 2000"]),
    ({"steps": 0}, ["steps=0", "1 to 150"]),
    ({"steps": -3}, ["steps=-3"]),
    ({"steps": 10000}, ["steps=10000"]),
    ({"guidance": -1.0}, ["guidance=-1.0", "0 to 30"]),
    ({"guidance": 1e6}, ["guidance=1000000.0"]),
    ({"guidance": float("nan")}, ["guidance=nan"]),
    ({"width": 500}, ["width=500", "multiple of 8"]),
    ({"height": 0}, ["height=0"]),
    ({"width": 2048, "height": 2048 + 8}, ["height=2056"]),
    ({"width": 4096}, ["width=4096"]),
    ({"seed": -1}, ["seed=-1", "0 to 4294967295"]),
    ({"seed": 2**32}, ["seed=4294967296"]),
    ({"scheduler": "Warp drive"}, ["scheduler='Warp drive'", "Euler a"]),
    ({"model": " "}, ["model"]),
    ({"denoise": 0.5}, ["init_image_id and denoise"]),
    ({"init_image_id": "X", "denoise": 1.5}, ["denoise=1.5"]),
    ({"init_image_id": "X", "denoise": 0.2, "steps": 3}, ["denoise=0.2 with steps=3", "at least 1"]),
    ({"colour": "blue"}, ["colour", "unknown parameter"]),
])
def test_bad_values_are_named_with_their_rule(changes, words):
    with pytest.raises(InvalidInput) as err:
        build(**changes)
    for word in words:
        assert word in str(err.value)


def test_pixel_budget():
    build(width=2048, height=2048)  # at the budget: fine
    with pytest.raises(InvalidInput):
        ImageParams.build(**{**BASE, "width": 2048, "height": 2048, "steps": 0})


def test_variation_strength_bounds():
    with pytest.raises(InvalidInput, match="variation strength=1.5"):
        build(variations=[{"seed": 3, "strength": 1.5}])


def test_frozen_and_canonical():
    p = build()
    with pytest.raises(Exception):
        p.steps = 3  # frozen
    same = ImageParams.from_json(p.canonical_json())
    assert same == p and same.params_hash() == p.params_hash()
    assert p.replace(seed=2).params_hash() != p.params_hash()
    assert p.canonical_json().startswith('{"denoise":null')  # sorted keys, no spaces


@pytest.mark.parametrize("loose, canonical", [
    ("euler_a", "Euler a"), ("EULER A", "Euler a"), ("euler_ancestral", "Euler a"),
    ("dpmpp_2m_karras", "DPM++ 2M Karras"), ("DPM++ 2M", "DPM++ 2M"), ("uni_pc", "UniPC"), ("lms", "LMS"),
])
def test_scheduler_aliases(loose, canonical):
    assert canonical_scheduler(loose) == canonical


def test_every_required_scheduler_is_known():
    for name in ("Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "PNDM", "LMS", "UniPC", "Turbo"):
        assert name in SCHEDULERS


def test_infotext_round_trips_through_the_a1111_parser():
    p = build(prompt='a "quoted", multi\nline prompt', negative_prompt="blurry, low quality",
              scheduler="DPM++ 2M Karras", guidance=6.5, width=640, height=448, seed=123456789,
              variations=(NoiseVariation(seed=99, strength=0.25),))
    parsed = parse_a1111(p.infotext({"Model hash": "abc123"}))
    assert parsed["prompt"] == p.prompt
    assert parsed["negative_prompt"] == p.negative_prompt
    assert (parsed["steps"], parsed["guidance"], parsed["seed"]) == (20, 6.5, 123456789)
    assert (parsed["width"], parsed["height"], parsed["scheduler"]) == (640, 448, "DPM++ 2M Karras")
    assert parsed["variations"] == [{"seed": 99, "strength": 0.25}]
    assert ImageParams.build(**{k: v for k, v in parsed.items() if k != "model_hash"}) == p
