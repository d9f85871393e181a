"""Dashboard costs: CPU of an idle dashboard (file watcher on vs GWEN's config), and the cost of live previews.

Idle CPU: the app (Home.py, pages/, gwen/, .streamlit/) is copied into a folder that also holds the running venv
(hard-linked, so every imported module really lives *inside* the app folder, as with the README's `.venv`;
Streamlit resolves symlinks, so a symlinked venv would not count). For each setting, a fresh `streamlit run` renders Generate once in Chromium and makes a
grid on the tiny model (so torch and diffusers are imported, as after real use), then the CPU time the server
process uses over ``--idle`` seconds of idleness is read from /proc. Contenders alternate, ``--runs`` each:
`--server.fileWatcherType auto` (Streamlit's default, what GWEN shipped before) and GWEN's `.streamlit/config.toml`
(`none`).

Live previews: ``Studio.generate`` of a grid of 4 on the tiny model (64², 30 steps) with and without
``on_preview``; each preview is also encoded as PNG, as Streamlit does before sending it. Interleaved runs.

    python bench/dashboard_cost.py [--runs 5] [--idle 10]
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import CACHE, ROOT, Goal, Section, cli, median, side_by_side

CHROMIUM = os.environ.get("GWEN_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
IDLE_GOAL = 2.0  # % of one core
PREVIEW_GOAL = 3.0  # % of the render time


def app_copy(folder: Path) -> Path:
    """The app in ``folder`` with the running venv inside it (``folder/.venv``, hard links: no extra space);
    returns that venv's python."""
    for name in ("Home.py", "pages", "gwen", ".streamlit"):
        source = ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, folder / name)
    subprocess.run(["cp", "-al", sys.prefix, str(folder / ".venv")], check=True)
    return folder / ".venv" / "bin" / "python"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def idle_cpu_percent(browser, app: Path, python: Path, home: Path, model: Path, watcher: str | None,
                     idle: float) -> float:
    from tests.browser import fully_drawn

    port = _free_port()
    command = [str(python), "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port)]
    if watcher:
        command += ["--server.fileWatcherType", watcher]
    env = {**os.environ, "GWEN_HOME": str(home), "GWEN_MODEL": str(model), "HF_HUB_OFFLINE": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(command, cwd=app, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        _wait_for(port)
        page.goto(f"http://127.0.0.1:{port}/Generate")
        fully_drawn(page)
        page.get_by_label("Prompt", exact=True).fill("a lighthouse")
        page.get_by_role("button", name="Generate", exact=True).click()
        page.get_by_text("4 images · generate").wait_for(timeout=120_000)
        fully_drawn(page)
        time.sleep(2)  # let the last messages settle
        before = cpu_seconds(proc.pid)
        time.sleep(idle)
        used = cpu_seconds(proc.pid) - before
        page.close()
        return 100.0 * used / idle
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def preview_costs(runs: int, home: Path, model: Path) -> dict[str, list[float]]:
    from gwen.studio import Studio

    studio = Studio(home)

    def encode(first: int, images: list) -> None:
        for image in images:
            image.save(io.BytesIO(), format="PNG")
    kwargs = dict(model=str(model), n=4, seed=1, steps=30, width=64, height=64)
    return side_by_side({"without previews": lambda: studio.generate("a fox", **kwargs),
                         "with previews": lambda: studio.generate("a fox", on_preview=encode, **kwargs)}, runs)


def build(args) -> Section:
    runs = 2 if args.quick else args.runs
    idle = 3.0 if args.quick else args.idle
    from gwen.tiny_models import build_tiny_sd

    raw: dict = {}
    goals: list[Goal] = []
    lines = ["| what | runs | median | min – max |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_sd(tmp / "tiny-sd")
        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright

            app = CACHE / "idle-app"  # on the venv's file system, for hard links
            shutil.rmtree(app, ignore_errors=True)
            app.mkdir(parents=True)
            python = app_copy(app)
            results: dict[str, list[float]] = {"auto": [], "none": []}
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
                for k in range(runs):
                    for watcher in (("auto", "none") if k % 2 == 0 else ("none", "auto")):
                        results[watcher].append(idle_cpu_percent(
                            browser, app, python, tmp / f"home-{watcher}-{k}", model,
                            "auto" if watcher == "auto" else None, idle))
                browser.close()
            shutil.rmtree(app, ignore_errors=True)
            raw["idle_cpu_percent"] = results
            for watcher, label in (("auto", "file watcher on (Streamlit's default, before)"),
                                   ("none", "GWEN's `.streamlit/config.toml` (`fileWatcherType = \"none\"`)")):
                values = results[watcher]
                lines.append(f"| idle dashboard, venv inside the app folder, {label}: CPU % of one core | {runs} | "
                             f"**{median(values):.1f} %** | {min(values):.1f} – {max(values):.1f} % |")
            goals.append(Goal("an idle dashboard uses under 2 % of a core", f"{median(results['none']):.2f} %",
                              median(results["none"]) < IDLE_GOAL))
        else:
            lines.append(f"| idle CPU (skipped: no Chromium at {CHROMIUM}) | — | — | — |")
        times = preview_costs(max(runs, 5), tmp / "home-preview", model)
        raw["preview_seconds"] = times
        base, with_previews = median(times["without previews"]), median(times["with previews"])
        for name, values in times.items():
            lines.append(f"| `Studio.generate`, tiny model, 4 × 64², 30 steps, {name} | {len(values)} | "
                         f"**{median(values):.3f} s** | {min(values):.3f} – {max(values):.3f} s |")
        cost = 100.0 * (with_previews - base) / base
        lines.append(f"| live previews (5 per render, each encoded as PNG): extra time | | **{cost:+.1f} %** | |")
        goals.append(Goal("live previews cost at most 3 % of the render time", f"{cost:+.1f} %", cost <= PREVIEW_GOAL))
    method = (f"`python bench/dashboard_cost.py --runs {runs} --idle {idle:g}`: idle CPU from /proc (utime + stime of "
              f"the `streamlit run` process over {idle:g} s, after a grid was made through Chromium), contenders "
              "alternating; previews with `side_by_side` (interleaved, one warm-up each).")
    return Section("6. Dashboard: idle CPU and live previews", method, "\n".join(lines), goals, raw)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(port: int) -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("streamlit did not start")


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--runs", type=int, default=5),
        p.add_argument("--idle", type=float, default=10.0)))
