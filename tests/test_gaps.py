"""Behaviours an audit found implemented but untested (issues 11 and 12), one focused test each.

Real `gwen serve` and `python -m gwen` subprocesses, the real tiny models (no mocked pipeline), AppTest for the pages.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import httpx
import pytest

from gwen.errors import DiskFull, ImageRejected, ModelUnavailable
from gwen.records import JobRecord, SearchQuery
from tests.conftest import ROOT, run_cli
from tests.disks import small_tmpfs
from tests.foreign_files import write_png as _png  # a PNG file with iTXt chunks, as GWEN writes
from tests.servers import TOKEN, served_home, start_server, stop
from tests.test_pages import GENERATE, LINEAGE, UPSCALE, VARIATIONS, app, button, texts

AUTH = {"Authorization": f"Bearer {TOKEN}"}
FOREIGN_MODEL = "/some/other/machine/path/foo.safetensors"


# --- helpers ----------------------------------------------------------------------------------------------------
def _count(remote) -> int:
    return remote.search(SearchQuery(include_deleted=True, limit=1))[1]


def _pngs(home: Path) -> list[str]:
    return sorted(str(p) for p in (home / "images").rglob("*.png")) if (home / "images").exists() else []


def _fresh_session() -> None:
    """Drop the dashboard's process-wide studio (``st.cache_resource``): the next AppTest reads settings.toml anew,
    as a new process would."""
    import streamlit as st

    st.cache_resource.clear()


_WATCH: dict[str, object] = {"prefix": None, "opened": []}


def _watch_opens(prefix: Path | None) -> list[str]:
    """Record every ``open`` (Python's audit event: builtins.open, io.open, os.open) of a path under ``prefix``."""
    if not _WATCH.get("installed"):
        def hook(event: str, args: tuple) -> None:
            if event == "open" and _WATCH["prefix"] and args and isinstance(args[0], (str, bytes, os.PathLike)):
                path = os.fsdecode(args[0])
                if path.startswith(_WATCH["prefix"]):
                    _WATCH["opened"].append(path)
        sys.addaudithook(hook)  # cannot be removed: it stays, idle, for the rest of the session
        _WATCH["installed"] = True
    _WATCH["prefix"] = str(prefix) if prefix else None
    _WATCH["opened"] = []
    return _WATCH["opened"]


# --- a served studio (12.1, 12.9) -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_models):
    """`gwen serve` over a home whose models folder holds the tiny SD folder, the tiny upscaler and the tiny model as
    a single-file checkpoint under a name of its own (``mine.safetensors``)."""
    from gwen.remote import RemoteStudio
    from tests.test_single_file import make_checkpoint

    root = tmp_path_factory.mktemp("gaps-served")
    home, token_file = served_home(root, tiny_models["sd"])
    checkpoint = make_checkpoint(home / "models", str(tiny_models["sd"]), "mine.safetensors")
    proc, url = start_server(home, token_file)
    remote = RemoteStudio(url, TOKEN)
    try:
        yield {"url": url, "home": home, "remote": remote, "checkpoint": checkpoint}
    finally:
        remote.close()
        stop(proc)


def test_12_1_served_reroll_and_verify_find_an_a1111_model_by_its_hash(served, tmp_path):
    """Issue 12, point 1: an imported A1111 PNG naming a model path of another machine, whose ``Model hash`` is the
    A1111 short hash (sha256[:10]) of a checkpoint in the served models folder under another name, re-renders
    (reroll) and verifies with that checkpoint; the same PNG with a hash nothing here has is refused."""
    remote, models = served["remote"], served["home"] / "models"
    checkpoint = served["checkpoint"]
    assert not list(models.rglob(Path(FOREIGN_MODEL).name))  # nothing to find by name: only the hash can match
    short_hash = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:10]
    settings = "Steps: 2, Sampler: Euler a, CFG scale: 5, Seed: 4, Size: 64x64, Model hash: {}, Model: " + FOREIGN_MODEL

    by_hash = _png(tmp_path / "by-hash.png", {"parameters": "a lighthouse\n" + settings.format(short_hash)})
    (imported,) = remote.import_paths([by_hash])["imported"]
    assert imported.params["model"] == FOREIGN_MODEL and imported.model_hash == short_hash
    (child,) = remote.reroll(imported.id, n=1, seed=3)
    assert child.params["model"] == str(checkpoint.resolve())  # rendered with the local copy, found by hash
    assert child.parent_id == imported.id and (child.width, child.height) == (64, 64)
    checked = remote.verify(imported.id)  # verify resolves the same way (it re-renders; nothing is written)
    assert checked.image_id == imported.id and checked.batch_size == 1

    unknown = _png(tmp_path / "unknown-hash.png", {"parameters": "a lighthouse\n" + settings.format("0123456789")})
    (stranger,) = remote.import_paths([unknown])["imported"]
    before = _count(remote)
    with pytest.raises(ModelUnavailable, match="only opens models inside its models folder"):
        remote.reroll(stranger.id, n=1, seed=3)
    with pytest.raises(ModelUnavailable, match="only opens models inside its models folder"):
        remote.verify(stranger.id)
    assert _count(remote) == before


