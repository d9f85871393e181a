"""Diffusers tensor names back to the original (CompVis/ldm) single-file layout: the reverse of what
``from_single_file`` converts.

Contract:
- ``unet_to_original(state, config)``, ``vae_to_original(state, config)`` and ``clip_to_original(state)`` map
  one component's diffusers state dict to the ldm names a single-file checkpoint holds (``model.diffusion_model.``,
  ``first_stage_model.``, ``cond_stage_model.transformer.``), the tensors themselves untouched except the VAE's
  mid-block attention projections, which ldm keeps as 1×1 convolutions. Any key these maps do not know raises
  ``ValueError`` naming it: a checkpoint is never written with a part silently dropped.
- ``write_single_file(folder, target)`` turns a Stable Diffusion 1.x diffusers folder (the tiny test model
  included) into one ``.safetensors`` file, or a ``.ckpt`` (``torch.save`` of ``{"state_dict": ...}``).
  SD 2.x / XL text encoders (OpenCLIP) are not mapped: those folders raise ``ValueError``.
- Follows diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py, generalised to any number of
  blocks and layers (the tiny model has 2 levels and 1-2 layers per block).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}
_UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "norm2": "out_layers.0", "conv2": "out_layers.3",
                "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}
_VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
               "conv_shortcut": "nin_shortcut"}
_VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
_BLOCK = re.compile(r"(down_blocks|up_blocks)\.(\d+)\.(resnets|attentions|downsamplers|upsamplers)\.(\d+)\.(.+)")


def _resnet(rest: str, names: dict[str, str]) -> str:
    layer, _, leaf = rest.rpartition(".")
    if layer not in names:
        raise ValueError(f"unknown resnet layer {layer!r}")
    return f"{names[layer]}.{leaf}"


def _unet_key(key: str, config: dict) -> str:
    top, _, leaf = key.rpartition(".")
    if top in _UNET_TOP:
        return f"{_UNET_TOP[top]}.{leaf}"
    per_level = int(config["layers_per_block"]) + 1  # ldm: resnets of a level, then its down/upsampler
    match = _BLOCK.fullmatch(key)
    if match:
        blocks, level, part, j, rest = match.group(1), int(match.group(2)), match.group(3), int(match.group(4)), \
            match.group(5)
        if blocks == "down_blocks":
            if part == "downsamplers":
                return f"input_blocks.{per_level * (level + 1)}.0.op.{rest.removeprefix('conv.')}"
            where = f"input_blocks.{per_level * level + j + 1}"
        else:
            if part == "upsamplers":
                has_attention = config["up_block_types"][level].startswith("CrossAttn")
                return f"output_blocks.{per_level * level + per_level - 1}.{2 if has_attention else 1}.{rest}"
            where = f"output_blocks.{per_level * level + j}"
        return f"{where}.0.{_resnet(rest, _UNET_RESNET)}" if part == "resnets" else f"{where}.1.{rest}"
    match = re.fullmatch(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key)
    if match:
        if match.group(1) == "attentions":
            return f"middle_block.1.{match.group(3)}"
        return f"middle_block.{2 * int(match.group(2))}.{_resnet(match.group(3), _UNET_RESNET)}"
    raise ValueError(f"unknown UNet tensor {key!r}")


def unet_to_original(state: dict, config: dict) -> dict:
    """The UNet's tensors under ldm names (``model.diffusion_model.``)."""
    return {f"model.diffusion_model.{_unet_key(k, config)}": v for k, v in state.items()}


