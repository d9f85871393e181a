"""The engine on the real tiny pipeline (built by gwen.tiny_models, loaded through from_pretrained)."""

import gc
import json
import shutil
import threading
import weakref

import numpy as np
import pytest

from gwen import memory
from gwen.engine import SCHEDULER_SPECS, Engine, initial_noise, resolve_model, slerp
from gwen.errors import Cancelled, InvalidInput, ModelUnavailable
from gwen.params import SCHEDULERS, ImageParams, NoiseVariation


def px(image):
    return np.asarray(image.convert("RGB"), dtype=np.int16)


@pytest.fixture
def base(tiny_sd):
    return ImageParams.build(prompt="a red boat", model=tiny_sd, steps=3, guidance=5.0, width=64, height=64,
                             seed=40, scheduler="Euler a")


def test_grid_images_match_single_runs_with_their_seeds(shared_engine, base):
    batch = shared_engine.render([base.replace(seed=40 + k) for k in range(4)])
    assert [(r.chunk, r.index, r.size) for r in batch] == [(0, k, 4) for k in range(4)]
    for k in range(4):
        single = shared_engine.render([base.replace(seed=40 + k)])[0]
        assert np.abs(px(single.image) - px(batch[k].image)).max() <= 2  # ≤ 2/255: batched math rounds differently
    again = shared_engine.render_exact([base.replace(seed=40 + k) for k in range(4)])
    assert all(np.array_equal(px(a), px(b.image)) for a, b in zip(again, batch))  # same layout: bit-identical
    assert not np.array_equal(px(batch[0].image), px(batch[1].image))


def test_every_scheduler_name_renders(shared_engine, base):
    assert set(SCHEDULERS) == set(SCHEDULER_SPECS)
    means = {}
    for name in SCHEDULERS:
        out = shared_engine.render([base.replace(scheduler=name)])[0].image
        assert out.size == (64, 64)
        means[name] = px(out).mean()
    assert len(set(means.values())) > 1  # the name really changes the sampler


def test_live_previews_change_no_pixel_with_any_scheduler(shared_engine, base):
    """Previews tap the scheduler's step; ancestral and SDE schedulers still get their seeded generator."""
    for name in SCHEDULERS:
        params = [base.replace(scheduler=name, steps=6, seed=s) for s in (5, 6)]
        seen = []
        plain = shared_engine.render(params)
        watched = shared_engine.render(params, on_preview=lambda first, images: seen.append((first, len(images))))
        assert seen and {count for _first, count in seen} == {2}, name
        for a, b in zip(plain, watched):
            assert np.array_equal(px(a.image), px(b.image)), name


def test_sub_batching_when_n_would_not_fit(tiny_models, base):
    engine = Engine(tiny_models["dir"], device="cpu", max_batch=3)
    out = engine.render([base.replace(seed=s) for s in range(7)])
    assert [(r.chunk, r.size) for r in out] == [(0, 3)] * 3 + [(1, 3)] * 3 + [(2, 1)]
    assert memory.max_batch(512, 512, "cpu", "sd1", 4, free_bytes=1 << 30) >= 1
    assert memory.max_batch(512, 512, "cpu", "sd1", 4, free_bytes=8 << 30) > \
        memory.max_batch(1024, 1024, "cpu", "sd1", 4, free_bytes=8 << 30)


def test_incompatible_params_get_separate_calls(shared_engine, base):
    out = shared_engine.render([base, base.replace(seed=1), base.replace(guidance=3.0), base.replace(steps=2)])
    assert [r.chunk for r in out] == [0, 0, 1, 2]


