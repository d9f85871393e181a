"""Upscaling: time and peak RSS of tiled Real-ESRGAN x4plus (full-shape RRDBNet, random weights) on the CPU.

Each run is a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own; forward hooks time every tile.
Also the seam error: tiled vs untiled output of the same full-shape model on a small input.

    python bench/upscale_memory.py                 # 128² and 256² × 5 runs, 512² × 1 (~3 min)
    python bench/upscale_memory.py --with-1024     # and 1024² × 1 (~8 min more)
    python bench/upscale_memory.py --full          # every size × 5 runs (about an hour on 2 cores)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from _common import CACHE, ROOT, Goal, Section, cli, median

GOAL = 1.5
TILE = 256
CHILD = r"""
import json, resource, sys, time
import numpy as np
from PIL import Image
from gwen.upscale import Upscaler, UpscaleSettings
weights, size, tile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
up = Upscaler(device="cpu")
loaded = up.load(weights)
tiles, started = [], []
loaded.descriptor.model.register_forward_pre_hook(lambda m, a: started.append(time.perf_counter()))
loaded.descriptor.model.register_forward_hook(lambda m, a, o: tiles.append(time.perf_counter() - started[-1]))
image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
after_load = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
out, used = up.upscale(image, loaded, UpscaleSettings(tile=tile))
seconds = time.perf_counter() - start
print(json.dumps({"size": size, "out": out.size[0], "tile": used, "seconds": seconds, "tiles": tiles,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_load_mb": after_load}))
"""


def x4plus_weights() -> Path:
    """RealESRGAN_x4plus's architecture (RRDBNet, 64 filters, 23 blocks, x4) with random weights, cached."""
    path = CACHE / "x4plus-random.pth"
    if not path.exists():
        import torch
        from spandrel.architectures.ESRGAN import ESRGAN

        CACHE.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save({"params_ema": ESRGAN(num_filters=64, num_blocks=23, scale=4).state_dict()}, f"{path}.tmp")
        os.replace(f"{path}.tmp", path)
    return path


def one_run(weights: Path, size: int, tile: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(weights), str(size), str(tile)], cwd=ROOT,
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode:
        sys.exit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def seam(weights: Path, size: int) -> dict:
    """Max / mean absolute difference between tiled (tile 64, overlap 16) and untiled output."""
    import numpy as np
    from PIL import Image

    from gwen.upscale import UpscaleSettings, Upscaler

    up = Upscaler(device="cpu")
    loaded = up.load(weights)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    whole, _ = up.upscale(image, loaded, UpscaleSettings(tile=max(256, size)))
    tiled, _ = up.upscale(image, loaded, UpscaleSettings(tile=64, overlap=16))
    diff = np.abs(np.asarray(whole, dtype=np.int16) - np.asarray(tiled, dtype=np.int16))
    return {"size": size, "max": int(diff.max()), "mean": float(diff.mean()),
            "over_2_percent": float((diff > 2).mean() * 100)}


def build(args) -> Section:
    if args.quick:
        plan = [(64, 2), (128, 1)]
    elif args.full:
        plan = [(s, 5) for s in (128, 256, 512, 1024)]
    else:  # 1024² (25 tiles, ~8 min on 2 cores) only when asked: bench/run.py --with upscale_1024
        plan = [(128, 5), (256, 5), (512, 1)] + ([(1024, 1)] if args.with_1024 else [])
    if args.sizes:
        plan = [(s, args.runs) for s in args.sizes]
    weights = x4plus_weights()
    rows, raw = [], {"runs": []}
    for size, runs in plan:
        results = [one_run(weights, size, args.tile) for _ in range(runs)]
        raw["runs"] += results
        tiles = [t for r in results for t in r["tiles"]]
        row = {"size": size, "out": results[0]["out"], "runs": runs, "tiles": len(results[0]["tiles"]),
               "seconds": median(r["seconds"] for r in results), "tile_s": median(tiles),
               "peak_mb": median(r["peak_rss_mb"] for r in results),
               "load_mb": median(r["rss_after_load_mb"] for r in results)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    base = next((r for r in rows if r["size"] == 256), rows[0])
    lines = ["| input → output | runs | tiles per run | time (median) | per tile (median) | peak RSS (median) "
             f"| vs {base['size']}² |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['size']}² → {r['out']}² | {r['runs']} | {r['tiles']} | {r['seconds']:.1f} s | "
                     f"{r['tile_s']:.2f} s | {r['peak_mb']:.0f} MiB | {r['peak_mb'] / base['peak_mb']:.2f}× |")
    goals = []
    top = rows[-1]
    if top["size"] > base["size"]:
        ratio = top["peak_mb"] / base["peak_mb"]
        goals.append(Goal(f"peak RSS at {top['size']}² ≤ {GOAL} × peak at {base['size']}²",
                          f"{top['peak_mb']:.0f} / {base['peak_mb']:.0f} MiB = {ratio:.2f}×", ratio <= GOAL))
    s = seam(weights, 96)
    raw["seam"] = s
    lines += ["", "| seam check | max abs diff | mean abs diff | pixels off by > 2/255 |", "|---|---|---|---|",
              f"| {s['size']}² input, tile 64 / overlap 16 vs untiled | {s['max']}/255 | {s['mean']:.3f}/255 | "
              f"{s['over_2_percent']:.2f} % |"]
    single = [r for r in rows if r["runs"] == 1]
    method = (f"`python bench/upscale_memory.py`: full-shape RRDBNet x4plus (64 filters, 23 blocks, random "
              f"weights), tile {args.tile} / overlap 16 (the CPU default), each run in a fresh process; peak RSS = "
              f"`ru_maxrss` (after loading the model: {rows[0]['load_mb']:.0f} MiB). "
              + (f"{', '.join(str(r['size']) + '²' for r in single)} ran once each — their time is one run and the "
                 "per-tile column is the median over that run's tiles; peak RSS is deterministic to a few MiB. "
                 "`--full` runs every size 5 times (about an hour on 2 cores)." if single else ""))
    notes = ("What grows with the image is the float32 output accumulator and its weight plane (4 planes of the "
             "output size) and the final 8-bit image; the network's activations are bounded by the tile. With "
             "random weights the receptive field is at its widest, so the seam figure is pessimistic; on the tiny "
             "test model (`tests/test_upscale.py`) tiled vs untiled differs by at most 1/255.")
    return Section("3. Upscaling (CPU)", method, "\n".join(lines), goals, raw, notes)


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--tile", type=int, default=TILE),
        p.add_argument("--sizes", type=int, nargs="+", help="override the sizes (with --runs each)"),
        p.add_argument("--runs", type=int, default=5),
        p.add_argument("--with-1024", action="store_true", help="also upscale 1024² once (~8 min on 2 cores)")))
