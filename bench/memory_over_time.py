"""Memory over time: 30 consecutive generations in one process, with a model switch half-way.

Runs 1–15 use the SD1.5-shape pipeline (random weights, 4.3 GB in fp32), runs 16–30 a second copy of it in
another folder (hard links; GWEN sees a different model and must release the first before loading the second:
a leaked pipeline would show as +4 GB). Each run is a full ``Studio.generate`` (1 image, 64², 1 step):
render, PNG files, catalog rows. Peak RSS is sampled every 5 ms during each run. Writes the curve as a PNG.

    python bench/memory_over_time.py [--plot docs/memory-over-time.png]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from _common import CACHE, ROOT, Goal, PeakRss, Section, cli, rss_mb
from engine_overhead import sd15_shape_folder

GOAL = 1.05


def second_copy(folder: Path) -> Path:
    """The same weights in another folder (hard links: no extra disk), i.e. another model to GWEN."""
    copy = CACHE / "sd15-shape-b"
    if not (copy / "model_index.json").exists():
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(folder, copy, copy_function=os.link)
    return copy


def plot(samples: list[dict], switch_at: int, target: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [s["run"] for s in samples]
    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=120)
    ax.plot(runs, [s["peak_mb"] / 1024 for s in samples], marker="o", ms=3, label="peak RSS during the run")
    ax.plot(runs, [s["after_mb"] / 1024 for s in samples], marker=".", ms=3, label="RSS after the run")
    ax.set_ylim(bottom=0, top=max(s["peak_mb"] for s in samples) / 1024 * 1.15)
    ax.axvline(switch_at - 0.5, color="grey", ls="--", lw=1)
    ax.text(switch_at - 0.3, 0.05, " model switch", color="grey", va="bottom", fontsize=8)
    ax.set_xlabel("generation")
    ax.set_ylabel("GiB")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target)
    plt.close(fig)


def build(args) -> Section:
    from gwen.config import Settings
    from gwen.tiny_models import build_tiny_sd
    from gwen.studio import Studio

    count = 6 if args.quick else 30
    switch_at = count // 2 + 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.quick:
            first = build_tiny_sd(tmp / "tiny-a")
            second = Path(shutil.copytree(first, tmp / "tiny-b"))
            size, model_name = 64, "tiny"
        else:
            first = sd15_shape_folder()
            second = second_copy(first)
            size, model_name = 64, "SD1.5 shape"
        studio = Studio(tmp / "home", settings=Settings(device="cpu"))
        samples = []
        for run in range(1, count + 1):
            model = str(first if run < switch_at else second)
            with PeakRss() as peak:
                studio.generate(f"memory run {run}, a lighthouse", model=model, n=1, seed=run * 10, steps=1,
                                width=size, height=size, scheduler="DPM++ 2M Karras")
            samples.append({"run": run, "model": "A" if run < switch_at else "B", "peak_mb": peak.peak_mb,
                            "after_mb": rss_mb()})
            print(f"run {run:2d} model {samples[-1]['model']}: peak {peak.peak_mb:7.0f} MiB, after "
                  f"{samples[-1]['after_mb']:7.0f} MiB", flush=True)
    if args.plot:
        plot(samples, switch_at, args.plot, f"GWEN: RSS over {count} generations, {model_name} on CPU")
    third, last = samples[2], samples[-1]
    ratio = last["peak_mb"] / third["peak_mb"]
    before_switch = samples[switch_at - 2]
    after_switch = samples[switch_at - 1]
    rows = ["| run | model | peak RSS during run | RSS after run |", "|---|---|---|---|"]
    for s in samples:
        if s["run"] in (1, 2, 3, switch_at - 1, switch_at, switch_at + 1, count) or s["run"] % 5 == 0:
            rows.append(f"| {s['run']} | {s['model']} | {s['peak_mb']:.0f} MiB | {s['after_mb']:.0f} MiB |")
    goals = [Goal(f"peak RSS of run {count} ≤ {GOAL} × run 3 ({model_name}, model switch at run {switch_at})",
                  f"{last['peak_mb']:.0f} / {third['peak_mb']:.0f} MiB = {ratio:.3f}×", ratio <= GOAL)]
    plot_note = (f"Curve: [`{args.plot.relative_to(ROOT)}`]({args.plot.relative_to(ROOT.joinpath('docs'))})."
                 if args.plot and args.plot.is_relative_to(ROOT / "docs") else "")
    released = after_switch["peak_mb"] <= before_switch["peak_mb"] * 1.2
    notes = (f"Across the switch the peak went {before_switch['peak_mb']:.0f} → {after_switch['peak_mb']:.0f} MiB"
             + (": the first model is released before the second loads. " if released else
                ": both models were resident at once during the switch. ") + plot_note)
    method = (f"`python bench/memory_over_time.py`: {count} consecutive `Studio.generate` calls in one process "
              f"({model_name}, 1 image of {size}², 1 step each, PNG and row written), the model switched to a "
              f"second folder at run {switch_at}; peak RSS sampled every 5 ms during each run.")
    return Section("2. Memory over time", method, "\n".join(rows), goals, {"samples": samples}, notes)


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0],
        lambda p: p.add_argument("--plot", type=Path, help="write the curve to this PNG"))
