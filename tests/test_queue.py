"""The persistent queue: batch files, the runner, failures, cancel/retry, and kill -9 at random moments."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gwen.records import SearchQuery
from gwen.errors import InvalidInput, NotFound
from gwen.files import derived_id
from gwen.queue import RunnerBusy
from tests.conftest import ROOT, run_cli


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def tiny_defaults(tiny_sd):
    return {"model": tiny_sd, "n": 2, "steps": 2, "width": 64, "height": 64}


def test_three_prompts_times_two_images(studio, tiny_defaults, tmp_path):
    batch = write(tmp_path / "prompts.txt", "# my night run\na red fox\n\na blue whale\n  # indented comment\na green owl\n")
    jobs = studio.queue_add(batch, tiny_defaults)
    assert [j.kind for j in jobs] == ["generate"] * 3 and all(j.status == "pending" for j in jobs)
    assert jobs[0].source.endswith("prompts.txt:2")
    summary = studio.queue_runner().run()
    assert (summary.done, summary.failed) == (3, 0)
    images, total = studio.search(SearchQuery(limit=100))
    assert total == 6 and sorted({r.params["prompt"] for r in images}) == ["a blue whale", "a green owl", "a red fox"]
    done = studio.queue_list("done")
    assert len(done) == 3 and all(len(j.image_ids) == 2 for j in done)
    assert {i for j in done for i in j.image_ids} == {r.id for r in images}
    assert all(r.id == derived_id(j.id, "image", k) for j in done for k, r in
               enumerate(sorted((studio.get(i) for i in j.image_ids), key=lambda r: r.params["seed"])))


def test_structured_batches_follow_ups_and_upscale_where(studio, tiny_defaults, tmp_path, grid):
    from gwen.upscale import build_tiny_esrgan

    esrgan = build_tiny_esrgan(tmp_path / "tiny-esrgan-x4.pth")
    studio.rate(grid[0].id, 5)
    batch = write(tmp_path / "night.toml", f"""
[defaults]
model = "{tiny_defaults['model']}"
steps = 2
size = "64x64"
n = 2

[[jobs]]
prompts = ["a castle", "a tower"]
seed = 7
then = [{{ kind = "vary", n = 2, strength = "strong" }}]

