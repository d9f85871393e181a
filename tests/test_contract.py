"""The StudioAPI contract: the same tests against all three backends.

- ``local``: ``gwen.studio.Studio`` on a fresh home;
- ``remote``: ``RemoteStudio`` → a real ``gwen serve`` subprocess;
- ``pool``: ``RemoteStudio`` → a real ``gwen serve --replicas 2`` (Ray Serve, 2 CPU replicas of the tiny model).

A member of ``gwen.api.MEMBERS`` missing from a backend, or missing one of its parameters, fails that backend.
Every backend renders grids in pipeline calls of 4 images, so all three must give the same seeds and pixels.
The served backends are shared by the tests of this module (each test uses its own prompts).
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwen.api import MEMBERS, StudioAPI
from gwen.device_thread import device_thread
from gwen.errors import InvalidInput, ModelUnavailable, NotFound
from gwen.records import ImageRecord, JobRecord, SearchQuery, VerifyResult
from tests.conftest import ROOT
from tests.servers import TOKEN, served_home, start_server, stop

CHUNK = "4"  # images per pipeline call on every backend: a grid of 8 is two calls (two replicas in the pool)


def ray_available() -> bool:
    try:
        import ray  # noqa: F401
        from ray import serve  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise  # CI installs requirements-scale.txt: the pool backend is never skipped there
        return False
    return True


@dataclass
class Backend:
    kind: str
    api: StudioAPI
    cli: tuple[str, ...]  # what selects this backend on the command line
    home: Path  # where its files are (the server's home for the served ones)
    url: str | None = None


@pytest.fixture(scope="module")
def served(tmp_path_factory, tiny_models):
    """The served backends, started once for this module and stopped at its end."""
    started: dict[str, dict] = {}

    def start(kind: str) -> dict:
        if kind not in started:
            root = tmp_path_factory.mktemp(f"contract-{kind}")
            home, token_file = served_home(root, tiny_models["sd"])
            extra = ("--replicas", "2", "--replica-cpus", "1", "--chunk-size", CHUNK) if kind == "pool" else ()
            proc, url = start_server(home, token_file, *extra, timeout=300 if kind == "pool" else 90,
                                     env={"GWEN_MAX_BATCH": CHUNK})
            started[kind] = {"proc": proc, "url": url, "home": home, "token_file": token_file}
        return started[kind]
    yield start
    for server in started.values():
        stop(server["proc"], wait=60)


@pytest.fixture(params=["local", "remote", "pool"])
def backend(request, tmp_path, served, tiny_models, monkeypatch):
    from gwen.remote import RemoteStudio
    from gwen.studio import Studio

    if request.param == "local":
        home, _token = served_home(tmp_path / "local", tiny_models["sd"])
        monkeypatch.setenv("GWEN_HOME", str(home))
        monkeypatch.setenv("GWEN_MAX_BATCH", CHUNK)
        studio = Studio(home)
        yield Backend("local", studio, ("--home", str(home)), home)
        studio.close()
        return
    if request.param == "pool" and not ray_available():
        pytest.skip("the pool backend needs Ray Serve (pip install -r requirements-scale.txt)")
    server = served(request.param)
    remote = RemoteStudio(server["url"], TOKEN, cache_dir=tmp_path / "cache")
    yield Backend(request.param, remote, ("--remote", server["url"], "--token-file", str(server["token_file"])),
                  server["home"], server["url"])
    remote.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_models):
    """``reference(threads)``: a grid of 8 (seeds 700..707) rendered by a local studio in pipeline calls of 4 with
    ``threads`` CPU threads: what every backend that renders with as many threads gives, pixel for pixel. (On a
    CPU the thread count orders float sums differently, ±1 in a few pixels; a pool's replica has
    ``--replica-cpus`` threads, a local studio torch's default.)"""
    import torch

    from gwen.studio import Studio

    home, _token = served_home(tmp_path_factory.mktemp("reference"), tiny_models["sd"])
    studio = Studio(home, chunk_size=int(CHUNK))
    grids: dict[int, list[np.ndarray]] = {}

    def grid(threads: int) -> list[np.ndarray]:
        if threads not in grids:
            before = device_thread().run(torch.get_num_threads)
            device_thread().run(torch.set_num_threads, threads)  # where the studio renders (OpenMP: per thread)
            try:
                records = studio.generate("a reference lighthouse", model="tiny-sd", n=8, seed=700, steps=3)
            finally:
                device_thread().run(torch.set_num_threads, before)
            grids[threads] = [pixels(studio.path_of(r)) for r in records]
        return grids[threads]
    yield grid
    studio.close()


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def gwen_chunk(path) -> dict:
    with Image.open(path) as image:
        return json.loads(image.text["gwen"])


def run_cli(backend: Backend, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GWEN_MAX_BATCH": CHUNK}
    env.pop("GWEN_TOKEN", None)
    return subprocess.run([sys.executable, "-m", "gwen", *backend.cli, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# --- the contract itself --------------------------------------------------------------------------------------------

def test_every_member_with_every_parameter(backend):
    assert isinstance(backend.api, StudioAPI)
    for name in MEMBERS:
        member = getattr(type(backend.api), name, None)
        assert callable(member), f"{backend.kind}: {name} is missing"
        wanted = inspect.signature(getattr(StudioAPI, name)).parameters
        offered = inspect.signature(member).parameters
        takes_any = any(p.kind is p.VAR_KEYWORD for p in offered.values())
        for parameter in wanted.values():
            if parameter.kind is parameter.VAR_KEYWORD:
                assert takes_any, f"{backend.kind}: {name} takes no **options"
                continue
            assert parameter.name in offered, f"{backend.kind}: {name} lacks the parameter {parameter.name}"
            assert (offered[parameter.name].default is parameter.empty) == (parameter.default is parameter.empty), \
                f"{backend.kind}: {name}({parameter.name}) is optional in one place and required in another"


def test_a_grid_has_its_seeds_its_pixels_and_its_worker(backend, reference):
    import torch

    records = backend.api.generate("a reference lighthouse", model="tiny-sd", n=8, seed=700, steps=3)
    workers = backend.api.engine_status()["workers"]
    threads = workers[0]["threads"] if backend.kind == "pool" else device_thread().run(torch.get_num_threads)
    assert all(isinstance(r, ImageRecord) for r in records)
    assert [r.params["seed"] for r in records] == list(range(700, 708))
    assert [r.batch["size"] for r in records] == [4] * 8 and len({r.batch["id"] for r in records}) == 2
    for record, expected in zip(records, reference(threads)):
        path = backend.api.path_of(record)
        assert np.array_equal(pixels(path), expected), f"{backend.kind}: {record.params['seed']} differs"
        assert record.worker and gwen_chunk(path)["worker"] == record.worker
        assert backend.api.get(record.id).worker == record.worker
    if backend.kind == "pool":  # two pipeline calls, sent to the two replicas side by side
        assert len({r.worker for r in records}) == 2, [r.worker for r in records]


def test_variations_take_every_option_and_keep_their_lineage(backend):
    [parent] = backend.api.generate("a contract fox", model="tiny-sd", n=1, seed=31, steps=3)
    kids = backend.api.vary(parent.id, strength="strong", n=3, seed=4, modes="jitter", steps_range=(2, 4),
                            schedulers=["Euler", "DDIM"])
    assert [k.parent_id for k in kids] == [parent.id] * 3 and {k.op for k in kids} == {"vary"}
    assert {k.params["scheduler"] for k in kids} <= {parent.params["scheduler"], "Euler", "DDIM"}
    assert all(2 <= k.params["steps"] <= 4 for k in kids)
    _parent, planned, plan = backend.api.plan_variations(parent.id, strength="strong", n=3, seed=4, modes="jitter",
                                                         steps_range=(2, 4), schedulers=["Euler", "DDIM"])
    assert [p.scheduler for p in planned] == [k.params["scheduler"] for k in kids]
    tree = backend.api.lineage(kids[0].id)
    assert tree["root"] == parent.id and [e["op"] for e in tree["edges"]] == ["vary"]
    rerolled = backend.api.reroll(parent.id, n=2, seed=90)
    again = backend.api.reroll(parent.id, n=2, seed=90)  # the seed picks the new seeds: the same ones again
    assert [r.params["seed"] for r in rerolled] == [r.params["seed"] for r in again]
    assert parent.params["seed"] not in {r.params["seed"] for r in rerolled} and rerolled[0].op == "reroll"


def test_verify_returns_the_same_type_everywhere(backend):
    [record] = backend.api.generate("a contract owl", model="tiny-sd", n=1, seed=8, steps=3)
    result = backend.api.verify(record.id)
    assert isinstance(result, VerifyResult) and result.identical
    assert (result.max_diff, result.image_id) == (0, record.id)


def test_marks_search_and_the_library(backend):
    first, second = backend.api.generate("a contract heron", model="tiny-sd", n=2, seed=50, steps=3)
    assert backend.api.rate(first.id, 4).rating == 4
    assert backend.api.favorite(first.id).favorite is True
    assert "marsh" in backend.api.tag(first.id, ["marsh", "grey"]).tags
    assert backend.api.tag(first.id, ["grey"], remove=True).tags == ("marsh",)
    found, total = backend.api.search(SearchQuery(text="contract heron", min_rating=4, tags=("marsh",)))
    assert total == 1 and found[0].id == first.id
    assert backend.api.delete(second.id).deleted
    assert backend.api.search(SearchQuery(text="contract heron"))[1] == 1
    assert not backend.api.restore(second.id).deleted
    assert set(backend.api.get_many([first.id, second.id])) == {first.id, second.id}
    assert backend.api.resolve(first.id[-8:]) == first.id
    assert "Seed: 50" in backend.api.infotext(first)
    assert backend.api.thumbnail(first).exists()
    compared = backend.api.compare([first.id, second.id])
    assert "seed" in {row["parameter"] for row in compared["differences"]}
    assert backend.api.stats()["images"] >= 2 and ("marsh", 1) in backend.api.tags()
    assert any(row["mean_rating"] > 0 and row["images"] >= 1 for row in backend.api.rating_stats("model"))


def test_upscale_makes_a_child_four_times_larger(backend):
    [record] = backend.api.generate("a contract kite", model="tiny-sd", n=1, seed=3, steps=3)
    up = backend.api.upscale(record.id, model="tiny-esrgan-x4.pth")
    assert (up.width, up.height, up.parent_id, up.op) == (256, 256, record.id, "upscale")
    assert up.worker and gwen_chunk(backend.api.path_of(up))["worker"] == up.worker


def test_the_queue_runs_cancels_and_retries(backend, tmp_path):
    batch = tmp_path / "contract.txt"
    batch.write_text(f"a {backend.kind} queued pier\na {backend.kind} queued boat\na {backend.kind} queued gull\n")
    planned = backend.api.queue_plan(batch, {"model": "tiny-sd", "n": 2, "steps": 2, "seed": 5})
    assert len(planned) == 3 and all(isinstance(j, JobRecord) for j in planned)
    jobs = backend.api.queue_add(batch, {"model": "tiny-sd", "n": 2, "steps": 2, "seed": 5})
    assert {j.id for j in jobs}.isdisjoint({j.id for j in planned})  # planning enqueued nothing
    assert backend.api.queue_cancel(jobs[2].id).status == "cancelled"
    assert backend.api.queue_retry(jobs[2].id).status == "pending"
    assert {j.id for j in backend.api.queue_list("pending")} >= {j.id for j in jobs}
    started = []
    summary = backend.api.queue_runner(poll_seconds=0.2).run(until_empty=True,
                                                             on_job=lambda job, i, n: started.append(job.id))
    assert summary.done >= 3 and set(started) == {j.id for j in jobs}
    done = {j.id: j for j in backend.api.queue_list("done")}
    assert all(len(done[j.id].image_ids) == 2 for j in jobs)
    assert backend.api.search(SearchQuery(text=f"{backend.kind} queued"))[1] == 6
    assert backend.api.queue_counts().get("pending", 0) == 0
    with pytest.raises(InvalidInput, match="done"):
        backend.api.queue_cancel(jobs[0].id)
    with pytest.raises(InvalidInput, match="done"):
        backend.api.queue_retry(jobs[0].id)


def test_bad_input_is_refused_the_same_way_and_writes_nothing(backend):
    before = backend.api.stats()["images"]
    [record] = backend.api.generate("a contract bad-input anchor", model="tiny-sd", n=1, seed=1, steps=2)
    for options, error, words in (({"steps": 0}, InvalidInput, "steps=0"), ({"n": 0}, InvalidInput, "n=0"),
                                  ({"width": 65}, InvalidInput, "width=65"),
                                  ({"scheduler": "nope"}, InvalidInput, "nope"),
                                  ({"model": "no-such-model"}, ModelUnavailable, "no-such-model")):
        with pytest.raises(error, match=words):
            backend.api.generate("refused", **{"model": "tiny-sd", **options})
    with pytest.raises(NotFound):
        backend.api.get("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    with pytest.raises(InvalidInput, match="rating"):
        backend.api.rate(record.id, 9)
    with pytest.raises(InvalidInput, match="strength"):
        backend.api.vary(record.id, strength="enormous")
    with pytest.raises(NotFound, match="no such job"):
        backend.api.queue_cancel("01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert backend.api.stats()["images"] == before + 1


def test_import_export_and_reindex(backend, tmp_path):
    [record] = backend.api.generate("a contract lantern", model="tiny-sd", n=1, seed=12, steps=2)
    exported = backend.api.export(SearchQuery(text="contract lantern"), tmp_path / "out.zip")
    assert exported["images"] == 1 and Path(exported["path"]).stat().st_size > 0
    data = backend.api.path_of(record).read_bytes()
    imported = backend.api.import_files([("lantern-copy.png", data)])
    assert set(imported) == {"imported", "skipped", "notes"}
    assert len(imported["imported"]) + len(imported["skipped"]) == 1
    counts = backend.api.reindex()
    assert counts["images"] >= 1
    assert backend.api.get(record.id).params["seed"] == 12


def test_models_and_engine_status(backend):
    status = backend.api.model_status("tiny-sd")
    assert (status["model"], status["availability"]) == ("tiny-sd", "ready")
    assert backend.api.model_status("no-such-model")["availability"] == "missing"
    assert backend.api.default_model() and backend.api.default_upscaler()
    backend.api.check_model("tiny-sd")
    with pytest.raises(ModelUnavailable):
        backend.api.check_model("no-such-model")
    backend.api.generate("a contract warm-up", model="tiny-sd", n=1, seed=2, steps=2)
    engine = backend.api.engine_status()
    assert engine["workers"] and all(w.get("worker") for w in engine["workers"])
    if backend.kind == "pool":
        assert len(engine["workers"]) == 2


def test_render_progress_and_cancel(backend):
    steps = []
    backend.api.generate("a contract progress", model="tiny-sd", n=4, seed=3, steps=30,
                         on_step=lambda done, total: steps.append((done, total)))
    assert steps and steps[-1][0] == steps[-1][1]
    before = backend.api.stats()["images"]
    cancel = threading.Event()

    def stop_soon(done: int, total: int) -> None:
        cancel.set()
    with pytest.raises(Exception, match="cancel"):
        backend.api.generate("a contract cancelled", model="tiny-sd", n=8, seed=3, steps=60, on_step=stop_soon,
                             cancel=cancel)
    assert backend.api.search(SearchQuery(text="contract cancelled"))[1] == 0
    assert backend.api.stats()["images"] == before


# --- the command line, on every backend ------------------------------------------------------------------------------

def test_cli_batch_and_queue_commands(backend, tmp_path):
    batch = tmp_path / "cli.txt"
    batch.write_text(f"a {backend.kind} cli moth\na {backend.kind} cli wasp\n")
    out = run_cli(backend, "batch", str(batch), "--model", "tiny-sd", "--n", "1", "--steps", "2", "--json")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert answer["summary"]["done"] >= 2 and answer["counts"].get("pending", 0) == 0 and len(answer["added"]) == 2
    listed = json.loads(run_cli(backend, "queue", "list", "--json").stdout)["jobs"]
    assert set(answer["added"]) <= {j["id"] for j in listed if j["status"] == "done"}
    added = run_cli(backend, "queue", "add", str(batch), "--model", "tiny-sd", "--n", "1", "--steps", "2", "--json")
    assert added.returncode == 0, added.stderr
    job_ids = [j["id"] for j in json.loads(added.stdout)["jobs"]]
    cancelled = run_cli(backend, "queue", "cancel", job_ids[0], "--json")
    assert cancelled.returncode == 0 and json.loads(cancelled.stdout)["status"] == "cancelled"
    retried = run_cli(backend, "queue", "retry", job_ids[0][-8:], "--json")
    assert retried.returncode == 0 and json.loads(retried.stdout)["status"] == "pending"
    ran = run_cli(backend, "queue", "run", "--until-empty", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["summary"]["done"] >= 2
    found = json.loads(run_cli(backend, "search", f"{backend.kind} cli", "--json").stdout)
    assert found["total"] == 4 and all(r["worker"] for r in found["images"])
    shown = json.loads(run_cli(backend, "show", found["images"][0]["id"], "--json").stdout)
    assert shown["worker"] == found["images"][0]["worker"]
    refused = run_cli(backend, "queue", "cancel", "not-a-job")
    assert refused.returncode == 2 and "not-a-job" in refused.stderr


def test_img2img_and_the_model_lists(backend):
    parent = backend.api.generate("a contract barn", model="tiny-sd", n=1, seed=31, steps=2)[0]
    children = backend.api.generate("a contract barn in snow", model="tiny-sd", n=2, seed=4, steps=4,
                                    init_image_id=parent.id[-8:], denoise=0.5)
    assert [c.op for c in children] == ["img2img", "img2img"]
    assert {c.parent_id for c in children} == {parent.id} and children[0].params["init_image_id"] == parent.id
    with pytest.raises(NotFound):
        backend.api.generate("x", model="tiny-sd", n=1, init_image_id="no-such-image", denoise=0.5)
    with pytest.raises(InvalidInput, match="denoise"):
        backend.api.generate("x", model="tiny-sd", n=1, init_image_id=parent.id, denoise=1.5)
    models = {m["name"]: m for m in backend.api.list_models()}
    assert models["tiny-sd"]["kind"] == "folder" and models["tiny"]["kind"] == "preset"
    upscalers = {u["name"]: u for u in backend.api.list_upscalers()}
    assert upscalers["tiny"]["downloaded"] and upscalers["x4plus"]["kind"] == "preset"


def test_cli_use_vary_dry_run_and_stats_by(backend):
    made = json.loads(run_cli(backend, "generate", f"a {backend.kind} use lamp", "--model", "tiny-sd", "--n", "2",
                              "--seed", "41", "--steps", "2", "--json").stdout)["images"]
    kids = json.loads(run_cli(backend, "vary", made[0]["id"], "--n", "2", "--seed", "9", "--steps-range", "2:3",
                              "--json").stdout)["images"]
    planned = run_cli(backend, "vary", made[0]["id"], "--n", "2", "--seed", "9", "--steps-range", "2:3", "--dry-run",
                      "--json")
    assert planned.returncode == 0, planned.stderr
    assert [c["seed"] for c in json.loads(planned.stdout)["children"]] == [k["params"]["seed"] for k in kids]
    assert [c["variations"] for c in json.loads(planned.stdout)["children"]] == [k["params"]["variations"]
                                                                               for k in kids]
    table = run_cli(backend, "vary", made[0]["id"], "--n", "2", "--seed", "9", "--dry-run").stdout
    assert "nothing rendered" in table and len(table.strip().splitlines()) == 4  # title, header, 2 children
    used = json.loads(run_cli(backend, "use", kids[1]["id"], "--json").stdout)
    assert used["argv"][3:5] == ["generate", f"a {backend.kind} use lamp"] and "--variation" in used["argv"]
    rerun = json.loads(run_cli(backend, "use", kids[1]["id"], "--run", "--json").stdout)["images"][0]
    assert rerun["params"]["variations"] == kids[1]["params"]["variations"]
    assert rerun["params"]["seed"] == kids[1]["params"]["seed"]
    again = pixels(backend.api.path_of(backend.api.get(rerun["id"]))).astype(int)
    first = pixels(backend.api.path_of(backend.api.get(kids[1]["id"]))).astype(int)
    assert np.abs(again - first).max() <= 2  # the same settings; alone instead of in a pipeline call of two
    for image, stars in zip(made + kids, (5, 1, 4, 2)):
        assert run_cli(backend, "rate", image["id"], str(stars)).returncode == 0
    by_steps = json.loads(run_cli(backend, "stats", "--by", "steps", f"{backend.kind} use lamp", "--json").stdout)
    means = {row["group"]: row["mean_rating"] for row in by_steps["rows"]}
    expected: dict = {}
    for image, stars in zip(made + kids, (5, 1, 4, 2)):
        expected.setdefault(image["params"]["steps"], []).append(stars)
    assert {int(k): v for k, v in means.items()} == {k: round(sum(v) / len(v), 2) for k, v in expected.items()}
    assert "mean rating" in run_cli(backend, "stats", "--by", "guidance").stdout


def test_cli_bad_input_for_use_vary_and_stats(backend, tmp_path):
    plain = tmp_path / "plain.png"
    Image.new("RGB", (32, 32), (9, 9, 9)).save(plain)
    imported = json.loads(run_cli(backend, "import", str(plain), "--json").stdout)["images"][0]["id"]
    cases = [
        (("use", imported), "no complete generation parameters"),
        (("use", "no-such-image"), "no-such-image"),
        (("vary", "no-such-image", "--dry-run"), "no-such-image"),
        (("generate", "x", "--model", "tiny-sd", "--variation", "12-0.3"), "SEED:STRENGTH"),
        (("generate", "x", "--model", "tiny-sd", "--init", imported), "--denoise"),
        (("stats", "--by", "colour"), "colour"),
    ]
    before = backend.api.stats()["images"]
    for args, named in cases:
        out = run_cli(backend, *args)
        assert out.returncode == 2 and named in out.stderr, (args, out.stderr)
    assert backend.api.stats()["images"] == before


# --- taste-guided variations and the denoise range (issue 15) --------------------------------------------------------

def test_taste_guided_variations_record_taste_and_snapshot_and_re_render(backend):
    made = backend.api.generate(f"a {backend.kind} taste wren", model="tiny-sd", n=4, seed=61, steps=3)
    for record, stars in zip(made, (5, 4, 2, 1)):
        backend.api.rate(record.id, stars)
    backend.api.favorite(made[0].id)
    options = dict(strength="strong", n=3, seed=12, taste=0.7)
    _parent, planned, plan = backend.api.plan_variations(made[1].id, **options)
    assert plan.taste == 0.7 and len(plan.ratings_snapshot) == 64 and plan.taste_note is None
    assert {row["parameter"] for row in plan.liked} >= {"guidance", "steps", "scheduler"}
    assert backend.api.plan_variations(made[1].id, **options)[1] == planned  # same seed, snapshot, taste
    kids = backend.api.vary(made[1].id, **options)
    assert [k.params for k in kids] == [p.to_dict() for p in planned]
    assert all(k.variation["taste"] == 0.7 and k.variation["ratings_snapshot"] == plan.ratings_snapshot for k in kids)
    shown = json.loads(run_cli(backend, "show", kids[0].id, "--json").stdout)
    assert (shown["variation"]["taste"], shown["variation"]["ratings_snapshot"]) == (0.7, plan.ratings_snapshot)
    assert backend.api.verify(kids[0].id).identical
    dry = run_cli(backend, "vary", made[1].id, "--strength", "strong", "--n", "3", "--seed", "12", "--taste", "0.7",
                  "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    answer = json.loads(dry.stdout)
    assert answer["children"] == [p.to_dict() for p in planned] and answer["plan"]["taste"] == 0.7
    assert answer["plan"]["ratings_snapshot"] == plan.ratings_snapshot
    assert {row["parameter"] for row in answer["why"]} >= {"guidance", "scheduler"}


def test_denoise_range_and_bad_taste_or_range_input(backend):
    import httpx

    [parent] = backend.api.generate(f"a {backend.kind} denoise pond", model="tiny-sd", n=1, seed=7, steps=4)
    kids = backend.api.vary(parent.id, strength="strong", modes="img2img,jitter", n=2, seed=3, locks=["steps"],
                            denoise_range=(0.5, 0.6))
    assert all(0.5 <= k.params["denoise"] <= 0.6 and k.params["init_image_id"] == parent.id for k in kids)
    before = backend.api.stats()["images"]
    cases = [({"taste": 1.5}, "taste=1.5"), ({"taste": "abc"}, "taste='abc'"),
             ({"denoise_range": (0.9, 0.2)}, "denoise range 0.9..0.2"), ({"denoise_range": (0, 2)}, "denoise range 0"),
             ({"locks": ["colour"]}, "lock='colour'")]
    for options, words in cases:
        with pytest.raises(InvalidInput, match=words.replace(".", r"\.")):
            backend.api.vary(parent.id, n=1, **options)
        if backend.url:  # the HTTP answer itself: 400 with the message
            body = {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}
            answer = httpx.post(f"{backend.url}/api/images/{parent.id}/vary/plan", json=body,
                                headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 400 and words in answer.json()["error"], answer.text
    assert backend.api.stats()["images"] == before


# --- edits: Vary (Region), Pan, Zoom Out ------------------------------------------------------------------------------

def test_edits_vary_region_pan_and_zoom_keep_the_image_and_re_render_exactly(backend):
    import hashlib

    from gwen.files import mask_path

    [parent] = backend.api.generate("a contract quay", model="tiny-sd", n=1, seed=17, steps=3)
    region = backend.api.vary_region(parent.id, box=(16, 16, 32, 32), n=2, seed=5)
    [panned] = backend.api.pan(parent.id, "right", 0.5, n=1, seed=6)
    [zoomed] = backend.api.zoom(parent.id, 1.5, n=1, seed=7)
    made = [*region, panned, zoomed]
    assert [r.op for r in made] == ["inpaint", "inpaint", "pan", "zoom"]
    assert {r.parent_id for r in made} == {parent.id}
    assert [(r.width, r.height) for r in made] == [(64, 64), (64, 64), (96, 64), (96, 96)]
    before = pixels(backend.api.path_of(parent)).astype(int)
    inside = np.zeros((64, 64), bool)
    inside[16:48, 16:48] = True
    for kid in region:
        diff = np.abs(pixels(backend.api.path_of(kid)).astype(int) - before).max(axis=2)
        assert diff[~inside].max() <= 2 and diff[inside].mean() > 5
    for record in made:
        stored = mask_path(backend.home / record.path)  # beside the image, on the machine that owns the catalog
        assert stored.is_file() and hashlib.sha256(stored.read_bytes()).hexdigest() == \
            record.params["edit"]["mask_sha256"]
        assert backend.api.verify(record.id).max_diff == 0, (backend.kind, record.op)
    assert sorted(e["op"] for e in backend.api.lineage(parent.id)["edges"]) == ["inpaint", "inpaint", "pan", "zoom"]
    count = backend.api.stats()["images"]
    with pytest.raises(InvalidInput, match="side='diagonal'"):
        backend.api.pan(parent.id, "diagonal", 0.5)
    with pytest.raises(InvalidInput, match="must lie inside the 64x64 image"):
        backend.api.vary_region(parent.id, box=(40, 40, 32, 32))
    with pytest.raises(InvalidInput, match="zoom factor=9"):
        backend.api.zoom(parent.id, 9)
    assert backend.api.stats()["images"] == count


# --- prompt styles (issue 15 §4) ------------------------------------------------------------------------------------

def test_styles_expand_record_filter_and_group(backend, tmp_path):
    from gwen.styles import BUILT_IN, Style, apply

    kind = backend.kind
    imported = backend.api.import_styles(b"\xef\xbb\xbfname,prompt,negative_prompt\n"
                                         b"Ink,\"{prompt}, ink drawing\",color\n# a comment,x,y\n", "mine.csv")
    assert imported["added"] + imported["replaced"] == ["Ink"]
    assert backend.api.save_style(f"Own {kind}", "my {prompt}")["added"] == [f"Own {kind}"]
    listed = {s["name"]: s for s in backend.api.list_styles()}
    assert listed["Ink"] == {"name": "Ink", "prompt": "{prompt}, ink drawing", "negative_prompt": "color",
                             "source": "styles.csv"}
    assert listed["Cinematic"]["source"] == "built-in" and listed[f"Own {kind}"]["prompt"] == "my {prompt}"
    made = backend.api.generate(f"a {kind} style owl", negative="fog", styles=["Ink", "Enhance"], model="tiny-sd",
                                n=2, seed=5, steps=2)
    expected = apply(f"a {kind} style owl", "fog", [Style("Ink", "{prompt}, ink drawing", "color"), BUILT_IN[-1]])
    assert [(r.params["prompt"], r.params["negative_prompt"]) for r in made] == [expected] * 2
    assert {tuple(r.params["styles"]) for r in made} == {("Ink", "Enhance")}
    assert gwen_chunk(backend.api.path_of(made[0]))["params"]["styles"] == ["Ink", "Enhance"]
    owl = SearchQuery(text=f"{kind} style owl", styles=("Ink",))
    assert backend.api.search(owl)[1] == 2 and backend.api.search(SearchQuery(styles=("Ink", "Anime")))[1] == 0
    backend.api.rate(made[0].id, 5)
    backend.api.rate(made[1].id, 3)
    groups = backend.api.rating_stats("style", SearchQuery(text=f"{kind} style owl"))
    assert groups == [{"group": "Enhance", "mean_rating": 4.0, "images": 2},
                      {"group": "Ink", "mean_rating": 4.0, "images": 2}]
    assert backend.api.stats()["by_style"]["Ink"] >= 2
    before = (backend.api.stats()["images"], backend.api.list_styles())
    with pytest.raises(InvalidInput, match="style 'Nope': unknown style"):
        backend.api.generate("x", styles=["Nope"], model="tiny-sd", n=1)
    with pytest.raises(InvalidInput, match="bad.csv: line 1: the header"):
        backend.api.import_styles("foo,bar\n1,2\n", "bad.csv")
    with pytest.raises(InvalidInput, match="not starting with '#'"):
        backend.api.save_style("#x", "a {prompt}")
    assert (backend.api.stats()["images"], backend.api.list_styles()) == before
    found = json.loads(run_cli(backend, "search", "--style", "Ink", f"{kind} style owl", "--json").stdout)
    assert {r["id"] for r in found["images"]} == {r.id for r in made}
    refused = run_cli(backend, "generate", "x", "--style", "Nope", "--model", "tiny-sd")
    assert refused.returncode == 2 and "unknown style" in refused.stderr
