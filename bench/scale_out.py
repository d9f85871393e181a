"""Scale-out: throughput of a queue and latency of one grid, local studio vs Ray Serve pools of 1 and N replicas.

One Ray instance on this machine holds every pool at once (one Serve application per GWEN home), so the
contenders run interleaved (A B C A B C …, `side_by_side`) and share whatever drift the machine has:
- the local studio (no Ray; torch's default threads, chunks of ``--chunk`` images);
- a pool of 1 replica and a pool of ``--replicas`` replicas, each replica with ``--replica-cpus`` CPUs (as many
  torch threads) and ``--replica-gpus`` GPUs (0.5: two replicas share one GPU).
Each queue run adds ``--jobs`` jobs of ``--n`` images (``--steps`` steps, ``--size``²) and runs the studio's queue
runner until it is empty (a pool keeps one job in flight per replica); each grid run renders one grid of
``2 × --chunk`` images, which a pool splits into pipeline calls of ``--chunk`` across its replicas.

    python bench/scale_out.py                      # tiny model on this machine's CPUs, 2 replicas × 1 CPU
    python bench/scale_out.py --model sd15 --size 512 --steps 20 --replica-gpus 0.5   # on a lent GPU
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from pathlib import Path

from _common import Goal, Section, cli, median, side_by_side


def build(args) -> Section:
    from gwen.scale import PoolConfig, connect, start_pool
    from gwen.studio import Studio

    runs = 2 if args.quick else args.runs
    jobs = 2 if args.quick else args.jobs
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    counter = itertools.count()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = _model(args.model, tmp)
        homes = {name: tmp / name for name in ("local", "pool1", "poolN")}
        for home in homes.values():
            (home / "models").mkdir(parents=True)  # hard links: inside each served models folder, no extra space
            shutil.copytree(model, home / "models" / "bench-model", copy_function=os.link)
        configs = {"pool1": PoolConfig(1, None, args.replica_gpus, args.replica_cpus, chunk_size=args.chunk),
                   "poolN": PoolConfig(args.replicas, None, args.replica_gpus, args.replica_cpus,
                                       chunk_size=args.chunk)}
        connect(PoolConfig(1 + args.replicas, None, args.replica_gpus, args.replica_cpus))  # one Ray for both
        studios = {"local": Studio(homes["local"], chunk_size=args.chunk)}
        for name, config in configs.items():
            _pool, studios[name] = start_pool(homes[name], config)
        labels = {"local": "local studio (no Ray)",
                  "pool1": f"pool, 1 replica × {_share(args)}",
                  "poolN": f"pool, {args.replicas} replicas × {_share(args)}"}
        options = {"model": "bench-model", "steps": args.steps, "width": args.size, "height": args.size}

        def queue_run(studio) -> None:
            prompts = [f"a bench lighthouse {next(counter)}" for _ in range(jobs)]
            studio.queue_add_text("\n".join(prompts), defaults={**options, "n": args.n, "seed": 1})
            summary = studio.queue_runner(poll_seconds=0.05).run(until_empty=True)
            assert summary.done == jobs and summary.failed == 0, summary

        def grid(studio) -> None:
            studio.generate(f"a bench grid {next(counter)}", n=2 * args.chunk, seed=5, **options)
        try:
            queue_times = side_by_side({k: (lambda s=s: queue_run(s)) for k, s in studios.items()}, runs)
            grid_times = side_by_side({k: (lambda s=s: grid(s)) for k, s in studios.items()}, runs)
        finally:
            for studio in studios.values():
                studio.close()
            import ray
            from ray import serve

            serve.shutdown()  # Ray was started here, for both pools
            ray.shutdown()
    images = jobs * args.n
    lines = [f"| contender | queue: {jobs} jobs × {args.n} images, images/s (median of {runs}) | vs 1 replica | "
             f"grid of {2 * args.chunk}, seconds (median of {runs}) | vs 1 replica |", "|---|---|---|---|---|"]
    rate = {k: images / median(v) for k, v in queue_times.items()}
    latency = {k: median(v) for k, v in grid_times.items()}
    for key in studios:
        lines.append(f"| {labels[key]} | **{rate[key]:.2f}** ({min(images / t for t in queue_times[key]):.2f} – "
                     f"{max(images / t for t in queue_times[key]):.2f}) | ×{rate[key] / rate['pool1']:.2f} | "
                     f"**{latency[key]:.2f}** ({min(grid_times[key]):.2f} – {max(grid_times[key]):.2f}) | "
                     f"×{latency['pool1'] / latency[key]:.2f} |")
    speedup = rate["poolN"] / rate["pool1"]
    method = (f"`python bench/scale_out.py --model {args.model} --size {args.size} --steps {args.steps} --n {args.n} "
              f"--jobs {jobs} --chunk {args.chunk} --replicas {args.replicas} --replica-cpus {args.replica_cpus:g} "
              f"--replica-gpus {args.replica_gpus:g} --runs {runs}`: one Ray instance holds both pools; contenders "
              "interleaved, one warm-up each (model loads excluded).")
    goals = [Goal(f"{args.replicas} replicas render a queue faster than 1", f"×{speedup:.2f}", speedup > 1.0)]
    return Section("7. Scale-out: Ray Serve pool vs local studio", method, "\n".join(lines), goals,
                   {"queue_seconds": queue_times, "grid_seconds": grid_times, "images_per_queue_run": images})


def _model(name: str, tmp: Path) -> Path:
    if name == "tiny":
        from gwen.tiny_models import build_tiny_sd

        return build_tiny_sd(tmp / "model")
    if name == "sd15":
        from gwen.tiny_models import build_sd15_shape

        return build_sd15_shape(tmp / "model")
    return Path(name)  # a diffusers folder


def _share(args) -> str:
    gpu = f", {args.replica_gpus:g} GPU" if args.replica_gpus else ""
    return f"{args.replica_cpus:g} CPU{gpu}"


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--runs", type=int, default=5),
        p.add_argument("--jobs", type=int, default=6),
        p.add_argument("--n", type=int, default=4, help="images per job"),
        p.add_argument("--steps", type=int, default=20),
        p.add_argument("--size", type=int, default=64),
        p.add_argument("--chunk", type=int, default=4, help="images per pipeline call"),
        p.add_argument("--model", default="tiny", help="tiny, sd15 (full-shape random weights) or a folder"),
        p.add_argument("--replicas", type=int, default=2),
        p.add_argument("--replica-cpus", type=float, default=1.0),
        p.add_argument("--replica-gpus", type=float, default=0.0)))
