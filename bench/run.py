"""Run benchmarks 1–6 and 8 on this machine, print their tables and write them into docs/PERFORMANCE.md.

Section 7 (scale-out on Ray) and the 1024² x4plus upscale are opt-in (``--with``).

Each section runs in its own fresh process (so one section's memory cannot colour another's). The generated
block of docs/PERFORMANCE.md (between the ``bench/run.py`` markers) is replaced; the rest of the file (GPU
runs, history) is kept. Raw numbers go to docs/bench/latest.json, the memory curve to
docs/memory-over-time.png.

    python bench/run.py              # writes docs/ (the issue-16 goal: at most 15 minutes on 2 CPU cores)
    python bench/run.py --with upscale_1024 scale_out    # also the 1024² x4plus upscale (~8 min), Ray (~6 min)
    python bench/run.py --quick      # about 2 minutes: checks every script works; writes nothing
    python bench/run.py --only catalog_scale cold_start
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine

SECTIONS = ["engine_overhead", "memory_over_time", "upscale_memory", "catalog_scale", "cold_start", "dashboard_cost",
            "queue_throughput"]
OPT_IN = {"upscale_1024": ("upscale_memory", ["--with-1024"]),  # ~8 min on 2 cores: one 1024² x4plus upscale
          "scale_out": ("scale_out", [])}  # ~6 min: 1 vs 2 Ray Serve replicas (results in docs/SCALING.md)
DOC = ROOT / "docs" / "PERFORMANCE.md"
BEGIN = "<!-- bench/run.py: generated block begins; edit bench/, not this block -->"
END = "<!-- bench/run.py: generated block ends -->"
PLOT = ROOT / "docs" / "memory-over-time.png"


def run_section(name: str, quick: bool, out: Path, extra: list[str]) -> tuple[dict, float]:
    command = [sys.executable, str(ROOT / "bench" / f"{name}.py"), "--json", str(out), *extra]
    if quick:
        command.append("--quick")
    if name == "memory_over_time" and not quick:
        command += ["--plot", str(PLOT)]
    print(f"\n=== {name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT / "bench", check=True)
    return json.loads(out.read_text()), time.perf_counter() - start


def render(sections: list[tuple[dict, float]], facts: dict, total: float) -> str:
    v = facts["versions"]
    timings = ", ".join(s["title"].split(".")[0] + f": {t / 60:.1f}" for s, t in sections)
    lines = [BEGIN, "", f"## Latest `python bench/run.py` ({facts['date']})", "",
             f"Machine: {facts['cpu']}, {facts['cores']} cores, {facts['ram_gib']} GiB RAM, GPU: {facts['gpu']}; "
             f"{facts['os']}, Python {facts['python']}; torch {v['torch']}, diffusers {v['diffusers']}, "
             f"transformers {v['transformers']}, spandrel {v['spandrel']}, duckdb {v['duckdb']}, "
             f"streamlit {v['streamlit']}, Pillow {v['pillow']}. Whole run: {total / 60:.1f} min "
             f"({timings} min).", "",
             "| section | goal | measured | met |", "|---|---|---|---|"]
    for section, _ in sections:
        for goal in section["goals"]:
            lines.append(f"| {section['title']} | {goal['name']} | {goal['measured']} | "
                         f"{'✅ met' if goal['met'] else '❌ not met'} |")
    for section, _ in sections:
        parts = [f"### {section['title']}", "", section["method"], "", section["table"]]
        if section.get("notes"):
            parts += ["", section["notes"]]
        lines += ["", *parts]
    lines += ["", END]
    return "\n".join(lines)


def write_doc(block: str) -> None:
    text = DOC.read_text() if DOC.exists() else "# Performance\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:  # first run: the block goes right after the title paragraph
        title, _, body = text.partition("\n\n")
        text = f"{title}\n\n{block}\n\n{body}"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smallest sizes and runs; writes nothing to docs/")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run these sections only")
    parser.add_argument("--with", nargs="+", default=[], choices=sorted(OPT_IN), dest="opt_in",
                        help="also run these opt-in sections (upscale_1024 replaces upscale_memory's run)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument("--light-python", help="python of a venv made from requirements-remote.txt (cold start)")
    args = parser.parse_args()
    names = list(args.only or SECTIONS)
    for option in args.opt_in:
        script = OPT_IN[option][0]
        if script not in names:
            names.append(script)
    start = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            extra = ["--light-python", args.light_python] if name == "cold_start" and args.light_python else []
            extra += [flag for option in args.opt_in for flag in OPT_IN[option][1] if OPT_IN[option][0] == name]
            results.append(run_section(name, args.quick, Path(tmp) / f"{name}.json", extra))
    total = time.perf_counter() - start
    facts = machine()
    block = render(results, facts, total)
    print("\n" + block)
    if args.quick or args.no_write or args.only:
        print("\n(docs/ left alone: --quick, --only and --no-write runs are not the record)")
        return
    write_doc(block)
    raw = ROOT / "docs" / "bench" / "latest.json"
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"machine": facts, "total_s": total,
                               "sections": [{**s, "wall_s": t} for s, t in results]}, indent=1, default=str))
    print(f"\nwrote {DOC.relative_to(ROOT)}, {raw.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
