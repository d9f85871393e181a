"""The DuckDB catalog: migrations, search, filters, lineage, id handling (real files in temp dirs)."""

import dataclasses
from datetime import date, datetime, timedelta, timezone

from pathlib import Path

import duckdb
import pytest

from gwen.catalog import Catalog
from gwen.records import Filter, ImageRecord, SearchQuery
from gwen.errors import CatalogBusy, InvalidInput, NotFound
from gwen.files import check_id, image_path, new_id
from gwen.migrations import MIGRATIONS, migrate


def make(prompt="a cat", parent=None, **params):
    image_id = new_id()
    p = {"prompt": prompt, "negative_prompt": params.pop("negative", ""), "model": params.pop("model", "tiny"),
         "scheduler": params.pop("scheduler", "Euler a"), "steps": params.pop("steps", 20),
         "guidance": params.pop("guidance", 7.0), "width": 64, "height": 64, "seed": params.pop("seed", 1)}
    return ImageRecord(id=image_id, created_at=params.pop("created_at", datetime.now(timezone.utc)),
                       path=f"images/{image_id}.png", width=64, height=64, op=params.pop("op", "generate"),
                       parent_id=parent.id if parent else None, root_id=parent.root_id if parent else image_id,
                       params=p, params_hash="h", variation=params.pop("variation", None), **params)


@pytest.fixture
def catalog(tmp_path):
    c = Catalog(tmp_path / "gwen.duckdb")
    yield c
    c.close()


def test_blank_database_migrates_to_the_expected_columns(tmp_path):
    con = duckdb.connect(str(tmp_path / "blank.duckdb"))
    assert migrate(con) == [name for name, _ in MIGRATIONS]
    assert migrate(con) == []  # idempotent
    columns = {row[0] for row in con.execute("DESCRIBE images").fetchall()}
    for needed in ("id", "created_at", "path", "width", "height", "op", "parent_id", "root_id", "prompt",
                   "negative_prompt", "model", "model_hash", "scheduler", "steps", "guidance", "seed",
                   "variation_seed", "variation_strength", "init_image_id", "denoise", "params_json", "params_hash",
                   "rating", "favorite", "tags", "deleted", "duration_ms", "device", "dtype", "versions_json"):
        assert needed in columns
    applied = [r[0] for r in con.execute("SELECT name FROM gwen_migrations ORDER BY name").fetchall()]
    assert applied == [name for name, _ in MIGRATIONS]


def test_text_search_is_case_insensitive_multi_word_and_literal(catalog):
    rows = [make("A Red Fox in snow"), make("blue fox", negative="red"), make("100% pure_ish"), make("o'brien; DROP")]
    catalog.insert(rows)
    found = lambda text: {r.id for r in catalog.search(SearchQuery(text=text))[0]}  # noqa: E731
    assert found("red fox") == {rows[0].id, rows[1].id}  # negative prompt counts too
    assert found('"red fox"') == {rows[0].id}
    assert found("100%") == {rows[2].id} and found("_ish") == {rows[2].id} and found("%") == {rows[2].id}
    assert found("e_r") == set()  # '_' is not a wildcard
    assert found("'; DROP TABLE images; --") == set()
    assert found("o'brien; drop") == {rows[3].id}
    assert catalog.count() == 4  # still there


def test_filters_sort_and_paging(catalog):
    rows = [make(f"p{i}", guidance=float(i), steps=10 + i, scheduler="DDIM" if i % 2 else "Euler a")
            for i in range(10)]
    catalog.insert(rows)
    q = SearchQuery(filters=(Filter.parse("guidance>=5"), Filter.parse("steps < 18")))
    assert sorted(r.params["guidance"] for r in catalog.search(q)[0]) == [5.0, 6.0, 7.0]
    q = SearchQuery(filters=(Filter.parse("scheduler=ddim"),))
    assert catalog.search(q)[1] == 5
    q = SearchQuery(filters=(Filter.parse("prompt~p1"),))
    assert catalog.search(q)[1] == 1
    page1, total = catalog.search(SearchQuery(sort="guidance", descending=False, limit=4))
    page3, _ = catalog.search(SearchQuery(sort="guidance", descending=False, limit=4, offset=8))
    assert total == 10 and [r.params["guidance"] for r in page1] == [0, 1, 2, 3]
    assert [r.params["guidance"] for r in page3] == [8, 9]


