"""Catalog at scale: query latency over N synthetic image rows (default 1,000,000) in a real DuckDB file.

Rows are generated inside DuckDB (realistic prompts from word lists, parameter spreads, a lineage chain of
depth 50), then each query runs --runs times through gwen.catalog; prints p50/p95 in a Markdown table.
Then reindex throughput: --pngs real GWEN PNGs written by the studio's file writer, rebuilt by ``reindex``.

    python bench/catalog_scale.py --rows 1000000 --runs 20 --pngs 10000
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from _common import Goal, Section, cli, median, p95

GOAL = 0.050


def populate(catalog, rows: int) -> str:
    """Fill ``images`` with ``rows`` synthetic rows plus a 50-deep chain; return the chain's last id."""
    with catalog.session() as con:
        con.execute(f"""
            INSERT INTO images (id, created_at, path, width, height, op, parent_id, root_id, prompt,
                negative_prompt, model, scheduler, steps, guidance, seed, params_json, params_hash, rating,
                favorite, tags)
            SELECT printf('%026d', i), TIMESTAMPTZ '2025-01-01' + to_seconds(i * 30), 'images/x.png', 512, 512,
                CASE WHEN i % 5 = 0 THEN 'vary' ELSE 'generate' END, NULL, printf('%026d', i),
                (['a lighthouse', 'a red fox', 'an old castle', 'a city at night', 'a bowl of fruit',
                  'a portrait of a woman', 'a mountain lake', 'a cyberpunk street'])[1 + i % 8] || ', ' ||
                (['oil painting', 'watercolor', 'photograph, 35mm', 'digital art', 'charcoal sketch',
                  'ukiyo-e print'])[1 + (i // 8) % 6] || ', ' ||
                (['golden hour', 'fog', 'dramatic lighting', 'soft light', 'night'])[1 + (i // 48) % 5],
                'blurry, lowres', (['sd15', 'sd-turbo', 'sdxl', 'sd14'])[1 + i % 4],
                (['Euler a', 'DPM++ 2M Karras', 'DDIM', 'UniPC', 'Euler'])[1 + (i // 3) % 5],
                1 + (i * 7) % 60, ((i * 13) % 120) / 10.0, (i * 2654435761) % 4294967296, '{{}}', 'h',
                CASE WHEN i % 3 = 0 THEN (i // 3) % 6 ELSE 0 END, i % 17 = 0, []
            FROM range({rows}) t(i)""")
        chain_parent = None
        for depth in range(50):
            image_id = f"C{depth:025d}"
            con.execute("""INSERT INTO images (id, created_at, path, width, height, op, parent_id, root_id, prompt,
                           params_json, params_hash) VALUES (?, now(), 'images/c.png', 512, 512, ?, ?, ?,
                           'a chained image', '{}', 'h')""",
                        [image_id, "vary" if chain_parent else "generate", chain_parent, f"C{0:025d}"])
            chain_parent = image_id
        con.execute("CHECKPOINT")
    return chain_parent


def timed(fn, runs: int) -> tuple[float, float]:
    fn()  # warm-up
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return median(samples), p95(samples)


def make_pngs(studio, model: str, count: int) -> float:
    """``count`` small GWEN PNGs written as a render writes them (``encode_png``: the A1111 text and the GWEN
    record; ``write_bytes_atomic``); returns seconds spent writing."""
    import dataclasses
    from datetime import datetime, timedelta, timezone

    from PIL import Image

    from gwen import files
    from gwen.pnginfo import chunks_for
    from gwen.renderers import encode_png

    seed_record = studio.generate("a lighthouse at dusk, oil painting", model=model, n=1, seed=1, steps=2,
                                  width=64, height=64)[0]
    with Image.open(studio.path_of(seed_record)) as im:
        image = im.convert("RGB")
    infotext = studio.infotext(seed_record)  # the A1111 text every GWEN PNG carries beside its JSON record
    start = time.perf_counter()
    base = datetime.now(timezone.utc)
    for k in range(count - 1):
        image_id = files.new_id()
        record = dataclasses.replace(
            seed_record, id=image_id, root_id=image_id, created_at=base + timedelta(milliseconds=k),
            path=str(files.image_path(studio.home, image_id).relative_to(studio.home)),
            params={**seed_record.params, "seed": 1000 + k, "prompt": f"{seed_record.params['prompt']} #{k}"})
        files.write_bytes_atomic(studio.path_of(record), encode_png(image, chunks_for(record.file_record(), infotext)))
    return time.perf_counter() - start


