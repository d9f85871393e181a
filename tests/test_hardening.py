"""The hardening issue, point by point: the served file boundary, body limits, remote filters, tokens, headers,
one error shape, torn journal lines, all-or-nothing imports, the jobs journal, a full disk, batch validation.

Each test reproduces what an attacker or a careless user did; the servers are real `gwen serve` subprocesses and
the disk-full runs use a real tmpfs (skipped, with the reason, where `mount` is not permitted).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest
from PIL import Image

from gwen.errors import InvalidInput, ModelUnavailable
from gwen.journal import JsonlLog
from gwen.records import Filter, SearchQuery
from tests.conftest import ROOT, run_cli
from tests.disks import small_tmpfs
from tests.foreign_files import write_png as _png  # a PNG file with iTXt chunks, as GWEN writes
from tests.servers import start_server, stop

TOKEN = "hardening-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_models):
    """A `gwen serve` whose models folder holds the tiny models, and a copy of the tiny model outside it."""
    from gwen.upscale import build_tiny_esrgan

    home = tmp_path_factory.mktemp("served-home")
    shutil.copytree(tiny_models["sd"], home / "models" / "tiny-sd")
    build_tiny_esrgan(home / "models" / "tiny-esrgan-x4.pth")
    outside = tmp_path_factory.mktemp("outside")
    shutil.copytree(tiny_models["sd"], outside / "elsewhere-sd")
    build_tiny_esrgan(outside / "elsewhere-esrgan.pth")
    token_file = home.parent / "hardening.token"
    token_file.write_text(TOKEN)
    proc, url = start_server(home, token_file)
    yield {"url": url, "home": home, "outside": outside, "proc": proc}
    stop(proc)


@pytest.fixture(scope="module")
def remote(served):
    from gwen.remote import RemoteStudio

    r = RemoteStudio(served["url"], TOKEN)
    yield r
    r.close()


@pytest.fixture(scope="module")
def served_grid(remote):
    return remote.generate("a lighthouse", model="tiny-sd", n=2, seed=7, steps=2)


def count(remote) -> int:
    return remote.search(SearchQuery(include_deleted=True, limit=1))[1]


# --- 1, 2: the file boundary ---------------------------------------------------------------------------------
def test_1_planned_children_naming_an_outside_model_are_refused(served, remote, served_grid):
    before = count(remote)
    parent, children, plan = remote.plan_variations(served_grid[0].id, strength="subtle", n=1, seed=1)
    foreign = str(served["outside"] / "elsewhere-sd")  # a valid pipeline: it would load if the server opened it
    body = {"children": [{**children[0].to_dict(), "model": foreign}],
            "plan": {**plan.to_dict(), "remix_prompt": None}}
    answer = httpx.post(f"{served['url']}/api/images/{parent.id}/vary/render", json=body, headers=AUTH)
    assert answer.status_code == 400 and "only opens models inside its models folder" in answer.json()["error"]
    assert count(remote) == before


def test_1_an_imported_record_naming_a_foreign_path_resolves_by_name_or_is_refused(served, remote, served_grid,
                                                                                   tmp_path):
    source = remote.get(served_grid[0].id)
    data = source.file_record()
    for name, model, expect_ok in (("by-name.png", "/home/alice/sd/tiny-sd", True),
                                   ("foreign.png", str(served["outside"] / "elsewhere-sd"), False)):
        record = {**data, "id": _new_id(), "params": {**data["params"], "model": model}}
        path = tmp_path / name
        _png(path, {"gwen": json.dumps(record)})
        (imported,) = remote.import_paths([path])["imported"]
        if expect_ok:  # a model of that name is in the models folder: re-renders with it
            (child,) = remote.reroll(imported.id, n=1, seed=3)
            assert child.params["model"].endswith("/models/tiny-sd")
            assert remote.verify(imported.id).batch_size >= 1
        else:
            with pytest.raises(ModelUnavailable, match="only opens models inside its models folder"):
                remote.reroll(imported.id, n=1, seed=3)
            with pytest.raises(ModelUnavailable, match="only opens models inside its models folder"):
                remote.verify(imported.id)


def test_1_an_a1111_model_path_in_an_imported_png_never_opens_a_file_outside(served, remote, tmp_path):
    text = ("a lighthouse\nSteps: 2, Sampler: Euler a, CFG scale: 5, Seed: 4, Size: 64x64, "
            f"Model: {served['outside'] / 'elsewhere-sd'}")
    path = tmp_path / "a1111.png"
    _png(path, {"parameters": text})
    (imported,) = remote.import_paths([path])["imported"]
    with pytest.raises(ModelUnavailable, match="only opens models inside"):
        remote.reroll(imported.id, n=1, seed=1)


def test_1_a_queue_follow_up_naming_an_outside_upscaler_is_refused_when_added(served, remote):
    before = len(remote.queue_list())
    batch = ('[defaults]\nmodel = "tiny-sd"\nn = 1\nsteps = 2\n\n[[jobs]]\nprompt = "a fox"\n'
             f'then = [{{ kind = "upscale", model = "{served["outside"] / "elsewhere-esrgan.pth"}" }}]\n')
    answer = httpx.post(f"{served['url']}/api/queue", headers=AUTH,
                        json={"filename": "night.toml", "content": batch})
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error.startswith("night.toml:6: ") and "only opens upscalers inside" in error  # not a temporary path
    assert len(remote.queue_list()) == before


@pytest.mark.parametrize("what", ["model", "upscaler"])
def test_2_outside_the_boundary_every_refusal_reads_the_same(served, remote, served_grid, what):
    messages = []
    for ref in ("/etc/shadow", "/etc/nope-not-there"):
        if what == "model":
            answer = httpx.post(f"{served['url']}/api/generate", headers=AUTH,
                                json={"prompt": "x", "model": ref, "n": 1, "steps": 1})
        else:
            answer = httpx.post(f"{served['url']}/api/images/{served_grid[0].id}/upscale", headers=AUTH,
                                json={"model": ref})
        assert answer.status_code == 400, answer.text
        messages.append(answer.json()["error"].replace(ref, "REF"))
    assert messages[0] == messages[1]


def test_1_the_boundary_also_holds_against_escapes_and_symlinks(tmp_path):
    from gwen.boundary import ModelBoundary

    models = tmp_path / "models"
    (models / "inside-sd").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (models / "link-out").symlink_to(tmp_path / "secret")
    (models / "mixed").mkdir()
    (models / "mixed" / "weights.safetensors").symlink_to(tmp_path / "secret")
    boundary = ModelBoundary(models, confined=True)
    assert boundary.locate("inside-sd") == (models / "inside-sd").resolve()
    for ref in ("../secret", "link-out", "mixed", str(tmp_path / "secret"), "~/.ssh/id_rsa", "/etc/shadow"):
        with pytest.raises(ModelUnavailable, match="only opens models inside"):
            boundary.locate(ref)
    assert boundary.locate("stabilityai/sd-turbo") is None  # a Hub id is not a path


# --- 3: body limits and authentication before the body -------------------------------------------------------
def test_3_a_chunked_body_is_refused_as_it_streams_and_without_a_token_before_it_is_read(served):
    server = psutil.Process(served["proc"].pid)
    rss_before = server.memory_info().rss

    def chunks(total: int):
        block = b"x" * (1 << 20)
        for _ in range(total // len(block)):
            yield block
    no_token = httpx.post(f"{served['url']}/api/generate", content=chunks(300 << 20),
                          headers={"Content-Type": "application/json"}, timeout=60)
    assert no_token.status_code == 401 and no_token.json()["type"] == "Unauthorized"
    with_token = httpx.post(f"{served['url']}/api/generate", content=chunks(300 << 20),
                            headers={**AUTH, "Content-Type": "application/json"}, timeout=60)
    assert with_token.status_code == 413 and "over the limit" in with_token.json()["error"]
    assert server.memory_info().rss - rss_before < 100 << 20  # at most the 32 MiB limit was ever held


# --- 4: remote search honours every field ----------------------------------------------------------------------
def test_4_every_search_field_gives_the_same_ids_locally_and_remotely(served, remote, served_grid):
    from gwen.studio import Studio

    local = Studio(served["home"])
    kids = remote.vary(served_grid[0].id, strength="strong", n=2, seed=2)
    remote.rate(kids[0].id, 4)
    remote.tag(kids[0].id, ["keeper"])
    remote.favorite(kids[1].id)
    remote.delete(served_grid[1].id)
    today = local.get(kids[0].id).created_at.date()
    queries = [SearchQuery(text="lighthouse"), SearchQuery(filters=(Filter.parse("seed>=8"),)),
               SearchQuery(filters=(Filter.parse("scheduler~euler"), Filter.parse("steps<=2"))),
               SearchQuery(model="tiny"), SearchQuery(op="vary"), SearchQuery(min_rating=4),
               SearchQuery(favorite=True), SearchQuery(tags=("keeper",)), SearchQuery(since=today, until=today),
               SearchQuery(only_deleted=True), SearchQuery(include_deleted=True),
               SearchQuery(sort="seed", descending=False), SearchQuery(limit=1, offset=1)]
    for query in queries:
        expected = [r.id for r in local.search(query)[0]]
        assert [r.id for r in remote.search(query)[0]] == expected, query
        assert remote.search(query)[1] == local.search(query)[1], query
    narrowed = remote.search(SearchQuery(tags=("keeper",)))[1]
    assert 0 < narrowed < remote.search(SearchQuery())[1]  # the tag really filtered


# --- 5: token length -----------------------------------------------------------------------------------------
def test_5_a_short_token_is_refused_from_the_environment_and_from_a_file(tmp_path, monkeypatch):
    from gwen.service import load_token

    monkeypatch.setenv("GWEN_TOKEN", "short")
    with pytest.raises(InvalidInput, match="at least 16 characters"):
        load_token(tmp_path, "0.0.0.0", None)
    monkeypatch.delenv("GWEN_TOKEN")
    (tmp_path / "t").write_text("0123456789")
    with pytest.raises(InvalidInput, match="at least 16 characters"):
        load_token(tmp_path, "127.0.0.1", str(tmp_path / "t"))
    out = subprocess.run([sys.executable, "-m", "gwen", "--home", str(tmp_path), "serve", "--host", "0.0.0.0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "GWEN_TOKEN": "tooshort"})
    assert out.returncode == 2 and "at least 16 characters" in out.stderr


# --- 6, 7: headers, docs, one error shape ------------------------------------------------------------------------
def test_6_answers_carry_the_security_headers_and_docs_are_opt_in(served, studio):
    from starlette.testclient import TestClient

    from gwen.service import create_app

    answer = httpx.get(f"{served['url']}/api/stats", headers=AUTH)
    assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"
    refused = httpx.get(f"{served['url']}/api/stats")
    assert refused.status_code == 401 and refused.headers["cache-control"] == "no-store"
    assert httpx.get(f"{served['url']}/docs", headers=AUTH).status_code == 404  # off by default
    with TestClient(create_app(studio, TOKEN, api_docs=True)) as client:
        assert client.get("/docs").status_code == 401  # behind the token when on
        docs = client.get("/docs", headers=AUTH)
        assert docs.status_code == 200 and "default-src 'self'" in docs.headers["content-security-policy"]
        assert client.get("/openapi.json", auth=("anyone", TOKEN)).json()["info"]["title"] == "GWEN"


def test_7_validation_errors_have_the_documented_shape_and_a_huge_offset_is_bad_input(served, home):
    bad = httpx.get(f"{served['url']}/api/images", params={"limit": "many"}, headers=AUTH)
    assert bad.status_code == 422 and set(bad.json()) == {"error", "type"} and "limit" in bad.json()["error"]
    huge = httpx.get(f"{served['url']}/api/images", params={"offset": 2**70}, headers=AUTH)
    assert huge.status_code == 400 and "offset" in huge.json()["error"] and huge.json()["type"] == "InvalidInput"
    out = run_cli("search", "--offset", str(2**70), home=home)
    assert out.returncode == 2 and "offset" in out.stderr


# --- 8: the journal survives a torn line ---------------------------------------------------------------------
def test_8_a_torn_journal_line_never_swallows_the_next_mark(studio, grid):
    a, b = grid[0], grid[1]
    studio.rate(a.id, 2)
    with open(studio.journal.path, "ab") as handle:  # a crash (or a full disk) mid-append: no newline
        handle.write(b'{"ts": "2026-11-27T00:00:00+00:00", "id": "' + a.id.encode() + b'", "action": "ra')
    studio.rate(b.id, 5)
    studio.favorite(a.id)
    (studio.home / "gwen.duckdb").unlink()
    result = studio.reindex()
    assert result["journal_lines_skipped"] == 1
    assert (studio.get(a.id).rating, studio.get(a.id).favorite, studio.get(b.id).rating) == (2, True, 5)


def test_8_kill_minus_nine_mid_append_loses_only_the_line_being_written(tmp_path):
    log_path = tmp_path / "journal.jsonl"
    code = ("import sys; from gwen.journal import JsonlLog\n"
            f"log = JsonlLog({str(log_path)!r})\n"
            "i = 0\n"
            "while True:\n"
            "    log.append({'i': i, 'pad': 'x' * 20000}); i += 1\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    log = JsonlLog(log_path)
    records, torn = log.read()
    assert records and [r["i"] for r in records] == list(range(len(records))) and torn <= 1
    log.append({"i": "after"})
    records_after, torn_after = log.read()
    assert records_after[-1] == {"i": "after"} and torn_after == torn


# --- 9, 10: imports ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", [{"created_at": "not-a-time"}, {"params": "not a dict"}, {"id": "../../x"}])
def test_9_import_is_all_or_nothing_and_names_the_bad_file(home, grid, studio, tmp_path, damage):
    folder = tmp_path / "in"
    folder.mkdir()
    good = grid[0].file_record()
    _png(folder / "1-good.png", {"parameters": "a good one\nSteps: 3, Seed: 1, Size: 64x64"})
    _png(folder / "2-bad.png", {"gwen": json.dumps({**good, "id": _new_id(), **damage})})
    _png(folder / "3-good.png", {"parameters": "another\nSteps: 3, Seed: 2, Size: 64x64"})
    before = studio.search(SearchQuery(include_deleted=True))[1]
    out = run_cli("import", str(folder), home=home)
    assert out.returncode == 2 and "2-bad.png" in out.stderr and "GWEN record is damaged" in out.stderr
    assert studio.search(SearchQuery(include_deleted=True))[1] == before  # not even 1-good.png


def test_9_imported_metadata_obeys_the_limits_of_typed_input(studio, tmp_path):
    huge = tmp_path / "huge.png"
    _png(huge, {"parameters": "x" * (10 * 1024 * 1024)})
    with pytest.raises(InvalidInput, match="huge.png: its 'parameters' metadata is 10,485,760 characters"):
        studio.import_paths([huge])
    long_prompt = tmp_path / "long.png"
    _png(long_prompt, {"parameters": "y" * 50_000 + "\nSteps: 20, Seed: 1, Size: 64x64"})
    with pytest.raises(InvalidInput, match="long.png: its prompt is 50,000 characters"):
        studio.import_paths([long_prompt])
    chatty = tmp_path / "chatty.png"
    _png(chatty, {"parameters": "a cat\nSteps: 20, Seed: 1, Size: 64x64", "comment": "z" * 200_000})
    result = studio.import_paths([chatty])
    (record,) = result["imported"]
    with Image.open(studio.path_of(record)) as stored:
        assert "comment" not in stored.text and stored.text["parameters"].startswith("a cat")
    assert any("'comment'" in n["note"] and "not copied" in n["note"] for n in result["notes"])


def test_9_a_bad_upload_is_named_by_its_own_name(served):
    answer = httpx.post(f"{served['url']}/api/import", headers=AUTH,
                        files=[("file", ("holiday.png", b"not an image at all", "image/png"))])
    assert answer.status_code == 400 and answer.json()["error"].startswith("holiday.png: ")
    assert "/tmp" not in answer.json()["error"] and "upload:" not in answer.json()["error"]


def test_10_reindex_keeps_the_hash_of_an_imported_file_so_it_is_not_imported_twice(studio, tmp_path):
    path = tmp_path / "from-a1111.png"
    _png(path, {"parameters": "a kite\nSteps: 20, Seed: 5, Size: 64x64"})
    (first,) = studio.import_paths([path])["imported"]
    (studio.home / "gwen.duckdb").unlink()
    studio.reindex()
    assert studio.get(first.id).file_sha256 == first.file_sha256
    again = studio.import_paths([path])
    assert again["imported"] == [] and again["skipped"][0]["id"] == first.id


# --- 11: the queue survives losing the catalog ------------------------------------------------------------------
def test_11_reindex_restores_the_queue_and_an_interrupted_attempt_does_not_count(studio, tiny_sd, tmp_path):
    batch = tmp_path / "b.txt"
    batch.write_text("a fox\na whale\na crow\n")
    jobs = studio.queue_add(batch, {"model": tiny_sd, "n": 1, "steps": 2})
    studio.queue_runner().run(max_jobs=1)  # the first is done
    studio.queue_cancel(jobs[2].id)
    claimed = studio.jobs.claim_next()  # the second starts... and its runner dies (kill -9)
    assert claimed.id == jobs[1].id and claimed.attempts == 1
    (studio.home / "gwen.duckdb").unlink()
    result = studio.reindex()
    assert result["jobs"] == 3
    by_id = {j.id: j for j in studio.queue_list()}
    assert by_id[jobs[0].id].status == "done" and len(by_id[jobs[0].id].image_ids) == 1
    assert by_id[jobs[1].id].status == "pending" and by_id[jobs[1].id].attempts == 0  # the crash is not a failure
    assert by_id[jobs[2].id].status == "cancelled"
    summary = studio.queue_runner().run()
    assert summary.done == 1 and studio.queue_counts() == {"done": 2, "cancelled": 1}


# --- 12: a full disk -------------------------------------------------------------------------------------------
@pytest.fixture
def full_disk(tmp_path, tiny_sd):
    """GWEN_HOME on a small tmpfs, with a catalog and two images, then filled to the last byte."""
    from gwen.studio import Studio

    with small_tmpfs(tmp_path / "disk") as mount:
        home = mount / "home"
        seeded = Studio(home).generate("before the disk filled", model=tiny_sd, n=2, seed=1, steps=2)
        with open(mount / "filler", "wb") as handle:
            try:
                while True:
                    handle.write(b"\0" * 65536)
                    handle.flush()
            except OSError:
                pass
        yield {"home": home, "mount": mount, "seeded": seeded}


def test_12_a_full_disk_is_reported_as_itself_and_leaves_nothing_half_written(full_disk, tiny_sd, tmp_path):
    home = full_disk["home"]
    pngs_before = sorted(p.name for p in (home / "images").rglob("*.png"))
    out = run_cli("generate", "after the disk filled", "--model", tiny_sd, "--n", "2", "--steps", "2", home=home)
    assert out.returncode == 2 and f"no space left on device under {home}" in out.stderr
    assert "free space and retry" in out.stderr
    assert sorted(p.name for p in (home / "images").rglob("*.png")) == pngs_before  # the grid's PNGs went
    assert not list((home / "images").rglob(".*.tmp"))
    batch = tmp_path / "b.txt"
    batch.write_text("a fox\n")
    for args in (["queue", "add", str(batch), "--model", tiny_sd], ["reindex"],
                 ["rate", full_disk["seeded"][0].id, "5"]):
        out = run_cli(*args, home=home)
        assert out.returncode == 2 and "no space left on device" in out.stderr, (args, out.stderr)
        assert "TransactionException" not in out.stderr and "unexpected error" not in out.stderr


def test_12_a_full_disk_is_507_over_http_and_st_error_in_the_dashboard(full_disk, tiny_sd, monkeypatch):
    from streamlit.testing.v1 import AppTest

    home = full_disk["home"]
    token_file = full_disk["mount"].parent / "token"
    token_file.write_text(TOKEN)
    proc, url = start_server(home, token_file)
    try:
        answer = httpx.post(f"{url}/api/images/{full_disk['seeded'][0].id}/rate", json={"stars": 4}, headers=AUTH)
        assert answer.status_code == 507 and "no space left on device" in answer.json()["error"]
    finally:
        stop(proc)
    monkeypatch.setenv("GWEN_HOME", str(home))
    monkeypatch.setenv("GWEN_MODEL", tiny_sd)
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=120).run()
    at.switch_page("pages/1_Generate.py").run()
    at.text_area(key="gen_prompt").input("a fox")
    next(b for b in at.button if b.label == "Generate").click().run()
    assert not at.exception and any("no space left on device" in e.value for e in at.error)


# --- 13: batch validation ------------------------------------------------------------------------------------------
def test_13_a_batch_is_checked_whole_with_file_and_line_follow_ups_included(studio, tiny_sd, tmp_path):
    toml = tmp_path / "night.toml"
    toml.write_text(f'[defaults]\nmodel = "{tiny_sd}"\n\n[[jobs]]\nprompt = "fine"\n\n[[jobs]]\n'
                    'prompt = "broken"\nsteps = 0\n')
    with pytest.raises(InvalidInput, match=r"night\.toml:7: steps=0"):
        studio.queue_add(toml)
    jsonl = tmp_path / "b.json"
    jsonl.write_text(json.dumps({"jobs": [{"prompt": "ok"}, {"prompt": "up",
                                  "then": [{"kind": "upscale", "model": str(tmp_path / "missing.pth")}]}]},
                                indent=1))
    with pytest.raises(InvalidInput, match=r"b\.json:6: .*missing\.pth"):
        studio.queue_add(jsonl, {"model": tiny_sd})
    assert studio.queue_list() == []


def test_13_a_served_batch_error_never_shows_the_servers_temporary_path(served, remote):
    with pytest.raises(InvalidInput) as caught:
        remote.queue_add_text('[[jobs]]\nprompt = "x"\nsteps = 0\n', ".toml", {"model": "tiny-sd"}, "mine.toml")
    assert str(caught.value).startswith("mine.toml:1: steps=0") and "/tmp" not in str(caught.value)


# --- helpers -----------------------------------------------------------------------------------------------------------
def _new_id() -> str:
    from gwen.files import new_id
    return new_id()