def test_marks_model_op_date_and_deleted_filters(catalog):
    old = make("old one", created_at=datetime.now(timezone.utc) - timedelta(days=10), model="sd15")
    new = make("new one", op="vary", parent=old)
    catalog.insert([old, new])
    catalog.set_rating(new.id, 4)
    catalog.set_favorite(new.id, True)
    catalog.add_tags(new.id, ["keeper", "blue"])
    catalog.add_tags(new.id, ["keeper"])
    assert catalog.get(new.id).tags == ("blue", "keeper")
    ids = lambda **kw: [r.id for r in catalog.search(SearchQuery(**kw))[0]]  # noqa: E731
    assert ids(min_rating=4) == [new.id] and ids(favorite=True) == [new.id] and ids(tags=("keeper",)) == [new.id]
    assert ids(model="SD15") == [old.id] and ids(op="vary") == [new.id]
    today = datetime.now(timezone.utc).date()
    assert ids(since=today) == [new.id] and ids(until=today - timedelta(days=5)) == [old.id]
    catalog.remove_tags(new.id, ["blue"])
    assert catalog.get(new.id).tags == ("keeper",)
    catalog.set_deleted(new.id, True)
    assert ids() == [old.id] and ids(only_deleted=True) == [new.id]


@pytest.mark.parametrize("text, message", [
    ("colour=red", "unknown; filterable fields"),
    ("guidance=>5", "is not a valid float"),
    ("guidance<>5", "is not a valid float"),
    ("guidance ? 5", "FIELD OP VALUE"),
    ("steps>=abc", "not a valid int"),
    ("steps~3", "text fields only"),
])
def test_bad_filters(text, message):
    with pytest.raises(InvalidInput, match=message):
        Filter.parse(text)


def test_bad_queries():
    with pytest.raises(InvalidInput, match="sort by one of"):
        SearchQuery(sort="prompt; DROP TABLE images")
    with pytest.raises(InvalidInput, match="limit"):
        SearchQuery(limit=0)
    with pytest.raises(InvalidInput, match="op="):
        SearchQuery(op="paint")
    with pytest.raises(InvalidInput, match="min rating"):
        SearchQuery(min_rating=6)


def test_lineage_goes_up_and_down(catalog):
    root = make("root")
    child = make("child", parent=root, op="vary", variation={"strength": 0.2})
    grandchild = make("grandchild", parent=child, op="vary")
    sibling = make("sibling", parent=root, op="reroll")
    other = make("unrelated")
    catalog.insert([root, child, grandchild, sibling, other])
    up, down = catalog.lineage(child.id)
    assert [r.id for r in up] == [root.id, child.id] and [r.id for r in down] == [grandchild.id]
    up, down = catalog.lineage(root.id)
    assert {r.id for r in down} == {child.id, grandchild.id, sibling.id}


def test_lineage_survives_rows_whose_root_disagrees_with_their_parent(catalog):
    """The fast path reads a family by root_id; a hand-edited row with a wrong root must still be found."""
    root = make("root")
    child = make("child", parent=root, op="vary")
    stray = dataclasses.replace(make("stray", parent=child, op="vary"), root_id="0" * 26)
    below_stray = make("below", parent=stray, op="vary")
    catalog.insert([root, child, stray, below_stray])
    up, down = catalog.lineage(child.id)
    assert [r.id for r in up] == [root.id, child.id]
    assert [r.id for r in down] == [stray.id, below_stray.id]
    up, down = catalog.lineage(below_stray.id)
    assert [r.id for r in up] == [root.id, child.id, stray.id, below_stray.id] and down == []


