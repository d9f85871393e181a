"""Home renders headlessly without loading a model, and without importing torch or diffusers at all."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_home_imports_no_torch_and_no_diffusers(home, studio, grid):
    code = textwrap.dedent(f"""
        import sys
        from streamlit.testing.v1 import AppTest
        at = AppTest.from_file({str(ROOT / "Home.py")!r}, default_timeout=60).run()
        assert not at.exception, at.exception
        assert {{m.label: m.value for m in at.metric}}["Images"] == "4"
        print(sorted(m for m in ("torch", "diffusers", "transformers", "spandrel") if m in sys.modules))
    """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=180,
                         env={**__import__("os").environ, "GWEN_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"
