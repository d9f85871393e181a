"""Taste-guided variations (issue 15): do children sampled with a taste rate higher, and what does a fit cost?

1. A simulated rater likes guidance near 5.5 and the "DPM++ 2M Karras" scheduler:
   stars = clip(round(1 + 3·exp(−((guidance − 5.5)/2)²) + [scheduler is DPM++ 2M Karras] + N(0, 0.5²)), 1, 5),
   and favorites every 5-star image. ``--rated`` (60) root images with guidance drawn from 1–14, steps 4–8 and
   a scheduler from ``JITTER_SCHEDULERS`` are rendered for real with the tiny model (64², through ``Studio`` in a
   temporary GWEN_HOME) and rated by it through ``Studio.rate`` / ``favorite``: the catalog is real.
2. For each of ``--seeds`` seeds: ``--parents`` parents drawn at random among the rated images, ``--children``
   children in all (strength ``--strength``, noise + jitter), planned twice with the same sampler seeds through
   ``Studio.plan_variations``: plain (taste 0) and taste-guided (taste ``--taste``). The children are not
   rendered: the rater scores their params (the same noise draw for the i-th child of both arms). Reported: the
   mean simulated rating of each arm per seed, then the median, mean and range over seeds; and the noise-free
   expected rating.
3. Fit time: ``gwen.taste.fit`` on 100,000 synthetic rated rows (median of ``--runs``), and
   ``Catalog.rated_rows()`` + fit on a DuckDB catalog of 300,000 synthetic images (``catalog_scale.populate``),
   what a taste-guided plan pays before sampling.

    python bench/taste.py [--seeds 5] [--rated 60] [--children 40] [--taste 0.7]
"""

from __future__ import annotations

import math
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import Goal, Section, cli, fmt_ms, machine, median

LIKED_GUIDANCE, LIKED_SCHEDULER = 5.5, "DPM++ 2M Karras"


def quality(guidance: float, scheduler: str) -> float:
    """The rater's noise-free preference, before rounding to stars."""
    return 1 + 3 * math.exp(-((guidance - LIKED_GUIDANCE) / 2) ** 2) + (scheduler == LIKED_SCHEDULER)


def stars(guidance: float, scheduler: str, noise: float) -> int:
    return int(min(5, max(1, round(quality(guidance, scheduler) + noise))))


def expected_stars(guidance: float, scheduler: str, sigma: float = 0.5) -> float:
    """E[stars] over the rater's noise (the noise-free figure of an arm)."""
    q = quality(guidance, scheduler)
    cdf = [0.5 * (1 + math.erf((k + 0.5 - q) / (sigma * math.sqrt(2)))) for k in range(1, 5)]  # P(stars <= k)
    return 1 + sum(1 - c for c in cdf)


def rate_roots(studio, count: int, seed: int) -> list:
    from gwen.variation import JITTER_SCHEDULERS

    rng = random.Random(seed)
    noise = np.random.default_rng(seed)
    records = []
    for i in range(count):
        guidance = round(rng.uniform(1, 14), 1)
        scheduler = rng.choice(JITTER_SCHEDULERS)
        [record] = studio.generate(f"a bench harbour {i}", model="tiny", n=1, seed=1000 + i, steps=rng.randint(4, 8),
                                   guidance=guidance, width=64, height=64, scheduler=scheduler)
        given = stars(guidance, scheduler, float(noise.normal(0, 0.5)))
        studio.rate(record.id, given)
        if given == 5:
            studio.favorite(record.id)
        records.append(studio.get(record.id))
    return records


def compare_arms(studio, roots: list, args, seed: int) -> dict:
    rng = random.Random(seed)
    parents = rng.sample(roots, args.parents)
    per_parent = args.children // args.parents
    arms: dict[str, list[float]] = {"plain": [], "taste": []}
    expected: dict[str, list[float]] = {"plain": [], "taste": []}
    noise = np.random.default_rng(seed).normal(0, 0.5, per_parent * args.parents)
    for p, parent in enumerate(parents):
        for arm, weight in (("plain", 0.0), ("taste", args.taste)):
            _parent, kids, _plan = studio.plan_variations(parent.id, strength=args.strength, n=per_parent,
                                                          seed=seed * 1000 + p, taste=weight)
            for k, kid in enumerate(kids):
                arms[arm].append(stars(kid.guidance, kid.scheduler, float(noise[p * per_parent + k])))
                expected[arm].append(expected_stars(kid.guidance, kid.scheduler))
    return {arm: statistics.fmean(values) for arm, values in arms.items()} | {
        f"{arm}_expected": statistics.fmean(values) for arm, values in expected.items()}


def synthetic_columns(n: int, seed: int = 0) -> dict:
    from gwen.variation import JITTER_SCHEDULERS

    rng = np.random.default_rng(seed)
    guidance = rng.uniform(1, 14, n)
    scheduler = np.array(JITTER_SCHEDULERS, dtype=object)[rng.integers(0, len(JITTER_SCHEDULERS), n)]
    rating = np.clip(np.round(1 + 3 * np.exp(-((guidance - 5.5) / 2) ** 2) + (scheduler == LIKED_SCHEDULER)
                              + rng.normal(0, 0.5, n)), 1, 5)
    return {"guidance": guidance, "steps": rng.integers(4, 60, n).astype(float), "scheduler": scheduler,
            "denoise": np.where(rng.random(n) < 0.2, rng.uniform(0.1, 0.9, n), np.nan),
            "variation_strength": np.where(rng.random(n) < 0.5, rng.uniform(0, 1, n), np.nan),
            "model": np.array(["sd15", "sdxl", "tiny"], dtype=object)[rng.integers(0, 3, n)],
            "rating": rating, "favorite": rng.random(n) < 0.05}


