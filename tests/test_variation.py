import pytest

from gwen.errors import InvalidInput
from gwen.params import ImageParams, NoiseVariation
from gwen.variation import (STRENGTH_PRESETS, JitterRanges, VariationPlan, denoise_for, parse_modes,
                            parse_strength, reroll, sample_children)

PARENT = ImageParams.build(prompt="a castle", model="tiny", steps=20, guidance=7.0, width=64, height=64, seed=5,
                           scheduler="Euler a")


def plan(s=0.3, modes=("noise", "jitter"), prompt=None):
    return VariationPlan(s, modes, None, prompt)


def test_presets_cover_the_notebook_names_and_order():
    for name in ("subtle", "strong", "low", "moderate", "high", "very-high"):
        assert parse_strength(name)[1] == name
    assert parse_strength("very high")[0] == STRENGTH_PRESETS["very-high"]
    order = [STRENGTH_PRESETS[k] for k in ("low", "moderate", "high", "very-high")]
    assert order == sorted(order)
    assert STRENGTH_PRESETS["subtle"] < STRENGTH_PRESETS["strong"]
    assert parse_strength("0.42") == (0.42, None)


@pytest.mark.parametrize("bad", ["1.5", "-0.1", "medium-rare", "", 2.0])
def test_bad_strength(bad):
    with pytest.raises(InvalidInput, match="strength"):
        parse_strength(bad)


def test_modes():
    assert parse_modes("mix") == ("noise", "jitter")
    assert parse_modes("img2img,jitter") == ("img2img", "jitter")
    with pytest.raises(InvalidInput, match="unknown variation mode"):
        parse_modes("blur")
    with pytest.raises(InvalidInput, match="img2img already draws fresh noise"):
        parse_modes("noise,img2img")


def test_noise_children_keep_seed_and_append_a_variation():
    kids = sample_children(PARENT, "P" * 26, 4, plan(0.3, ("noise",)), sampler_seed=1)
    assert len(kids) == 4
    for kid in kids:
        assert kid.seed == PARENT.seed and kid.prompt == PARENT.prompt
        assert len(kid.variations) == 1 and kid.variations[0].strength == 0.3
        assert (kid.steps, kid.guidance, kid.scheduler) == (PARENT.steps, PARENT.guidance, PARENT.scheduler)
    assert len({k.variations[0].seed for k in kids}) == 4


def test_a_variation_of_a_variation_extends_the_chain():
    child = PARENT.replace(variations=(NoiseVariation(seed=9, strength=0.2),))
    grandchild = sample_children(child, "C" * 26, 1, plan(0.5, ("noise",)), sampler_seed=2)[0]
    assert grandchild.variations[0] == child.variations[0]
    assert grandchild.variations[1].strength == 0.5


def test_same_sampler_seed_same_children():
    a = sample_children(PARENT, "P" * 26, 4, plan(), sampler_seed=11)
    b = sample_children(PARENT, "P" * 26, 4, plan(), sampler_seed=11)
    c = sample_children(PARENT, "P" * 26, 4, plan(), sampler_seed=12)
    assert a == b and a != c


def test_jitter_spread_grows_with_strength_and_respects_locks_and_ranges():
    def spread(s):
        kids = sample_children(PARENT, "P" * 26, 64, plan(s, ("jitter",)), sampler_seed=3)
        return max(abs(k.guidance - PARENT.guidance) for k in kids), max(abs(k.steps - PARENT.steps) for k in kids)

    small, large = spread(0.1), spread(0.9)
    assert small[0] < large[0] and small[1] < large[1]
    locked = sample_children(PARENT, "P" * 26, 16, plan(0.9, ("jitter",)),
                             JitterRanges(locks=frozenset({"guidance", "scheduler"}), steps=(18, 22)), sampler_seed=4)
    assert all(k.guidance == 7.0 and k.scheduler == "Euler a" and 18 <= k.steps <= 22 for k in locked)


def test_bad_lock_and_range():
    with pytest.raises(InvalidInput, match="can lock only"):
        JitterRanges(locks=frozenset({"prompt"}))
    with pytest.raises(InvalidInput, match="low end"):
        JitterRanges(guidance=(9.0, 3.0))


def test_distilled_models_are_not_jittered_into_cfg_or_other_schedulers():
    turbo = PARENT.replace(scheduler="Turbo", guidance=0.0, steps=2)
    kids = sample_children(turbo, "P" * 26, 32, plan(1.0, ("jitter",)), sampler_seed=5)
    assert all(k.guidance == 0.0 and k.scheduler == "Turbo" and 1 <= k.steps <= 3 for k in kids)


def test_img2img_children_start_from_the_parent_with_rising_denoise():
    subtle = sample_children(PARENT, "P" * 26, 2, plan(0.2, ("img2img",)), sampler_seed=6)
    strong = sample_children(PARENT, "P" * 26, 2, plan(0.65, ("img2img",)), sampler_seed=6)
    assert all(k.init_image_id == "P" * 26 and k.variations == () for k in subtle + strong)
    assert subtle[0].denoise < strong[0].denoise
    assert denoise_for(0.0, 2) == 0.5  # at least one real step with 2 steps


def test_remix_changes_only_the_prompt():
    kids = sample_children(PARENT, "P" * 26, 2, plan(0.2, ("noise",), prompt="a castle in snow"), sampler_seed=7)
    assert all(k.prompt == "a castle in snow" and k.seed == PARENT.seed for k in kids)
    with pytest.raises(InvalidInput, match="prompt"):
        sample_children(PARENT, "P" * 26, 1, plan(0.2, ("noise",), prompt="  "), sampler_seed=7)


def test_reroll_keeps_settings_and_draws_new_seeds():
    kids = reroll(PARENT.replace(variations=(NoiseVariation(seed=1, strength=0.1),)), 4, sampler_seed=8)
    assert len({k.seed for k in kids}) == 4
    assert all(k.variations == () and k.steps == PARENT.steps and k.prompt == PARENT.prompt for k in kids)


@pytest.mark.parametrize("n", [0, -1, 65])
def test_bad_n(n):
    with pytest.raises(InvalidInput, match=f"n={n}"):
        sample_children(PARENT, "P" * 26, n, plan())