def test_ids_prefixes_and_path_traversal(catalog, tmp_path):
    record = make()
    catalog.insert([record])
    assert catalog.resolve(record.id.lower()) == record.id
    assert catalog.resolve(record.id[:10]) == record.id
    for bad in ("../../etc/passwd", "..%2F..%2Fgwen", "/etc/passwd", record.id[:3], "", "x" * 26):
        with pytest.raises(NotFound):
            catalog.resolve(bad)
    with pytest.raises(NotFound):
        image_path(tmp_path, "../../../../etc/passwd")
    with pytest.raises(NotFound, match="not in the catalog"):
        catalog.get(new_id())
    assert check_id(record.id) == record.id


def test_the_ids_the_ui_shows_resolve_as_a_unique_prefix_or_suffix(catalog):
    """The UI shows the last 8 characters of an id: they work as input wherever an id is asked for."""
    first, second = make(), make()
    catalog.insert([first, second])
    assert catalog.resolve(first.id[-8:]) == first.id
    assert catalog.resolve(second.id[-6:].lower()) == second.id
    assert catalog.get(second.id[-8:]).id == second.id
    shared_prefix = first.id[:6]  # ids made in the same millisecond range share their time prefix
    assert second.id.startswith(shared_prefix)
    with pytest.raises(NotFound, match="matches more than one image"):
        catalog.resolve(shared_prefix)
    with pytest.raises(NotFound, match="at least 6"):
        catalog.resolve(first.id[-5:])


def test_job_ids_resolve_by_prefix_or_suffix_too(catalog):
    from gwen.catalog import JobStore
    from gwen.records import JobRecord

    jobs = JobStore(catalog)
    job = JobRecord(id=new_id(), kind="generate", spec={"params": []})
    jobs.add([job])
    assert jobs.resolve(job.id[-8:]).id == job.id and jobs.resolve(job.id[:8]).id == job.id
    with pytest.raises(NotFound, match="no such job in the queue"):
        jobs.resolve("ZZZZZZZZ")


def test_ids_sort_by_time():
    ids = [new_id() for _ in range(200)]
    assert ids == sorted(ids) and len(set(ids)) == 200


def test_processes_take_turns_and_a_long_holder_gives_a_clear_busy_error(tmp_path):
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "gwen.duckdb"
    catalog = Catalog(path)
    writer = textwrap.dedent(f"""
        from gwen.catalog import Catalog
        from tests.test_catalog import make
        c = Catalog({str(path)!r})
        for i in range(15):
            c.insert([make(f"child {{i}}")])
    """)
    child = subprocess.Popen([sys.executable, "-c", writer], cwd=str(Path(__file__).parent.parent))
    for i in range(15):
        catalog.insert([make(f"parent {i}")])
    assert child.wait(timeout=120) == 0
    assert catalog.count() == 30  # both processes wrote, in turns

    probe = textwrap.dedent(f"""
        from gwen.catalog import Catalog
        from gwen.errors import CatalogBusy
        try:
            Catalog({str(path)!r}, lock_timeout=0.5).count()
        except CatalogBusy as exc:
            print("BUSY", exc)
    """)
    with catalog.session():  # hold the file open, as a long transaction would
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "BUSY" in out.stdout and "another process" in out.stdout, out.stderr
    assert CatalogBusy.exit_code == 2


def test_hold_keeps_the_file_open_until_close(tmp_path):
    """GWEN_CATALOG_HOLD (a dedicated server): no open/close per operation; others are locked out until close()."""
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "held.duckdb"
    held = Catalog(path, hold=True)
    held.insert([make("held")])
    assert held._con is not None  # still open after the operation
    probe = textwrap.dedent(f"""
        from gwen.catalog import Catalog
        from gwen.errors import CatalogBusy
        try:
            print("COUNT", Catalog({str(path)!r}, lock_timeout=0.3).count())
        except CatalogBusy:
            print("BUSY")
    """)
    run = lambda: subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
    assert "BUSY" in run()
    assert held.count() == 1
    held.close()
    assert held._con is None and "COUNT 1" in run()


def test_parse_day():
    from gwen.records import parse_day

    assert parse_day("2026-01-02", "since") == date(2026, 1, 2)
    with pytest.raises(InvalidInput, match="YYYY-MM-DD"):
        parse_day("yesterday", "since")
