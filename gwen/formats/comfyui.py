"""ComfyUI: the API graph in a PNG ``prompt`` chunk (or a WebP's EXIF ``Model`` tag, ``prompt:{...}``).

Contract:
- ``read_comfyui(prompt_json, size)`` returns ``Fields`` read from the sampler that made the saved image: the
  graph is walked back from the ``SaveImage`` node (else another saver or preview node) through its ``images``
  link, VAE decodes, image and latent upscales and any other node's first image/latent link, to the first
  sampler (``KSampler``, ``KSamplerAdvanced``, ``SamplerCustom``, ``SamplerCustomAdvanced`` or any
  ``KSampler...`` custom node). With no saver that leads to one, the sampler no other sampler feeds on is taken.
- From that sampler: seed (``seed`` / ``noise_seed`` / the ``noise`` node's), steps, guidance (``cfg``, or the
  guider's), scheduler (``sampler_name`` + ``scheduler``, or the ``sampler`` / ``sigmas`` nodes'), denoise (when
  below 1), prompt and negative_prompt (through conditioning nodes to the text encoders), model (the checkpoint or
  UNet file name as written) and ``loras`` (the LoRA loaders on its model link: ``{"name": lora_name, "weight":
  strength_model, "hash": None}``), width/height (its empty latent's, else the saved image's ``size``).
- ``other_seeds``: the seeds of every other sampler in the graph, in node-id order (a base pass of a hires or
  refiner graph), so the whole image can be traced.
- Raises ``Damaged`` for text that is not a JSON object or a graph with no sampler. ``parse_comfyui`` is the
  params dict alone (``{}`` when damaged).
"""

from __future__ import annotations

from typing import Any

from gwen.formats.common import Damaged, Fields, json_object

WHAT = "ComfyUI 'prompt' graph"
_SAMPLERS = ("KSampler", "KSamplerAdvanced", "SamplerCustom", "SamplerCustomAdvanced")
_FOLLOW = ("samples", "images", "image", "pixels", "latent", "latent_image", "input")
_TEXT_KEYS = ("text", "text_g", "prompt", "string", "value")
_CONDITIONING = ("conditioning", "conditioning_1", "conditioning_to", "positive", "base_conditioning")
_SCHEDULE_NODES = {"KarrasScheduler": "karras", "ExponentialScheduler": "exponential"}
_MAX_HOPS = 64


def parse_comfyui(prompt_json: str, size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Read the sampler, prompts, checkpoint and latent size out of ComfyUI's API graph."""
    try:
        return read_comfyui(prompt_json, size).params
    except Damaged:
        return {}


def read_comfyui(prompt_json: str, size: tuple[int, int] | None = None) -> Fields:
    graph = json_object(prompt_json, WHAT)
    nodes = {str(k): v for k, v in graph.items()
             if isinstance(v, dict) and isinstance(v.get("class_type"), str)}
    for node in nodes.values():
        if not isinstance(node.get("inputs"), dict):
            node["inputs"] = {}
    samplers = sorted((i for i, n in nodes.items() if _is_sampler(n)), key=_order)
    if not samplers:
        raise Damaged(WHAT, "no sampler node (KSampler, SamplerCustom, ...)")
    chosen = _saved_sampler(nodes) or _last_sampler(nodes, samplers)
    found = Fields()
    graph_reader = _Graph(nodes)
    graph_reader.read_sampler(found, nodes[chosen], size)
    if not set(found.params) - {"width", "height"}:
        raise found.nothing_found(f"{WHAT} (sampler node {chosen})")
    others = [graph_reader.seed(nodes[i]) for i in samplers if i != chosen]
    others = [s for s in others if isinstance(s, int) and not isinstance(s, bool)]
    if others:
        found.params["other_seeds"] = others
    return found


def _is_sampler(node: dict) -> bool:
    return node["class_type"] in _SAMPLERS or node["class_type"].startswith("KSampler")


def _order(node_id: str) -> tuple:
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in node_id.split(":"))


def _link(value: Any, nodes: dict) -> str | None:
    if isinstance(value, list) and len(value) == 2 and str(value[0]) in nodes:
        return str(value[0])
    return None


def _saved_sampler(nodes: dict) -> str | None:
    """The sampler behind the first saver (``SaveImage``, else any ``*Save*`` / ``*Preview*`` node) that has one."""
    save_image = sorted((i for i, n in nodes.items() if n["class_type"] == "SaveImage"), key=_order)
    others = sorted((i for i, n in nodes.items() if n["class_type"] != "SaveImage" and "images" in n["inputs"]
                     and ("Save" in n["class_type"] or "Preview" in n["class_type"])), key=_order)
    for saver in save_image + others:
        current, seen = _link(nodes[saver]["inputs"].get("images"), nodes), set()
        while current is not None and current not in seen and len(seen) < _MAX_HOPS:
            seen.add(current)
            node = nodes[current]
            if _is_sampler(node):
                return current
            inputs = node["inputs"]
            names = [k for k in _FOLLOW if _link(inputs.get(k), nodes)] or \
                [k for k, v in inputs.items() if _link(v, nodes)]
            current = _link(inputs[names[0]], nodes) if names else None
    return None


