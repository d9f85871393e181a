"""Prompt styles (issue 15 §4): A1111's rules, the style book's files, every bad input, the record, the Gallery
filter, "what you like" by style, the queue and the dashboard. The same behaviour on the served and pool backends
is ``tests/test_contract.py::test_styles_expand_record_filter_and_group``."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from gwen import styles
from gwen.errors import InvalidInput
from gwen.params import ImageParams
from gwen.records import SearchQuery
from gwen.styles import Style, StyleBook

NOIR = Style("Noir", "{prompt}, film noir, black and white", "color")
SHARP = Style("Sharp", "sharp focus, detailed", "blurry")


# --- A1111's rules -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("template, prompt, expected", [
    ("{prompt}, film noir", "a cat", "a cat, film noir"),
    ("photo of {prompt}", "", "photo of "),
    ("sharp focus", "a cat", "a cat, sharp focus"),  # no {prompt}: appended after ", "
    ("sharp focus", "  ", "sharp focus"),  # nothing to append to
    ("", "a cat", "a cat"),
    ("{prompt} and {prompt}", "x", "x and x"),  # A1111 replaces every one
])
def test_a_template_merges_as_a1111_does(template, prompt, expected):
    assert styles.merge(template, prompt) == expected


def test_several_styles_apply_in_order_and_extract_gives_the_typed_text_back():
    prompt, negative = styles.apply("a cat", "ugly", [NOIR, SHARP])
    assert prompt == "a cat, film noir, black and white, sharp focus, detailed"
    assert negative == "ugly, color, blurry"
    assert styles.extract(prompt, negative, [NOIR, SHARP]) == ("a cat", "ugly")
    assert styles.apply("a cat", "", [SHARP, NOIR])[0] == "a cat, sharp focus, detailed, film noir, black and white"
    assert styles.extract("a dog, something else", "", [NOIR]) is None  # the text does not hold the style
    assert styles.extract(*styles.apply("", "", [NOIR]), [NOIR]) == ("", "")


# --- the style book's files and every bad input ---------------------------------------------------------------------

def test_the_book_is_built_in_then_toml_then_csv_a_later_source_winning(tmp_path):
    (tmp_path / "styles.toml").write_text('["Noir"]\nprompt = "{prompt}, noir from toml"\n'
                                          '["Cinematic"]\nprompt = "my cinematic {prompt}"\nnegative_prompt = "x"\n',
                                          encoding="utf-8")
    (tmp_path / "styles.csv").write_text('\ufeffname,prompt,negative_prompt\n"Noir","{prompt}, noir from csv",\n'
                                         '# a comment row,x,y\n,,\n"With, comma","a ""quoted"" {prompt}",neg\n',
                                         encoding="utf-8")
    book = StyleBook.load(tmp_path)
    assert book.styles["Noir"].prompt == "{prompt}, noir from csv" and book.styles["Noir"].source == "styles.csv"
    assert book.styles["Cinematic"].prompt == "my cinematic {prompt}" and book.styles["Cinematic"].source == \
        "styles.toml"
    assert book.styles["With, comma"].prompt == 'a "quoted" {prompt}'
    assert "# a comment row" not in book.styles and "Anime" in book.styles  # comments skipped, built-ins kept
    assert [s.name for s in book.pick(["With, comma", "Anime"])] == ["With, comma", "Anime"]


def test_a1111s_old_name_text_csv_is_read_too():
    (old,) = styles.read_csv("name,text\nOld style,vivid colors\n")
    assert (old.name, old.prompt, old.negative_prompt) == ("Old style", "vivid colors", "")


@pytest.mark.parametrize("data, named", [
    (b"foo,bar\n1,2\n", "line 1: the header must name the columns name, prompt"),
    (b"name\n", "line 1: the header"),
    (b"name,prompt,negative_prompt\n\xff\xfe,x,y\n", "not UTF-8"),
    (b"name,prompt,negative_prompt\nok,a {prompt},\nlong," + b"x" * 2001 + b",\n", "line 3: style 'long': prompt "
                                                                                   "of 2001 characters"),
    (b"name,prompt,negative_prompt\nok,a,\n" + b"x" * 101 + b",a,\n", "line 3: style name 'xxxx"),
    (b"name,prompt,negative_prompt\n" + b"a,b,c\n" * 200_000, "a styles file may have at most 1,048,576"),
])
def test_a_bad_styles_csv_names_the_line_and_the_rule(data, named):
    with pytest.raises(InvalidInput, match="upload.csv") as caught:
        styles.read_csv(data, "upload.csv")
    assert named in str(caught.value)


@pytest.mark.parametrize("toml, named", [
    ('["Noir"\nprompt = "x"', "not valid TOML"),
    ('["Noir"]\nprompt = "x"\ncolour = "red"\n', "prompt and negative_prompt only"),
    ('Noir = "x"\n', "must be a table"),
    ('["#hidden"]\nprompt = "x"\n', "not starting with '#'"),
])
def test_a_bad_styles_toml_is_skipped_and_named_and_the_other_styles_still_work(tmp_path, toml, named):
    (tmp_path / "styles.toml").write_text(toml, encoding="utf-8")
    (tmp_path / "styles.csv").write_text("name,prompt,negative_prompt\nMine,my {prompt},\n# note,,\n"
                                         "Long," + "x" * 2001 + ",\nBlank,,\n", encoding="utf-8")
    book = StyleBook.load(tmp_path)
    assert any("styles.toml" in p and named in p for p in book.problems), book.problems
    assert any("line 4: style 'Long': prompt of 2001 characters" in p for p in book.problems)
    assert [s.name for s in book.pick(["Mine", "Anime", "Blank"])] == ["Mine", "Anime", "Blank"]  # as A1111 reads
    with pytest.raises(InvalidInput, match="style 'Long': unknown style.*skipped: .*line 4"):
        book.pick(["Long"])


@pytest.mark.parametrize("names, named", [
    (["Nope"], "style 'Nope': unknown style; known styles: Cinematic"),
    (["Anime"] * 2, "each style may be chosen once"),
    ([f"s{i}" for i in range(9)], "9 styles: at most 8 per grid"),
    ([""], "style name '': must be text"),
    (["a\nb"], "no control characters"),
    (["x" * 101], "1 to 100 characters"),
])
def test_picking_a_bad_style_names_it_and_the_rule(tmp_path, names, named):
    with pytest.raises(InvalidInput) as caught:
        StyleBook.load(tmp_path).pick(names)
    assert named in str(caught.value)


def test_saving_keeps_every_other_row_as_it_was_and_replaces_by_name(tmp_path):
    (tmp_path / "styles.csv").write_text("name,prompt,negative_prompt,colour\nB,b {prompt},,blue\n# keep me,,,\n"
                                         "A,a {prompt},nega,red\nLong," + "x" * 2001 + ",,\n", encoding="utf-8")
    done = styles.save_csv(tmp_path, [Style("A", "new a {prompt}", ""), Style("C", "c", "")])
    assert done["added"] == ["C"] and done["replaced"] == ["A"]
    assert (tmp_path / "styles.csv").read_text(encoding="utf-8").splitlines() == [
        "name,prompt,negative_prompt,colour", "B,b {prompt},,blue", "# keep me,,,", "A,new a {prompt},,red",
        "Long," + "x" * 2001 + ",,", "C,c,,"]
    assert not list(tmp_path.glob(".styles.csv.*"))  # no temporary file left
    (tmp_path / "styles.csv").write_bytes(b"\xff\xfe not a styles file")
    with pytest.raises(InvalidInput, match="not UTF-8"):  # never rewritten over
        styles.save_csv(tmp_path, [Style("D", "d", "")])
    assert (tmp_path / "styles.csv").read_bytes() == b"\xff\xfe not a styles file"


# --- the record -----------------------------------------------------------------------------------------------------

def test_params_without_styles_keep_their_canonical_json_and_with_styles_record_and_export_them():
    plain = ImageParams.build(prompt="a cat", model="m")
    assert "styles" not in plain.canonical_json()
    styled = plain.replace(styles=["Noir", "With, comma"])
    assert json.loads(styled.canonical_json())["styles"] == ["Noir", "With, comma"]
    assert styled.params_hash() != plain.params_hash()
    from gwen.formats.a1111 import parse_a1111

    assert parse_a1111(styled.infotext())["styles"] == ["Noir", "With, comma"]  # "Styles array" round trip
    with pytest.raises(InvalidInput, match="styles=5: must be a list of style names"):
        plain.replace(styles=5)


def test_a_grid_records_the_expanded_prompt_and_the_names_and_the_library_filters_and_groups_by_style(
        studio, tiny_sd):
    studio.save_style("Noir", "{prompt}, film noir", "color")
    noir = studio.generate("a cat", negative="ugly", styles=["Noir", "Enhance"], model=tiny_sd, n=2, seed=3,
                           steps=2, width=64, height=64)
    plain = studio.generate("a dog", model=tiny_sd, n=1, seed=4, steps=2, width=64, height=64)
    assert noir[0].params["prompt"] == "a cat, film noir, highly detailed, sharp focus, best quality"
    assert noir[0].params["negative_prompt"] == "ugly, color, lowres, blurry, jpeg artifacts"
    assert noir[1].params["styles"] == ["Noir", "Enhance"] and "styles" not in plain[0].params
    with Image.open(studio.path_of(noir[0])) as png:
        assert json.loads(png.text["gwen"])["params"]["styles"] == ["Noir", "Enhance"]
        assert 'Styles array: "[\\"Noir\\", \\"Enhance\\"]"' in png.text["parameters"]
    assert studio.verify(noir[0].id).max_diff == 0
    found, total = studio.search(SearchQuery(styles=("Noir",)))
    assert total == 2 and {r.id for r in found} == {r.id for r in noir}
    assert studio.search(SearchQuery(styles=("Noir", "Anime")))[1] == 0  # all must match
    assert studio.stats()["by_style"] == {"Enhance": 2, "Noir": 2}
    studio.rate(noir[0].id, 5)
    studio.rate(noir[1].id, 3)
    studio.rate(plain[0].id, 2)
    assert studio.rating_stats("style") == [{"group": "Enhance", "mean_rating": 4.0, "images": 2},
                                            {"group": "Noir", "mean_rating": 4.0, "images": 2},
                                            {"group": "(no style)", "mean_rating": 2.0, "images": 1}]
    studio.reindex()  # the names survive losing the catalog: they are in the PNGs
    assert studio.search(SearchQuery(styles=("Enhance",)))[1] == 2


def test_another_tools_style_names_are_searchable_but_never_block_a_re_render(studio):
    from tests.foreign_files import FOOOCUS_JSON, fooocus_png

    names = [f"Fooocus Style {k}" for k in range(9)]  # Fooocus lets a user tick any number of styles
    data = json.loads(FOOOCUS_JSON)
    data["styles"] = str(names)
    studio.import_files([("fox.png", fooocus_png(json.dumps(data)))])
    (record,), _ = studio.search(SearchQuery(styles=("Fooocus Style 8",)))
    params = studio.params_of(record)  # refused before: 9 names, over GWEN's 8
    assert params.styles == () and params.prompt == "a red fox in the snow"
    _, children = studio.planner.plan_reroll(record.id, 2)
    assert [c.styles for c in children] == [(), ()]  # Fooocus's names were never applied here


def test_an_edit_with_a_new_prompt_names_no_style_and_one_without_keeps_them(studio, tiny_sd):
    (parent,) = studio.generate("a cat", styles=["Anime"], model=tiny_sd, n=1, seed=3, steps=2, width=64,
                                height=64)
    (kept,) = studio.pan(parent.id, "left", 0.25, n=1, seed=1)
    (typed,) = studio.pan(parent.id, "left", 0.25, prompt="a dog", n=1, seed=1)
    assert kept.params["styles"] == ["Anime"] and "styles" not in typed.params


def test_a_remixed_variation_applies_the_parents_styles_to_the_new_prompt(studio, tiny_sd):
    (parent,) = studio.generate("a cat", styles=["Cinematic"], model=tiny_sd, n=1, seed=3, steps=2, width=64,
                                height=64)
    _, (child,), _ = studio.plan_variations(parent.id, n=1, seed=1, prompt="a dog")
    assert child.prompt == styles.merge(styles.BUILT_IN[0].prompt, "a dog") and child.styles == ("Cinematic",)
    assert child.negative_prompt == parent.params["negative_prompt"]
    _, (kept,), _ = studio.plan_variations(parent.id, n=1, seed=1)
    assert kept.prompt == parent.params["prompt"] and kept.styles == ("Cinematic",)
    studio.save_style("Cinematic", "changed {prompt}")  # the parent's text no longer holds the style
    _, (typed,), _ = studio.plan_variations(parent.id, n=1, seed=1, prompt="a dog")
    assert typed.prompt == "a dog" and typed.styles == ()


def test_use_prints_the_typed_prompt_with_its_styles_and_run_renders_them_again(studio, tiny_sd, home):
    from tests.conftest import run_cli

    (made,) = studio.generate("a cat", styles=["Line art"], model=tiny_sd, n=1, seed=8, steps=2, width=64, height=64)
    used = json.loads(run_cli("use", made.id, "--json", home=home).stdout)
    assert used["argv"][4] == "a cat" and used["argv"][used["argv"].index("--style") + 1] == "Line art"
    rerun = json.loads(run_cli("use", made.id, "--run", "--json", home=home).stdout)["images"][0]
    assert rerun["params"]["prompt"] == made.params["prompt"] and rerun["params"]["styles"] == ["Line art"]
    assert rerun["params"]["seed"] == 8


def test_bad_style_input_to_the_studio_writes_nothing(studio, tiny_sd):
    before = (studio.stats()["images"], studio.list_styles())
    for call, named in [
        (lambda: studio.generate("a cat", styles=["Nope"], model=tiny_sd, n=1), "unknown style"),
        (lambda: studio.save_style("#x", "a"), "not starting with '#'"),
        (lambda: studio.save_style("Empty", ""), "give a prompt template"),
        (lambda: studio.import_styles(b"foo,bar\n1,2\n", "mine.csv"), "mine.csv: line 1"),
        (lambda: studio.import_styles(b"name,prompt,negative_prompt\n# only a comment,,\n"), "holds no styles"),
    ]:
        with pytest.raises(InvalidInput, match=named):
            call()
    assert (studio.stats()["images"], studio.list_styles()) == before
    assert not (studio.home / "styles.csv").exists()


def test_a_batch_job_names_styles_which_are_applied_when_it_is_added(studio, tiny_sd):
    jobs = studio.queue_add_text(json.dumps({"defaults": {"model": tiny_sd, "steps": 2, "n": 1},
                                             "jobs": [{"prompt": "a cat", "styles": ["Anime"]},
                                                      {"prompt": "a dog", "styles": "Enhance"}]}), ".json")
    params = [job.spec["params"][0] for job in jobs]
    assert [p["styles"] for p in params] == [["Anime"], ["Enhance"]]
    assert params[0]["prompt"].startswith("anime artwork of a cat") and params[1]["prompt"].endswith("best quality")
    with pytest.raises(InvalidInput, match="batch.json:1.*unknown style|unknown style"):
        studio.queue_add_text(json.dumps([{"prompt": "x", "styles": ["Nope"]}]), ".json", name="batch.json")
    assert len(studio.queue_list()) == 2


# --- the dashboard --------------------------------------------------------------------------------------------------

def test_generate_page_applies_chosen_styles_and_use_these_settings_brings_them_back(ui_env):
    from tests.test_pages import GALLERY, GENERATE, app, button, studio_for

    at = app(GENERATE)
    at.text_area(key="gen_prompt").input("a lighthouse")
    at.multiselect(key="gen_styles").select("Watercolor").select("Enhance").run()
    assert "Renders: watercolor painting of a lighthouse, soft washes" in " ".join(c.value for c in at.caption)
    at.number_input(key="gen_n").set_value(1)
    at.number_input(key="gen_steps").set_value(2)
    button(at, "Generate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    studio = studio_for(ui_env["home"])
    (made,), _ = studio.search(SearchQuery(styles=("Watercolor", "Enhance")))
    assert made.params["prompt"].startswith("watercolor painting of a lighthouse")
    at = app(GALLERY, id=made.id)
    assert "Watercolor" in at.multiselect(key="g_styles").options
    button(at, "Use these settings").click().run()
    app(GENERATE, at=at)
    assert at.text_area(key="gen_prompt").value == "a lighthouse"  # the prompt as typed, not the expanded one
    assert at.multiselect(key="gen_styles").value == ["Watercolor", "Enhance"]


def test_generate_page_saves_and_imports_styles_and_refuses_bad_ones_with_st_error(ui_env):
    from tests.test_pages import GENERATE, app, button, studio_for

    at = app(GENERATE)
    at.text_area(key="gen_prompt").input("{prompt}, in the style of my zine")
    at.text_input(key="style_new_name").input("Zine").run()
    button(at, "Save style").click().run()
    assert not at.error and "Zine" in at.multiselect(key="gen_styles").options
    at.text_input(key="style_new_name").input("#bad").run()
    button(at, "Save style").click().run()
    assert "not starting with '#'" in at.error[0].value
    assert [s["name"] for s in studio_for(ui_env["home"]).list_styles() if s["source"] == "styles.csv"] == ["Zine"]


def test_gallery_filters_by_style_and_groups_what_you_like_by_style(ui_env, studio, tiny_sd):
    from tests.test_pages import GALLERY, app

    styled = studio.generate("a cat", styles=["Anime"], model=tiny_sd, n=1, seed=1, steps=2, width=64, height=64)
    plain = studio.generate("a dog", model=tiny_sd, n=1, seed=2, steps=2, width=64, height=64)
    studio.rate(styled[0].id, 5)
    studio.rate(plain[0].id, 1)
    at = app(GALLERY)
    at.selectbox(key="g_chart").select("style").run()
    table = at.dataframe[-1].value
    assert dict(zip(table["style"], table["mean rating"])) == {"Anime": 5.0, "(no style)": 1.0}
    at.multiselect(key="g_styles").select("Anime").run()
    assert not at.exception
    assert list(at.dataframe[-1].value["style"]) == ["Anime"]  # the chart follows the filter


@pytest.fixture
def ui_env(home, tiny_sd, monkeypatch):
    monkeypatch.setenv("GWEN_MODEL", tiny_sd)
    return {"home": home}