def fit_times(runs: int, tmp: Path) -> dict:
    from catalog_scale import populate

    from gwen import taste
    from gwen.catalog import Catalog

    columns = synthetic_columns(100_000)
    taste.fit(columns)
    pure = []
    for _ in range(runs):
        start = time.perf_counter()
        taste.fit(columns)
        pure.append(time.perf_counter() - start)
    catalog = Catalog(tmp / "scale.duckdb")
    populate(catalog, 300_000)
    rated = len(catalog.rated_rows()[0]["rating"])
    query, both = [], []
    for _ in range(runs):
        start = time.perf_counter()
        rows, _snapshot = catalog.rated_rows()
        middle = time.perf_counter()
        taste.fit(rows)
        query.append(middle - start)
        both.append(time.perf_counter() - start)
    catalog.close()
    return {"fit": pure, "query": query, "query_and_fit": both, "catalog_rated": rated}


def build(args) -> Section:
    from gwen.studio import Studio

    seeds = 2 if args.quick else args.seeds
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        studio = Studio(tmp / "home")
        start = time.perf_counter()
        roots = rate_roots(studio, 12 if args.quick else args.rated, seed=1)
        render_s = time.perf_counter() - start
        results = [compare_arms(studio, roots, args, seed) for seed in range(1, seeds + 1)]
        studio.close()
        timing = fit_times(args.runs, tmp)
    stars_given = [r.rating for r in roots]
    return report(args, results, timing, stars_given, render_s)


def report(args, results: list[dict], timing: dict, stars_given: list[int], render_s: float) -> Section:
    gains = [r["taste"] - r["plain"] for r in results]
    rows = ["| seed | plain jitter: mean ★ | taste-guided: mean ★ | gain | noise-free: plain → taste |",
            "|---|---|---|---|---|"]
    for seed, r in enumerate(results, 1):
        rows.append(f"| {seed} | {r['plain']:.2f} | {r['taste']:.2f} | {r['taste'] - r['plain']:+.2f} | "
                    f"{r['plain_expected']:.2f} → {r['taste_expected']:.2f} |")
    for label, fn in (("median", median), ("mean", statistics.fmean)):
        rows.append(f"| **{label}** | {fn([r['plain'] for r in results]):.2f} | {fn([r['taste'] for r in results]):.2f}"
                    f" | **{fn(gains):+.2f}** | {fn([r['plain_expected'] for r in results]):.2f} → "
                    f"{fn([r['taste_expected'] for r in results]):.2f} |")
    rows.append(f"| range of the gain | | | {min(gains):+.2f} … {max(gains):+.2f} | |")
    fit, query, both = timing["fit"], timing["query"], timing["query_and_fit"]
    rows += ["", "| cost | runs | median | min – max |", "|---|---|---|---|",
             f"| `taste.fit`, 100,000 synthetic rated rows | {len(fit)} | **{fmt_ms(median(fit))}** | "
             f"{fmt_ms(min(fit))} – {fmt_ms(max(fit))} |",
             f"| `Catalog.rated_rows()` ({timing['catalog_rated']:,} rated of 300,000 images) | {len(query)} | "
             f"{fmt_ms(median(query))} | {fmt_ms(min(query))} – {fmt_ms(max(query))} |",
             f"| rated_rows + fit (a taste-guided plan's extra cost) | {len(both)} | {fmt_ms(median(both))} | "
             f"{fmt_ms(min(both))} – {fmt_ms(max(both))} |"]
    facts = machine()
    method = (f"`python bench/taste.py` on {facts['cpu']}, {facts['cores']} cores, GPU: {facts['gpu']}, "
              f"{facts['date']}. {len(stars_given)} tiny-model roots (64², 4–8 steps) rendered for real in a "
              f"temporary home in {render_s:.0f} s and rated by the simulated rater (stars given: "
              f"{', '.join(f'{k}★ ×{stars_given.count(k)}' for k in range(1, 6))}; 5★ also favorited). Per seed: "
              f"{args.parents} random parents, {args.children} children per arm, strength {args.strength:g}, "
              f"noise + jitter, taste {args.taste:g} vs 0 with the same sampler seeds; the children's params are "
              "rated by the same simulated rater (not rendered: the rating depends only on the params), with the "
              "same noise draw for the i-th child of both arms.")
    goals = [Goal("taste-guided mean ≥ plain + 0.5 ★ (median over seeds)", f"{median(gains):+.2f} ★",
                  median(gains) >= 0.5),
             Goal("fit < 50 ms at 100k rated rows", fmt_ms(median(fit)), median(fit) < 0.050)]
    return Section("Taste-guided variations (issue 15)", method, "\n".join(rows), goals,
                   {"results": results, "timing": timing, "stars_given": stars_given})


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--seeds", type=int, default=5),
        p.add_argument("--rated", type=int, default=60),
        p.add_argument("--parents", type=int, default=5),
        p.add_argument("--children", type=int, default=40),
        p.add_argument("--strength", type=float, default=0.65),
        p.add_argument("--taste", type=float, default=0.7),
        p.add_argument("--runs", type=int, default=7)))
