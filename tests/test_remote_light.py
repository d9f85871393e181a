"""The light install (requirements-remote.txt: no torch) driving a real `gwen serve` on 127.0.0.1.

CI runs this file twice: in the full venv, and in a fresh venv made from requirements-remote.txt alone with
GWEN_LIGHT=1 and GWEN_SERVER_PYTHON pointing at the full venv's python (the server needs torch; the client
must not).
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from gwen.records import SearchQuery
from tests.conftest import ROOT
from tests.servers import TOKEN, start_server, stop

SERVER_PYTHON = os.environ.get("GWEN_SERVER_PYTHON", sys.executable)
HEAVY = ("torch", "diffusers", "transformers", "accelerate", "spandrel", "duckdb")


@pytest.fixture(scope="module")
def light_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("light-server")
    made = subprocess.run([SERVER_PYTHON, "-m", "gwen", "models", "make-tiny", str(home / "models"), "--json"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr
    token_file = home.parent / "light-token"
    token_file.write_text(TOKEN)
    proc, url = start_server(home, token_file, python=SERVER_PYTHON)
    yield {"url": url, "token_file": token_file}
    stop(proc)


def test_the_light_install_has_no_heavy_packages():
    if os.environ.get("GWEN_LIGHT") != "1":
        pytest.skip("checked only in the light venv (GWEN_LIGHT=1), which CI builds from requirements-remote.txt")
    assert [name for name in HEAVY if importlib.util.find_spec(name)] == []


def test_client_modules_import_nothing_heavy():
    code = ("import sys, gwen.remote, gwen.ui.state, gwen.ui.cards, gwen.ui.forms, gwen.ui.progress, gwen.ui.lineage_graph, gwen.ui.compare_view, gwen.hub, gwen.compare, gwen.cli, gwen.upscale, gwen.files; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_remote_loop_from_the_light_client(light_server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from gwen.remote import RemoteStudio

    remote = RemoteStudio(light_server["url"], TOKEN)
    grid = remote.generate("a red kite", model="tiny-sd", n=4, seed=9, steps=2)
    assert [g.params["seed"] for g in grid] == [9, 10, 11, 12]
    kids = remote.vary(grid[0].id, strength="subtle", n=2, seed=1)
    up = remote.upscale(kids[0].id, model="tiny-esrgan-x4.pth")
    remote.rate(up.id, 5)
    assert remote.search(SearchQuery(min_rating=5))[0][0].id == up.id
    assert [n["op"] for n in remote.lineage(up.id)["nodes"]] == ["generate", "vary", "upscale"]
    out = subprocess.run([sys.executable, "-m", "gwen", "--remote", light_server["url"], "--token-file",
                          str(light_server["token_file"]), "search", "kite", "--json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and json.loads(out.stdout)["total"] == 7, out.stderr
    monkeypatch.setenv("GWEN_BACKEND", "remote")
    monkeypatch.setenv("GWEN_REMOTE_URL", light_server["url"])
    monkeypatch.setenv("GWEN_TOKEN", TOKEN)
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
    at.run()
    assert not at.exception and {m.label: m.value for m in at.metric}["Images"] == "7"
    at.switch_page("pages/1_Generate.py")
    at.run()
    at.selectbox(key="gen_model_preset").set_value("other…").run()
    at.text_input(key="gen_model_custom").input("tiny-sd").run()
    next(b for b in at.button if b.label == "Use this model").click().run()
    assert remote.default_model() == "tiny-sd"  # the server's default now: every page and the queue use it
    at.text_area(key="gen_prompt").input("a blue kite")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert remote.search(SearchQuery(text="blue kite"))[1] == 4
    at.switch_page("pages/4_Lineage.py")
    at.query_params["id"] = up.id
    at.run()
    assert not at.exception and any("Changed from parent" in c.value for c in at.caption)
    assert len(at.get("component_instance")) == 1  # the clickable family graph
