"""End to end in a real browser: Debian chromium driven by Playwright against `streamlit run Home.py`.

type a prompt → generate 4 → strong variations → upscale → find them in the Gallery → open the Lineage;
a screenshot of every page goes to docs/screenshots/.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwen.catalog import SearchQuery

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("GWEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason="needs Debian's chromium (apt-get install chromium); .ci/run installs it, so CI never skips this")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(home, tiny_sd, tmp_path):
    from gwen.upscale import build_tiny_esrgan

    esrgan = build_tiny_esrgan(tmp_path / "tiny-esrgan-x4.pth")
    port = free_port()
    env = {**os.environ, "GWEN_HOME": str(home), "GWEN_MODEL": tiny_sd, "GWEN_UPSCALER": str(esrgan),
           "HF_HUB_OFFLINE": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "Home.py", "--server.headless", "true",
                             "--server.address", "127.0.0.1", "--server.port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)


def test_the_whole_loop_in_chromium(server, home):
    from playwright.sync_api import expect, sync_playwright

    from gwen.studio import Studio

    SHOTS.mkdir(parents=True, exist_ok=True)
    studio = Studio(home)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(120_000)
        expect.set_options(timeout=120_000)
        page.goto(server)
        expect(page.get_by_text("Prompt → grid → pick")).to_be_visible()
        page.screenshot(path=str(SHOTS / "home-empty.png"))

        page.get_by_label("Prompt").fill("a lighthouse at dusk, oil painting")
        page.get_by_role("button", name="Generate").click()
        expect(page.get_by_text("4 images")).to_be_visible()
        expect(page.locator('[data-testid="stImage"] img')).to_have_count(4)
        assert studio.search(SearchQuery(op="generate"))[1] == 4
        page.screenshot(path=str(SHOTS / "generate.png"), full_page=True)

        page.get_by_role("button", name="V·S", exact=True).first.click()
        expect(page.get_by_text("Your picks")).to_be_visible()
        deadline = time.monotonic() + 120
        while studio.search(SearchQuery(op="vary"))[1] < 4 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert studio.search(SearchQuery(op="vary"))[1] == 4
        expect(page.get_by_text("4 images · vary")).to_be_visible()
        page.screenshot(path=str(SHOTS / "variations-grid.png"), full_page=True)

        page.get_by_role("button", name="U", exact=True).first.click()
        expect(page.get_by_role("heading", name="Upscale")).to_be_visible()
        page.get_by_role("button", name="Upscale", exact=True).click()
        expect(page.get_by_text("after ·")).to_be_visible()
        ups = studio.search(SearchQuery(op="upscale"))[0]
        assert len(ups) == 1 and ups[0].width == 256
        page.screenshot(path=str(SHOTS / "upscale.png"), full_page=True)

        page.goto(f"{server}/Gallery")
        expect(page.get_by_text("9 images")).to_be_visible()  # 4 generated + 4 variations + 1 upscale
        page.screenshot(path=str(SHOTS / "gallery.png"), full_page=True)

        page.goto(f"{server}/Lineage?id={ups[0].id}")
        expect(page.get_by_text("Changed from parent")).to_be_visible()
        page.wait_for_timeout(1500)  # let the graph draw
        page.screenshot(path=str(SHOTS / "lineage.png"), full_page=True)

        page.goto(f"{server}/Variations?id={ups[0].parent_id}")
        expect(page.get_by_text("Sampled parameters")).to_be_visible()
        page.screenshot(path=str(SHOTS / "variations.png"), full_page=True)

        page.goto(f"{server}/Queue")
        expect(page.get_by_text("Add a batch")).to_be_visible()
        page.screenshot(path=str(SHOTS / "queue.png"), full_page=True)

        page.goto(server)
        expect(page.get_by_text("Latest images")).to_be_visible()
        page.screenshot(path=str(SHOTS / "home.png"), full_page=True)
        browser.close()
    for name in ("home", "generate", "variations-grid", "upscale", "gallery", "lineage", "variations", "queue"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000
