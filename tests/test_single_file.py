"""Single-file checkpoints (original CompVis/ldm layout) load offline: family detection from tensor names, the
shipped family configs, the tokenizer lookup, and a real render through Studio.generate compared with the folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gwen.checkpoint_layout import unet_to_original, vae_to_original, write_single_file
from gwen.checkpoints import checkpoint_kind, family_from_names, tensor_names
from gwen.errors import ModelUnavailable
from gwen.single_file import CONFIGS, family_config
from gwen.tiny_models import byte_level_tokenizer
from tests.conftest import nothing_written

UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1 = {UNET_IN: (320, 4, 3, 3),
       "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight": (49408, 768)}
SD2 = {UNET_IN: (320, 4, 3, 3), "cond_stage_model.model.token_embedding.weight": (49408, 1024)}
SDXL = {UNET_IN: (320, 4, 3, 3), "conditioner.embedders.0.transformer.text_model.final_layer_norm.weight": (768,),
        "conditioner.embedders.1.model.positional_embedding": (77, 1280)}


def make_checkpoint(folder: Path, tiny_sd: str, name: str = "tiny.safetensors", tokenizer: bool = True) -> Path:
    """The tiny model as one original-layout file, with its own component configs in ``NAME.config/`` (the tiny
    UNet is not SD 1.5's shape) and, if asked, a byte-level ``vocab.json`` + ``merges.txt`` in ``NAME.tokenizer/``."""
    path = write_single_file(tiny_sd, folder / name)
    for component in ("unet", "vae", "text_encoder"):
        (folder / f"{path.stem}.config" / component).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tiny_sd) / component / "config.json", folder / f"{path.stem}.config" / component /
                        "config.json")
    if tokenizer:
        byte_level_tokenizer(folder / f"{path.stem}.tokenizer")
    return path


@pytest.fixture
def no_hf_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache, so a tokenizer cached on this machine cannot answer for the test."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


def pixels(studio, record) -> np.ndarray:
    with Image.open(studio.library.path_of(record)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


# --- family detection ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("names, metadata, filename, family, config", [
    (SD1, {}, "dream.safetensors", "sd1", "sd1"),
    (SDXL, {}, "juggernaut.safetensors", "sdxl", "sdxl"),
    (SD2, {}, "v2-1_768-ema-pruned.safetensors", "sd2", "sd2-v"),
    (SD2, {}, "v2-1_512-ema-pruned.safetensors", "sd2", "sd2"),
    (SD2, {"modelspec.prediction_type": "epsilon"}, "sd21-768-finetune.safetensors", "sd2", "sd2"),
    (SD2, {"modelspec.architecture": "stable-diffusion-v2-768-v"}, "x.safetensors", "sd2", "sd2-v"),
    ({**SD2, "v_pred": (1,)}, {}, "base.safetensors", "sd2", "sd2-v"),
    (SD2, {}, "anything.safetensors", "sd2", "sd2-v"),  # no hint: SD 2.1 (768, v-prediction), as diffusers assumes
    ({**SD1, "xl_in_name_does_not_matter": (1,)}, {}, "sdxl-looking-name.safetensors", "sd1", "sd1"),
])
def test_family_is_read_from_tensor_names(names, metadata, filename, family, config):
    kind = family_from_names(names, metadata, filename)
    assert (kind.family, kind.config) == (family, config)


@pytest.mark.parametrize("names, says", [
    ({"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": (4, 320)}, "LoRA"),
    ({UNET_IN: (320, 9, 3, 3), **{k: v for k, v in SD1.items() if k != UNET_IN}}, "9 input channels"),
    ({UNET_IN: (384, 4, 3, 3), "conditioner.embedders.0.model.text_projection": (1280, 1280)}, "refiner"),
    ({UNET_IN: (320, 4, 3, 3)}, "no text encoder"),
    ({"encoder.layers.0.weight": (4,)}, "not a Stable Diffusion checkpoint"),
])
def test_files_gwen_cannot_load_are_named_for_what_they_are(names, says):
    with pytest.raises(ModelUnavailable) as info:
        family_from_names(names, {}, "thing.safetensors", ref="thing.safetensors")
    assert says in str(info.value) and "'thing.safetensors'" in str(info.value)


