"""``python -m gwen`` as a real subprocess: the CLI contract, JSON shapes, exit codes, bad input."""

import json

import pytest

from tests.conftest import nothing_written, run_cli


@pytest.fixture
def cli_grid(home, tiny_sd):
    out = run_cli("generate", "a quiet harbour", "--model", tiny_sd, "--n", "4", "--seed", "42", "--steps", "3",
                  "--size", "64x64", "--json", home=home)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["images"]


def _make_tiny(tmp_path):
    out = run_cli("models", "make-tiny", str(tmp_path / "m"), "--json", home=tmp_path / "h")
    assert out.returncode == 0, out.stderr
    made = json.loads(out.stdout)
    assert made["sd"].endswith("tiny-sd") and (tmp_path / "m" / "tiny-sd" / "model_index.json").exists()
    assert made["esrgan"].endswith("tiny-esrgan-x4.pth") and made["esrgan_x2"].endswith("tiny-esrgan-x2.pth")
    return made


def test_make_tiny(tmp_path):
    made = _make_tiny(tmp_path)
    assert (tmp_path / "m" / "tiny-esrgan-x2.pth").stat().st_size > 0 and made["sd"]


def test_upscale_cli(home, cli_grid, tmp_path):
    made = _make_tiny(tmp_path)
    pick = cli_grid[0]["id"]
    out = run_cli("upscale", pick, "--model", made["esrgan"], "--tile", "32", "--json", home=home)
    assert out.returncode == 0, out.stderr
    (child,) = json.loads(out.stdout)["images"]
    assert child["op"] == "upscale" and child["parent_id"] == pick and child["params"]["width"] == 256
    for args, message in [
        (["--tile", "8"], "tile=8"), (["--tile", "abc"], "tile='abc'"), (["--pre-shrink", "0"], "pre-shrink=0"),
        (["--pre-shrink", "2"], "pre-shrink=2"), (["--scale", "8"], "scale=8"), (["--model", "x9000"], "not a preset"),
        (["--model", str(tmp_path / "none.pth")], "no such file or folder"),
    ]:
        model = [] if "--model" in args else ["--model", made["esrgan"]]
        out = run_cli("upscale", pick, *model, *args, home=home)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    out = run_cli("search", "--op", "upscale", "--json", home=home)
    assert json.loads(out.stdout)["total"] == 1  # the bad calls wrote nothing
    out = run_cli("models", "list", "--json", home=home)
    listed = json.loads(out.stdout)
    assert {u["name"] for u in listed["upscalers"]} == {"x4plus", "x2plus", "general-x4v3", "tiny"}
    assert not any(u["downloaded"] for u in listed["upscalers"])


def test_generate_vary_show_verify_rate_lineage_search(home, cli_grid):
    assert [i["seed"] for i in cli_grid] == [42, 43, 44, 45]
    assert set(cli_grid[0]) >= {"id", "path", "seed", "op", "parent_id", "params"}
    pick = cli_grid[1]["id"]
    out = run_cli("vary", pick, "--strength", "strong", "--n", "2", "--seed", "7", "--json", home=home)
    assert out.returncode == 0, out.stderr
    kids = json.loads(out.stdout)["images"]
    assert [k["parent_id"] for k in kids] == [pick, pick] and kids[0]["op"] == "vary"
    out = run_cli("verify", kids[0]["id"], home=home)
    assert out.returncode == 0 and "identical" in out.stdout, out.stdout + out.stderr
    out = run_cli("show", pick, "--json", home=home)
    shown = json.loads(out.stdout)
    assert shown["id"] == pick and "Seed: 43" in shown["infotext"] and "Steps: 3" in shown["infotext"]
    assert run_cli("rate", kids[1]["id"], "5", home=home).returncode == 0
    assert run_cli("tag", kids[1]["id"], "keeper", home=home).returncode == 0
    out = run_cli("search", "harbour", "--min-rating", "4", "--tag", "keeper", "--json", home=home)
    found = json.loads(out.stdout)
    assert found["total"] == 1 and found["images"][0]["id"] == kids[1]["id"]
    out = run_cli("search", "--filter", "seed>=44", "--sort", "seed:asc", "--json", home=home)
    assert [i["seed"] for i in json.loads(out.stdout)["images"]] == [44, 45]
    tree = json.loads(run_cli("lineage", kids[0]["id"], "--json", home=home).stdout)
    assert tree["root"] == pick and {"parent": pick, "child": kids[0]["id"], "op": "vary", "strength": 0.65} \
        in tree["edges"]
    (home / "gwen.duckdb").unlink()
    out = run_cli("reindex", "--json", home=home)
    assert json.loads(out.stdout)["images"] == 6
    out = run_cli("search", "--min-rating", "5", "--json", home=home)
    assert json.loads(out.stdout)["images"][0]["id"] == kids[1]["id"]


