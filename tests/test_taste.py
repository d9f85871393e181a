"""Taste-guided variations: the taste model (pure), the leaning sampler, the planner's use of it, the catalog's rows."""

from datetime import datetime, timezone

import numpy as np
import pytest

from gwen import taste
from gwen.catalog import Catalog
from gwen.errors import InvalidInput
from gwen.files import new_id
from gwen.params import ImageParams
from gwen.planning import Planner
from gwen.records import ImageRecord
from gwen.variation import JitterRanges, VariationPlan, parse_taste, sample_children

PARENT = ImageParams.build(prompt="a castle", model="tiny", steps=20, guidance=9.0, width=64, height=64, seed=5,
                           scheduler="Euler a")
SCHEDULERS = np.array(["Euler a", "Euler", "DPM++ 2M", "DPM++ 2M Karras", "UniPC", "DDIM", "Heun"], dtype=object)


def rated(n=2000, seed=0) -> dict:
    """A rater who likes guidance near 5.5 and DPM++ 2M Karras, does not care about steps; 1–5 stars with noise."""
    rng = np.random.default_rng(seed)
    guidance, steps = rng.uniform(1, 14, n), rng.integers(10, 41, n).astype(float)
    scheduler = SCHEDULERS[rng.integers(0, len(SCHEDULERS), n)]
    stars = 1 + 3 * np.exp(-((guidance - 5.5) / 2) ** 2) + (scheduler == "DPM++ 2M Karras") + rng.normal(0, 0.5, n)
    return {"guidance": guidance, "steps": steps, "scheduler": scheduler, "denoise": np.full(n, np.nan),
            "variation_strength": rng.uniform(0, 1, n), "model": np.array(["tiny"] * n, dtype=object),
            "rating": np.clip(np.round(stars), 1, 5), "favorite": np.zeros(n, dtype=bool)}


@pytest.fixture(scope="module")
def model():
    return taste.fit(rated())


def plan(s=0.65, modes=("noise", "jitter"), t=0.0):
    return VariationPlan(s, modes, taste=t)


def test_the_model_finds_the_liked_regions(model):
    summary = {row["parameter"]: row for row in model.summary()}
    assert summary["guidance"]["low"] < 5.5 < summary["guidance"]["high"]
    assert summary["guidance"]["high"] - summary["guidance"]["low"] < 4
    assert summary["guidance"]["mean_rating"] > model.mu + 1
    assert summary["scheduler"]["values"][0] == "DPM++ 2M Karras"
    assert model.score("guidance", [5.5])[0] > 0 > model.score("guidance", [12.0])[0]
    assert model.score("scheduler", ["DPM++ 2M Karras"])[0] > 0.5 > model.score("scheduler", ["DDIM"])[0]
    assert model.score("steps", [None])[0] == 0 and model.score("colour", [1])[0] == 0


def test_favorites_count_as_an_extra_star_and_unrated_rows_are_ignored():
    rows = {"guidance": [5.0, 5.0, 9.0, 9.0], "rating": [3, 3, 3, 0], "favorite": [True, False, False, False]}
    fitted = taste.fit(rows)
    assert fitted.images == 3 and fitted.mu == pytest.approx((4 + 3 + 3) / 3)
    assert taste.fit({"rating": [0, 0], "favorite": [False, False]}).empty
    assert taste.fit({"rating": [0], "favorite": [True]}).mu == taste.UNRATED_FAVORITE + taste.FAVORITE_BONUS


def test_taste_zero_is_exactly_the_plain_sampler(model):
    plain = sample_children(PARENT, "P" * 26, 8, plan(), sampler_seed=11)
    assert sample_children(PARENT, "P" * 26, 8, plan(t=0.0), sampler_seed=11, taste=model) == plain
    assert sample_children(PARENT, "P" * 26, 8, plan(t=0.7), sampler_seed=11, taste=taste.fit({})) == plain
    # the children of these settings before taste existed (values from the sampler as it was)
    before = PARENT.replace(guidance=7.0)
    kids = sample_children(before, "P" * 26, 3, plan(), sampler_seed=11)
    assert [(k.variations[0].seed, k.guidance, k.steps, k.scheduler) for k in kids] == [
        (1999951809, 7.04, 21, "UniPC"), (799609893, 6.72, 15, "Euler a"), (2724953954, 7.5, 19, "Euler a")]


