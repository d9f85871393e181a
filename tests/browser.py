"""The dashboard in a real browser: Debian's chromium driven by Playwright against `streamlit run Home.py`.

Shared by the end-to-end test (screenshots into a temporary folder) and ``python -m tests.screenshots`` (the
only thing that rewrites ``docs/screenshots/``).

- ``dashboard(home, env)``: a ``streamlit run`` server on 127.0.0.1 (from the app folder, so its
  ``.streamlit/config.toml`` applies), yielding its URL and process; stopped afterwards.
- ``fully_drawn(page)``: the script is not running, nothing is a skeleton, and every ``<img>`` has loaded
  (``naturalWidth > 0``): what a screenshot must wait for.
- ``tour(page, url, studio, shots)``: the loop a new user walks (prompt → grid → V·S → U → Gallery with a
  detail → Lineage → Variations → Compare → Queue → Home), a screenshot of every page into ``shots``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("GWEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 1000}
TIMEOUT_MS = 120_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(home: Path, env: dict[str, str] | None = None):
    port = free_port()
    full_env = {**os.environ, "GWEN_HOME": str(home), "HF_HUB_OFFLINE": "1",
                "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false", **(env or {})}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)],
                            cwd=ROOT, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=30)


@contextmanager
def browser_page():
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            expect.set_options(timeout=TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def fully_drawn(page, settle_ms: int = 300) -> None:
    """Wait until the app is idle, no element is a loading skeleton, and every image has its pixels."""
    page.wait_for_function("""() => {
        const app = document.querySelector('[data-test-script-state]');
        const state = app && app.getAttribute('data-test-script-state');
        const idle = state && state !== 'running' && state !== 'initial'
            && document.querySelector('[data-testid="stMain"] h1');
        const images = [...document.images];
        return idle && !document.querySelector('[data-testid="stSkeleton"]')
            && images.every(i => i.complete && i.naturalWidth > 0);
    }""", timeout=TIMEOUT_MS)
    page.wait_for_timeout(settle_ms)
    page.wait_for_function("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")


def shoot(page, shots: Path, name: str, max_height: int = 4000) -> Path:
    """A screenshot of the whole page: Streamlit scrolls inside its main pane, so the window is made as tall as
    the content (up to ``max_height``) for the picture, then given back its size."""
    fully_drawn(page)
    height = page.evaluate("""() => {
        const main = document.querySelector('[data-testid="stMain"]');
        const dialog = document.querySelector('[role="dialog"]');
        return Math.max(main ? main.scrollHeight : 0, dialog ? dialog.scrollHeight + 160 : 0); }""")
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], min(height, max_height))})
    try:
        fully_drawn(page)
        target = shots / f"{name}.png"
        page.screenshot(path=str(target))
    finally:
        page.set_viewport_size(VIEWPORT)
    return target


def tour(page, url: str, studio, shots: Path) -> dict[str, str]:
    """Walk the loop as a new user does, asserting what they see; returns the ids it made."""
    from playwright.sync_api import expect

    from gwen.records import SearchQuery

    shots.mkdir(parents=True, exist_ok=True)
    page.goto(url)
    expect(page.get_by_text("Prompt → grid → pick")).to_be_visible()
    shoot(page, shots, "home-empty")

    page.get_by_label("Prompt").fill("a lighthouse at dusk, oil painting")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_text("4 images · generate")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img')).to_have_count(4)
    assert studio.search(SearchQuery(op="generate"))[1] == 4
    shoot(page, shots, "generate")

    page.get_by_role("button", name="V·S", exact=True).first.click()
    expect(page.get_by_text("4 images · vary")).to_be_visible()
    assert studio.search(SearchQuery(op="vary"))[1] == 4
    shoot(page, shots, "variations-grid")

    page.get_by_role("button", name="U", exact=True).first.click()
    expect(page.get_by_text("after ·")).to_be_visible()
    (up,) = studio.search(SearchQuery(op="upscale"))[0]
    shoot(page, shots, "upscale")

    page.goto(f"{url}/Gallery")
    expect(page.get_by_text("9 images")).to_be_visible()  # 4 generated + 4 variations + 1 upscale
    shoot(page, shots, "gallery")
    page.get_by_role("button", name="details").nth(1).click()
    expect(page.get_by_role("dialog")).to_be_visible()
    shoot(page, shots, "gallery-detail")
    page.keyboard.press("Escape")

    page.goto(f"{url}/Lineage?id={up.id}")
    expect(page.get_by_text("Changed from parent")).to_be_visible()
    shoot(page, shots, "lineage")

    page.goto(f"{url}/Variations?id={up.parent_id}")
    expect(page.get_by_text("Sampled parameters")).to_be_visible()
    shoot(page, shots, "variations")

    first, second = studio.search(SearchQuery(op="vary", limit=2))[0]
    page.goto(f"{url}/Compare?ids={first.id},{second.id}")
    expect(page.get_by_text("What differs")).to_be_visible()
    shoot(page, shots, "compare")

    page.goto(f"{url}/Queue")
    expect(page.get_by_text("Add a batch")).to_be_visible()
    shoot(page, shots, "queue")

    page.goto(url)
    expect(page.get_by_text("Latest images")).to_be_visible()
    shoot(page, shots, "home")
    return {"upscale": up.id, "source": up.parent_id, "vary": first.id}


def tour_edits_and_taste(page, url: str, studio, shots: Path, image_id: str) -> None:
    """The README's pictures of issue 15: Vary (Region) and Zoom Out on the Edit page, and the taste panel of
    the Variations page after some ratings (``python -m tests.screenshots`` only)."""
    from playwright.sync_api import expect

    from gwen.records import SearchQuery

    page.goto(f"{url}/Edit?id={image_id}")
    page.get_by_role("button", name="Vary (Region)").click()
    expect(page.get_by_text("Vary (Region) of")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img')).to_have_count(4, timeout=120_000)
    shoot(page, shots, "edit-region")
    page.get_by_role("button", name="Zoom Out 2×").click()
    expect(page.get_by_text("Zoom Out 2× of")).to_be_visible()
    expect(page.locator('[data-testid="stImage"] img')).to_have_count(4, timeout=120_000)
    shoot(page, shots, "edit-zoom")
    for k, record in enumerate(studio.search(SearchQuery(limit=12))[0]):
        studio.rate(record.id, 5 if record.params.get("guidance", 0) >= 5 else 1 + k % 3)
    page.goto(f"{url}/Variations?id={image_id}")
    taste = page.get_by_role("slider", name="Taste")
    taste.focus()
    for _ in range(14):  # 0.7
        taste.press("ArrowRight")
    expect(page.get_by_text("Why: what your ratings like")).to_be_visible()
    shoot(page, shots, "variations-taste")