def test_diff_and_the_short_ids_the_ui_shows(home, cli_grid):
    a, b = cli_grid[0]["id"], cli_grid[1]["id"]
    out = run_cli("show", a[-8:], "--json", home=home)  # the suffix the dashboard shows
    assert out.returncode == 0 and json.loads(out.stdout)["id"] == a, out.stderr
    out = run_cli("diff", a[-8:], b, "--json", home=home)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["ids"] == [a, b] and result["differences"] == [{"parameter": "seed", "values": [42, 43]}]
    assert "prompt" in result["same"] and "steps" in result["same"]
    text = run_cli("diff", a, b, home=home)
    assert text.returncode == 0 and text.stdout.splitlines()[1].split() == ["seed", "42", "43"]
    for bad, message in (([a], "choose from 2 to 4"), ([a, a], "named twice"), ([a, "ZZZZZZZZ"], "not in the catalog"),
                         ([a, b, cli_grid[2]["id"], cli_grid[3]["id"], a], "choose from 2 to 4")):
        out = run_cli("diff", *bad, home=home)
        assert out.returncode == 2 and message in out.stderr, (bad, out.stderr)


@pytest.mark.parametrize("args, message", [
    (["generate", ""], "prompt"),
    (["generate", "   "], "whitespace"),
    (["generate", "x" * 2001], "at most 2000"),
    (["generate", "ok", "--steps", "0"], "steps=0"),
    (["generate", "ok", "--steps", "-2"], "steps=-2"),
    (["generate", "ok", "--steps", "10000"], "steps=10000"),
    (["generate", "ok", "--guidance", "-1"], "guidance=-1"),
    (["generate", "ok", "--guidance", "500"], "guidance=500"),
    (["generate", "ok", "--size", "100x64"], "width=100"),
    (["generate", "ok", "--size", "0x0"], "width=0"),
    (["generate", "ok", "--size", "4096x4096"], "width=4096"),
    (["generate", "ok", "--size", "2048x2056"], "height=2056"),
    (["generate", "ok", "--size", "big"], "WIDTHxHEIGHT"),
    (["generate", "ok", "--n", "0"], "n=0"),
    (["generate", "ok", "--n", "500"], "n=500"),
    (["generate", "ok", "--seed", "-1"], "seed=-1"),
    (["generate", "ok", "--seed", "99999999999"], "seed=99999999999"),
    (["generate", "ok", "--scheduler", "warp"], "scheduler='warp'"),
    (["generate", "ok", "--model", "/no/such/model"], "no such file or folder"),
    (["generate", "ok", "--model", "not a model"], "not a preset"),
    (["rate", "01ARZ3NDEKTSV4RRFFQ69G5FAV", "3"], "not in the catalog"),
    (["show", "../../etc/passwd"], "not a GWEN image id"),
    (["search", "--filter", "colour=red"], "unknown; filterable fields"),
    (["search", "--filter", "guidance=>5"], "not a valid float"),
    (["search", "--sort", "evil;drop"], "sort by one of"),
    (["search", "--since", "last week"], "YYYY-MM-DD"),
])
def test_bad_input_exits_2_and_writes_nothing(home, tiny_sd, args, message):
    if args[0] == "generate" and "--model" not in args:
        args = [*args, "--model", tiny_sd]
    out = run_cli(*args, home=home)
    assert out.returncode == 2, (out.returncode, out.stderr)
    assert message in out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    assert nothing_written(home)


