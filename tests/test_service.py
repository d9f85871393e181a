"""`gwen serve` as a real subprocess on 127.0.0.1, driven through RemoteStudio and raw HTTP."""

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from gwen.errors import InvalidInput, ModelUnavailable, NotFound
from gwen.records import Filter, SearchQuery
from tests.conftest import ROOT
from tests.servers import TOKEN, free_port, served_home, start_server, stop

@pytest.fixture(scope="module")
def server(tmp_path_factory, tiny_models):
    home, token_file = served_home(tmp_path_factory.mktemp("server"), tiny_models["sd"])
    proc, url = start_server(home, token_file)
    yield {"url": url, "home": home}
    stop(proc)


@pytest.fixture
def remote(server):
    from gwen.remote import RemoteStudio

    r = RemoteStudio(server["url"], TOKEN)
    yield r
    r.close()


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def test_remote_loop_matches_the_local_facade(remote, server, studio, tiny_sd, tmp_path):
    from gwen.upscale import build_tiny_esrgan

    far = remote.generate("a quiet harbour", model="tiny-sd", n=4, seed=21, steps=3)
    near = studio.generate("a quiet harbour", model=tiny_sd, n=4, seed=21, steps=3)
    assert [r.params["seed"] for r in far] == [21, 22, 23, 24]
    for a, b in zip(far, near):
        assert np.array_equal(pixels(remote.path_of(a)), pixels(studio.path_of(b)))
    far_kids = remote.vary(far[1].id, strength="strong", n=2, seed=3)
    near_kids = studio.vary(near[1].id, strength="strong", n=2, seed=3)
    for a, b in zip(far_kids, near_kids):
        assert a.parent_id == far[1].id and a.params["variations"] == b.params["variations"]
        assert np.array_equal(pixels(remote.path_of(a)), pixels(studio.path_of(b)))
    far_up = remote.upscale(far_kids[0].id, model="tiny-esrgan-x4.pth")
    near_up = studio.upscale(near_kids[0].id, model=str(build_tiny_esrgan(tmp_path / "tiny-esrgan-x4.pth")))
    assert (far_up.width, far_up.parent_id) == (256, far_kids[0].id)
    assert np.array_equal(pixels(remote.path_of(far_up)), pixels(studio.path_of(near_up)))
    assert remote.rate(far_kids[1].id, 5).rating == 5
    found, total = remote.search(SearchQuery(text="harbour", min_rating=5, filters=(Filter.parse("seed>=21"),)))
    assert total == 1 and found[0].id == far_kids[1].id
    tree = remote.lineage(far_up.id)
    assert tree["root"] == far[1].id and [e["op"] for e in tree["edges"]] == ["vary", "upscale"]
    assert remote.verify(far[2].id).identical
    assert "Seed: 23" in remote.infotext(far[2])
    jobs = remote.queue_add(_batch(tmp_path), {"model": "tiny-sd", "n": 1, "steps": 2})
    assert len(jobs) == 2 and remote.queue_counts() == {"pending": 2}
    assert remote.queue_cancel(jobs[0].id).status == "cancelled"


