"""Refresh the README's screenshots: ``python -m tests.screenshots [--out docs/screenshots]``.

The test suite never writes into the repository; this command does, on purpose. It builds the tiny models into a
temporary GWEN_HOME, starts the dashboard, walks the loop in Debian's chromium (``tests.browser.tour``) and saves
a full-page screenshot of every page once every image on it has loaded, then the Edit page's Vary (Region)
and Zoom Out and the Variations page's taste panel.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from tests.browser import ROOT, browser_page, dashboard, tour, tour_edits_and_taste


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gwen.tiny_models import build_tiny_sd
    from gwen.studio import Studio
    from gwen.upscale import build_tiny_esrgan

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        model = build_tiny_sd(home / "models" / "tiny-sd")
        esrgan = build_tiny_esrgan(Path(tmp) / "tiny-esrgan-x4.pth")
        staging = Path(tmp) / "shots"
        with dashboard(home, {"GWEN_MODEL": str(model), "GWEN_UPSCALER": str(esrgan)}) as (url, _proc), \
                browser_page() as page:
            made = tour(page, url, Studio(home), staging)
            tour_edits_and_taste(page, url, Studio(home), staging, made["source"])
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for shot in sorted(staging.glob("*.png")):
            shutil.copy2(shot, out / shot.name)
            print(out / shot.name)


if __name__ == "__main__":
    main()