def test_bad_input_on_existing_images(home, cli_grid, tmp_path):
    pick = cli_grid[0]["id"]
    cases = [
        (["vary", pick, "--strength", "1.5"], "strength"),
        (["vary", pick, "--strength", "medium-rare"], "strength"),
        (["vary", pick, "--mode", "blur"], "unknown variation mode"),
        (["vary", pick, "--lock", "prompt"], "can lock only"),
        (["rate", pick, "6"], "rating=6"),
        (["rate", pick, "-1"], "rating=-1"),
        (["vary", "01ARZ3NDEKTSV4RRFFQ69G5FAV"], "not in the catalog"),
        (["tag", "..%2F..%2Fx", "t"], "not a GWEN image id"),
    ]
    for args, message in cases:
        out = run_cli(*args, home=home)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    text = tmp_path / "fake.png"
    text.write_text("not an image")
    out = run_cli("import", str(text), home=home)
    assert out.returncode == 2 and "not an image" in out.stderr
    out = run_cli("search", "--json", home=home)
    assert json.loads(out.stdout)["total"] == 4  # nothing was added
    assert all(i["rating"] == 0 for i in json.loads(out.stdout)["images"])


def test_sql_metacharacters_are_just_text(home, cli_grid):
    out = run_cli("search", "'; DROP TABLE images; --", "--json", home=home)
    assert out.returncode == 0 and json.loads(out.stdout)["total"] == 0
    out = run_cli("search", "--json", home=home)
    assert json.loads(out.stdout)["total"] == 4


def test_export_and_import_round_trip(home, cli_grid, tmp_path):
    out = run_cli("export", "harbour", "--to", str(tmp_path / "grid.zip"), "--json", home=home)
    assert json.loads(out.stdout)["images"] == 4
    import zipfile
    zipfile.ZipFile(tmp_path / "grid.zip").extractall(tmp_path / "unzipped")
    other = tmp_path / "other-home"
    out = run_cli("import", str(tmp_path / "unzipped"), "--json", home=other)
    assert out.returncode == 0, out.stderr
    imported = json.loads(out.stdout)["images"]
    assert sorted(i["id"] for i in imported) == sorted(i["id"] for i in cli_grid)  # GWEN records keep their ids
    assert all(i["op"] == "generate" for i in imported)


def test_vary_taste_dry_run_and_bad_taste_or_denoise_range(home, cli_grid):
    pick = cli_grid[0]["id"]
    for image, stars in zip(cli_grid, ("5", "4", "2", "1")):
        assert run_cli("rate", image["id"], stars, home=home).returncode == 0
    out = run_cli("vary", pick, "--taste", "0.7", "--strength", "strong", "--seed", "5", "--dry-run", home=home)
    assert out.returncode == 0 and "taste 0.7 on ratings" in out.stdout and "why (your ratings):" in out.stdout
    cases = [
        (["--taste", "1.5"], "taste='1.5': must be between 0"),
        (["--taste", "abc"], "taste='abc': must be a number from 0"),
        (["--denoise-range", "0.9:0.2"], "denoise range 0.9..0.2: the low end must not exceed the high end"),
        (["--denoise-range", "0:2"], "denoise range 0.0..2.0: both ends must lie within 0..1"),
        (["--lock", "colour"], "lock='colour': can lock only guidance, steps, scheduler, denoise"),
    ]
    for args, message in cases:
        out = run_cli("vary", pick, *args, home=home)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
    found = json.loads(run_cli("search", "--json", home=home).stdout)
    assert found["total"] == 4  # nothing was added