def test_remote_renders_report_progress_and_previews_and_stop_on_the_server(remote, server):
    steps, previews = [], []
    records = remote.generate("a long harbour", model="tiny-sd", n=2, seed=5, steps=40,
                              on_step=lambda done, total: steps.append((done, total)),
                              on_preview=lambda first, images: previews.append((first, len(images), images[0].size)))
    assert len(records) == 2 and steps and {total for _done, total in steps} == {40}
    assert previews and previews[-1][:2] == (0, 2) and previews[-1][2] == (32, 32)

    class PageLeft(Exception):  # what Streamlit raises in a progress callback when the user clicks Cancel
        pass

    def leave(done: int, total: int) -> None:
        raise PageLeft
    before = remote.stats()["images"]
    with pytest.raises(PageLeft):
        remote.generate("a harbour never finished", model="tiny-sd", n=2, seed=6, steps=80, on_step=leave)
    deadline = time.monotonic() + 60
    while remote._json("GET", "/api/progress")["running"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert remote.stats()["images"] == before  # the server was told to cancel: it wrote nothing


def _batch(tmp_path: Path) -> Path:
    path = tmp_path / "b.txt"
    path.write_text("one\ntwo\n")
    return path


def test_missing_or_wrong_token_gets_401_and_does_nothing(server, remote):
    before = remote.stats()["images"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}):
        response = httpx.post(f"{server['url']}/api/generate", json={"prompt": "x", "model": "tiny-sd", "n": 1},
                              headers=headers)
        assert response.status_code == 401 and response.json()["type"] == "Unauthorized"
    assert remote.stats()["images"] == before
    assert httpx.get(f"{server['url']}/api/health").status_code == 200  # health needs no token
    for docs in ("/openapi.json", "/docs", "/redoc"):  # off by default; any path but health needs the token
        assert httpx.get(f"{server['url']}{docs}").status_code == 401
        assert httpx.get(f"{server['url']}{docs}", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_bad_requests_get_4xx_json(server, remote):
    url, auth = server["url"], {"Authorization": f"Bearer {TOKEN}"}
    big = httpx.post(f"{url}/api/generate", content=b"x" * (33 * 1024 * 1024), headers={**auth,
                     "Content-Type": "application/json"})
    assert big.status_code == 413 and "over the limit" in big.json()["error"]
    bad = httpx.post(f"{url}/api/generate", json={"prompt": "ok", "model": "tiny-sd", "steps": 0}, headers=auth)
    assert bad.status_code == 400 and "steps=0" in bad.json()["error"]
    unknown_field = httpx.post(f"{url}/api/generate", json={"prompt": "ok", "colour": "red"}, headers=auth)
    assert unknown_field.status_code == 422 and unknown_field.json()["type"] == "InvalidInput"
    assert "colour" in unknown_field.json()["error"] and "detail" not in unknown_field.json()
    missing = httpx.get(f"{url}/api/images/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers=auth)
    assert missing.status_code == 404 and "not in the catalog" in missing.json()["error"]
    for evil in ("..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "....", "01ARZ3NDEKTSV4RRFFQ69G5FA%2F"):
        response = httpx.get(f"{url}/api/images/{evil}/file", headers=auth)
        assert response.status_code in (400, 404), (evil, response.status_code)
    outside = httpx.post(f"{url}/api/generate", json={"prompt": "x", "model": "/etc"}, headers=auth)
    assert outside.status_code == 400 and "models folder" in outside.json()["error"]
    with pytest.raises(NotFound):
        remote.get("../../etc/passwd")
    with pytest.raises(ModelUnavailable, match="models folder"):
        remote.upscale(remote.search(SearchQuery(limit=1))[0][0].id, model="/etc/passwd")
    with pytest.raises(InvalidInput, match="rating"):
        remote.rate(remote.search(SearchQuery(limit=1))[0][0].id, 9)


def test_unreachable_server_fails_clearly_within_its_timeout():
    from gwen.remote import RemoteError, RemoteStudio

    start = time.monotonic()
    with pytest.raises(RemoteError, match="unreachable"):
        RemoteStudio(f"http://127.0.0.1:{free_port()}", "t", timeout=2, retries=2).stats()
    assert time.monotonic() - start < 10


def test_serve_refuses_a_public_address_without_a_token(tmp_path):
    out = subprocess.run([sys.executable, "-m", "gwen", "--home", str(tmp_path), "serve", "--host", "0.0.0.0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={k: v for k, v in os.environ.items() if k != "GWEN_TOKEN"})
    assert out.returncode == 2 and "needs a token" in out.stderr


def test_cli_and_pages_work_against_the_server(server, monkeypatch):
    from streamlit.testing.v1 import AppTest

    token_file = server["home"].parent / "token"
    out = subprocess.run([sys.executable, "-m", "gwen", "--remote", server["url"], "--token-file", str(token_file),
                          "search", "harbour", "--json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    import json
    assert json.loads(out.stdout)["total"] >= 4
    monkeypatch.setenv("GWEN_BACKEND", "remote")
    monkeypatch.setenv("GWEN_REMOTE_URL", server["url"])
    monkeypatch.setenv("GWEN_TOKEN", TOKEN)
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert int({m.label: m.value for m in at.metric}["Images"]) >= 4
    at.switch_page("pages/3_Gallery.py")
    at.run()
    assert not at.exception and any("images" in c.value for c in at.caption)
