"""Every dashboard page, headless (AppTest), on the real tiny models: no mocked pipeline."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from gwen.catalog import SearchQuery

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@pytest.fixture
def ui_env(home, tiny_sd, tmp_path, monkeypatch):
    from gwen.upscale import build_tiny_esrgan

    monkeypatch.setenv("GWEN_MODEL", tiny_sd)
    esrgan = build_tiny_esrgan(tmp_path / "tiny-esrgan-x4.pth")
    monkeypatch.setenv("GWEN_UPSCALER", str(esrgan))
    return {"home": home, "esrgan": str(esrgan)}


def app(page: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=TIMEOUT)
    at.run()
    if page:
        at.switch_page(page)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def studio_for(home):
    from gwen.studio import Studio
    return Studio(home)


def button(at, label):
    return next(b for b in at.button if b.label == label)


def test_home_renders_without_loading_a_model(ui_env, grid):
    at = app()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "4" and metrics["Model loaded"] == "none yet"
    assert at.subheader[0].value == "Latest images"


def test_generate_a_grid_of_four_then_vary_one(ui_env):
    at = app("pages/1_Generate.py")
    at.text_area(key="prompt").input("a lighthouse at dusk")
    button(at, "Generate").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    studio = studio_for(ui_env["home"])
    records, total = studio.search(SearchQuery())
    assert total == 4 and len(at.image) == 4
    assert sorted(r.params["seed"] for r in records) == [records[-1].params["seed"] + k for k in range(4)]
    button(at, "V·S").click().run()  # strong variations of the first image
    assert not at.exception and not at.error
    kids = studio.search(SearchQuery(op="vary"))[0]
    assert len(kids) == 4 and all(k.variation["strength"] == 0.65 for k in kids)
    assert "Your picks" in " ".join(c.value for c in at.caption)
    at.selectbox(key="rate-grid-0").set_value(4).run()
    assert studio.get(kids[0].id if kids[0].id == at.session_state["gwen_grid"][0] else
                      at.session_state["gwen_grid"][0]).rating == 4


@pytest.mark.parametrize("prompt, steps, message", [
    ("", 4, "prompt"),
    ("   ", 4, "whitespace"),
    ("ok", 0, None),  # the number input itself refuses 0 (min 1): no error, nothing written
])
def test_generate_bad_input_shows_st_error_and_writes_nothing(ui_env, prompt, steps, message):
    at = app("pages/1_Generate.py")
    at.text_area(key="prompt").input(prompt)
    if message:
        button(at, "Generate").click().run()
        assert any(message in e.value for e in at.error), [e.value for e in at.error]
        assert studio_for(ui_env["home"]).search(SearchQuery())[1] == 0


def test_offline_hub_model_shows_a_clear_message(ui_env, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    at = app("pages/1_Generate.py")
    at.selectbox(key="model_preset").set_value("sd15").run()
    at.text_area(key="prompt").input("a cat")
    button(at, "Generate").click().run()
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "stable-diffusion-v1-5" in message and "--model tiny" in message


def test_variations_page_previews_then_renders(ui_env, grid):
    at = app("pages/2_Variations.py", id=grid[0].id)
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) == 4
    at.multiselect[0].set_value(["noise"]).run()
    preview = at.dataframe[0].value
    assert set(preview["seed"]) == {grid[0].params["seed"]}
    button(at, "Render these variations").click().run()
    assert not at.exception and not at.error
    kids = studio_for(ui_env["home"]).search(SearchQuery(op="vary"))[0]
    assert sorted(k.params["variations"][-1]["seed"] for k in kids) == sorted(preview["variation seed"])


def test_gallery_filters_rates_and_shows_details(ui_env, grid):
    studio = studio_for(ui_env["home"])
    studio.rate(grid[2].id, 5)
    studio.tag(grid[2].id, ["keeper"])
    at = app("pages/3_Gallery.py")
    assert "4 images" in " ".join(c.value for c in at.caption)
    at.slider(key="g_rating").set_value(4).run()
    assert "1 images" in " ".join(c.value for c in at.caption)
    at.slider(key="g_rating").set_value(0)
    at.text_area(key="g_extra").input("seed>=102").run()
    assert "2 images" in " ".join(c.value for c in at.caption)
    at.text_area(key="g_extra").input("colour=red").run()
    assert any("unknown; filterable fields" in e.value for e in at.error)
    detail = app("pages/3_Gallery.py", id=grid[2].id)
    assert any("Seed: 102" in c.value for c in detail.code)
    assert len(detail.get("vega_lite_chart")) == 1  # mean rating by guidance


def test_lineage_page_shows_the_family(ui_env, grid):
    studio = studio_for(ui_env["home"])
    kids = studio.vary(grid[1].id, strength="strong", n=2, seed=1)
    at = app("pages/4_Lineage.py", id=kids[0].id)
    assert not at.exception
    assert len(at.get("graphviz_chart")) == 1
    assert any("Changed from parent" in c.value for c in at.caption)
    assert any(row == "variations" for row in at.table[0].value["parameter"])


def test_upscale_page_upscales_the_current_image(ui_env, grid):
    at = app("pages/5_Upscale.py", id=grid[0].id)
    button(at, "Upscale").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    ups = studio_for(ui_env["home"]).search(SearchQuery(op="upscale"))[0]
    assert len(ups) == 1 and ups[0].parent_id == grid[0].id and ups[0].width == 256
    assert len(at.get("download_button")) == 1


def test_queue_page_adds_and_runs_jobs(ui_env):
    import time

    at = app("pages/6_Queue.py")
    at.text_area(key="q_prompts").input("a fox\na whale")
    at.number_input[0].set_value(1)
    at.number_input[1].set_value(2)  # steps
    button(at, "Add to queue").click().run()
    assert any("Added 2 jobs" in s.value for s in at.success)
    button(at, "▶ Start runner").click().run()
    studio = studio_for(ui_env["home"])
    deadline = time.monotonic() + 120
    while studio.jobs.counts().get("done", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert studio.jobs.counts() == {"done": 2}
    at.run()
    button(at, "⏹ Stop runner").click().run()
    assert studio.search(SearchQuery())[1] == 2


def _png_bytes(size=(40, 30)) -> bytes:
    import io

    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 200, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_imports_then_upscales(ui_env):
    at = app("pages/5_Upscale.py")
    at.file_uploader[0].upload("photo.png", _png_bytes(), "image/png").run()
    assert any("Imported as" in s.value for s in at.success), [e.value for e in at.error]
    button(at, "Upscale").click().run()
    studio = studio_for(ui_env["home"])
    (up,) = studio.search(SearchQuery(op="upscale"))[0]
    assert (up.width, up.height) == (160, 120) and studio.get(up.parent_id).op == "import"


def test_bad_uploads_show_st_error_and_write_nothing(ui_env, tmp_path):
    from tests.test_import_and_metadata import _bomb

    bomb = _bomb(tmp_path / "bomb.png").read_bytes()
    for name, content, message in [("notes.png", b"just text, not pixels", "not an image"),
                                   ("cut.png", _png_bytes()[:70], "truncated"),
                                   ("bomb.png", bomb, "decompression bomb")]:
        at = app("pages/5_Upscale.py")
        at.file_uploader[0].upload(name, content, "image/png").run()
        assert not at.exception
        assert any(message in e.value for e in at.error), (name, [e.value for e in at.error])
    assert studio_for(ui_env["home"]).search(SearchQuery())[1] == 0


def test_password_gate(ui_env, grid, monkeypatch):
    monkeypatch.setenv("GWEN_PASSWORD", "s3cret")
    at = app()
    assert not at.metric  # nothing shown before the password
    at.text_input(key="gwen_password").input("wrong").run()
    assert any("Wrong password" in e.value for e in at.error) and not at.metric
    at.text_input(key="gwen_password").input("s3cret").run()
    assert {m.label for m in at.metric} >= {"Images"}
