"""Cold start: `streamlit run Home.py` to the first full render of Home, and `import gwen` in the light install.

Dashboard: a fresh `streamlit run` process on an empty GWEN_HOME (no model loaded) per run; headless Chromium
(launched beforehand, not counted) opens the page as soon as the server answers its health check, and the
clock stops when Home's last element is on screen. Import: `python -c "import gwen.remote"` (the client the
light dashboard uses) and `import gwen.ui.state` (what every page imports, Streamlit included) in the light
venv (requirements-remote.txt: no torch), minus the interpreter's own start-up, each in a fresh process.

    python bench/cold_start.py [--runs 5] [--light-python PATH]
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import CACHE, ROOT, Goal, Section, cli, median

CHROMIUM = os.environ.get("GWEN_CHROMIUM", "/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
LAST_ON_HOME = "No images yet"  # Home's final element on an empty catalog


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dashboard_run(browser, home: Path) -> dict:
    port = free_port()
    env = {**os.environ, "GWEN_HOME": str(home), "HF_HUB_OFFLINE": "1",
           "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.perf_counter() - start > 120:
                    raise RuntimeError("streamlit did not answer within 120 s") from None
                time.sleep(0.02)
        ready = time.perf_counter() - start
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.get_by_text(LAST_ON_HOME).wait_for(timeout=120_000)
        rendered = time.perf_counter() - start
        page.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"server_ready_s": ready, "first_render_s": rendered}


def light_python(explicit: str | None) -> Path:
    """The light venv's python: --light-python, .venv-light (made by .ci/run), or bench/.cache/venv-light."""
    for candidate in (explicit, ROOT / ".venv-light" / "bin" / "python", CACHE / "venv-light" / "bin" / "python"):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    venv = CACHE / "venv-light"
    print(f"making the light venv in {venv} (pip install -r requirements-remote.txt, about a minute)", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "-r",
                    str(ROOT / "requirements-remote.txt")], check=True)
    return venv / "bin" / "python"


def import_seconds(python: Path, statement: str) -> float:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    subprocess.run([str(python), "-c", statement], cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def build(args) -> Section:
    runs = 2 if args.quick else args.runs
    raw: dict = {}
    lines = ["| what | runs | median | min – max |", "|---|---|---|---|"]
    goals: list[Goal] = []
    if Path(CHROMIUM).exists():
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
            dashboard_run(browser, Path(tmp) / "warm")  # warm the OS file cache once, not counted
            results = [dashboard_run(browser, Path(tmp) / f"home{k}") for k in range(runs)]
            browser.close()
        raw["dashboard"] = results
        for key, what in (("server_ready_s", "`streamlit run Home.py` → server answers `/_stcore/health`"),
                          ("first_render_s", "`streamlit run Home.py` → Home fully rendered in Chromium")):
            values = [r[key] for r in results]
            lines.append(f"| {what} | {runs} | **{median(values):.2f} s** | {min(values):.2f} – {max(values):.2f} s |")
    else:
        lines.append(f"| dashboard (skipped: no Chromium at {CHROMIUM}) | — | — | — |")
    python = light_python(args.light_python)
    has_torch = subprocess.run([str(python), "-c", "import torch"], capture_output=True).returncode == 0
    contenders = {"bare interpreter": "pass", "import gwen.remote": "import gwen.remote",
                  "import gwen.ui.state": "import gwen.ui.state"}
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for statement in contenders.values():  # warm the file cache
        import_seconds(python, statement)
    for _ in range(runs):
        for name, statement in contenders.items():
            times[name].append(import_seconds(python, statement))
    raw["imports"] = times
    base = median(times["bare interpreter"])
    for name in ("import gwen.remote", "import gwen.ui.state"):
        values = [t - base for t in times[name]]
        lines.append(f"| light install: `{name}` (minus interpreter start-up, {base:.2f} s) | {runs} | "
                     f"**{median(values):.2f} s** | {min(values):.2f} – {max(values):.2f} s |")
    method = (f"`python bench/cold_start.py --runs {runs}`: each run a fresh process (`streamlit run` on an empty "
              "GWEN_HOME with the full install; imports in the light venv from `requirements-remote.txt`, "
              f"torch {'PRESENT (not a light venv!)' if has_torch else 'absent'}), after one uncounted warm-up "
              "for the OS file cache.")
    return Section("5. Cold start", method, "\n".join(lines), goals, raw)


if __name__ == "__main__":
    cli(build, __doc__.splitlines()[0], lambda p: (
        p.add_argument("--runs", type=int, default=5),
        p.add_argument("--light-python", help="python of a venv made from requirements-remote.txt")))
