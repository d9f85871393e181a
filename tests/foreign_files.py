"""Files as other tools write them, for import tests (adapted from the research notes' fixture recipes).

Each builder returns the file's bytes, written the way the tool writes it:
- PNG text with Pillow's ``add_text`` (tEXt, or iTXt for text Latin-1 cannot hold), in the tool's chunk order;
- A1111 JPEG/WebP: the image saved by Pillow, then an EXIF block as piexif's ``dump`` + ``insert`` make it (a
  big-endian TIFF whose Exif IFD holds UserComment = ``UNICODE\\0`` + UTF-16BE; in a JPEG the APP1 segment
  replaces the JFIF APP0 one; in a WebP the EXIF chunk holds the bare TIFF). piexif is not a GWEN dependency, so
  the TIFF is built here; ``byte_order="II"`` + ``utf-16-le`` gives the little-endian variant other tools write;
- stealth: bits in the alpha channel (or R, G, B) low bits, column by column, as sd-webui-stealth-pnginfo does;
- Fooocus JPEG/WebP: Pillow's ``Image.Exif`` with UserComment, Software and MakerNote in IFD0, as Fooocus does.
The payloads below are the research notes' examples (real files' key sets and orders).
"""

from __future__ import annotations

import gzip
import io
import json
import struct
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

SIZE = (64, 64)


def blank(color=(40, 80, 120), size=SIZE) -> Image.Image:
    return Image.new("RGB", size, color)


def png(texts: list[tuple[str, str]], image: Image.Image | None = None) -> bytes:
    info = PngInfo()
    for key, value in texts:
        info.add_text(key, value)
    buffer = io.BytesIO()
    (image or blank()).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


def write_png(path: Path, chunks: dict[str, str], size=(64, 64)) -> Path:
    """A PNG file at ``path`` with ``chunks`` as iTXt (UTF-8, as GWEN writes its own)."""
    info = PngInfo()
    for key, value in chunks.items():
        info.add_itxt(key, value)
    Image.new("RGB", size, (30, 90, 160)).save(path, pnginfo=info)
    return path


# --- A1111 / Forge -----------------------------------------------------------------------------------------------
A1111_TEXT = (
    "masterpiece, 1girl, café <lora:add_detail:0.5> <lora:lcm-lora-sdv1-5:1>\n"
    "Negative prompt: easynegative, lowres\n"
    "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7.0, Seed: 1234567890, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, VAE hash: 735e4c3a44, "
    "VAE: vae-ft-mse-840000-ema-pruned.safetensors, Variation seed: 987654321, Variation seed strength: 0.25, "
    "Denoising strength: 0.45, Clip skip: 2, Hires upscale: 2, Hires steps: 10, Hires upscaler: R-ESRGAN 4x+ Anime6B, "
    'Lora hashes: "add_detail: 7c6bad76eb54, lcm-lora-sdv1-5: 1a9d2a3e54b6", TI hashes: "easynegative: c74b4e810b03", '
    "Version: v1.10.1")


def a1111_png(infotext: str = A1111_TEXT) -> bytes:
    return png([("parameters", infotext)])


def user_comment(text: str, encoding: str = "utf-16-be") -> bytes:
    """The UserComment value: piexif's ``UserComment.dump(text, encoding="unicode")`` (or another prefix)."""
    if encoding == "ascii":
        return b"ASCII\x00\x00\x00" + text.encode("ascii", "replace")
    return b"UNICODE\x00" + text.encode(encoding)


def exif_tiff(comment: bytes, byte_order: str = "MM") -> bytes:
    """A TIFF block as ``piexif.dump({"Exif": {UserComment: comment}})`` lays it out (without ``Exif\\0\\0``)."""
    e = ">" if byte_order == "MM" else "<"
    exif_ifd = 8 + 2 + 12 + 4  # header, IFD0 with one entry (the Exif IFD pointer), next-IFD offset
    data = exif_ifd + 2 + 12 + 4
    head = byte_order.encode() + struct.pack(e + "HI", 42, 8)
    ifd0 = struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x8769, 4, 1, exif_ifd) + struct.pack(e + "I", 0)
    sub = struct.pack(e + "H", 1) + struct.pack(e + "HHII", 0x9286, 7, len(comment), data) + struct.pack(e + "I", 0)
    return head + ifd0 + sub + comment


