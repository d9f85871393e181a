"""The queue's group commit (gwen.queue_group): finished jobs commit together with the next claims, a job is done
only once its group commits, and a failed commit leaves nothing half written."""

from __future__ import annotations

import errno

import duckdb
import pytest

from gwen import recording
from gwen.catalog import JobStore
from gwen.errors import DiskFull, disk_full
from gwen.params import ImageParams
from gwen.queue import JobRun, RunSummary
from gwen.queue_group import Group
from gwen.records import JobRecord, SearchQuery


def add_jobs(studio, tiny_sd, prompts: list[str]) -> list[JobRecord]:
    return studio.queue_add_text("\n".join(prompts), defaults={"model": tiny_sd, "n": 1, "steps": 2, "width": 64,
                                                               "height": 64})


def finished_entry(studio, job: JobRecord) -> tuple:
    """What the runner hands the group for ``job``: its image (file written) and its deferred commit."""
    run = JobRun(job, studio.jobs)
    params = ImageParams.from_json(job.spec["params"][0])
    record = recording.rendered(image_id=run.image_id(0), home=studio.home, width=64, height=64, op="generate",
                                parent=None, params=params, plan=None, batch=None, model_hash=None,
                                duration_ms=1.0, device="cpu", dtype="float32", worker="test")
    path = studio.home / record.path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"a written image")
    run.commit([record])
    return run.finished


def test_a_runner_commits_finished_jobs_in_groups_and_every_job_ends_done_with_its_rows(studio, tiny_sd,
                                                                                         monkeypatch):
    jobs = add_jobs(studio, tiny_sd, [f"a fox, study {k}" for k in range(6)])
    commits = []
    real = JobStore.finish_and_claim

    def spy(self, finished, claim=0, watch=(), count=False):
        commits.append((len(finished), claim))
        return real(self, finished, claim, watch, count)
    monkeypatch.setattr(JobStore, "finish_and_claim", spy)
    summary = studio.queue_runner().run()
    assert (summary.done, summary.failed) == (6, 0)
    assert sum(n for n, _ in commits) == 6
    assert len(commits) < 6 and max(n for n, _ in commits) > 1  # several jobs per transaction
    assert max(claim for _, claim in commits) > 1  # claimed ahead, once a job was timed
    done = {j.id: j for j in studio.queue_list("done")}
    assert set(done) == {j.id for j in jobs}
    assert studio.search(SearchQuery())[1] == 6
    assert {i for j in done.values() for i in j.image_ids} == {r.id for r in studio.search(SearchQuery())[0]}


def test_a_finished_job_is_running_until_its_group_commits(studio, tiny_sd):
    add_jobs(studio, tiny_sd, ["one", "two", "three"])
    summary = RunSummary()
    group = Group(studio.jobs, summary, studio.home, count=True)
    group.commit(claim=2)
    first, second = group.waiting
    assert [j.status for j in studio.queue_list()] == ["running", "running", "pending"]
    assert (group.pending, first.attempts) == (1, 1)
    group.add(finished_entry(studio, first))
    assert studio.jobs.resolve(first.id).status == "running" and summary.done == 0  # not done yet
    assert studio.search(SearchQuery())[1] == 0
    studio.queue_cancel(second.id)  # waiting its turn: the cancel is seen at the next commit
    group.waiting.popleft()
    group.commit()
    assert studio.jobs.resolve(first.id).status == "done" and summary.done == 1
    assert studio.jobs.resolve(first.id).image_ids == (JobRun(first, None).image_id(0),)
    assert studio.search(SearchQuery())[1] == 1
    assert second.id in group.cancel
    group.wind_down()  # the runner ends: the job claimed ahead goes back, its attempt not counted
    back = studio.jobs.resolve(second.id)
    assert (back.status, back.attempts) == ("pending", 0)


def test_a_commit_that_hits_a_full_disk_undoes_the_groups_files_and_gives_its_jobs_back(studio, tiny_sd,
                                                                                        monkeypatch):
    add_jobs(studio, tiny_sd, ["one", "two"])
    group = Group(studio.jobs, RunSummary(), studio.home)
    group.commit(claim=2)
    entries = [finished_entry(studio, job) for job in list(group.waiting)]
    group.waiting.clear()
    for entry in entries:
        group.add(entry)
    paths = [studio.home / entry[1][0].path for entry in entries]
    assert all(p.exists() for p in paths)

    def full(*args, **kwargs):
        raise disk_full(OSError(errno.ENOSPC, "No space left on device"), studio.home)
    monkeypatch.setattr(JobStore, "finish_and_claim", full)
    with pytest.raises(DiskFull):
        group.commit()
    monkeypatch.undo()
    assert not any(p.exists() for p in paths)
    assert [(j.status, j.attempts) for j in studio.queue_list()] == [("pending", 0), ("pending", 0)]
    assert studio.search(SearchQuery())[1] == 0


