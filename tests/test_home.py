"""Home renders headlessly (AppTest) without loading any model."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def test_home_renders_without_a_model(home, studio, grid):
    at = AppTest.from_file(str(ROOT / "Home.py"), default_timeout=60)
    at.run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Images"] == "4" and metrics["Model loaded"] == "none yet"
    assert at.subheader[0].value == "Latest images"
