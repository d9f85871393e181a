"""Catalog at scale: query latency over N synthetic image rows (default 1,000,000) in a real DuckDB file.

Rows are generated inside DuckDB (realistic prompts from word lists, parameter spreads, a lineage chain of
depth 50), then each query runs --runs times through gwen.catalog; prints p50/p95 in a Markdown table.

    python bench/catalog_scale.py --rows 1000000 --runs 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


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
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(round(0.95 * (len(samples) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from gwen.catalog import Catalog
    from gwen.records import Filter, SearchQuery

    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(Path(tmp) / "gwen.duckdb")
        start = time.perf_counter()
        leaf = populate(catalog, args.rows)
        built = time.perf_counter() - start
        queries = {
            "text search 'castle fog' (page of 50 + total)": lambda: catalog.search(SearchQuery(text="castle fog")),
            "3-filter range (guidance>=5, steps<30, scheduler=DDIM)": lambda: catalog.search(SearchQuery(filters=(
                Filter.parse("guidance>=5"), Filter.parse("steps<30"), Filter.parse("scheduler=DDIM")))),
            "sort by rating desc (page 1)": lambda: catalog.search(SearchQuery(sort="rating")),
            "lineage of a depth-50 chain": lambda: catalog.lineage(leaf),
            "one rating update (journal not included)": lambda: catalog.set_rating(leaf, 3),
        }
        rows = []
        with catalog.session():  # one open file for the whole measurement, as a dashboard page does
            for name, fn in queries.items():
                rows.append((name, *timed(fn, args.runs)))
        cold = timed(lambda: catalog.search(SearchQuery(text="castle fog")), 5)
    print(f"{args.rows:,} rows built in {built:.1f} s; {args.runs} runs per query after a warm-up")
    print("| query | p50 (ms) | p95 (ms) | goal p95 ≤ 50 ms |")
    print("|---|---|---|---|")
    for name, p50, p95 in rows:
        print(f"| {name} | {p50:.1f} | {p95:.1f} | {'✅' if p95 <= 50 else '❌'} |")
    print(f"| text search, opening and closing the file each time | {cold[0]:.1f} | {cold[1]:.1f} | "
          f"{'✅' if cold[1] <= 50 else '❌'} |")


if __name__ == "__main__":
    main()