def build(args) -> Section:
    from gwen.catalog import Catalog
    from gwen.config import Settings
    from gwen.tiny_models import build_tiny_sd
    from gwen.records import Filter, SearchQuery
    from gwen.studio import Studio

    rows_wanted = 20_000 if args.quick else args.rows
    runs = 5 if args.quick else args.runs
    pngs = 300 if args.quick else args.pngs
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        catalog = Catalog(tmp / "gwen.duckdb")
        start = time.perf_counter()
        leaf = populate(catalog, rows_wanted)
        built = time.perf_counter() - start
        queries = {
            "text search 'castle fog' (page of 50 + total count)":
                lambda: catalog.search(SearchQuery(text="castle fog")),
            "3-filter range: guidance ≥ 5, steps < 30, scheduler = DDIM": lambda: catalog.search(SearchQuery(
                filters=(Filter.parse("guidance>=5"), Filter.parse("steps<30"), Filter.parse("scheduler=DDIM")))),
            "sort by rating, page 1": lambda: catalog.search(SearchQuery(sort="rating")),
            "lineage of a depth-50 chain (ancestors + descendants)": lambda: catalog.lineage(leaf),
            "one rating update": lambda: catalog.set_rating(leaf, 3),
        }
        results = {}
        with catalog.session():  # one open file for the whole measurement, as a dashboard page does
            for name, fn in queries.items():
                results[name] = timed(fn, runs)
        per_call = timed(lambda: catalog.search(SearchQuery(text="castle fog")), min(runs, 10))

        studio = Studio(tmp / "home", settings=Settings(device="cpu"))
        wrote = make_pngs(studio, str(build_tiny_sd(tmp / "tiny-sd")), pngs)
        reindex_runs = []
        for _ in range(args.reindex_runs):
            start = time.perf_counter()
            report = studio.reindex()
            reindex_runs.append(time.perf_counter() - start)
            assert report["images"] == pngs, report
    lines = ["| query | p50 | p95 | goal p95 ≤ 50 ms |", "|---|---|---|---|"]
    goals = []
    for name, (p50, p95_) in results.items():
        lines.append(f"| {name} | {p50 * 1000:.1f} ms | {p95_ * 1000:.1f} ms | {'✅' if p95_ <= GOAL else '❌'} |")
        goals.append(Goal(f"{name.split(' (')[0]}: p95 ≤ 50 ms at {rows_wanted:,} rows", f"{p95_ * 1000:.1f} ms",
                          p95_ <= GOAL))
    lines.append(f"| text search, opening and closing the file per call (a CLI command's case; no goal) | "
                 f"{per_call[0] * 1000:.1f} ms | {per_call[1] * 1000:.1f} ms | — |")
    rate = pngs / median(reindex_runs)
    lines += ["", "| reindex | runs | median time | throughput |", "|---|---|---|---|",
              f"| rebuild the catalog from {pngs:,} PNGs (64², GWEN chunk + A1111 text) and the journal | "
              f"{len(reindex_runs)} | {median(reindex_runs):.2f} s | **{rate:,.0f} images/s** |",
              f"| (writing those PNGs through the atomic write path, fsync each, once) | 1 | {wrote:.2f} s | "
              f"{(pngs - 1) / wrote:,.0f} images/s |"]
    method = (f"`python bench/catalog_scale.py`: {rows_wanted:,} synthetic rows made inside DuckDB in {built:.1f} s "
              "(8 subjects × 6 styles × 5 lights, 4 models, 5 schedulers, spread steps/guidance/ratings) plus a "
              f"50-deep lineage chain, in a real file; each query through `gwen.catalog` inside one open session "
              f"(as a page does), {runs} runs after a warm-up. Reindex: {pngs:,} real PNGs written by "
              f"GWEN's own PNG encoder and atomic writer, then `Studio.reindex()` {len(reindex_runs)} times.")
    raw = {"rows": rows_wanted, "build_s": built, "queries": results, "per_call_open": per_call,
           "reindex_s": reindex_runs, "pngs": pngs, "write_s": wrote}
    return Section(f"4. Catalog at scale ({rows_wanted:,} rows)", method, "\n".join(lines), goals, raw)


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--rows", type=int, default=1_000_000),
        p.add_argument("--runs", type=int, default=20),
        p.add_argument("--pngs", type=int, default=10_000),
        p.add_argument("--reindex-runs", type=int, default=5)))
