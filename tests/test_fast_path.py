"""GWEN_COMPILE=1 (gwen.fast_path): the tiny pipeline compiled with TorchInductor on this CPU, its kernels cached
under $GWEN_HOME so that a second process loads them instead of compiling again. (Timings are bench/gpu.py's.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
from PIL import Image

from tests.conftest import ROOT

COMPILED_RUN = textwrap.dedent("""
    import json, sys
    from gwen.config import Settings
    from gwen.studio import Studio
    studio = Studio(sys.argv[1], settings=Settings(device="cpu"))
    records = studio.generate("a lighthouse", model=sys.argv[2], n=1, seed=5, steps=2, width=64, height=64)
    from torch._dynamo.utils import counters
    print(json.dumps({"path": str(studio.path_of(records[0])), "compiled": studio.engine_status()["compiled"],
                      "inductor": dict(counters["inductor"])}))
""")


def compiled_run(home, tiny_sd) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR")}
    child = subprocess.Popen([sys.executable, "-c", COMPILED_RUN, str(home), tiny_sd], cwd=home.parent,
                             env={**env, "GWEN_COMPILE": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = child.communicate(timeout=600)
    assert child.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_a_compiled_pipeline_renders_the_same_image_and_a_second_process_reuses_its_kernels(studio, home, tiny_sd):
    eager = studio.generate("a lighthouse", model=tiny_sd, n=1, seed=5, steps=2, width=64, height=64)[0]
    assert studio.engine_status()["compiled"] is None  # off by default
    first = compiled_run(home, tiny_sd)
    cache = home / "cache" / "torch-compile" / "inductor"
    assert first["compiled"]["cache"] == str(cache) and any(cache.rglob("*"))
    assert first["compiled"]["fused_qkv"] is True and first["compiled"]["dynamic"] is False
    assert first["inductor"].get("fxgraph_cache_miss", 0) >= 1  # it compiled
    second = compiled_run(home, tiny_sd)
    assert second["inductor"].get("fxgraph_cache_hit", 0) >= 1 and not second["inductor"].get("fxgraph_cache_miss")
    pixels = [np.asarray(Image.open(p).convert("RGB"), dtype=np.int16)
              for p in (studio.path_of(eager), first["path"], second["path"])]
    assert np.abs(pixels[1] - pixels[0]).max() <= 4  # fused kernels round differently, nothing more
    assert np.array_equal(pixels[1], pixels[2])  # the cached kernels are the compiled ones


def test_the_first_render_with_a_lora_unfuses_the_attention_projections(shared_engine, tiny_sd):
    from gwen.fast_path import before_loras

    loaded = shared_engine.load(tiny_sd)
    pipe = loaded.pipe
    pipe.fuse_qkv_projections()
    loaded.compiled = {"fused_qkv": True}
    try:
        before_loras(loaded, ())  # no LoRA: stays fused
        assert any("Fused" in type(p).__name__ for p in pipe.unet.attn_processors.values())
        before_loras(loaded, ("a LoRA",))
        assert not any("Fused" in type(p).__name__ for p in pipe.unet.attn_processors.values())
        assert loaded.compiled["fused_qkv"] == "unfused: a LoRA was used"
    finally:
        loaded.compiled = None
        if any("Fused" in type(p).__name__ for p in pipe.unet.attn_processors.values()):
            pipe.unfuse_qkv_projections()