def _last_sampler(nodes: dict, samplers: list[str]) -> str:
    """The sampler whose latent no other sampler takes (the last pass), else the last by node id."""
    fed = set()
    for sampler in samplers:
        current, seen = _link(nodes[sampler]["inputs"].get("latent_image"), nodes), set()
        while current is not None and current not in seen and len(seen) < _MAX_HOPS:
            seen.add(current)
            if _is_sampler(nodes[current]):
                fed.add(current)
            inputs = nodes[current]["inputs"]
            current = next((_link(inputs[k], nodes) for k in _FOLLOW if _link(inputs.get(k), nodes)), None)
    last = [s for s in samplers if s not in fed]
    return last[-1] if last else samplers[-1]


class _Graph:
    """Values of one graph's nodes, following links (literal widgets converted to inputs, primitive nodes)."""

    def __init__(self, nodes: dict):
        self.nodes = nodes

    def node(self, value: Any) -> dict | None:
        link = _link(value, self.nodes)
        return self.nodes[link] if link else None

    def value(self, value: Any, keys: tuple[str, ...] = ("value",), depth: int = 0) -> Any:
        """A literal, or the first of ``keys`` on the node a link points at (followed a few hops)."""
        node = self.node(value)
        if node is None:
            return None if isinstance(value, list) else value
        if depth > 8:
            return None
        inputs = node["inputs"]
        for key in (*keys, "value", "int", "float", "number", "string", "text", "seed", "noise_seed"):
            if key in inputs:
                return self.value(inputs[key], keys, depth + 1)
        return None

    def via(self, sampler: dict, key: str, link_key: str, link_input: str, keys: tuple[str, ...]) -> Any:
        """``sampler[key]``, else ``link_input`` on the node ``sampler[link_key]`` points at."""
        inputs = sampler["inputs"]
        if key in inputs:
            return self.value(inputs[key], keys)
        node = self.node(inputs.get(link_key))
        if node is not None and link_input in node["inputs"]:
            return self.value(node["inputs"][link_input], keys)
        return None

    def seed(self, sampler: dict) -> Any:
        inputs = sampler["inputs"]
        for key in ("seed", "noise_seed"):
            if key in inputs:
                return self.value(inputs[key], ("seed", "noise_seed"))
        return self.via(sampler, "noise_seed", "noise", "noise_seed", ("noise_seed", "seed"))

    def read_sampler(self, found: Fields, sampler: dict, size: tuple[int, int] | None) -> None:
        inputs = sampler["inputs"]
        found.int("seed", self.seed(sampler), "seed")
        found.int("steps", self.via(sampler, "steps", "sigmas", "steps", ("steps",)), "steps")
        found.float("guidance", self.via(sampler, "cfg", "guider", "cfg", ("cfg",)), "cfg")
        name = self.via(sampler, "sampler_name", "sampler", "sampler_name", ("sampler_name",))
        schedule = self.via(sampler, "scheduler", "sigmas", "scheduler", ("scheduler",))
        sigmas = self.node(inputs.get("sigmas"))
        if schedule is None and sigmas is not None:
            schedule = _SCHEDULE_NODES.get(sigmas["class_type"])
        found.scheduler(name, schedule, "sampler_name")
        denoise = self.via(sampler, "denoise", "sigmas", "denoise", ("denoise",))
        if isinstance(denoise, (int, float)) and not isinstance(denoise, bool) and 0 < denoise < 1:
            found.params["denoise"] = float(denoise)
        guider = self.node(inputs.get("guider"))
        conditioning = guider["inputs"] if guider is not None else inputs
        positive = self.text(conditioning.get("positive", conditioning.get("conditioning")))
        if positive is not None:
            found.params["prompt"] = positive
        negative = self.text(conditioning.get("negative"))
        if negative is not None:
            found.params["negative_prompt"] = negative
        self.model(found, inputs.get("model", conditioning.get("model")))
        latent = self.node(inputs.get("latent_image"))
        if latent is not None and "width" in latent["inputs"] and "height" in latent["inputs"]:
            found.size(self.value(latent["inputs"]["width"]), self.value(latent["inputs"]["height"]))
        elif size:
            found.params["width"], found.params["height"] = size

    def text(self, link: Any, depth: int = 0) -> str | None:
        node = self.node(link)
        if node is None or depth > 16:
            return None
        inputs = node["inputs"]
        for key in _TEXT_KEYS:
            value = inputs.get(key)
            if isinstance(value, str):
                return value
            if isinstance(value, list):
                return self.text(value, depth + 1)
        if "positive" in inputs and "negative" in inputs:  # e.g. ControlNetApplyAdvanced: output 1 is the negative
            return self.text(inputs["negative" if link[1] == 1 else "positive"], depth + 1)
        for key in _CONDITIONING:
            if key in inputs:
                return self.text(inputs[key], depth + 1)
        return None

    def model(self, found: Fields, link: Any) -> None:
        loras, node, hops = [], self.node(link), 0
        while node is not None and hops < _MAX_HOPS:
            hops += 1
            inputs = node["inputs"]
            if isinstance(inputs.get("lora_name"), str):
                weight = self.value(inputs.get("strength_model", 1.0))
                if isinstance(weight, (int, float)) and not isinstance(weight, bool):
                    loras.append({"name": inputs["lora_name"], "weight": float(weight), "hash": None})
            for key in ("ckpt_name", "unet_name", "model_name"):
                if isinstance(inputs.get(key), str):
                    found.params["model"] = inputs[key]
                    node = None
                    break
            else:
                node = self.node(inputs.get("model"))
        if loras:
            found.params["loras"] = loras[::-1]  # as loaded: nearest the checkpoint first
