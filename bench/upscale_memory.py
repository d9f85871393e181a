"""Peak RSS and time of tiled Real-ESRGAN x4plus upscales (full-shape RRDBNet, random weights) on this machine.

Each size runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own. Prints a Markdown table.

    python bench/upscale_memory.py --sizes 256 1024 --runs 1 --tile 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
CHILD = r"""
import json, resource, sys, time
import numpy as np
from PIL import Image
from gwen.upscale import Upscaler, UpscaleSettings
weights, size, tile = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
up = Upscaler(device="cpu")
loaded = up.load(weights)
rng = np.random.default_rng(0)
image = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
out, used = up.upscale(image, loaded, UpscaleSettings(tile=tile))
seconds = time.perf_counter() - start
print(json.dumps({"size": size, "out": out.size[0], "tile": used, "seconds": seconds,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "rss_after_load_mb": before / 1024}))
"""


def full_shape_x4plus(path: Path) -> Path:
    """RealESRGAN_x4plus's architecture (RRDBNet, 64 filters, 23 blocks, x4) with random weights."""
    import torch
    from spandrel.architectures.ESRGAN import ESRGAN

    torch.manual_seed(0)
    torch.save({"params_ema": ESRGAN(num_filters=64, num_blocks=23, scale=4).state_dict()}, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--seam", type=int, default=0, metavar="SIZE",
                        help="only measure tiled (tile 64, overlap 16) vs untiled on a SIZE² input")
    args = parser.parse_args()
    if args.seam:
        return seam(args.seam)
    with tempfile.TemporaryDirectory() as tmp:
        weights = full_shape_x4plus(Path(tmp) / "x4plus-random.pth")
        rows = []
        for size in args.sizes:
            runs = []
            for _ in range(args.runs):
                out = subprocess.run([sys.executable, "-c", CHILD, str(weights), str(size), str(args.tile)],
                                     cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
                if out.returncode:
                    sys.exit(out.stderr)
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            rows.append({"size": size, "out": runs[0]["out"], "tile": runs[0]["tile"], "runs": len(runs),
                         "seconds": statistics.median(r["seconds"] for r in runs),
                         "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs)})
            print(json.dumps(rows[-1]), file=sys.stderr)
    base = rows[0]["peak_rss_mb"]
    print("| input | output | tile | runs | median time (s) | median peak RSS (MiB) | RSS vs first row |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['size']}² | {r['out']}² | {r['tile']} | {r['runs']} | {r['seconds']:.1f} | "
              f"{r['peak_rss_mb']:.0f} | {r['peak_rss_mb'] / base:.2f}× |")


def seam(size: int) -> None:
    """Max and mean absolute difference between tiled and untiled output of full-shape x4plus."""
    import numpy as np
    from PIL import Image

    from gwen.upscale import UpscaleSettings, Upscaler

    with tempfile.TemporaryDirectory() as tmp:
        weights = full_shape_x4plus(Path(tmp) / "x4plus-random.pth")
        up = Upscaler(device="cpu")
        loaded = up.load(weights)
        image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
        whole, _ = up.upscale(image, loaded, UpscaleSettings(tile=max(256, size)))
        tiled, _ = up.upscale(image, loaded, UpscaleSettings(tile=64, overlap=16))
    diff = np.abs(np.asarray(whole, dtype=np.int16) - np.asarray(tiled, dtype=np.int16))
    print(f"| full-shape x4plus, {size}² input, tile 64 / overlap 16 vs untiled | max {diff.max()}/255 | "
          f"mean {diff.mean():.4f} | pixels differing by >2: {(diff > 2).mean() * 100:.2f}% |")


if __name__ == "__main__":
    main()