def _vae_key(key: str, config: dict) -> tuple[str, bool]:
    """The ldm name of a VAE tensor, and whether it is an attention projection (Linear in diffusers, 1×1 conv in
    ldm)."""
    levels = len(config["up_block_types"])
    simple = {"conv_norm_out": "norm_out", "conv_in": "conv_in", "conv_out": "conv_out"}
    match = re.fullmatch(r"(encoder|decoder)\.(.+)\.(weight|bias)", key)
    if not match:
        if re.fullmatch(r"(post_)?quant_conv\.(weight|bias)", key):
            return key, False
        raise ValueError(f"unknown VAE tensor {key!r}")
    side, body, leaf = match.groups()
    if body in simple:
        return f"{side}.{simple[body]}.{leaf}", False
    block = re.fullmatch(r"(down|up)_blocks\.(\d+)\.(resnets\.(\d+)|downsamplers\.0|upsamplers\.0)\.(.+)", body)
    if block:
        kind, level, part, j, layer = block.groups()
        ldm_level = int(level) if kind == "down" else levels - 1 - int(level)
        if part.startswith("resnets"):
            return f"{side}.{kind}.{ldm_level}.block.{j}.{_resnet(f'{layer}.{leaf}', _VAE_RESNET)}", False
        return f"{side}.{kind}.{ldm_level}.{kind}sample.{layer}.{leaf}", False
    mid = re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", body)
    if mid:
        return f"{side}.mid.block_{int(mid.group(1)) + 1}.{_resnet(f'{mid.group(2)}.{leaf}', _VAE_RESNET)}", False
    attention = re.fullmatch(r"mid_block\.attentions\.0\.(.+)", body)
    if attention and attention.group(1) in _VAE_ATTENTION:
        name = _VAE_ATTENTION[attention.group(1)]
        return f"{side}.mid.attn_1.{name}.{leaf}", leaf == "weight" and name != "norm"
    raise ValueError(f"unknown VAE tensor {key!r}")



def vae_to_original(state: dict, config: dict) -> dict:
    """The VAE's tensors under ldm names (``first_stage_model.``); attention weights reshaped to 1×1 convs."""
    out = {}
    for key, tensor in state.items():
        name, as_conv = _vae_key(key, config)
        out[f"first_stage_model.{name}"] = tensor.reshape(*tensor.shape, 1, 1) if as_conv else tensor
    return out


def clip_to_original(state: dict) -> dict:
    """The CLIP text encoder (SD 1.x) under ``cond_stage_model.transformer.text_model.``; transformers 5 saves
    the text model flattened (``embeddings...``), older versions under ``text_model.``."""
    return {f"cond_stage_model.transformer.text_model.{k.removeprefix('text_model.')}": v
            for k, v in state.items() if not k.endswith("position_ids")}


def write_single_file(folder: str | Path, target: str | Path) -> Path:
    """Write the SD 1.x diffusers pipeline in ``folder`` as one original-layout checkpoint at ``target``
    (``.safetensors``, else a ``.ckpt`` holding ``{"state_dict": ...}``); return ``target``."""
    from safetensors.torch import load_file, save_file

    folder, target = Path(folder), Path(target)
    index = json.loads((folder / "model_index.json").read_text())
    if "text_encoder_2" in index or json.loads((folder / "text_encoder" / "config.json").read_text()).get(
            "hidden_act") == "gelu":
        raise ValueError(f"{folder}: only SD 1.x folders (a CLIP ViT-L text encoder) can be written as a single file")

    def component(name: str) -> tuple[dict, dict]:
        weights = sorted((folder / name).glob("*.safetensors"))
        if not weights:
            raise ValueError(f"{folder / name}: no .safetensors weights")
        state = {}
        for path in weights:
            state.update(load_file(str(path)))
        return state, json.loads((folder / name / "config.json").read_text())

    unet, unet_config = component("unet")
    vae, vae_config = component("vae")
    text, _ = component("text_encoder")
    state = {**unet_to_original(unet, unet_config), **vae_to_original(vae, vae_config), **clip_to_original(text)}
    state = {k: v.contiguous() for k, v in state.items()}
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.suffix.lower() == ".safetensors":
        save_file(state, str(target))
    else:
        import torch

        torch.save({"state_dict": state}, str(target))
    return target
