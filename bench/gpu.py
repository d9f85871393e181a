"""GPU check and benchmark, one script for one lease of a GPU machine (about 5 minutes on an H100/H200).

Part A checks GWEN's CUDA code paths on the tiny models (fp16 generation, batch vs single, verify, img2img,
fp16 spandrel upscale). Part B times an SD1.5-shape pipeline (random weights, true shapes) in fp16 at 512²:
GWEN's engine vs a bare diffusers call on the same pipeline, a batch of 4 vs 4 single calls, and the
channels_last and torch.compile fast paths, and Studio.generate end to end (PNG + catalog row); plus
full-shape RRDBNet x4plus tiled upscaling at 512² and 1024². Issue 16's GPU goals: S6, an SD-Turbo-shape
queue (1 step, batch 4) against a bare loop; S5, SD1.5 shape at 50 steps with GWEN_COMPILE=1 in fresh processes
(the first compiles, the second reuses the cache), last because a cold max-autotune compile is the slowest
part. Prints Markdown; writes JSON after every part.

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

    def generate_committed(n=1):  # the rows committed inside the call (before issue 16 wrote them behind it)
        generate(n)
        studio.catalog.flush_pending()

    from _common import side_by_side  # interleaved rounds: A B C D, D C B A, …

    results = {}
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    single = side_by_side({"bare_1": bare, "gwen_1": gwen, "generate_1": generate,
                           "generate_1_committed": generate_committed}, runs)
    grid = side_by_side({"gwen_batch4": lambda: gwen(4), "generate_batch4": lambda: generate(4),
                         "generate_batch4_committed": lambda: generate_committed(4)}, runs)
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


S5_CHILD = """
import json, os, statistics, sys, time
sys.path.insert(0, sys.argv[4])
import torch
from gwen.config import Settings
from gwen.params import ImageParams
from gwen.studio import Studio
home, model, size_steps_runs = sys.argv[1], sys.argv[2], sys.argv[3]
size, steps, runs = map(int, size_steps_runs.split(","))
device = "cuda" if torch.cuda.is_available() else "cpu"
studio = Studio(home, settings=Settings(device=device))
params = ImageParams.build(prompt="a lighthouse at dusk, oil painting", model=model, steps=steps, guidance=7.5,
                           width=size, height=size, seed=1, scheduler="DPM++ 2M Karras")
def sync():
    if device == "cuda":
        torch.cuda.synchronize()
def render():
    studio.engine.render([params])
    sync()
start = time.perf_counter()
studio.engine.load(model)
sync()
load_s = time.perf_counter() - start
start = time.perf_counter()
render()
first_s = time.perf_counter() - start
times = []
for _ in range(runs):
    start = time.perf_counter()
    render()
    times.append(time.perf_counter() - start)
from torch._dynamo.utils import counters
print(json.dumps({"load_s": load_s, "first_call_s": first_s, "median_s": statistics.median(times), "times": times,
                  "compiled": studio.engine_status().get("compiled"), "inductor": dict(counters["inductor"])}))
"""


def part_s5(device: str, tmp: Path, size: int, steps: int, runs: int, timeout: float) -> dict:
    """S5: SD1.5-shape, one image, in fresh processes: eager, then GWEN_COMPILE=1 twice on one home (the first
    compiles, the second loads the cached kernels), then the compile with mode "default" (a knob's figure)."""
    import os
    import subprocess

    import torch

    from gwen.tiny_models import build_sd15_shape, build_tiny_sd

    dtype = torch.float16 if device.startswith("cuda") else None
    folder = tmp / "sd15-shape-s5"
    if not folder.exists():
        build_tiny_sd(folder) if device == "cpu" else build_sd15_shape(folder, dtype)
    out: dict = {"size": size, "steps": steps}
    clean = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}
    runs_plan = [("eager", {"GWEN_COMPILE": "0"}, "home-eager"),
                 ("compiled_cold", {"GWEN_COMPILE": "1"}, "home-compiled"),
                 ("compiled_warm", {"GWEN_COMPILE": "1"}, "home-compiled"),
                 ("compiled_default_mode", {"GWEN_COMPILE": "1", "GWEN_COMPILE_MODE": "default"}, "home-default")]
    for name, env, home in runs_plan:
        try:
            child = subprocess.run([sys.executable, "-c", S5_CHILD, str(tmp / home), str(folder),
                                    f"{size},{steps},{runs}", str(ROOT)], capture_output=True, text=True,
                                   timeout=timeout, env={**clean, **env}, cwd=tmp)
            out[name] = json.loads(child.stdout.strip().splitlines()[-1]) if child.returncode == 0 else \
                {"error": child.stderr[-1500:]}
        except subprocess.TimeoutExpired:
            out[name] = {"error": f"timed out after {timeout:.0f} s"}
        print(json.dumps({name: out[name]}), flush=True)
    return out