def with_exif(tiff: bytes, fmt: str = "JPEG", image: Image.Image | None = None) -> bytes:
    """Save with Pillow, then put the EXIF block in as ``piexif.insert`` does."""
    buffer = io.BytesIO()
    image = image or blank()
    if fmt == "WEBP":  # piexif: VP8X + image + EXIF chunk holding the bare TIFF (Pillow lays a WebP out the same way)
        image.save(buffer, "WEBP", quality=80, exif=tiff)
        return buffer.getvalue()
    image.save(buffer, "JPEG", quality=80)
    data = buffer.getvalue()
    assert data[2:4] == b"\xff\xe0"  # Pillow's JFIF APP0, which piexif's merge_segments replaces
    app0_end = 4 + struct.unpack(">H", data[4:6])[0]
    payload = b"Exif\x00\x00" + tiff
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[app0_end:]


def a1111_exif(infotext: str = A1111_TEXT, fmt: str = "JPEG", encoding: str = "utf-16-be",
               byte_order: str = "MM") -> bytes:
    return with_exif(exif_tiff(user_comment(infotext, encoding), byte_order), fmt)


# --- stealth pnginfo -----------------------------------------------------------------------------------------------
def stealth(payload: bytes, mode: str = "alpha", compressed: bool = True, image: Image.Image | None = None,
            length_bits: int | None = None, signature: bytes | None = None) -> Image.Image:
    """Hide ``payload`` as sd-webui-stealth-pnginfo does (``length_bits`` and ``signature`` override the header, to
    build damaged files)."""
    image = image or blank((9, 9, 9))
    signature = signature or f"stealth_{'png' if mode == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}".encode()
    if compressed:
        payload = gzip.compress(payload, mtime=0)
    length = len(payload) * 8 if length_bits is None else length_bits
    bits = np.unpackbits(np.frombuffer(signature + struct.pack(">I", length) + payload, np.uint8))
    room = image.width * image.height * (1 if mode == "alpha" else 3)
    assert bits.size <= room, f"{bits.size} bits do not fit in {image.size} ({mode})"
    if mode == "alpha":
        pixels = np.array(image.convert("RGBA"))
        channel = pixels[..., 3].T.reshape(-1).copy()  # column-major: x outer, y inner
        channel[:] = 255  # putalpha(255) first
        channel[:bits.size] = (channel[:bits.size] & 0xFE) | bits
        pixels[..., 3] = channel.reshape(pixels.shape[1], pixels.shape[0]).T
        return Image.fromarray(pixels, "RGBA")
    pixels = np.array(image.convert("RGB"))
    flat = pixels.transpose(1, 0, 2).reshape(-1).copy()  # x outer, y inner, then R, G, B
    flat[:bits.size] = (flat[:bits.size] & 0xFE) | bits
    return Image.fromarray(flat.reshape(pixels.shape[1], pixels.shape[0], 3).transpose(1, 0, 2), "RGB")


def stealth_png(payload: bytes, **kwargs) -> bytes:
    return png([], stealth(payload, **kwargs))


# --- ComfyUI -------------------------------------------------------------------------------------------------------
def _node(class_type: str, title: str, **inputs) -> dict:
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title}}


COMFY_HIRES = {  # base pass + latent hires pass; SaveImage is fed by the second sampler (node 12)
    "4": _node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="v1-5-pruned-emaonly.safetensors"),
    "10": _node("LoraLoader", "Load LoRA", lora_name="add_detail.safetensors", strength_model=0.6, strength_clip=0.6,
                model=["4", 0], clip=["4", 1]),
    "6": _node("CLIPTextEncode", "CLIP Text Encode (Prompt)", text="masterpiece, a cozy cabin in the snowy woods",
               clip=["10", 1]),
    "7": _node("CLIPTextEncode", "CLIP Text Encode (Prompt)", text="lowres, blurry", clip=["10", 1]),
    "5": _node("EmptyLatentImage", "Empty Latent Image", width=512, height=768, batch_size=1),
    "3": _node("KSampler", "KSampler", seed=156680208700286, steps=20, cfg=7.0, sampler_name="dpmpp_2m",
               scheduler="karras", denoise=1.0, model=["10", 0], positive=["6", 0], negative=["7", 0],
               latent_image=["5", 0]),
    "11": _node("LatentUpscaleBy", "Upscale Latent By", upscale_method="nearest-exact", scale_by=2.0,
                samples=["3", 0]),
    "12": _node("KSampler", "KSampler (hires)", seed=156680208700287, steps=12, cfg=7.0,
                sampler_name="euler_ancestral", scheduler="normal", denoise=0.5, model=["10", 0], positive=["6", 0],
                negative=["7", 0], latent_image=["11", 0]),
    "8": _node("VAEDecode", "VAE Decode", samples=["12", 0], vae=["4", 2]),
    "9": _node("SaveImage", "Save Image", filename_prefix="ComfyUI", images=["8", 0]),
}