[[jobs]]
kind = "upscale"
where = {{ min_rating = 4 }}
model = "{esrgan}"
""")
    jobs = studio.queue_add(batch)
    assert [j.kind for j in jobs] == ["generate", "generate", "upscale"]
    assert jobs[0].spec["params"][0]["seed"] == 7 and jobs[0].spec["params"][1]["seed"] == 8
    summary = studio.queue_runner().run()
    assert summary.done == 3 + 4 and summary.failed == 0  # 4 follow-up vary jobs, one per generated image
    ops = [r.op for r in studio.search(SearchQuery(limit=100))[0]]
    assert ops.count("vary") == 8 and ops.count("upscale") == 1 and ops.count("generate") == 4 + 4


def test_jsonl_batch_and_bad_files_enqueue_nothing(studio, tiny_defaults, tmp_path):
    good = write(tmp_path / "ok.jsonl", '{"prompt": "one"}\n\n"two"\n')
    assert len(studio.queue_add(good, tiny_defaults)) == 2
    cases = [
        (tmp_path / "missing.txt", "no such file"),
        (write(tmp_path / "empty.txt", "# only a comment\n\n"), "the batch is empty"),
        (write(tmp_path / "bad.jsonl", '{"prompt": "fine"}\n{"prompt": oops}\n'), "bad.jsonl:2: malformed JSON"),
        (write(tmp_path / "bad.json", '{"jobs": [\n  {"prompt": "a"},\n  {"prompt": }\n]}'), "bad.json:3: malformed JSON"),
        (write(tmp_path / "bad.toml", '[[jobs]]\nprompt = "a"\nsteps = \n'), "bad.toml:3: malformed TOML"),
        (write(tmp_path / "invalid.jsonl", '{"prompt": "fine"}\n{"prompt": "x", "steps": 0}\n'),
         "invalid.jsonl:2: steps=0"),
        (write(tmp_path / "unknown.json", '[{"prompt": "a", "colour": "red"}]'), "unknown key(s) ['colour']"),
        (write(tmp_path / "kind.json", '[{"kind": "paint", "prompt": "a"}]'), "kind='paint'"),
        (write(tmp_path / "noimage.json", '[{"kind": "vary"}]'), "needs 'image'"),
        (write(tmp_path / "ghost.json", '[{"kind": "vary", "image": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}]'), "not in the catalog"),
        (write(tmp_path / "then.json", '[{"prompt": "a", "then": [{"kind": "vary", "strength": 9}]}]'), "strength"),
        (write(tmp_path / "where.json", '[{"kind": "upscale", "where": {"min_rating": 5}}]'), "no image matches"),
    ]
    for path, message in cases:
        with pytest.raises(InvalidInput) as err:
            studio.queue_add(path, tiny_defaults)
        assert message in str(err.value), (path, str(err.value))
    assert len(studio.queue_list()) == 2  # only the good file's jobs


def test_cancel_and_retry(studio, tiny_defaults, tmp_path):
    jobs = studio.queue_add(write(tmp_path / "p.txt", "one\ntwo\n"), tiny_defaults)
    assert studio.queue_cancel(jobs[0].id.lower()).status == "cancelled"
    with pytest.raises(InvalidInput, match="only pending or running"):
        studio.queue_cancel(jobs[0].id)
    with pytest.raises(InvalidInput, match="only failed or cancelled"):
        studio.queue_retry(jobs[1].id)
    for bad in ("01ARZ3NDEKTSV4RRFFQ69G5FAV", "nope", "../../x"):
        with pytest.raises(NotFound):
            studio.queue_cancel(bad)
        with pytest.raises(NotFound):
            studio.queue_retry(bad)
    assert studio.queue_runner().run().done == 1
    assert studio.queue_retry(jobs[0].id).status == "pending"
    assert studio.queue_runner().run().done == 1
    assert studio.search(SearchQuery())[1] == 4


def test_cancel_of_a_running_job_stops_it_and_writes_nothing(studio, tiny_defaults, tmp_path):
    jobs = studio.queue_add(write(tmp_path / "p.txt", "slow\nnext\n"), {**tiny_defaults, "steps": 40})
    runner = studio.queue_runner()
    runner_steps = []

    def on_step(done, total):
        runner_steps.append(done)
        if done == 2 and runner.current is not None and runner.current.id == jobs[0].id:
            studio.queue_cancel(jobs[0].id)
            time.sleep(1.1)  # the runner checks for a cancel request at most once a second
    summary = runner.run(on_step=on_step)
    assert summary.cancelled == 1 and summary.done == 1
    assert [j.status for j in studio.queue_list()] == ["cancelled", "done"]
    assert studio.search(SearchQuery())[1] == 2  # only the second job's images


def test_a_failing_job_does_not_stop_the_queue_and_transient_errors_retry(studio, tiny_defaults, tmp_path,
                                                                          monkeypatch):
    import shutil

    model_copy = tmp_path / "doomed-model"
    shutil.copytree(tiny_defaults["model"], model_copy)
    jobs = studio.queue_add(write(tmp_path / "b.json", json.dumps([
        {"prompt": "first", "model": str(model_copy)}, {"prompt": "second"}, {"prompt": "third"}])), tiny_defaults)
    shutil.rmtree(model_copy)  # the first job's model vanishes before it runs
    real_render = studio.engine.render
    failed = []

    def flaky(params, *args, **kwargs):
        if params[0].prompt == "second" and not failed:  # the second job's first attempt
            failed.append(True)
            raise RuntimeError("transient device hiccup")
        return real_render(params, *args, **kwargs)
    monkeypatch.setattr(studio.engine, "render", flaky)
    summary = studio.queue_runner().run()
    by_id = {j.id: j for j in studio.queue_list()}
    assert by_id[jobs[0].id].status == "failed" and "no such file or folder" in by_id[jobs[0].id].error
    assert by_id[jobs[0].id].attempts == 1  # an input error is not retried
    assert by_id[jobs[1].id].status == "done" and by_id[jobs[1].id].attempts == 2  # retried once
    assert by_id[jobs[2].id].status == "done"
    assert (summary.done, summary.failed, summary.retried) == (2, 1, 1)


def test_only_one_runner_per_home(studio, tiny_defaults, tmp_path):
    first = studio.queue_runner()
    first._acquire()
    try:
        with pytest.raises(RunnerBusy, match="another queue runner"):
            studio.queue_runner().run()
    finally:
        first._release()


def test_cli_queue_commands(home, tiny_sd, tmp_path):
    batch = write(tmp_path / "p.txt", "alpha\nbeta\n")
    out = run_cli("queue", "add", str(batch), "--model", tiny_sd, "--n", "1", "--steps", "2", "--size", "64x64",
                  "--json", home=home)
    assert out.returncode == 0, out.stderr
    added = json.loads(out.stdout)
    assert added["count"] == 2
    out = run_cli("queue", "cancel", added["jobs"][1]["id"], home=home)
    assert out.returncode == 0 and "cancelled" in out.stdout
    out = run_cli("queue", "run", "--until-empty", "--json", home=home)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["counts"] == {"done": 1, "cancelled": 1}
    out = run_cli("queue", "list", "--status", "done", "--json", home=home)
    assert len(json.loads(out.stdout)["jobs"]) == 1
    for args, message in [
        (["queue", "add", str(tmp_path / "missing.txt")], "no such file"),
        (["queue", "add", str(write(tmp_path / "e.txt", ""))], "empty"),
        (["queue", "add", str(write(tmp_path / "m.jsonl", '{"prompt": "a"}\n{bad\n'))], "m.jsonl:2"),
        (["queue", "cancel", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no such job"),
        (["queue", "retry", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "no such job"),
        (["queue", "list", "--status", "sleeping"], "status='sleeping'"),
        (["batch", str(write(tmp_path / "i.jsonl", '{"prompt": "a", "guidance": -1}\n'))], "i.jsonl:1: guidance=-1"),
    ]:
        out = run_cli(*args, home=home)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    out = run_cli("queue", "list", "--json", home=home)
    assert len(json.loads(out.stdout)["jobs"]) == 2  # nothing was enqueued by the bad calls


def test_kill_minus_nine_at_random_moments_loses_and_duplicates_nothing(home, tiny_sd, tmp_path, capsys):
    """A runner subprocess is SIGKILLed several times mid-run; the final state is exactly the expected images."""
    from gwen.studio import Studio

    batch = write(tmp_path / "night.json", json.dumps({
        "defaults": {"model": tiny_sd, "n": 2, "steps": 10, "size": "96x96"},
        "jobs": [{"prompts": ["a red fox", "a blue whale", "a green owl"], "seed": 11,
                  "then": [{"kind": "vary", "n": 2, "strength": "strong"}]}]}))
    studio = Studio(home)
    studio.queue_add(batch)
    expected_images = 3 * 2 + 3 * 2 * 2  # 6 generated + 2 variations of each
    rng = random.Random(20261126)
    env = {**os.environ, "GWEN_HOME": str(home), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    kills = 0
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-m", "gwen", "queue", "run", "--until-empty"], cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        started = 0
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # wait until it is really working on a job
            line = proc.stderr.readline()
            if not line or "started job" in line:
                started += bool(line)
                break
        if proc.poll() is not None or not started:
            proc.wait()
            break
        time.sleep(rng.uniform(0.0, 2.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    final = run_cli("queue", "run", "--until-empty", "--json", home=home, timeout=900)
    assert final.returncode == 0, final.stderr
    summary = json.loads(final.stdout)
    assert summary["counts"] == {"done": 3 + 6}, summary
    with capsys.disabled():
        print(f"\nkill test: {kills} SIGKILLs, recovered {summary['summary']['recovered']} interrupted job(s) "
              f"in the last run; expected {expected_images} images")
    assert kills >= 3
    images, total = studio.search(SearchQuery(limit=1000))
    assert total == expected_images and len({r.id for r in images}) == expected_images
    rows = {r.path for r in images}
    on_disk = {str(p.relative_to(home)) for p in (home / "images").glob("**/*.png")}
    assert rows == on_disk  # no orphan file, no row without a file
    assert not list((home / "images").glob("**/*.tmp"))
    generated = sorted((r.params["prompt"], r.params["seed"]) for r in images if r.op == "generate")
    assert generated == sorted((p, s) for p in ("a red fox", "a blue whale", "a green owl") for s in (11, 12))
    jobs = studio.queue_list()
    assert all(len(j.image_ids) == 2 for j in jobs)
    assert sorted(i for j in jobs for i in j.image_ids) == sorted(r.id for r in images)