def part_s6(device: str, tmp: Path, size: int, jobs: int, runs: int) -> dict:
    """S6: SD-Turbo shape, 1 step, batch 4, guidance 0: the queue (1 and 2 jobs in flight) against a bare
    diffusers loop over the same prompts and seeds, interleaved, in one process."""
    import torch

    from _common import side_by_side
    from gwen.config import Settings
    from gwen.device_thread import device_thread
    from gwen.studio import Studio
    from gwen.tiny_models import build_sd_turbo_shape, build_tiny_sd

    dtype = torch.float16 if device.startswith("cuda") else None
    folder = tmp / "sd-turbo-shape"
    if not folder.exists():
        build_tiny_sd(folder) if device == "cpu" else build_sd_turbo_shape(folder, dtype)
    studio = Studio(tmp / "home-s6", settings=Settings(device=device))
    loaded = studio.engine.load(str(folder))
    pipe = loaded.pipe
    prompts = [f"a lighthouse at dusk, study {k}" for k in range(jobs)]
    options = {"model": str(folder), "steps": 1, "guidance": 0.0, "width": size, "height": size,
               "scheduler": "Euler a", "n": 4, "seed": 1000}

    def bare_loop() -> None:
        pipe.scheduler = studio.engine._scheduler(loaded, "Euler a")
        for prompt in prompts:
            pipe(prompt=prompt, num_inference_steps=1, guidance_scale=0.0, height=size, width=size,
                 num_images_per_prompt=4, generator=[torch.Generator("cpu").manual_seed(1000 + k) for k in range(4)],
                 output_type="pil")
        sync(device)

    def queue(in_flight: int) -> None:
        studio.queue_add_text("\n".join(prompts), defaults=options, name="s6")
        runner = studio.queue_runner(poll_seconds=0.05)
        runner.concurrency = in_flight
        summary = runner.run(until_empty=True)
        assert summary.done >= jobs, summary

    times = side_by_side({"bare": lambda: device_thread().run(bare_loop), "queue_1": lambda: queue(1),
                          "queue_2": lambda: queue(2)}, runs)
    m = {k: statistics.median(v) for k, v in times.items()}
    studio.close()
    return {"jobs": jobs, "size": size, "times": times, **m, "ratio_1": m["bare"] / m["queue_1"],
            "ratio_2": m["bare"] / m["queue_2"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny CPU run to check the script itself")
    parser.add_argument("--out", default=None)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows (~1 minute)")
    parser.add_argument("--only", default="a,b,c,s6,s5",
                        help="parts to run, in this order (default a,b,c,s6,s5: S5's cold compile comes last)")
    parser.add_argument("--s5-timeout", type=float, default=420, help="seconds each S5 process may take")
    args = parser.parse_args()
    import torch

    device = "cpu" if args.smoke else "cuda"
    size, steps, runs, up_size = (64, 2, 1, 64) if args.smoke else (512, 30, 5, 512)
    report = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if device == "cuda" else "cpu"}
    parts = args.only.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        for part in parts:
            if part == "a":
                report["a"] = part_a(device, Path(tmp))
            elif part == "b":
                report["b"] = part_b(device, Path(tmp), size, steps, runs, not args.no_compile)
            elif part == "c":
                report["c"] = part_c(device, up_size, runs)
            elif part == "s6":
                report["s6"] = part_s6(device, Path(tmp), size, 8 if args.smoke else 40, 1 if args.smoke else 3)
            elif part == "s5":
                if args.no_compile and args.smoke:
                    continue
                report["s5"] = part_s5(device, Path(tmp), size, 2 if args.smoke else 50, runs, args.s5_timeout)
            print(json.dumps({part: report.get(part)}), flush=True)
            if args.out:  # what ran so far survives a lease that ends early
                Path(args.out).write_text(json.dumps(report, indent=2))
        report["seconds_total"] = time.perf_counter() - t0
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print_tables(report, size, steps, runs)


def print_tables(report: dict, size: int, steps: int, runs: int) -> None:
    if "s6" in report:
        s6 = report["s6"]
        print(f"\nS6: SD-Turbo shape, {s6['size']}², 1 step, batch 4, {s6['jobs']} jobs")
        print("| what | median s | throughput vs bare |")
        print("|---|---|---|")
        print(f"| bare diffusers loop | {s6['bare']:.3f} | 1.00 |")
        print(f"| GWEN queue, 1 in flight | {s6['queue_1']:.3f} | {s6['ratio_1']:.3f} |")
        print(f"| GWEN queue, 2 in flight | {s6['queue_2']:.3f} | {s6['ratio_2']:.3f} |")
    if "s5" in report:
        s5 = report["s5"]
        print(f"\nS5: SD1.5 shape, {s5['size']}², {s5['steps']} steps, one image, fresh processes")
        print("| process | load s | first render s | median s |")
        print("|---|---|---|---|")
        for name in ("eager", "compiled_cold", "compiled_warm", "compiled_default_mode"):
            row = s5.get(name) or {}
            if "error" in row:
                print(f"| {name} | failed: {row['error'][-200:]!r} | | |")
            elif row:
                print(f"| {name} | {row['load_s']:.1f} | {row['first_call_s']:.2f} | {row['median_s']:.3f} |")
    if "b" not in report or "c" not in report:
        return
    b = report["b"]
    print(f"\n{report['gpu']}, torch {report['torch']}, SD1.5-shape fp16 {size}², {steps} steps, median of {runs}")
    print("| what | median s | ratio |")
    print("|---|---|---|")
    print(f"| bare diffusers, 1 image | {b['bare_1']:.3f} | 1.00 |")
    print(f"| GWEN engine, 1 image | {b['gwen_1']:.3f} | {b['gwen_1'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, 1 image (PNG + row) | {b['generate_1']:.3f} | "
          f"{b['generate_1'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, rows committed in the call | {b['generate_1_committed']:.3f} | "
          f"{b['generate_1_committed'] / b['bare_1']:.3f} vs bare |")
    print(f"| GWEN Studio.generate, batch of 4 (4 PNGs + rows) | {b['generate_batch4']:.3f} | "
          f"{b['generate_batch4'] / b['gwen_batch4']:.3f} vs engine batch of 4 |")
    print(f"| GWEN Studio.generate, batch of 4, rows committed in the call | {b['generate_batch4_committed']:.3f} | "
          f"{b['generate_batch4_committed'] / b['gwen_batch4']:.3f} vs engine batch of 4 |")
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


if __name__ == "__main__":
    main()