def test_taste_moves_the_children_toward_the_liked_region(model):
    plain = sample_children(PARENT, "P" * 26, 64, plan(), sampler_seed=3)
    plain += sample_children(PARENT, "P" * 26, 64, plan(), sampler_seed=4)
    lean = sample_children(PARENT, "P" * 26, 64, plan(t=0.7), sampler_seed=3, taste=model)
    lean += sample_children(PARENT, "P" * 26, 64, plan(t=0.7), sampler_seed=4, taste=model)

    def distance(kids):
        return np.mean([abs(k.guidance - 5.5) for k in kids])

    def karras(kids):
        return sum(k.scheduler == "DPM++ 2M Karras" for k in kids)
    assert distance(lean) < distance(plain) - 1.0
    assert karras(lean) > 3 * max(karras(plain), 1)


def test_the_same_seed_snapshot_and_taste_give_the_same_children(model):
    first = sample_children(PARENT, "P" * 26, 6, plan(t=0.7), sampler_seed=21, taste=model)
    again = sample_children(PARENT, "P" * 26, 6, plan(t=0.7), sampler_seed=21, taste=taste.fit(rated()))
    assert first == again
    assert first != sample_children(PARENT, "P" * 26, 6, plan(t=0.3), sampler_seed=21, taste=model)


def test_locks_and_ranges_win_over_taste(model):
    ranges = JitterRanges(guidance=(8.0, 10.0), steps=(18, 22), schedulers=("Euler", "DDIM"), locks=frozenset())
    kids = sample_children(PARENT, "P" * 26, 64, plan(0.9, ("jitter",), 1.0), ranges, sampler_seed=5, taste=model)
    assert all(8.0 <= k.guidance <= 10.0 and 18 <= k.steps <= 22 for k in kids)
    assert {k.scheduler for k in kids} <= {"Euler a", "Euler", "DDIM"}
    locked = sample_children(PARENT, "P" * 26, 32, plan(0.9, ("jitter",), 1.0),
                             JitterRanges(locks=frozenset({"guidance", "scheduler"})), sampler_seed=5, taste=model)
    assert all(k.guidance == 9.0 and k.scheduler == "Euler a" for k in locked)


def test_img2img_children_jitter_denoise_within_its_range_and_lock():
    kids = sample_children(PARENT, "P" * 26, 32, plan(0.65, ("img2img", "jitter")), sampler_seed=7)
    assert len({k.denoise for k in kids}) > 4 and all(0.45 <= k.denoise <= 0.79 for k in kids)
    ranged = sample_children(PARENT, "P" * 26, 32, plan(0.65, ("img2img", "jitter")),
                             JitterRanges(denoise=(0.6, 0.65)), sampler_seed=7)
    assert all(0.6 <= k.denoise <= 0.65 for k in ranged)
    locked = sample_children(PARENT, "P" * 26, 8, plan(0.65, ("img2img", "jitter")),
                             JitterRanges(locks=frozenset({"denoise"}), steps=(20, 20)), sampler_seed=7)
    assert {k.denoise for k in locked} == {0.62}  # the strength rule's value
    child = PARENT.replace(init_image_id="Q" * 26, denoise=0.3)  # a jitter of an img2img image: around its denoise
    around = sample_children(child, "C" * 26, 32, plan(0.4, ("jitter",)), sampler_seed=8)
    assert all(0.2 <= k.denoise <= 0.4 and k.init_image_id == "Q" * 26 for k in around)
    assert len({k.denoise for k in around}) > 4


@pytest.mark.parametrize("bad, words", [("1.5", "taste='1.5'"), ("abc", "taste='abc'"), (-0.1, "taste=-0.1")])
def test_bad_taste(bad, words):
    with pytest.raises(InvalidInput, match=words):
        parse_taste(bad)
    assert parse_taste("0.7") == 0.7 and parse_taste(None) == 0.0


@pytest.mark.parametrize("bad, words", [((0.9, 0.2), "low end"), ((0.0, 2.0), "within 0..1")])
def test_bad_denoise_range(bad, words):
    with pytest.raises(InvalidInput, match=f"denoise range {bad[0]}..{bad[1]}: .*{words}"):
        JitterRanges(denoise=bad)


