"""Rows written behind the call (gwen.pending_rows): every reader sees them, and a kill -9 loses none."""

from __future__ import annotations

import errno
import signal
import textwrap
import time

import duckdb
import pytest

from gwen import pending_rows
from gwen.catalog import Catalog
from gwen.errors import DiskFull
from gwen.records import SearchQuery
from tests.conftest import nothing_written
from tests.test_catalog_hold import ASKER, run_python

GRID = dict(n=2, seed=7, steps=2, width=64, height=64)


def log_lines(home) -> list[str]:
    folder = pending_rows.folder_of(home / "gwen.duckdb")
    return [line for log in folder.glob("*.jsonl") for line in log.read_text().splitlines()]


def test_a_returned_grid_is_pending_and_every_read_in_the_process_sees_it(studio, tiny_sd, home, monkeypatch):
    monkeypatch.setattr(pending_rows, "FLUSH_AFTER", 600)
    records = studio.generate("behind the call", model=tiny_sd, **GRID)
    assert len(log_lines(home)) == 2  # written behind: logged, not committed yet
    assert studio.get(records[0].id).params["seed"] == 7  # the read commits them first
    assert log_lines(home) == []
    assert {r.id for r in studio.search(SearchQuery())[0]} == {r.id for r in records}
    other = Catalog(home / "gwen.duckdb")  # another Catalog object on the same file in this process
    studio.generate("a second grid", model=tiny_sd, **GRID)
    assert other.stats()["images"] == 4


def test_pending_rows_commit_by_themselves_soon_after(studio, tiny_sd, home, monkeypatch):
    monkeypatch.setattr(pending_rows, "FLUSH_AFTER", 0.2)
    studio.generate("left alone", model=tiny_sd, **GRID)
    deadline = time.monotonic() + 10
    while pending_rows.pending_for(home / "gwen.duckdb") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pending_rows.pending_for(home / "gwen.duckdb")
    assert log_lines(home) == []


def test_another_process_sees_the_rows_a_call_returned(studio, tiny_sd, home, monkeypatch):
    monkeypatch.setenv("GWEN_CATALOG_LINGER", "600")
    monkeypatch.setattr(pending_rows, "FLUSH_AFTER", 600)
    studio = type(studio)(home, engine=studio.engine)  # a studio that lingers 600 s and flushes after 600 s
    studio.generate("seen from outside", model=tiny_sd, **GRID)
    assert len(log_lines(home)) == 2
    asker = run_python(ASKER, str(home / "gwen.duckdb"), "5")  # asks for the file: it is flushed, then handed over
    out, err = asker.communicate(timeout=120)
    assert asker.returncode == 0, err
    assert out.strip() == "2"
    studio.close()


KILLED = textwrap.dedent("""
    import sys, time
    from gwen import pending_rows
    pending_rows.FLUSH_AFTER = 600
    from gwen.config import Settings
    from gwen.studio import Studio
    studio = Studio(sys.argv[1], settings=Settings(device="cpu"))
    records = studio.generate("kept through a kill", model=sys.argv[2], n=2, seed=7, steps=2, width=64, height=64)
    print(" ".join(r.id for r in records), flush=True)
    time.sleep(600)
""")


def test_kill_minus_nine_after_the_call_returned_loses_no_row(home, tiny_sd):
    child = run_python(KILLED, str(home), tiny_sd, env={"GWEN_CATALOG_LINGER": "600", "HF_HUB_OFFLINE": "1"})
    ids = child.stdout.readline().split()
    assert len(ids) == 2, child.stderr.read() if child.poll() is not None else "no ids"
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    raw = duckdb.connect(str(home / "gwen.duckdb"))
    assert raw.execute("SELECT count(*) FROM images").fetchone()[0] == 0  # killed before the rows committed
    raw.close()
    assert len(log_lines(home)) == 2
    catalog = Catalog(home / "gwen.duckdb")
    assert sorted(catalog.get_many(ids)) == sorted(ids)  # adopted from the dead process's log at open
    assert list(pending_rows.folder_of(home / "gwen.duckdb").glob("*.jsonl")) == []
    assert all((home / catalog.get(i).path).exists() for i in ids)
    catalog.close()


