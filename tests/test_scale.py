"""`gwen serve --replicas 2`: a Ray Serve pool of 2 CPU render replicas of the tiny model, on this machine.

The contract suite (tests/test_contract.py) runs every StudioAPI test against a pool too; here is what only a
pool has: its health report, its flags, and a replica killed (`kill -9`) in the middle of a batch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from gwen.records import SearchQuery
from tests.conftest import ROOT
from tests.servers import TOKEN, served_home, start_server, stop
from tests.test_contract import ray_available

pytestmark = pytest.mark.skipif(not ray_available(), reason="needs Ray Serve (pip install -r requirements-scale.txt)")


@pytest.fixture(scope="module")
def pool(tmp_path_factory, tiny_models):
    home, token_file = served_home(tmp_path_factory.mktemp("pool"), tiny_models["sd"])
    proc, url = start_server(home, token_file, "--replicas", "2", "--replica-cpus", "1", "--chunk-size", "2",
                             timeout=300)
    yield {"url": url, "home": home, "proc": proc}
    stop(proc, wait=60)


@pytest.fixture
def remote(pool, tmp_path):
    from gwen.remote import RemoteStudio

    studio = RemoteStudio(pool["url"], TOKEN, cache_dir=tmp_path / "cache")
    yield studio
    studio.close()


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def test_health_reports_the_replicas_and_their_state(pool, remote):
    import httpx

    health = httpx.get(f"{pool['url']}/api/health", timeout=30).json()  # public: no token
    assert health["ok"] and health["pool"]["status"] == "RUNNING" and health["pool"]["deployment"] == "HEALTHY"
    assert health["pool"]["replicas"] == {"RUNNING": 2}
    assert len(health["workers"]) == 2 and all(w["state"] == "RUNNING" for w in health["workers"])
    assert all("pid" not in w for w in health["workers"])  # details only behind the token
    engine = remote.engine_status()
    assert {w["worker"] for w in engine["workers"]} == {w["worker"] for w in health["workers"]}
    assert all(w["device"] == "cpu" and w["threads"] == 1 and w["pid"] for w in engine["workers"])


def test_a_killed_replica_is_replaced_and_every_image_exists_once(pool, remote):
    prompts = [f"a killed-replica test {k}" for k in range(6)]
    jobs = remote.queue_add_text("\n".join(prompts), defaults={"model": "tiny-sd", "n": 2, "steps": 60, "seed": 9})
    before = {w["pid"] for w in remote.engine_status()["workers"]}
    resent_before = remote._json("GET", "/api/health")["pool"]["parts_resent"]
    remote._json("POST", "/api/runner/start")
    try:
        def rendering():
            state = remote._json("GET", "/api/runner")
            return any(f.get("done") for f in state.get("in_flight", []))
        wait_for(rendering, 120, "a job half-way through its steps")
        victim = sorted(before)[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: remote.queue_counts().get("done", 0) >= len(jobs) and not remote.queue_counts().get(
            "running"), 300, "the batch to finish")
    finally:
        remote._json("POST", "/api/runner/stop", render=True)
    counts = remote.queue_counts()
    assert counts.get("failed", 0) == 0 and counts.get("pending", 0) == 0
    done = {j.id: j for j in remote.queue_list("done")}
    assert all(len(done[j.id].image_ids) == 2 for j in jobs)
    records, total = remote.search(SearchQuery(text="killed-replica test", limit=100))
    assert total == 12
    assert len({(r.params["prompt"], r.params["seed"]) for r in records}) == 12  # no image twice
    catalog_ids = {r.id for r in remote.search(SearchQuery(limit=1000))[0]}
    file_ids = {p.stem for p in (pool["home"] / "images").rglob("*.png")}
    assert file_ids == catalog_ids  # rows ≡ files: nothing half-written, nothing orphaned
    health = wait_for(lambda: (h := remote._json("GET", "/api/health"))["pool"]["replicas"] == {"RUNNING": 2} and
                      len(h["workers"]) == 2 and h, 120, "Ray Serve to replace the replica")
    assert health["pool"]["parts_resent"] > resent_before  # the killed replica's part was sent again
    after = {w["pid"] for w in remote.engine_status()["workers"]}
    assert victim not in after and len(after) == 2


@pytest.mark.parametrize("flags, words", [
    (["--replicas", "0"], "--replicas 0"),
    (["--replicas", "2", "--min-replicas", "3", "--max-replicas", "4"], "need 1 <= min <= replicas <= max"),
    (["--replicas", "2", "--min-replicas", "1"], "both --min-replicas and --max-replicas"),
    (["--replicas", "1", "--replica-cpus", "0"], "--replica-cpus 0"),
    (["--replicas", "1", "--replica-gpus", "-1"], "--replica-gpus -1"),
    (["--replicas", "1", "--chunk-size", "0"], "--chunk-size 0"),
    (["--ray-address", "auto"], "need --replicas N"),
])
def test_bad_pool_flags_are_refused_before_ray_starts(tmp_path, flags, words):
    out = subprocess.run([sys.executable, "-m", "gwen", "--home", str(tmp_path), "serve", *flags], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 2 and words in out.stderr, out.stderr
    assert not (tmp_path / "gwen.duckdb").exists()


def test_autoscaling_flags_become_ray_serve_options():
    from gwen.scale import PoolConfig, deployment_options

    fixed = deployment_options(PoolConfig.from_flags(3, None, 0.5, 2.0, None, None, 4))
    assert fixed["num_replicas"] == 3 and "autoscaling_config" not in fixed
    assert fixed["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.5} and fixed["max_ongoing_requests"] == 1
    scaled = deployment_options(PoolConfig.from_flags(2, "auto", 1.0, 1.0, 1, 4, None))
    assert "num_replicas" not in scaled
    assert {k: scaled["autoscaling_config"][k] for k in ("min_replicas", "max_replicas", "initial_replicas")} == \
        {"min_replicas": 1, "max_replicas": 4, "initial_replicas": 2}