def test_progress_and_cancel(shared_engine, base):
    seen = []
    shared_engine.render([base, base.replace(steps=2)], on_step=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    cancel = threading.Event()

    def stop_after_first(done, total):
        cancel.set()
    with pytest.raises(Cancelled):
        shared_engine.render([base], on_step=stop_after_first, cancel=cancel)


def test_img2img_shares_components_runs_steps_times_denoise_and_uses_the_init_image(shared_engine, base):
    first, second = (r.image for r in shared_engine.render([base, base.replace(seed=41)]))
    child = base.replace(init_image_id="X" * 26, denoise=0.5, seed=9, steps=6)
    seen = []
    from_first = shared_engine.render([child], {"X" * 26: first}, on_step=lambda d, t: seen.append(t))[0]
    from_second = shared_engine.render([child], {"X" * 26: second})[0]
    assert seen == [3, 3, 3]  # 6 steps × denoise 0.5
    assert not np.array_equal(px(from_first.image), px(from_second.image))
    loaded = shared_engine._loaded
    assert loaded.img2img.unet is loaded.pipe.unet and loaded.img2img.vae is loaded.pipe.vae  # from_pipe: no reload
    with pytest.raises(InvalidInput, match="init image"):
        shared_engine.render([base.replace(init_image_id="Y" * 26, denoise=0.5)])


def test_switching_models_releases_the_old_one(tiny_models, tmp_path, base):
    copy = tmp_path / "other-sd"
    shutil.copytree(tiny_models["sd"], copy)
    engine = Engine(tiny_models["dir"], device="cpu")
    engine.render([base])
    first = weakref.ref(engine._loaded.pipe)
    engine.render([base.replace(model=str(copy))])
    gc.collect()
    assert first() is None and engine.loaded_model == str(copy.resolve())


def test_seed_noise_slerp():
    import torch

    a = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(1))
    b = torch.randn(4, 8, 8, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(slerp(0.0, a, b), a, atol=1e-6) and torch.allclose(slerp(1.0, a, b), b, atol=1e-5)
    mid = slerp(0.5, a, b)
    assert abs(mid.norm() - (a.norm() + b.norm()) / 2) < 0.1 * a.norm()  # stays on the sphere, unlike lerp
    assert torch.allclose(slerp(0.3, a, a * 1.0000001), a, atol=1e-5)  # parallel: linear fallback, no NaN
    p = ImageParams.build(prompt="x", model="tiny", seed=3, variations=[{"seed": 4, "strength": 0.0}])
    assert torch.equal(initial_noise(p, (4, 8, 8)), initial_noise(p.replace(variations=()), (4, 8, 8)))


def test_variation_distance_rises_with_strength(shared_engine, base):
    parent = px(shared_engine.render([base])[0].image).astype(float)

    def mean_distance(strength):
        kids = shared_engine.render([base.replace(variations=(NoiseVariation(seed=500 + j, strength=strength),))
                                     for j in range(4)])
        return np.mean([np.abs(px(k.image) - parent).mean() for k in kids])

    distances = [mean_distance(s) for s in (0.1, 0.2, 0.4, 0.65, 0.9)]
    assert distances == sorted(distances), distances
    assert distances[0] > 0


def test_model_resolution_errors(tmp_path, tiny_models):
    with pytest.raises(ModelUnavailable, match="no such file or folder"):
        resolve_model(str(tmp_path / "nowhere"), tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="no model_index.json"):
        resolve_model(str(tmp_path / "empty"), tmp_path)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(ModelUnavailable, match="must end in"):
        resolve_model(str(tmp_path / "notes.txt"), tmp_path)
    with pytest.raises(ModelUnavailable, match="not a preset"):
        resolve_model("not a model!", tmp_path)
    assert resolve_model("sd15", tmp_path).kind == "hub"


def test_unloadable_models_fail_with_a_clear_message(tmp_path, tiny_models, monkeypatch):
    engine = Engine(tmp_path, device="cpu")
    broken = tmp_path / "broken-sd"
    shutil.copytree(tiny_models["sd"], broken)
    (broken / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"not weights")
    with pytest.raises(ModelUnavailable, match="could not be loaded"):
        engine.load(str(broken))
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x00" * 64)
    with pytest.raises(ModelUnavailable, match="not a Stable Diffusion checkpoint"):
        engine.load(str(fake))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailable) as err:
        engine.load("gwen-tests/no-such-model")
    message = str(err.value)
    assert "gwen-tests/no-such-model" in message and "local diffusers folder" in message and "--model tiny" in message


def test_tiny_preset_builds_once_and_is_deterministic(tmp_path):
    from gwen.tiny_models import ensure_tiny_sd

    a = ensure_tiny_sd(tmp_path / "a")
    b = ensure_tiny_sd(tmp_path / "b")
    assert json.loads((a / "model_index.json").read_text()) == json.loads((b / "model_index.json").read_text())
    assert (a / "unet" / "diffusion_pytorch_model.safetensors").read_bytes() == \
        (b / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    assert ensure_tiny_sd(tmp_path / "a") == a


def test_memory_policy():
    assert memory.needs_vae_tiling(1024, 1536) and not memory.needs_vae_tiling(1024, 1024)
    assert memory.pick_device("cpu") == "cpu"
    assert not memory.wants_cpu_offload("cpu", "sdxl")
