"""GPU check and benchmark, one script for one lease of a GPU machine (about 5 minutes on an H100/H200).

Part A checks GWEN's CUDA code paths on the tiny models (fp16 generation, batch vs single, verify, img2img,
fp16 spandrel upscale). Part B times an SD1.5-shape pipeline (random weights, true shapes) in fp16 at 512²:
GWEN's engine vs a bare diffusers call on the same pipeline, a batch of 4 vs 4 single calls, and the
channels_last and torch.compile fast paths, and Studio.generate end to end (PNG + catalog row); plus
full-shape RRDBNet x4plus tiled upscaling at 512² and 1024². Prints Markdown; writes JSON too.

    python bench/gpu.py --out results.json            # on the GPU machine
    python bench/gpu.py --smoke                       # a tiny CPU run that only checks the script works
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def sync(device):
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, runs, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def part_a(device: str, tmp: Path) -> dict:
    import numpy as np

    from gwen.config import Settings
    from gwen.studio import Studio
    from gwen.upscale import build_tiny_esrgan
    from gwen.tiny_models import build_tiny_sd

    sd = build_tiny_sd(tmp / "tiny-sd")
    esrgan = build_tiny_esrgan(tmp / "tiny-esrgan-x4.pth")
    studio = Studio(tmp / "home", settings=Settings(device=device))
    grid = studio.generate("a lighthouse", model=str(sd), n=4, seed=100, steps=4, width=64, height=64)
    single = studio.generate("a lighthouse", model=str(sd), n=1, seed=102, steps=4, width=64, height=64)[0]
    from PIL import Image
    a = np.asarray(Image.open(studio.path_of(grid[2])), dtype=np.int16)
    b = np.asarray(Image.open(studio.path_of(single)), dtype=np.int16)
    kids = studio.vary(grid[0].id, strength="strong", n=2, seed=1)
    img2img = studio.vary(grid[0].id, strength="subtle", modes="img2img", n=2, seed=2)
    up = studio.upscale(grid[1].id, model=str(esrgan))
    return {
        "device": studio.engine.device, "dtype": studio.engine.dtype_name,
        "batch_vs_single_max_diff": int(np.abs(a - b).max()),
        "verify_root": studio.verify(grid[2].id).max_diff, "verify_vary": studio.verify(kids[0].id).max_diff,
        "verify_img2img": studio.verify(img2img[1].id).max_diff, "upscale_size": [up.width, up.height],
        "upscale_dtype": up.dtype, "verify_upscale": studio.verify(up.id).max_diff,
    }


def part_b(device: str, tmp: Path, size: int, steps: int, runs: int, compile_unet: bool = True) -> dict:
    import torch

    from gwen.config import Settings
    from gwen.tiny_models import build_sd15_shape
    from gwen.params import ImageParams
    from gwen.studio import Studio

    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    folder = build_sd15_shape(tmp / "sd15-shape", dtype)
    studio = Studio(tmp / "home-b", settings=Settings(device=device))
    engine = studio.engine
    loaded = engine.load(str(folder))
    pipe = loaded.pipe
    base = ImageParams.build(prompt="a lighthouse at dusk, oil painting", model=str(folder), steps=steps,
                             guidance=7.5, width=size, height=size, seed=1, scheduler="DPM++ 2M Karras")
    pipe.scheduler = engine._scheduler(loaded, "DPM++ 2M Karras")

    def bare(n=1):
        gens = [torch.Generator("cpu").manual_seed(1 + k) for k in range(n)]
        pipe(prompt=base.prompt, num_images_per_prompt=n, num_inference_steps=steps, guidance_scale=7.5,
             height=size, width=size, generator=gens)

    def gwen(n=1):
        engine.render([base.replace(seed=1 + k) for k in range(n)])

    def generate(n=1):  # what a user gets: the engine plus PNG files (fsync) and catalog rows
        studio.generate(base.prompt, model=str(folder), n=n, seed=1, steps=steps, guidance=7.5, width=size,
                        height=size, scheduler="DPM++ 2M Karras")

    def generate_held(n=1):  # GWEN_CATALOG_HOLD=1: no open/close of the DuckDB file per call
        plain, studio._catalog = studio._catalog, held
        try:
            generate(n)
        finally:
            studio._catalog = plain

    from _common import side_by_side  # interleaved rounds: A B C D, D C B A, …

    from gwen.catalog import Catalog
    held = Catalog(tmp / "held.duckdb", hold=True)
    results = {}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    single = side_by_side({"bare_1": bare, "gwen_1": gwen, "generate_1": generate, "generate_1_held": generate_held},
                          runs)
    grid = side_by_side({"gwen_batch4": lambda: gwen(4), "generate_batch4": lambda: generate(4),
                         "generate_batch4_held": lambda: generate_held(4)}, runs)
    held.close()
    results.update({name: statistics.median(times) for name, times in {**single, **grid}.items()})
    results["bare_1_again"], _ = timed(bare, device, runs)
    import os
    os.environ["GWEN_ALWAYS_RELEASE"] = "1"  # the strict policy: empty the CUDA cache after every job
    results["gwen_1_always_release"], _ = timed(gwen, device, runs)
    del os.environ["GWEN_ALWAYS_RELEASE"]
    import gc
    start = time.perf_counter()
    gc.collect()
    results["gc_collect_s"] = time.perf_counter() - start
    results["gwen_4x1"], _ = timed(lambda: [gwen(1) for _ in range(4)], device, runs)
    if device.startswith("cuda"):
        results["peak_vram_gib"] = torch.cuda.max_memory_allocated() / 2**30
    pipe.unet.to(memory_format=torch.channels_last)
    results["gwen_1_channels_last"], _ = timed(gwen, device, runs)
    if device.startswith("cuda") and compile_unet:  # the optional fast path: torch.compile of the UNet
        try:
            plain_unet = pipe.unet
            pipe.unet = torch.compile(plain_unet)
            start = time.perf_counter()
            gwen()
            sync(device)
            results["compile_first_call_s"] = time.perf_counter() - start
            results["gwen_1_compiled"], _ = timed(gwen, device, runs)
            results["gwen_batch4_compiled"], _ = timed(lambda: gwen(4), device, runs, warmup=1)
            pipe.unet = plain_unet
        except Exception as exc:  # report, do not lose the other numbers
            results["compile_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return results


def part_c(device: str, size: int, runs: int) -> dict:
    import numpy as np
    import torch
    from PIL import Image
    from spandrel.architectures.ESRGAN import ESRGAN

    from gwen.upscale import UpscaleSettings, Upscaler

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x4plus-random.pth"
        torch.manual_seed(0)
        torch.save({"params_ema": ESRGAN(num_filters=64, num_blocks=23, scale=4).state_dict()}, path)
        up = Upscaler(device=device)
        loaded = up.load(path)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size, size, 3), dtype=np.uint8))
    seconds, _ = timed(lambda: up.upscale(image, loaded, UpscaleSettings()), device, runs)
    big = image.resize((2 * size, 2 * size))
    big_seconds, _ = timed(lambda: up.upscale(big, loaded, UpscaleSettings()), device, runs)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        up.upscale(big, loaded, UpscaleSettings())
    return {"upscale_input": size, "upscale_seconds": seconds, "tile": up.default_tile(),
            "upscale_big_input": 2 * size, "upscale_big_seconds": big_seconds,
            "upscale_big_peak_vram_gib": torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda")
            else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run to check the script itself")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (~1 minute)")
    args = parser.parse_args()
    import torch

    device = "cpu" if args.smoke else "cuda"
    size, steps, runs, up_size = (64, 2, 1, 64) if args.smoke else (512, 30, 5, 512)
    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        report["a"] = part_a(device, Path(tmp))
        print(json.dumps(report["a"]), flush=True)
        report["b"] = part_b(device, Path(tmp), size, steps, runs, not args.no_compile)
        print(json.dumps(report["b"]), flush=True)
        report["c"] = part_c(device, up_size, runs)
        report["seconds_total"] = time.perf_counter() - t0
    b = report["b"]
    print(f"\n{report['gpu']}, torch {report['torch']}, SD1.5-shape fp16 {size}², {steps} steps, median of {runs}")
    print("| what | median s | ratio |")
    print("|---|---|---|")
    print(f"| bare diffusers, 1 image | {b['bare_1']:.3f} | 1.00 |")
    print(f"| GWEN engine, 1 image | {b['gwen_1']:.3f} | {b['gwen_1'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, 1 image (PNG + row) | {b['generate_1']:.3f} | "
          f"{b['generate_1'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, catalog held open (GWEN_CATALOG_HOLD=1) | {b['generate_1_held']:.3f} | "
          f"{b['generate_1_held'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, batch of 4 (4 PNGs + rows) | {b['generate_batch4']:.3f} | "
          f"{b['generate_batch4'] / b['gwen_batch4']:.3f} vs engine batch of 4 |")
    print(f"| GWEN Studio.generate, batch of 4, catalog held open | {b['generate_batch4_held']:.3f} | "
          f"{b['generate_batch4_held'] / b['gwen_batch4']:.3f} vs engine batch of 4 |")
    print(f"| bare diffusers again (drift check) | {b['bare_1_again']:.3f} | {b['bare_1_again'] / b['bare_1']:.3f} |")
    print(f"| GWEN engine, 1 image, cache emptied after every job | {b['gwen_1_always_release']:.3f} | "
          f"{b['gwen_1_always_release'] / b['bare_1']:.3f} vs bare |")
    print(f"| one gc.collect() in this process | {b['gc_collect_s']:.3f} | |")
    print(f"| GWEN batch of 4 | {b['gwen_batch4']:.3f} | {b['gwen_batch4'] / b['gwen_4x1']:.3f} vs 4×1 |")
    print(f"| GWEN 4 × 1 | {b['gwen_4x1']:.3f} | 1.00 |")
    print(f"| GWEN 1 image, UNet channels_last | {b['gwen_1_channels_last']:.3f} | "
          f"{b['gwen_1_channels_last'] / b['gwen_1']:.3f} vs GWEN |")
    if "gwen_1_compiled" in b:
        print(f"| GWEN 1 image, torch.compile(UNet), first call (compiles) | {b['compile_first_call_s']:.1f} | |")
        print(f"| GWEN 1 image, torch.compile(UNet) | {b['gwen_1_compiled']:.3f} | "
              f"{b['gwen_1_compiled'] / b['gwen_1']:.3f} vs GWEN |")
        print(f"| GWEN batch of 4, torch.compile(UNet) | {b['gwen_batch4_compiled']:.3f} | "
              f"{b['gwen_batch4_compiled'] / b['gwen_batch4']:.3f} vs uncompiled |")
    elif "compile_error" in b:
        print(f"| torch.compile | failed: {b['compile_error']} | |")
    c = report["c"]
    print(f"| RRDBNet x4plus {c['upscale_input']}² → {4 * c['upscale_input']}² (tile {c['tile']}) | "
          f"{c['upscale_seconds']:.3f} | |")
    print(f"| RRDBNet x4plus {c['upscale_big_input']}² → {4 * c['upscale_big_input']}² (tile {c['tile']}) | "
          f"{c['upscale_big_seconds']:.3f} | peak VRAM {c['upscale_big_peak_vram_gib'] or 0:.2f} GiB |")
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
