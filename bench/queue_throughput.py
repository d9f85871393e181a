"""Queue throughput: 40 single-image jobs through GWEN's queue vs a bare diffusers loop over the same prompts
and seeds (tiny model, CPU).

Two contenders run interleaved (A B, B A, …) on one loaded pipeline:
- bare: ``pipe(prompt, generator=torch.Generator(seed))`` for each of the 40 prompts, images discarded, on the
  thread where GWEN renders (``gwen.device_thread``: one OpenMP thread team for both);
- GWEN queue: the 40 prompts added as one typed batch (``queue_add_text``: one job per prompt, one image each,
  seed 1000 for each, as a batch file's defaults give it; the bare loop uses the same seed) and
  the studio's queue runner run until the queue is empty: every job claimed, rendered, its PNG written
  (atomically, fsynced) and its rows committed with the job marked done, journals included.
Throughput is jobs per second; the goal (issue 16, S2) is GWEN ≥ 0.95 × bare.

    python bench/queue_throughput.py [--runs 5] [--jobs 40]
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from _common import Goal, Section, cli, median, side_by_side

GOAL = 0.95
SIZE, STEPS = 64, 4


def build(args) -> Section:
    import torch

    from gwen.config import Settings
    from gwen.device_thread import device_thread
    from gwen.studio import Studio
    from gwen.tiny_models import build_tiny_sd

    runs = 2 if args.quick else args.runs
    jobs = 6 if args.quick else args.jobs
    prompts = [f"a lighthouse at dusk, study {k}" for k in range(jobs)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = str(build_tiny_sd(tmp / "tiny-sd"))
        studio = Studio(tmp / "home", settings=Settings(device="cpu"))
        engine = studio.engine
        loaded = engine.load(model)
        pipe = loaded.pipe
        options = {"model": model, "steps": STEPS, "guidance": 5.0, "width": SIZE, "height": SIZE,
                   "scheduler": "Euler a"}

        def bare_loop() -> None:
            pipe.scheduler = engine._scheduler(loaded, "Euler a")
            for k, prompt in enumerate(prompts):
                pipe(prompt=prompt, num_inference_steps=STEPS, guidance_scale=5.0, height=SIZE, width=SIZE,
                     generator=[torch.Generator("cpu").manual_seed(1000)], output_type="pil")

        def bare() -> None:  # on the thread GWEN renders on: one OpenMP team for both (gwen.device_thread)
            device_thread().run(bare_loop)

        def queue(in_flight: int | None = None) -> None:
            studio.queue_add_text("\n".join(prompts), defaults={**options, "n": 1, "seed": 1000}, name="bench")
            runner = studio.queue_runner(poll_seconds=0.05)
            runner.concurrency = in_flight or runner.concurrency
            summary = runner.run(until_empty=True)
            assert summary.done >= jobs, summary

        times = side_by_side({"bare": bare, "queue": lambda: queue(1), "queue_two": lambda: queue(2)}, runs)
        studio.close()
    m = {k: median(v) for k, v in times.items()}
    ratio = m["bare"] / m["queue"]  # throughput ratio: GWEN jobs/s over bare images/s
    rows = [f"| bare diffusers loop, {jobs} images | {m['bare']:.2f} s | {jobs / m['bare']:.2f} /s | 1.00 |",
            f"| GWEN queue, {jobs} single-image jobs (default: 1 in flight) | {m['queue']:.2f} s | "
            f"{jobs / m['queue']:.2f} /s | "
            f"**{ratio:.3f}** |",
            f"| GWEN queue, two jobs in flight (`GWEN_QUEUE_IN_FLIGHT=2`) | {m['queue_two']:.2f} s | "
            f"{jobs / m['queue_two']:.2f} /s | {m['bare'] / m['queue_two']:.3f} |"]
    table = "\n".join(["| contender | median time | throughput | vs bare |", "|---|---|---|---|", *rows])
    method = (f"`python bench/queue_throughput.py`: tiny model, {SIZE}², {STEPS} steps, Euler a, guidance 5; "
              f"{jobs} prompts, seed 1000; contenders interleaved, median of {runs} runs after one warm-up. "
              "The queue run includes adding the jobs, claiming each, its PNG (atomic, fsynced), its rows and "
              "the job's state in the catalog and the jobs journal.")
    goal = Goal(f"queue throughput ≥ {GOAL} × a bare diffusers loop ({jobs} single-image jobs, tiny)",
                f"{ratio:.3f}×", ratio >= GOAL)
    return Section("8. Queue throughput (CPU)", method, table, [goal], {"times": times, "jobs": jobs})


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0],
        lambda p: (p.add_argument("--runs", type=int, default=5), p.add_argument("--jobs", type=int, default=40)))
