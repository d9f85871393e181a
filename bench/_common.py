"""Shared pieces of the benchmark scripts: timing, side-by-side runs, RSS sampling, machine facts, output.

Every section script (``engine_overhead.py``, ``memory_over_time.py``, ``upscale_memory.py``,
``catalog_scale.py``, ``cold_start.py``) returns a ``Section``: its Markdown table, its goals (each met or
not, with the measured figure) and its raw numbers. ``bench/run.py`` runs each in a fresh process and
writes them into docs/PERFORMANCE.md; run alone, a script prints its own table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("GWEN_BENCH_CACHE", ROOT / "bench" / ".cache"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass
class Goal:
    name: str
    measured: str
    met: bool


@dataclass
class Section:
    title: str
    method: str  # one paragraph: what ran, how many times, on what
    table: str  # Markdown
    goals: list[Goal] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    notes: str = ""

    def markdown(self) -> str:
        parts = [f"### {self.title}", "", self.method, "", self.table]
        if self.notes:
            parts += ["", self.notes]
        return "\n".join(parts)


def median(values) -> float:
    return statistics.median(values)


def p95(values) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def side_by_side(contenders: dict[str, Callable[[], Any]], runs: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each contender, interleaved (A B C A B C …) so drift hits all of them alike."""
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for round_ in range(runs):
        order = list(contenders.items())
        if round_ % 2:  # alternate who goes first, too
            order.reverse()
        for name, fn in order:
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples this process's RSS every ``interval`` s while the block runs; ``.peak_mb`` is the highest seen."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.peak_mb = 0.0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_mb = max(self.peak_mb, rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self) -> "PeakRss":
        self.peak_mb = rss_mb()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb())


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        ram_gib = 0.0
    versions = {}
    for package in ("torch", "diffusers", "transformers", "spandrel", "duckdb", "streamlit", "pillow"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram_gib, 1), "gpu": _gpu_name(),
            "os": f"{platform.system()} {platform.machine()}", "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"), "versions": versions}


def _gpu_name() -> str:
    try:
        import torch

        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except Exception:
        return "unknown"


def cli(build: Callable[[argparse.Namespace], Section], describe: str,
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """Run one section as a script: ``--json PATH`` writes the Section for bench/run.py; stdout gets Markdown."""
    parser = argparse.ArgumentParser(description=describe)
    parser.add_argument("--json", type=Path, help="also write the results here (used by bench/run.py)")
    parser.add_argument("--quick", action="store_true", help="fewest runs and sizes: checks the script works")
    parser.add_argument("--full", action="store_true", help="more runs and sizes than bench/run.py's default")
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args()
    start = time.perf_counter()
    section = build(args)
    section.raw["seconds"] = round(time.perf_counter() - start, 1)
    print(section.markdown())
    for goal in section.goals:
        print(f"- {'met' if goal.met else 'NOT met'}: {goal.name}: {goal.measured}")
    if args.json:
        args.json.write_text(json.dumps(asdict(section), indent=2, default=str))


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