def test_when_every_job_claimed_ahead_is_cancelled_the_runner_claims_again(studio, tiny_sd, monkeypatch):
    from gwen import queue_group

    monkeypatch.setattr(queue_group, "MAX_GROUP", 3)  # claims of at most 3, so jobs stay pending behind them
    jobs = add_jobs(studio, tiny_sd, [f"an owl, study {k}" for k in range(6)])

    def cancel_the_next_two(job, index, total):
        if index == 3:  # the group has claimed ahead by now; these two wait their turn (or are still pending)
            for later in jobs[3:5]:
                studio.queue_cancel(later.id)
    studio.queue_runner().run(on_job=cancel_the_next_two)
    status = {j.id: j.status for j in studio.queue_list()}
    assert [status[j.id] for j in jobs] == ["done", "done", "done", "cancelled", "cancelled", "done"]
    assert studio.search(SearchQuery())[1] == 4


def test_a_job_whose_rows_the_catalog_refuses_fails_alone_and_the_rest_of_its_group_is_done(studio, tiny_sd,
                                                                                            monkeypatch):
    add_jobs(studio, tiny_sd, ["one", "two", "three"])
    summary = RunSummary()
    group = Group(studio.jobs, summary, studio.home)
    group.commit(claim=3)
    entries = [finished_entry(studio, job) for job in list(group.waiting)]
    group.waiting.clear()
    bad = entries[1][0].id
    real = JobStore.finish_and_claim

    def refuse(self, finished, claim=0, watch=(), count=False):
        if any(job.id == bad for job, *_ in finished):
            raise duckdb.ConversionException("Conversion Error: a value DuckDB refuses")
        return real(self, finished, claim, watch, count)
    monkeypatch.setattr(JobStore, "finish_and_claim", refuse)
    for entry in entries:
        group.add(entry)
    group.commit()
    status = {j.id: j for j in studio.queue_list()}
    assert [status[e[0].id].status for e in entries] == ["done", "failed", "done"]
    assert "Conversion Error" in status[bad].error
    assert not (studio.home / entries[1][1][0].path).exists()  # its file went with it
    assert (summary.done, summary.failed) == (2, 1) and studio.search(SearchQuery())[1] == 2


def test_a_full_disk_when_the_file_closes_after_the_commit_keeps_the_committed_jobs(studio, tiny_sd, monkeypatch):
    add_jobs(studio, tiny_sd, ["one"])
    group = Group(studio.jobs, RunSummary(), studio.home)
    group.commit(claim=1)
    entry = finished_entry(studio, group.waiting.popleft())
    group.add(entry)
    catalog = studio.catalog
    monkeypatch.setattr(catalog._lingering, "linger", 0.0)  # the session closes the file when it ends
    real_close = type(catalog)._close_now

    def full_at_checkpoint(self):
        real_close(self)
        raise disk_full(OSError(errno.ENOSPC, "No space left on device"), studio.home)
    monkeypatch.setattr(type(catalog), "_close_now", full_at_checkpoint)
    group.commit()  # committed before the close failed: not undone
    monkeypatch.undo()
    assert studio.jobs.resolve(entry[0].id).status == "done"
    assert (studio.home / entry[1][0].path).exists() and studio.search(SearchQuery())[1] == 1


def test_a_group_whose_files_cannot_be_made_durable_is_undone_and_given_back(studio, tiny_sd, monkeypatch):
    from gwen import files

    add_jobs(studio, tiny_sd, ["one"])
    group = Group(studio.jobs, RunSummary(), studio.home)
    group.commit(claim=1)
    entry = finished_entry(studio, group.waiting.popleft())

    def broken(paths):
        raise OSError(errno.EIO, "Input/output error")
    monkeypatch.setattr(files, "make_durable", broken)
    group.add(entry)
    with pytest.raises(OSError, match="Input/output error"):
        group.commit()
    assert not (studio.home / entry[1][0].path).exists()
    assert [(j.status, j.attempts) for j in studio.queue_list()] == [("pending", 0)]
    group.wind_down()