# --- shipped family configs ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("config, text_width, prediction", [
    ("sd1", 768, "epsilon"), ("sd2", 1024, "epsilon"), ("sd2-v", 1024, "v_prediction"), ("sdxl", 768 + 1280, "epsilon"),
])
def test_shipped_family_config_is_complete_and_consistent(config, text_width, prediction):
    import diffusers
    import torch
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from diffusers.loaders.single_file_utils import (convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint,
                                                     infer_diffusers_model_type)
    from transformers import CLIPTextConfig

    folder = family_config(config)
    index = json.loads((folder / "model_index.json").read_text())
    text_encoders = [c for c in ("text_encoder", "text_encoder_2") if c in index]
    assert sum(CLIPTextConfig.from_pretrained(folder / c).hidden_size for c in text_encoders) == text_width
    for component in (c for c in ("tokenizer", "tokenizer_2") if c in index):
        tokenizer = json.loads((folder / component / "tokenizer_config.json").read_text())
        special = json.loads((folder / component / "special_tokens_map.json").read_text())
        assert tokenizer["model_max_length"] == 77 and special["eos_token"] == "<|endoftext|>"
    scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler_config["_class_name"] == index["scheduler"][1]
    scheduler = getattr(diffusers, scheduler_config["_class_name"]).from_config(scheduler_config)
    assert scheduler.config.prediction_type == prediction

    unet_config = UNet2DConditionModel.load_config(folder, subfolder="unet")
    vae_config = AutoencoderKL.load_config(folder, subfolder="vae")
    assert unet_config["cross_attention_dim"] == text_width
    with init_empty_weights():  # real sizes, no memory: the weights stay on the meta device
        unet, vae = UNet2DConditionModel.from_config(unet_config), AutoencoderKL.from_config(vae_config)
    unet_state, vae_state = unet.state_dict(), vae.state_dict()
    original = {**unet_to_original(unet_state, unet_config), **vae_to_original(vae_state, vae_config)}
    # diffusers' own converter takes GWEN's original-layout names back to exactly the model's tensors
    assert set(convert_ldm_unet_checkpoint(original, unet_config)) == set(unet_state)
    assert set(convert_ldm_vae_checkpoint(original, vae_config)) == set(vae_state)
    # and GWEN's detection agrees with diffusers' on a checkpoint of that shape
    xl_base = "conditioner.embedders.1.model.transformer.resblocks.9.mlp.c_proj.bias"  # diffusers' SDXL marker
    marker = {"sd1": SD1, "sd2": SD2, "sd2-v": SD2, "sdxl": {**SDXL, xl_base: (1280,)}}[config]
    checkpoint = {**original, **{k: torch.empty(shape, device="meta") for k, shape in marker.items() if k != UNET_IN}}
    filename = "v2-1_512.safetensors" if config == "sd2" else "v2-1_768.safetensors"
    kind = family_from_names({k: tuple(v.shape) for k, v in checkpoint.items()}, {}, filename)
    assert kind.config == config
    diffusers_type = {"sd1": "v1", "sd2": "v2", "sd2-v": "v2", "sdxl": "xl_base"}[config]
    assert infer_diffusers_model_type(checkpoint) == diffusers_type


def test_every_shipped_config_folder_is_a_family():
    assert sorted(p.name for p in CONFIGS.iterdir() if p.is_dir()) == ["sd1", "sd2", "sd2-v", "sdxl"]


# --- reading names cheaply ----------------------------------------------------------------------------------------
def test_names_come_from_the_header_alone(tmp_path, tiny_sd):
    from safetensors import safe_open

    path = make_checkpoint(tmp_path, tiny_sd)
    with safe_open(str(path), "pt") as handle:
        expected = set(handle.keys())
    data = path.read_bytes()
    header_only = tmp_path / "header-only.safetensors"
    header_only.write_bytes(data[:8 + int.from_bytes(data[:8], "little")])  # every tensor's bytes cut off
    assert set(tensor_names(header_only).names) == expected
    assert checkpoint_kind(header_only).family == "sd1"


def test_ckpt_names_come_from_its_pickle_without_running_it(tmp_path, tiny_sd):
    from safetensors import safe_open

    path = make_checkpoint(tmp_path, tiny_sd, "tiny.ckpt")
    with safe_open(str(make_checkpoint(tmp_path, tiny_sd, "same.safetensors")), "pt") as handle:
        expected = set(handle.keys())
    assert expected <= set(tensor_names(path).names)
    assert checkpoint_kind(path).family == "sd1"


# --- loading and rendering offline --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny.safetensors", "tiny.ckpt"])
def test_single_file_renders_like_its_folder_offline(studio, tiny_sd, home, name, no_hf_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = make_checkpoint(home / "models", tiny_sd, name)
    options = dict(n=1, seed=11, steps=3, guidance=5.0, width=64, height=64, scheduler="Euler a")
    [from_folder] = studio.generate("a red boat", model=tiny_sd, **options)
    [from_file] = studio.generate("a red boat", model=str(path), **options)
    assert from_file.params["model"] == str(path.resolve())
    assert studio.engine.loaded.source.kind == "file"
    # the shipped SD 1.x configs were used where the sidecar had none (the tiny folder's scheduler is Euler a)
    assert studio.engine.loaded.base_scheduler_config["_class_name"] == "PNDMScheduler"
    assert np.abs(pixels(studio, from_file) - pixels(studio, from_folder)).max() <= 1


def test_missing_tokenizer_is_reported_before_anything_loads(studio, tiny_sd, home, no_hf_cache):
    path = make_checkpoint(home / "models", tiny_sd, tokenizer=False)
    with pytest.raises(ModelUnavailable) as info:
        studio.generate("a red boat", model=str(path), n=1, steps=2, width=64, height=64)
    message = str(info.value)
    for part in ("vocab.json", "merges.txt", str(path.with_name("tiny.tokenizer")), str(home / "models" / "tokenizer"),
                 "openai/clip-vit-large-patch14"):
        assert part in message
    assert "download" in message and info.value.reason == "missing"
    assert nothing_written(home)


def test_shared_tokenizer_folder_serves_every_checkpoint(tmp_path, tiny_sd, no_hf_cache):
    from gwen.models import check_available

    path = make_checkpoint(tmp_path, tiny_sd, tokenizer=False)
    byte_level_tokenizer(tmp_path / "tokenizer")
    assert check_available(str(path), tmp_path).family == "sd1"