def test_a_log_torn_by_the_crash_keeps_its_whole_lines(studio, grid, home):
    studio.close()
    folder = pending_rows.folder_of(home / "gwen.duckdb")
    folder.mkdir(parents=True, exist_ok=True)
    kept, lost = grid[0], grid[1]
    raw = duckdb.connect(str(home / "gwen.duckdb"))
    raw.execute("DELETE FROM images WHERE id IN (?, ?)", [kept.id, lost.id])
    raw.close()
    import json
    (folder / "999999-1.jsonl").write_text(json.dumps(kept.to_dict()) + "\n" + json.dumps(lost.to_dict())[:40])
    catalog = Catalog(home / "gwen.duckdb")
    assert set(catalog.get_many([kept.id, lost.id])) == {kept.id}  # the torn line's file waits for reindex
    assert not (folder / "999999-1.jsonl").exists()
    catalog.close()


def test_a_full_disk_while_logging_the_rows_undoes_the_files(studio, tiny_sd, home, monkeypatch):
    def full(self, records, flush):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(pending_rows.PendingRows, "add", full)
    with pytest.raises(DiskFull, match="no space left on device"):
        studio.generate("no room", model=tiny_sd, **GRID)
    monkeypatch.undo()
    assert nothing_written(home)


def test_a_catalog_closed_after_every_operation_inserts_at_once(studio, tiny_sd, home, monkeypatch):
    monkeypatch.setenv("GWEN_CATALOG_LINGER", "0")
    studio = type(studio)(home, engine=studio.engine)
    studio.generate("no lingering", model=tiny_sd, **GRID)
    assert log_lines(home) == [] and not pending_rows.pending_for(home / "gwen.duckdb")
    raw = duckdb.connect(str(home / "gwen.duckdb"))
    assert raw.execute("SELECT count(*) FROM images").fetchone()[0] == 2
    raw.close()


def test_while_pending_rows_cannot_commit_reads_go_on_and_the_file_is_not_handed_over(studio, tiny_sd, home,
                                                                                     monkeypatch):
    monkeypatch.setattr(pending_rows, "FLUSH_AFTER", 600)
    real = Catalog._commit_pending

    def full(self):
        if pending_rows.pending_for(self.path):
            raise DiskFull(home)
    monkeypatch.setattr(Catalog, "_commit_pending", full)
    records = studio.generate("no room for the rows yet", model=tiny_sd, **GRID)
    assert studio.tags() == []  # a read still answers
    assert studio.catalog._release_if_idle() is False and studio.catalog._con is not None  # kept, not handed over
    monkeypatch.setattr(Catalog, "_commit_pending", real)
    assert {r.id for r in studio.search(SearchQuery())[0]} == {r.id for r in records}


def test_an_orphan_log_the_catalog_refuses_is_set_aside_and_never_blocks_an_opener(home):
    from gwen import files, recording
    from gwen.params import ImageParams

    folder = pending_rows.folder_of(home / "gwen.duckdb")
    folder.mkdir(parents=True)
    params = ImageParams.build(prompt="x", model="m", steps=2, width=64, height=64, seed=1)
    record = recording.rendered(image_id=files.new_id(), home=home, width=10**30, height=64, op="generate",
                                parent=None, params=params, plan=None, batch=None, model_hash=None, duration_ms=1.0,
                                device="cpu", dtype="float32", worker="test")
    import json
    (folder / "999999-1.jsonl").write_text(json.dumps(record.to_dict()) + "\n")
    with pytest.warns(UserWarning, match="set aside"):
        catalog = Catalog(home / "gwen.duckdb")
        assert catalog.stats()["images"] == 0
    assert (folder / "999999-1.bad").exists() and not (folder / "999999-1.jsonl").exists()
    catalog.close()


def test_a_flusher_that_meets_a_full_disk_waits_instead_of_spinning(studio, tiny_sd, home, monkeypatch):
    monkeypatch.setattr(pending_rows, "FLUSH_AFTER", 0.05)
    tries = []

    def full(self):
        if pending_rows.pending_for(self.path):
            tries.append(time.monotonic())
            raise DiskFull(home)
    monkeypatch.setattr(Catalog, "_commit_pending", full)
    studio.generate("no room for the rows yet", model=tiny_sd, **GRID)
    time.sleep(1.0)
    monkeypatch.undo()  # room again: the rows commit when the studio closes
    assert 1 <= len(tries) < 60  # a spinning flusher would have tried thousands of times