COMFY_REFINER = {  # SDXL base + refiner (KSamplerAdvanced); the refiner has the LOWER node id and feeds SaveImage
    "30": _node("CheckpointLoaderSimple", "Base", ckpt_name="sd_xl_base_1.0.safetensors"),
    "31": _node("CheckpointLoaderSimple", "Refiner", ckpt_name="sd_xl_refiner_1.0.safetensors"),
    "32": _node("CLIPTextEncode", "Positive", text="a lighthouse at dusk", clip=["30", 1]),
    "33": _node("CLIPTextEncode", "Negative", text="text, watermark", clip=["30", 1]),
    "34": _node("CLIPTextEncode", "Refiner positive", text="a lighthouse at dusk, sharp", clip=["31", 1]),
    "35": _node("CLIPTextEncode", "Refiner negative", text="blur", clip=["31", 1]),
    "36": _node("EmptyLatentImage", "Empty Latent Image", width=1024, height=1024, batch_size=1),
    "40": _node("KSamplerAdvanced", "Base sampler", add_noise="enable", noise_seed=111, steps=25, cfg=8.0,
                sampler_name="euler", scheduler="normal", start_at_step=0, end_at_step=20,
                return_with_leftover_noise="enable", model=["30", 0], positive=["32", 0], negative=["33", 0],
                latent_image=["36", 0]),
    "2": _node("KSamplerAdvanced", "Refiner sampler", add_noise="disable", noise_seed=222, steps=25, cfg=8.0,
               sampler_name="dpmpp_2m", scheduler="karras", start_at_step=20, end_at_step=10000,
               return_with_leftover_noise="disable", model=["31", 0], positive=["34", 0], negative=["35", 0],
               latent_image=["40", 0]),
    "41": _node("VAEDecode", "VAE Decode", samples=["2", 0], vae=["31", 2]),
    "42": _node("SaveImage", "Save Image", filename_prefix="ComfyUI", images=["41", 0]),
}

COMFY_CUSTOM = {  # FLUX-style SamplerCustomAdvanced: every setting lives on another node
    "1": _node("UNETLoader", "Load Diffusion Model", unet_name="flux1-dev.safetensors", weight_dtype="default"),
    "2": _node("CLIPTextEncode", "Prompt", text="a red fox in the snow", clip=["9", 0]),
    "3": _node("RandomNoise", "RandomNoise", noise_seed=424242),
    "4": _node("CFGGuider", "CFGGuider", cfg=3.5, model=["1", 0], positive=["2", 0], negative=["10", 0]),
    "5": _node("KSamplerSelect", "KSamplerSelect", sampler_name="euler"),
    "6": _node("BasicScheduler", "BasicScheduler", scheduler="simple", steps=28, denoise=1.0, model=["1", 0]),
    "7": _node("EmptySD3LatentImage", "EmptySD3LatentImage", width=1024, height=768, batch_size=1),
    "8": _node("SamplerCustomAdvanced", "SamplerCustomAdvanced", noise=["3", 0], guider=["4", 0], sampler=["5", 0],
               sigmas=["6", 0], latent_image=["7", 0]),
    "10": _node("CLIPTextEncode", "Negative", text="", clip=["9", 0]),
    "11": _node("VAEDecode", "VAE Decode", samples=["8", 0], vae=["12", 0]),
    "13": _node("SaveImage", "Save Image", filename_prefix="flux", images=["11", 0]),
}


def comfy_png(prompt: dict, workflow: dict | None = None) -> bytes:
    texts = [("prompt", json.dumps(prompt))]
    if workflow is not None:
        texts.append(("workflow", json.dumps(workflow)))
    return png(texts, blank((0, 0, 0)))


def comfy_webp(prompt: dict, workflow: dict | None = None) -> bytes:
    """ComfyUI's SaveAnimatedWEBP: the graphs in EXIF IFD0 ``Model`` (``prompt:{...}``) and ``Make`` (``workflow:``)."""
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(prompt)
    if workflow is not None:
        exif[0x010F] = "workflow:" + json.dumps(workflow)
    buffer = io.BytesIO()
    blank((0, 0, 0)).save(buffer, "WEBP", exif=exif, lossless=False, quality=80)
    return buffer.getvalue()


