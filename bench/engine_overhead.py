"""Engine overhead: GWEN vs a bare diffusers call on the same pipeline, seeds, steps and size (CPU).

Three contenders run interleaved (A B C, C B A, …) on one loaded pipeline:
- bare: ``pipe(prompt, generator=[torch.Generator(seed)…])``, the images discarded, run on the thread where GWEN
  renders (``gwen.device_thread``), so that both use one OpenMP thread team;
- GWEN engine: ``Engine.render`` (per-image noise, scheduler, batching, release after the job);
- GWEN generate: ``Studio.generate`` — the engine plus what a user always gets: the PNG with its
  metadata written atomically (fsync) and the catalog row, by default (the catalog kept open between calls
  and handed over when another process asks: ``gwen.catalog_hold``; the row committed behind the call, before
  any later read: ``gwen.pending_rows``). Then, in a block of its own with bare calls (a call after it would pay
  to reopen the file), opening and closing the DuckDB file on every call (``GWEN_CATALOG_LINGER=0``, GWEN's
  default before issue 16: rows committed in the call).
Then a batch of 4 in one ``Studio.generate`` call against 4 single calls. Models: the tiny pipeline (64²,
4 steps: per-call overhead dominates) and the SD1.5-shape pipeline with random weights (64², 1 step:
small, so overhead still shows; more steps and pixels only dilute it).

    python bench/engine_overhead.py [--runs 5] [--tiny-runs 15]
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from _common import CACHE, Goal, Section, cli, fmt_s, median, side_by_side

GOAL = 1.03


def sd15_shape_folder() -> Path:
    """The SD1.5-shape random-weight pipeline, built once into bench/.cache (4.3 GB, about 30 s)."""
    from gwen.tiny_models import build_sd15_shape

    folder = CACHE / "sd15-shape"
    if not (folder / "model_index.json").exists():
        staging = CACHE / "sd15-shape.building"
        shutil.rmtree(staging, ignore_errors=True)
        build_sd15_shape(staging)
        staging.rename(folder)
    return folder


def measure(studio, model: str, size: int, steps: int, runs: int) -> dict:
    import torch

    from gwen.device_thread import device_thread
    from gwen.params import ImageParams

    engine = studio.engine
    loaded = engine.load(model)
    params = ImageParams.build(prompt="a lighthouse at dusk, oil painting", model=model, steps=steps,
                               guidance=7.5, width=size, height=size, seed=1, scheduler="DPM++ 2M Karras")
    pipe = loaded.pipe

    def bare_call() -> None:
        pipe.scheduler = engine._scheduler(loaded, params.scheduler)
        pipe(prompt=params.prompt, negative_prompt="", num_inference_steps=steps, guidance_scale=7.5,
             height=size, width=size, generator=[torch.Generator("cpu").manual_seed(1)], output_type="pil")

    def bare() -> None:  # on the thread GWEN renders on: one OpenMP team for both (gwen.device_thread)
        device_thread().run(bare_call)

    def gwen_engine() -> None:
        engine.render([params])

    def gwen_generate(n: int = 1) -> None:
        studio.generate(params.prompt, model=model, n=n, seed=1, steps=steps, guidance=7.5, width=size,
                        height=size, scheduler=params.scheduler)

    lingering = studio.catalog._lingering

    def gwen_generate_closing() -> None:  # the same, opening and closing the catalog per call (LINGER=0, before)
        linger, lingering.linger = lingering.linger, 0.0
        studio.catalog.close()
        try:
            gwen_generate()
        finally:
            lingering.linger = linger

    single = side_by_side({"bare": bare, "engine": gwen_engine, "generate": gwen_generate}, runs)
    # in a block of its own: a call after it would pay for opening the file it closed
    closing = side_by_side({"bare_again": bare, "generate_closing": gwen_generate_closing}, runs)
    single["generate_closing"] = closing["generate_closing"]
    single["bare_again"] = closing["bare_again"]
    batch = side_by_side({"batch4": lambda: gwen_generate(4),
                          "four_singles": lambda: [gwen_generate(1) for _ in range(4)]}, runs)
    return {"single": single, "batch": batch}


ASKER = """
import sys, time
start = time.perf_counter()
from gwen.catalog import Catalog
imported = time.perf_counter()
images = Catalog(sys.argv[1], lock_timeout=10).stats()["images"]
print(images, time.perf_counter() - imported)
"""


def handover(studio, model: str, runs: int) -> list[float]:
    """Seconds another process waits for the catalog while this one holds it with a grid's rows pending: from
    its ``Catalog(...).stats()`` call (after its imports) to the answer, which must count the grid."""
    import os
    import subprocess
    import sys

    waits = []
    for k in range(runs):
        studio.generate("handed over", model=model, n=1, seed=k, steps=2, width=64, height=64)
        out = subprocess.run([sys.executable, "-c", ASKER, str(studio.catalog.path)], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "GWEN_CATALOG_LINGER": "0"},
                             cwd=Path(__file__).resolve().parent.parent)
        images, seconds = out.stdout.split()
        waits.append(float(seconds))
        assert int(images) == studio.stats()["images"], images  # it saw the pending row
    return waits


def build(args) -> Section:
    from gwen.config import Settings
    from gwen.tiny_models import build_tiny_sd
    from gwen.studio import Studio

    runs = 2 if args.quick else args.runs
    cases = [("tiny", 64, 4, 2 if args.quick else args.tiny_runs)]
    cases += [] if args.quick or args.tiny_only else [("SD1.5 shape", 64, 1, runs)]
    rows, goals, raw = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        studio = Studio(tmp / "home", settings=Settings(device="cpu"))
        for name, size, steps, case_runs in cases:
            model = str(build_tiny_sd(tmp / "tiny-sd") if name == "tiny" else sd15_shape_folder())
            result = measure(studio, model, size, steps, case_runs)
            raw[name] = result
            times = {**result["single"], **result["batch"]}
            m = {k: median(v) for k, v in times.items()}
            label = f"{name}, {size}², {steps} step{'s' if steps > 1 else ''}, {case_runs} runs"

            def row(key: str, what: str, ratio: str, extra: str = "") -> None:
                spread = f"{min(times[key]):.3f}–{max(times[key]):.3f} s"
                rows.append(f"| {label} | {what} | {fmt_s(m[key])} | {spread} | {ratio} | {extra} |")

            row("bare", "bare diffusers call, 1 image", "1.00")
            for key, what in (("engine", "GWEN `Engine.render`, 1 image"),
                              ("generate", "GWEN `Studio.generate`, 1 image (PNG + row written)"),
                              ("generate_closing", "GWEN `Studio.generate`, catalog opened and closed per call "
                                                   "(`GWEN_CATALOG_LINGER=0`; vs bare calls of its own block)")):
                ratio = m[key] / m["bare" if key != "generate_closing" else "bare_again"]
                row(key, what, f"**{ratio:.3f}**" if key != "generate_closing" else f"{ratio:.3f}",
                    "" if key == "engine" else f"{(m[key] - m['engine']) * 1000:+.0f} ms")
                if key != "generate_closing":
                    goals.append(Goal(f"{what.split(',')[0]} ≤ {GOAL} × bare ({name})", f"{ratio:.3f}×",
                                      ratio <= GOAL))
            row("batch4", "GWEN batch of 4, one call", f"**{m['batch4'] / m['four_singles']:.2f}** of 4 × 1")
            row("four_singles", "GWEN 4 single calls", "1.00")
            if name == "tiny":
                waits = handover(studio, model, case_runs)
                raw["handover_s"] = waits
                rows.append(f"| {label} | another process asks for the catalog this studio holds, a grid's row "
                            f"pending: until its answer (which counts the row) | {fmt_s(median(waits))} | "
                            f"{min(waits):.3f}–{max(waits):.3f} s | | |")
                goals.append(Goal("another process gets the held catalog (rows pending) within 1 s (tiny)",
                                  f"{median(waits):.3f} s", median(waits) <= 1.0))
            studio.engine.unload()
    table = "\n".join(["| model, size, runs | what | median | min–max | ratio | vs `Engine.render` |",
                       "|---|---|---|---|---|---|", *rows])
    method = ("`python bench/engine_overhead.py`: contenders interleaved on one loaded pipeline (A B C D, D C B A, "
              "…), median after one warm-up each; same prompt, seed, scheduler (DPM++ 2M Karras), guidance 7.5; "
              "the bare call gets the same scheduler object and a CPU generator with the same seed. The last "
              "column is GWEN's fixed cost per call beyond rendering (file, fsyncs, catalog row); the min–max "
              "column shows how far single runs of the same call scatter on these 2 cores.")
    return Section("1. Engine overhead (CPU)", method, table, goals, raw)


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0],
        lambda p: (p.add_argument("--runs", type=int, default=5, help="runs of the SD1.5-shape contenders"),
                   p.add_argument("--tiny-only", action="store_true", help="skip the SD1.5-shape pipeline"),
                   p.add_argument("--tiny-runs", type=int, default=15, help="runs of the tiny-model contenders")))
