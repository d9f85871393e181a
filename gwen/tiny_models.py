"""Tiny random-weight models built locally, for tests, benchmarks and the offline demo.

Contract:
- ``build_tiny_sd(target)`` writes a complete Stable Diffusion pipeline folder
  (tiny UNet, tiny VAE with a scale factor of 2, 2-layer CLIP text encoder and
  a byte-level CLIP tokenizer made from a local vocab) with
  ``save_pretrained`` and returns its path. It is loaded back through the
  ordinary ``from_pretrained`` path, like any downloaded model.
- Weights come from a fixed torch seed: two builds give identical files'
  tensors, so the ``tiny`` preset renders the same pixels in every GWEN_HOME.
- ``build_sd15_shape(target, dtype)`` writes a pipeline with Stable Diffusion
  1.5's true shapes (860 M-parameter UNet, SD VAE, 12-layer CLIP text
  encoder) and random weights: what the benchmarks use to measure real
  compute and memory cost where real weights cannot be downloaded.
- ``build_tiny_lora(tiny_sd, target)`` writes a LoRA for the tiny UNet's
  attention projections (``to_q``, ``to_k``, ``to_v``, ``to_out.0``; rank 4,
  random non-zero A and B from a fixed seed) with peft and diffusers'
  ``save_lora_weights``: a file ``load_lora_weights`` reads like a downloaded
  one (needs peft).
- Nothing here touches the network.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

TINY_SD_DIRNAME = "tiny-sd"
_WEIGHT_SEED = 20240229


def _byte_level_vocab() -> dict[str, int]:
    # GPT-2 style byte-to-unicode table: every byte has a printable symbol.
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    vocab: dict[str, int] = {}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def build_tiny_sd(target: str | os.PathLike) -> Path:
    """Write the tiny pipeline into ``target`` (a folder); return the folder."""
    import torch
    from diffusers import AutoencoderKL, EulerAncestralDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    vocab = _byte_level_vocab()
    tokenizer = byte_level_tokenizer(target / ".tokenizer-src")

    state = torch.random.get_rng_state()
    torch.manual_seed(_WEIGHT_SEED)
    try:
        unet = UNet2DConditionModel(
            block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            cross_attention_dim=32, norm_num_groups=32, attention_head_dim=8)
        vae = AutoencoderKL(
            block_out_channels=(32, 64), in_channels=3, out_channels=3,
            down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
            up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
            latent_channels=4, norm_num_groups=32, sample_size=64)
        text_encoder = CLIPTextModel(CLIPTextConfig(
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
            hidden_size=32, intermediate_size=37, layer_norm_eps=1e-5, num_attention_heads=4,
            num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=77, projection_dim=32))
    finally:
        torch.random.set_rng_state(state)
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                num_train_timesteps=1000, steps_offset=1)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(target, safe_serialization=True)
    shutil.rmtree(target / ".tokenizer-src")
    return target


def build_sd15_shape(target: str | os.PathLike, dtype=None) -> Path:
    """Write an SD1.5-shape pipeline with random weights (fixed seed) into ``target``; return the folder."""
    return _build_full_shape(target, dtype, turbo=False)


def build_sd_turbo_shape(target: str | os.PathLike, dtype=None) -> Path:
    """Write an SD-Turbo-shape pipeline (SD 2.1's UNet with linear projections and 1024-wide cross-attention,
    OpenCLIP ViT-H's 23-layer text encoder, the SD VAE; trailing Euler timesteps) with random weights."""
    return _build_full_shape(target, dtype, turbo=True)


def _build_full_shape(target: str | os.PathLike, dtype, turbo: bool) -> Path:
    import torch
    from diffusers import (AutoencoderKL, DPMSolverMultistepScheduler, EulerDiscreteScheduler,
                           StableDiffusionPipeline, UNet2DConditionModel)
    from transformers import CLIPTextConfig, CLIPTextModel

    target = Path(target)
    vocab = _byte_level_vocab()
    tokenizer = byte_level_tokenizer(target / ".tokenizer-src")
    width, heads, layers, inner = (1024, 16, 23, 4096) if turbo else (768, 12, 12, 3072)
    state = torch.random.get_rng_state()
    torch.manual_seed(0)
    try:
        unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=width,
                                    attention_head_dim=(5, 10, 20, 20) if turbo else 8,
                                    use_linear_projection=turbo,
                                    block_out_channels=(320, 640, 1280, 1280), layers_per_block=2)
        vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                            sample_size=512)
        text = CLIPTextModel(CLIPTextConfig(hidden_size=width, intermediate_size=inner, num_attention_heads=heads,
                                            num_hidden_layers=layers, vocab_size=49408, max_position_embeddings=77,
                                            hidden_act="gelu" if turbo else "quick_gelu",
                                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                                            pad_token_id=vocab["<|endoftext|>"]))
    finally:
        torch.random.set_rng_state(state)
    common = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)
    scheduler = EulerDiscreteScheduler(timestep_spacing="trailing", **common) if turbo else \
        DPMSolverMultistepScheduler(use_karras_sigmas=True, **common)
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, unet=unet, scheduler=scheduler, tokenizer=tokenizer,
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    if dtype is not None:
        pipe.to(dtype=dtype)
    pipe.save_pretrained(target, safe_serialization=True)
    shutil.rmtree(target / ".tokenizer-src")
    return target


def build_tiny_lora(tiny_sd: str | os.PathLike, target: str | os.PathLike, seed: int = 7, scale: float = 0.3,
                    rank: int = 4) -> Path:
    """Write a LoRA for the tiny pipeline in ``tiny_sd`` to ``target`` (a ``.safetensors`` path); return it."""
    import torch
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict

    target = Path(target)
    unet = UNet2DConditionModel.from_pretrained(Path(tiny_sd) / "unet")
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    generator = torch.Generator("cpu").manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(unet.named_parameters()):
            if ".lora_A." in name or ".lora_B." in name:
                param.copy_(torch.randn(param.shape, generator=generator) * scale)
    target.parent.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(target.parent, unet_lora_layers=get_peft_model_state_dict(unet),
                                              weight_name=target.name, safe_serialization=True)
    return target


def byte_level_tokenizer(folder: Path):
    """A CLIP tokenizer over the 256 byte symbols (no merges): enough to drive a real text encoder offline."""
    from transformers import CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(_byte_level_vocab()), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)


def ensure_tiny_sd(models_dir: Path) -> Path:
    """The tiny pipeline under ``models_dir``, built on first use (atomically, by folder rename)."""
    target = models_dir / TINY_SD_DIRNAME
    if (target / "model_index.json").exists():
        return target
    models_dir.mkdir(parents=True, exist_ok=True)
    staging = models_dir / f".{TINY_SD_DIRNAME}.{os.getpid()}.building"
    build_tiny_sd(staging)
    try:
        os.replace(staging, target)
    except OSError:  # another process won the race: keep theirs
        shutil.rmtree(staging, ignore_errors=True)
    return target