# --- InvokeAI --------------------------------------------------------------------------------------------------------
INVOKE2_DREAM = '"a fantasy castle on a hill [blurry, lowres]" -s 50 -S 3914633383 -W 512 -H 512 -C 7.5 -A k_lms'
INVOKE2_META = {
    "model": "stable diffusion", "model_weights": "stable-diffusion-1.5",
    "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516", "app_id": "invoke-ai/InvokeAI",
    "app_version": "2.3.5",
    "image": {"prompt": [{"prompt": "a fantasy castle on a hill [blurry, lowres]", "weight": 1.0}], "steps": 50,
              "cfg_scale": 7.5, "threshold": 0, "perlin": 0, "height": 512, "width": 512, "seed": 3914633383,
              "seamless": False, "hires_fix": False, "type": "txt2img", "postprocessing": None, "sampler": "k_lms",
              "variations": [{"seed": 1111, "weight": 0.1}]}}

INVOKE3_META = {
    "app_version": "3.3.0post3", "generation_mode": "txt2img", "positive_prompt": "landscape",
    "negative_prompt": "low quality", "width": 768, "height": 432, "seed": 356120443, "rand_device": "cpu",
    "cfg_scale": 7.5, "steps": 50, "scheduler": "dpmpp_2m_sde_k", "clip_skip": 0,
    "model": {"model_name": "amixx_3Prunedfp16", "base_model": "sd-1", "model_type": "main"}, "controlnets": [],
    "ipAdapters": [], "t2iAdapters": [],
    "loras": [{"lora": {"model_name": "add_detail", "base_model": "sd-1"}, "weight": 0.75}],
    "vae": {"model_name": "sd-vae-ft-mse", "base_model": "sd-1"}}

INVOKE5_META = {
    "generation_mode": "sdxl_txt2img", "positive_prompt": "dark abstract colored painting, 猫",
    "negative_prompt": "image frame", "width": 832, "height": 1216, "seed": 1554095076, "rand_device": "cpu",
    "cfg_scale": 15.0, "cfg_rescale_multiplier": 0.0, "steps": 50, "scheduler": "euler", "seamless_x": False,
    "seamless_y": False,
    "model": {"key": "9f583d2f-deab-4f43-aa68-8a4e356fc753",
              "hash": "blake3:6a225d4481ff0def4ed7362c009a9902403d8cd7bbc0b082a687a01376582f24",
              "name": "duchaitenRealnsfwXL_v10", "base": "sdxl", "type": "main"},
    "loras": [{"model": {"key": "5b1c", "hash": "blake3:0123abcd", "name": "add-detail-xl", "base": "sdxl",
                         "type": "lora"}, "weight": 0.75}],
    "positive_style_prompt": "dark abstract colored painting", "negative_style_prompt": "image frame", "regions": [],
    "app_version": "5.4.3"}


def invoke2_png(dream: str | None = INVOKE2_DREAM, sd_metadata: str | None = None) -> bytes:
    texts = []
    if dream is not None:
        texts.append(("Dream", dream))
    if sd_metadata is not None:
        texts.append(("sd-metadata", sd_metadata))
    return png(texts)


def invoke3_png(metadata: str | None = None, workflow: str = '{"name": "", "nodes": [], "edges": []}') -> bytes:
    return png([("invokeai_metadata", json.dumps(INVOKE3_META) if metadata is None else metadata),
                ("invokeai_workflow", workflow)])


def invoke5_png(metadata: str | None = None) -> bytes:
    def dump(value):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # pydantic's model_dump_json
    graph = {"id": "sdxl_graph:7LKd5LqgBD", "nodes": {}, "edges": []}
    return png([("invokeai_metadata", dump(INVOKE5_META) if metadata is None else metadata),
                ("invokeai_graph", dump(graph))])