def test_12_9_a_served_import_with_one_damaged_gwen_png_is_a_400_naming_it_and_imports_nothing(served):
    """Issue 12, point 9: over HTTP, a multi-file import where one file is a GWEN PNG whose record has
    ``created_at: "not-a-time"`` is a 400 naming that file, and none of the files (not even the good ones) is
    imported; RemoteStudio.import_files raises the same message."""
    from gwen.files import new_id

    remote, home = served["remote"], served["home"]
    (source,) = remote.generate("a lighthouse", model="tiny-sd", n=1, seed=7, steps=2, width=64, height=64)
    damaged = {**source.file_record(), "id": new_id(), "created_at": "not-a-time"}
    folder = home.parent / "to-import"
    folder.mkdir()
    items = [(name, _png(folder / name, chunks).read_bytes()) for name, chunks in (
        ("1-good.png", {"parameters": "a good one\nSteps: 3, Seed: 1, Size: 64x64"}),
        ("2-bad.png", {"gwen": json.dumps(damaged)}),
        ("3-good.png", {"parameters": "another\nSteps: 3, Seed: 2, Size: 64x64"}))]
    before, files_before = _count(remote), _pngs(home)

    answer = httpx.post(f"{served['url']}/api/import", headers=AUTH, timeout=60,
                        files=[("file", (name, data, "image/png")) for name, data in items])
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error.startswith("2-bad.png: its GWEN record is damaged") and "nothing was imported" in error
    with pytest.raises(ImageRejected, match=r"^2-bad\.png: its GWEN record is damaged"):
        remote.import_files(items)
    assert _count(remote) == before and _pngs(home) == files_before  # all or nothing: not even 1-good.png


# --- the queue (12.1, 12.11, 12.12) -------------------------------------------------------------------------------
def test_12_1_a_queued_follow_up_naming_an_outside_upscaler_fails_when_run_and_opens_nothing(
        home, shared_engine, tiny_sd, tmp_path):
    """Issue 12, point 1: a job already in a confined studio's queue (added through the JobStore, past the add-time
    check) whose upscale follow-up names an upscaler file outside the models folder: the generate job is done, the
    follow-up fails with the boundary's message (not retried), and no file outside is opened."""
    from gwen.files import new_id
    from gwen.studio import Studio
    from gwen.upscale import build_tiny_esrgan

    shutil.copytree(tiny_sd, home / "models" / "tiny-sd")
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    outside = build_tiny_esrgan(outside_dir / "elsewhere-esrgan.pth")  # a valid upscaler: it would load if opened
    studio = Studio(home, engine=shared_engine, confine_models=True)
    try:
        with pytest.raises(ModelUnavailable, match="only opens upscalers inside its models folder"):
            studio.check_upscaler(str(outside))  # what queue_add would have said
        params = studio.plan_generate("a fox", model=str(home / "models" / "tiny-sd"), n=1, seed=1, steps=2,
                                      width=64, height=64)
        job = JobRecord(id=new_id(), kind="generate", source="written by hand",
                        spec={"params": [p.to_dict() for p in params],
                              "then": [{"kind": "upscale", "model": str(outside)}]})
        studio.jobs.add([job])

        opened = _watch_opens(outside_dir)
        outside.read_bytes()  # the instrument works: an open under outside_dir is seen
        assert opened == [str(outside)]
        opened = _watch_opens(outside_dir)
        try:
            summary = studio.queue_runner().run()
        finally:
            _watch_opens(None)

        assert (summary.done, summary.failed, summary.retried) == (1, 1, 0)
        jobs = {j.kind: j for j in studio.queue_list()}
        generated, follow_up = jobs["generate"], jobs["upscale"]
        assert generated.status == "done" and len(generated.image_ids) == 1
        assert follow_up.parent_job_id == generated.id and follow_up.spec["model"] == str(outside)
        assert follow_up.status == "failed" and follow_up.attempts == 1
        assert "only opens upscalers inside its models folder" in follow_up.error
        assert studio.search(SearchQuery(op="upscale"))[1] == 0
        assert opened == []
    finally:
        studio.close()


