"""Dashboard render times: Home's first render (no model loaded) and a Gallery page over 10,000 images.

Builds a temporary GWEN_HOME with N synthetic images (small real PNGs + catalog rows), then times headless
AppTest runs of Home.py and the Gallery page (median of --runs; the first Gallery run also makes 24 thumbnails).

    python bench/dashboard.py --images 10000 --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def populate(home: Path, count: int) -> None:
    import random

    from PIL import Image

    from gwen.catalog import Catalog
    from gwen.records import ImageRecord
    from gwen.files import image_path, new_id, write_png_atomic
    from gwen.params import SCHEDULERS

    rng = random.Random(0)
    subjects = ["a lighthouse", "a red fox", "an old castle", "a city at night", "a bowl of fruit", "a portrait"]
    styles = ["oil painting", "watercolor", "photograph, 35mm", "digital art", "charcoal sketch"]
    records = []
    start = datetime.now(timezone.utc) - timedelta(days=90)
    for i in range(count):
        image_id = new_id()
        path = image_path(home, image_id)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        write_png_atomic(path, Image.new("RGB", (64, 64), colour), {})
        params = {"prompt": f"{rng.choice(subjects)}, {rng.choice(styles)}", "negative_prompt": "blurry",
                  "model": rng.choice(["sd15", "sd-turbo", "sdxl"]), "scheduler": rng.choice(SCHEDULERS),
                  "steps": rng.randrange(1, 60), "guidance": round(rng.uniform(0, 12), 1), "width": 512,
                  "height": 512, "seed": rng.randrange(2**32), "variations": []}
        records.append(ImageRecord(id=image_id, created_at=start + timedelta(minutes=13 * i),
                                   path=str(path.relative_to(home)), width=64, height=64, op="generate",
                                   parent_id=None, root_id=image_id, params=params, params_hash=str(i),
                                   rating=rng.choice([0, 0, 0, 1, 2, 3, 4, 5])))
    Catalog(home / "gwen.duckdb").insert(records)


def time_page(page: str | None, runs: int) -> list[float]:
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=300)
        at.run()
        if page:
            at.switch_page(page)
            at.run()
        assert not at.exception, at.exception
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        os.environ["GWEN_HOME"] = str(home)
        t0 = time.perf_counter()
        populate(home, args.images)
        built = time.perf_counter() - t0
        home_times = time_page(None, args.runs)
        gallery_times = time_page("pages/3_Gallery.py", args.runs)
    print(f"catalog of {args.images} images built in {built:.1f} s")
    print("| page | runs | first run (s) | median (s) |")
    print("|---|---|---|---|")
    print(f"| Home (no model loaded) | {args.runs} | {home_times[0]:.2f} | {statistics.median(home_times):.2f} |")
    print(f"| Home + Gallery page 1 of {args.images:,} images | {args.runs} | {gallery_times[0]:.2f} | "
          f"{statistics.median(gallery_times):.2f} |")


if __name__ == "__main__":
    main()