# --- Fooocus -------------------------------------------------------------------------------------------------------
FOOOCUS_JSON = json.dumps(dict(sorted({
    "adm_guidance": "(1.5, 0.8, 0.3)", "base_model": "juggernautXL_v8Rundiffusion", "base_model_hash": "aeb7e9e689",
    "full_negative_prompt": ["(worst quality, low quality, normal quality, lowres, low details:1.4)"],
    "full_prompt": ["a red fox in the snow", "a red fox in the snow, intricate, elegant, highly detailed"],
    "guidance_scale": 4.0, "lora_combined_1": "sd_xl_offset_example-lora_1.0 : 0.1",
    "loras": [["sd_xl_offset_example-lora_1.0", 0.1, "4852686128"]], "metadata_scheme": "fooocus",
    "negative_prompt": "", "performance": "Speed", "prompt": "a red fox in the snow",
    "prompt_expansion": "a red fox in the snow, intricate, elegant, highly detailed", "refiner_model": "None",
    "refiner_switch": 0.5, "resolution": "(1152, 896)", "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras",
    "seed": "1234567890", "sharpness": 2.0, "steps": 30,
    "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']", "vae": "Default (model)",
    "version": "Fooocus v2.5.5"}.items())))

FOOOCUS_A1111 = (
    "a red fox in the snow, a red fox in the snow, intricate, elegant, highly detailed\n"
    "Negative prompt: (worst quality, low quality:1.4)\n"
    "Steps: 30, Sampler: DPM++ 2M SDE Karras, Seed: 1234567890, Size: 1152x896, CFG scale: 4.0, Sharpness: 2.0, "
    'ADM Guidance: "(1.5, 0.8, 0.3)", Model: juggernautXL_v8Rundiffusion, Model hash: aeb7e9e689, '
    "Performance: Speed, Scheduler: karras, VAE: Default (model), Raw prompt: a red fox in the snow, "
    'Raw negative prompt: , Lora hashes: "sd_xl_offset_example-lora_1.0: 4852686128", '
    'Lora weights: "sd_xl_offset_example-lora_1.0: 0.1", Version: Fooocus v2.5.5')


def fooocus_png(parameters: str = FOOOCUS_JSON, scheme: str = "fooocus") -> bytes:
    return png([("parameters", parameters), ("fooocus_scheme", scheme)])


def fooocus_exif(parameters: str = FOOOCUS_JSON, scheme: str = "fooocus", fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x9286] = parameters  # UserComment, in IFD0 (Fooocus's get_exif)
    exif[0x0131] = "Fooocus v2.5.5"  # Software
    exif[0x927C] = scheme  # MakerNote
    buffer = io.BytesIO()
    options = dict(quality=95, optimize=True, progressive=True) if fmt == "JPEG" else dict(quality=95, lossless=False)
    blank().save(buffer, fmt, exif=exif, **options)
    return buffer.getvalue()


# --- NovelAI -------------------------------------------------------------------------------------------------------
NOVELAI_PROMPT = "2girls,side-by-side,symmetrical pose,masterpiece, best quality, absurdres"
NOVELAI_COMMENT = {
    "prompt": NOVELAI_PROMPT, "steps": 28, "height": 832, "width": 1216, "scale": 5.0, "uncond_scale": 0.0,
    "cfg_rescale": 0.0, "seed": 210306140, "n_samples": 1, "hide_debug_overlay": False, "noise_schedule": "native",
    "legacy_v3_extend": False, "reference_information_extracted_multiple": [], "reference_strength_multiple": [],
    "sampler": "k_euler_ancestral", "controlnet_strength": 1.0, "controlnet_model": None,
    "dynamic_thresholding": False, "sm": False, "sm_dyn": False, "lora_unet_weights": None,
    "lora_clip_weights": None, "version": 1,
    "uc": "lowres, {bad}, error, fewer, extra, missing, worst quality, jpeg artifacts",
    "request_type": "PromptGenerateRequest", "signed_hash": "nM6vZLFGJWW7SH2xc4lpRY9sJGbPQKXaUzhUVX/u2NvCAyLg9abn90XB"}


def novelai_texts(comment: str | None = None, description: str = NOVELAI_PROMPT) -> list[tuple[str, str]]:
    return [("Title", "AI generated image"), ("Description", description), ("Software", "NovelAI"),
            ("Source", "Stable Diffusion XL C1E1DE52"), ("Generation time", "6.494704299024306"),
            ("Comment", json.dumps(NOVELAI_COMMENT) if comment is None else comment)]


def novelai_png(comment: str | None = None, description: str = NOVELAI_PROMPT, with_text: bool = True) -> bytes:
    """NovelAI's PNG: its text chunks, and the same chunks (less Title) as gzip'd JSON in the alpha bits."""
    texts = novelai_texts(comment, description)
    payload = json.dumps({k: v for k, v in texts if k != "Title"}).encode()
    return png(texts if with_text else [], stealth(payload, "alpha", True, blank((200, 200, 200), (128, 128))))