def test_12_11_a_runner_killed_mid_job_gives_the_attempt_back_on_the_next_run(home, tiny_sd, tmp_path):
    """Issue 12, point 11: `python -m gwen queue run` is SIGKILLed while its job runs (catalog intact); the next run
    recovers the job and the interrupted attempt does not count: a job with max_attempts=1 then runs and is done
    with attempts == 1."""
    from gwen.studio import Studio

    batch = tmp_path / "one.json"
    batch.write_text(json.dumps({"defaults": {"model": tiny_sd, "n": 1, "steps": 8, "size": "64x64"},
                                 "jobs": [{"prompt": "a red fox", "seed": 5, "max_attempts": 1}]}))
    studio = Studio(home)
    (job,) = studio.queue_add(batch)
    assert (job.status, job.attempts, job.max_attempts) == ("pending", 0, 1)
    env = {**os.environ, "GWEN_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "gwen", "queue", "run", "--until-empty"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        started = ""
        while not started:
            line = proc.stderr.readline()
            if not line:
                break
            started = line if "started job" in line else ""
        assert started and job.id in started, "the runner never started the job"
        proc.send_signal(signal.SIGKILL)  # at once: it is still loading the model or rendering
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    (interrupted,) = studio.queue_list()
    assert (interrupted.status, interrupted.attempts) == ("running", 1)  # cut off mid-job, its attempt counted

    out = run_cli("queue", "run", "--until-empty", "--json", home=home)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["summary"]["recovered"] == 1 and result["counts"] == {"done": 1}
    assert f"started job {job.id} (generate, attempt 1)" in out.stderr
    (finished,) = studio.queue_list()
    assert finished.status == "done" and finished.attempts == 1 <= finished.max_attempts
    assert len(finished.image_ids) == 1 and studio.search(SearchQuery())[1] == 1


@pytest.fixture(scope="module")
def full_disk_run(tmp_path_factory, shared_engine, tiny_models):
    """A runner working on a GWEN_HOME on a small tmpfs (``tests.disks``) whose disk fills once it has claimed the
    first of two jobs. Returns the jobs as they stand right after the runner stopped, and after a second run once
    there is room again."""
    from gwen.studio import Studio

    root = tmp_path_factory.mktemp("gaps-full-disk")
    with small_tmpfs(root / "disk") as mount:
        home, filler = mount / "home", mount / "filler"
        studio = Studio(home, engine=shared_engine)
        batch = root / "two.txt"
        batch.write_text("a fox\na whale\n")
        jobs = studio.queue_add(batch, {"model": str(tiny_models["sd"]), "n": 2, "steps": 2, "width": 64,
                                        "height": 64})

        def fill_the_disk(job, index, total):  # called once the job is claimed (running), before it renders
            page = os.sysconf("SC_PAGE_SIZE")
            with open(home / "jobs.jsonl", "ab") as journal:  # its last page full too (blank lines are skipped):
                journal.write(b"\n" * (-journal.tell() % page))  # the disk is full for every file, not all but one
            with open(filler, "wb") as handle:
                try:
                    while True:
                        handle.write(b"\0" * 65536)
                        handle.flush()
                except OSError:
                    pass

        try:
            with pytest.raises(DiskFull, match="no space left on device") as raised:
                studio.queue_runner().run(on_job=fill_the_disk)
            pngs_when_full = _pngs(home) + [str(p) for p in (home / "images").rglob(".*.tmp")]
        finally:
            filler.unlink(missing_ok=True)
        when_stopped = {j.id: j for j in studio.queue_list()}
        summary = studio.queue_runner().run()
        yield {"home": home, "jobs": jobs, "error": str(raised.value), "pngs_when_full": pngs_when_full,
               "when_stopped": when_stopped, "summary": summary, "after": {j.id: j for j in studio.queue_list()},
               "pngs_after": _pngs(home)}
        studio.close()


def test_12_12_a_runner_that_hits_a_full_disk_stops_without_failing_the_job_which_runs_once_there_is_room(
        full_disk_run):
    """Issue 12, point 12: the disk fills after the runner claimed a job; the runner stops with the full-disk message
    (the next job untouched), the job is not failed and left nothing half written; once there is room the next run
    does both jobs and the full-disk attempt does not count (attempts == 1)."""
    first, second = full_disk_run["jobs"]
    stopped = full_disk_run["when_stopped"]
    assert "free space and retry" in full_disk_run["error"]
    assert full_disk_run["pngs_when_full"] == []
    assert stopped[first.id].status != "failed" and stopped[first.id].error is None
    assert (stopped[second.id].status, stopped[second.id].attempts) == ("pending", 0)  # the runner stopped
    after, summary = full_disk_run["after"], full_disk_run["summary"]
    assert (summary.done, summary.failed) == (2, 0)
    assert {j.status for j in after.values()} == {"done"} and len(full_disk_run["pngs_after"]) == 4
    assert after[first.id].attempts == 1 and after[second.id].attempts == 1


def test_12_12_a_runner_that_hits_a_full_disk_gives_the_job_back_whole_or_not_at_all(full_disk_run):
    """Issue 12, point 12 (gwen/queue.py's contract): right after the runner stopped on a full disk, the claimed job
    is either given back whole (pending, attempt not counted) or, when not even that line fitted, still "running"
    with its attempt (which the next runner recovers); never pending with the full-disk attempt counted."""
    first = full_disk_run["jobs"][0]
    job = full_disk_run["when_stopped"][first.id]
    assert (job.status, job.attempts) in {("pending", 0), ("running", 1)}


# --- the journal (12.8) -----------------------------------------------------------------------------------------
def test_12_8_cli_reindex_reports_the_torn_journal_lines_it_skipped_on_stderr(studio, grid, home):
    """Issue 12, point 8: `python -m gwen reindex` (not --json) says on stderr how many torn journal lines (marks
    journal and jobs journal together) it skipped; the marks around the torn line survive."""
    studio.rate(grid[0].id, 4)
    with open(home / "journal.jsonl", "ab") as handle:  # a crash mid-append: no newline
        handle.write(b'{"ts": "2026-11-27T00:00:00+00:00", "id": "' + grid[0].id.encode() + b'", "action": "ra')
    studio.rate(grid[1].id, 2)
    with open(home / "jobs.jsonl", "ab") as handle:
        handle.write(b'{"id": "01JOBTORN", "kind": "gener')
    (home / "gwen.duckdb").unlink()
    out = run_cli("reindex", home=home)
    assert out.returncode == 0, out.stderr
    assert "skipped 2 torn or unreadable journal line(s)" in out.stderr
    assert "reindexed 4 images (2 with marks from the journal" in out.stdout and "torn" not in out.stdout
    assert (studio.get(grid[0].id).rating, studio.get(grid[1].id).rating) == (4, 2)


# --- the dashboard (11.2, 11.3, 11.5, 11.18) ------------------------------------------------------------------------
@pytest.fixture
def dashboard(home, tiny_sd, monkeypatch):
    """A dashboard process with no GWEN_UPSCALER (so settings.toml decides) and the tiny model as GWEN_MODEL."""
    monkeypatch.setenv("GWEN_MODEL", tiny_sd)
    monkeypatch.delenv("GWEN_UPSCALER", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GWEN_DEVICE", "cpu")
    return home


def test_11_3_an_upscaler_model_file_chosen_on_the_upscale_page_is_remembered(dashboard, studio, tiny_sd):
    """Issue 11, point 3: on the Upscale page, "A model file" naming a file in the models folder is saved in
    $GWEN_HOME/settings.toml and shown again in a fresh session, which upscales with it."""
    from gwen.studio import Studio
    from gwen.upscale import build_tiny_esrgan

    esrgan = str(build_tiny_esrgan(dashboard / "models" / "my-esrgan-x4.pth"))
    (source,) = studio.generate("a kite", model=tiny_sd, n=1, seed=3, steps=2, width=64, height=64)
    at = app(UPSCALE, id=source.id)
    at.selectbox(key="upscaler_preset").set_value("file").run()
    at.text_input(key="upscaler_file").input(esrgan).run()
    button(at, "Use this file").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert tomllib.loads((dashboard / "settings.toml").read_text())["upscaler"] == esrgan

    _fresh_session()
    fresh = app(UPSCALE, id=source.id)
    assert fresh.selectbox(key="upscaler_preset").value == "file"
    assert fresh.text_input(key="upscaler_file").value == esrgan
    button(fresh, "Upscale").click().run()
    assert not fresh.error, texts(fresh.error)
    (up,) = Studio(dashboard).search(SearchQuery(op="upscale"))[0]
    assert up.params["upscale"]["model_file"] == "my-esrgan-x4.pth" and up.width == 4 * source.width


def test_11_2_an_other_model_typed_on_home_becomes_the_default_in_settings_toml(dashboard, tiny_sd, monkeypatch):
    """Issue 11, point 2: on Home, "Other…" plus a typed model reference (a diffusers folder) and "Use this model"
    saves it as the default model in settings.toml; a fresh session shows it on Home and on Generate."""
    from gwen.studio import Studio
    from gwen.ui.forms import OTHER

    monkeypatch.delenv("GWEN_MODEL")  # the typed model, not the environment, must decide
    at = app()
    at.selectbox(key="home_model_preset").set_value(OTHER).run()
    at.text_input(key="home_model_custom").input(tiny_sd).run()
    button(at, "Use this model").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert tomllib.loads((dashboard / "settings.toml").read_text())["model"] == tiny_sd

    _fresh_session()
    fresh = app()
    assert fresh.selectbox(key="home_model_preset").value == OTHER
    assert fresh.text_input(key="home_model_custom").value == tiny_sd
    assert Studio(dashboard).default_model() == tiny_sd  # what any new process (CLI, queue) now uses
    generate = app(GENERATE)
    assert generate.selectbox(key="gen_model_preset").value == OTHER
    assert generate.text_input(key="gen_model_custom").value == tiny_sd


def test_11_5_v_and_u_under_a_variation_render_there_or_go_to_upscale_and_say_so(dashboard, grid, tmp_path,
                                                                                  monkeypatch):
    """Issue 11, point 5: under an image of the Variations page's grid, V·s and V·S render right there (saying so)
    and U goes to the Upscale page, which upscales it and says it was asked from Variations."""
    from gwen.studio import Studio
    from gwen.ui.common import short_id
    from gwen.upscale import build_tiny_esrgan
    from gwen.variation import STRENGTH_PRESETS

    monkeypatch.setenv("GWEN_UPSCALER", str(build_tiny_esrgan(tmp_path / "tiny-esrgan-x4.pth")))
    studio = Studio(dashboard)
    at = app(VARIATIONS, id=grid[0].id)
    button(at, "Render these variations").click().run()
    assert not at.exception and not at.error, texts(at.error)
    first = list(at.session_state["gwen_variation_grid"])
    assert len(first) == 4

    for key, strength, parent in (("vs-vgrid-0", "subtle", first[0]), ("vS-vgrid-1", "strong", None)):
        parent = parent or at.session_state["gwen_variation_grid"][1]
        at.button(key=key).click().run()
        assert not at.exception and not at.error, texts(at.error)
        assert at.title[0].value == "Variations"
        # rendered right there: the page's grid is now these children, captioned with what was asked
        assert f"4 variations of {short_id(parent)}" in texts(at.subheader)
        assert texts(at.caption).count(f"{strength.capitalize()} variations of `{short_id(parent)}`") == 1
        assert "asked from" not in texts(at.caption)
        kids = [r for r in studio.search(SearchQuery(op="vary", limit=100))[0] if r.parent_id == parent]
        assert len(kids) == 4 and {k.variation["strength"] for k in kids} == {STRENGTH_PRESETS[strength]}
        assert sorted(at.session_state["gwen_variation_grid"]) == sorted(k.id for k in kids)  # shown there

    target = at.session_state["gwen_variation_grid"][0]
    at.button(key="u-vgrid-0").click().run()
    assert not at.exception and at.title[0].value == "Upscale"
    assert f"Upscale of `{short_id(target)}`, asked from Variations" in texts(at.success)
    (up,) = studio.search(SearchQuery(op="upscale"))[0]
    assert up.parent_id == target


def test_11_18_compare_opened_from_lineage_shows_the_chosen_images_of_the_family(dashboard, grid, studio):
    """Issue 11, point 18: on the Lineage page of a root, "Compare images of this family" with its two children chosen
    opens Compare with those three images side by side (in that order) and a table of what differs."""
    from gwen.ui.common import short_id

    kids = studio.vary(grid[0].id, strength="strong", n=2, seed=3)
    at = app(LINEAGE, id=grid[0].id)
    (others,) = [m for m in at.multiselect if m.label == "Compare with"]
    assert sorted(others.options) == sorted(f"{short_id(k.id)} · vary" for k in kids)  # the family, not itself
    others.set_value([kids[0].id, kids[1].id]).run()
    button(at, "Compare").click().run()
    assert not at.exception and not at.error, texts(at.error)
    assert at.title[0].value == "Compare"
    chosen = [grid[0].id, kids[0].id, kids[1].id]
    assert at.query_params["ids"] == ",".join(chosen)
    captions = [img.caption for element in at.image for img in element.proto.imgs]
    assert len(captions) == 3  # side by side; no overlay (that is for two)
    for image_id, shown in zip(chosen, captions):
        assert shown.startswith(short_id(image_id)), (image_id, captions)
    differs = at.table[0].value
    assert list(differs.columns) == ["setting", *(short_id(i) for i in chosen)] and len(differs) >= 1