def test_why_shows_the_parent_the_liked_region_and_where_children_fell(model):
    kids = sample_children(PARENT, "P" * 26, 16, plan(t=0.7), sampler_seed=3, taste=model)
    rows = {row["parameter"]: row for row in taste.why(model.summary(), PARENT.to_dict(),
                                                       [k.to_dict() for k in kids], ("guidance", "scheduler"))}
    assert rows["guidance"]["parent"] == "9" and rows["guidance"]["leaned"] == "yes"
    assert rows["guidance"]["liked"].count("–") == 1 and "mean" in rows["guidance"]["children"]
    hits, total = map(int, rows["scheduler"]["in liked region"].split("/"))
    assert total == 16 and hits >= 1 and rows["model"]["leaned"] == "no"


# --- the planner: the catalog's rated rows, the snapshot, the note -------------------------------------------------

class FakeLibrary:
    def __init__(self, parent: ImageRecord, columns: dict, snapshot: str):
        self.parent, self.columns, self.snapshot, self.reads = parent, columns, snapshot, 0

    def get(self, image_id):
        return self.parent

    def rated_rows(self):
        self.reads += 1
        return self.columns, self.snapshot


def record(params: ImageParams, rating=0, favorite=False, variation=None) -> ImageRecord:
    image_id = new_id()
    return ImageRecord(id=image_id, created_at=datetime.now(timezone.utc), path=f"images/{image_id}.png", width=64,
                       height=64, op="generate", parent_id=None, root_id=image_id, params=params.to_dict(),
                       params_hash="h", rating=rating, favorite=favorite, variation=variation)


def test_the_planner_records_taste_and_snapshot_and_notes_when_nothing_is_rated():
    parent = record(PARENT)
    planner = Planner(FakeLibrary(parent, rated(), "abc123"), None, None)
    _p, kids, made = planner.plan_variations(parent.id, strength="strong", n=4, seed=9, taste=0.7)
    assert (made.taste, made.ratings_snapshot, made.taste_note) == (0.7, "abc123", None)
    assert made.to_dict()["taste"] == 0.7 and made.to_dict()["ratings_snapshot"] == "abc123"
    assert planner.plan_variations(parent.id, strength="strong", n=4, seed=9, taste=0.7)[1] == kids
    plain = planner.plan_variations(parent.id, strength="strong", n=4, seed=9)
    assert plain[2].ratings_snapshot is None and plain[2].to_dict()["taste"] == 0.0 and plain[1] != kids
    nothing = Planner(FakeLibrary(parent, {"rating": [], "favorite": []}, "e3b0"), None, None)
    _p, same, noted = nothing.plan_variations(parent.id, strength="strong", n=4, seed=9, taste=0.7)
    assert same == plain[1] and "no rated images" in noted.taste_note and noted.to_dict()["taste_note"]
    with pytest.raises(InvalidInput, match="taste='1.5'"):
        planner.plan_variations(parent.id, taste="1.5")


def test_the_catalog_gives_the_rated_rows_and_a_stable_snapshot_hash(tmp_path):
    catalog = Catalog(tmp_path / "gwen.duckdb")
    try:
        liked = record(PARENT.replace(guidance=5.5, scheduler="DPM++ 2M Karras"), rating=5,
                       variation={"strength": 0.65, "modes": ["noise"]})
        fav = record(PARENT.replace(guidance=12.0), favorite=True)
        catalog.insert([liked, fav, record(PARENT)])
        columns, first = catalog.rated_rows()
        assert set(columns) == set(taste.COLUMNS) and len(columns["rating"]) == 2
        order = sorted([liked.id, fav.id])
        at = order.index(liked.id)
        assert columns["guidance"][at] == 5.5 and columns["scheduler"][at] == "DPM++ 2M Karras"
        assert columns["variation_strength"][at] == 0.65 and np.isnan(columns["denoise"][at])
        assert list(columns["favorite"]) == [i != at for i in range(2)]
        assert catalog.rated_rows()[1] == first and len(first) == 64
        catalog.set_rating(fav.id, 2)
        assert catalog.rated_rows()[1] != first
        fitted = taste.fit(columns)
        assert fitted.images == 2
    finally:
        catalog.close()
