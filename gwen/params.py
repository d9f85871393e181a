"""The frozen, validated description of everything that determines an image.

Contract:
- ``ImageParams`` is immutable and rejects unknown fields. Building one with a
  bad value raises ``InvalidInput`` whose message names the field, the value
  and the rule (``steps=0: must be an integer from 1 to 150``).
- Two params with the same fields have the same ``canonical_json()`` and the
  same ``params_hash()`` (sorted keys, no whitespace, UTF-8).
- ``infotext()`` renders the A1111 "parameters" text that A1111's PNG Info and
  Civitai read; ``gwen.pnginfo`` parses it back.
- Scheduler names are the familiar A1111 ones; ``canonical_scheduler`` accepts
  loose spellings (``euler_a``, ``dpmpp_2m_karras``) and returns the canonical
  name or raises.
- LoRAs: the prompt's A1111 tags (``<lora:NAME:WEIGHT>``, ``gwen.prompt_tags``)
  are the source of truth; ``loras`` is a tuple of ``LoraRef`` {name, weight,
  hash} always rebuilt from them (in order, weights from the tags), keeping a
  hash given for the same name (``gwen.lora`` fills the hashes from the files
  before rendering). An empty ``loras`` is left out of ``to_dict()`` and of the
  canonical JSON, so params without LoRAs keep the ids and hashes they had
  before the field existed; ``infotext()`` writes A1111's ``Lora hashes``.
- ``edit`` (``gwen.edit_spec.EditSpec``: Vary Region, Pan, Zoom Out of
  ``init_image_id``, ``denoise`` its strength) is likewise left out when None;
  ``infotext()`` writes A1111's "Mask blur", "Inpaint area", "Masked content".
- ``styles``: the names of the prompt styles (``gwen.styles``) the prompt and negative were expanded with; the
  prompt fields hold the expanded text, which is what renders. Left out when empty, like ``loras``;
  ``infotext()`` writes them as "Styles array" (the key A1111's PNG Info gives the styles it finds).

No torch, no I/O: this module is safe to import anywhere (light installs too).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from gwen.edit_spec import EditSpec
from gwen.errors import InvalidInput
from gwen.prompt_tags import check_lora_name, check_lora_weight, lora_tags
from gwen.styles import check_names as check_style_names

MAX_PROMPT_CHARS = 2000
MAX_STEPS = 150
MAX_GUIDANCE = 30.0
MIN_SIDE = 64
MAX_SIDE = 2048
MAX_PIXELS = 2048 * 2048
SIZE_MULTIPLE = 8
MAX_SEED = 2**32 - 1
MAX_IMAGES_PER_REQUEST = 64
MAX_VARIATION_CHAIN = 16

# Familiar names, in the order a picker shows them. gwen.engine maps each to a
# diffusers scheduler class and config.
SCHEDULERS: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DPM++ 2M SDE Karras",
    "DDIM",
    "PNDM",
    "LMS",
    "LMS Karras",
    "Heun",
    "UniPC",
    "LCM",
    "Turbo",  # Euler with trailing timesteps: what SD-Turbo/SDXL-Turbo were distilled for
)


def _scheduler_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower().replace("++", "pp").replace("ancestral", " a"))


_SCHEDULER_BY_KEY = {_scheduler_key(n): n for n in SCHEDULERS}
_SCHEDULER_BY_KEY.update({"eulerancestral": "Euler a", "dpmpp2mkarras": "DPM++ 2M Karras",
                          "dpmpp2msdekarras": "DPM++ 2M SDE Karras", "lmskarras": "LMS Karras",
                          "eulertrailing": "Turbo", "unipcmultistep": "UniPC"})


def canonical_scheduler(name: str) -> str:
    """Return the canonical scheduler name for a loose spelling, or raise InvalidInput."""
    found = _SCHEDULER_BY_KEY.get(_scheduler_key(str(name)))
    if found is None:
        raise InvalidInput(f"scheduler={name!r}: unknown scheduler; choose one of: {', '.join(SCHEDULERS)}")
    return found


class NoiseVariation(BaseModel):
    """One seed-noise variation step: blend the noise so far towards ``seed``'s noise by ``strength``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seed: int
    strength: float

    @field_validator("seed")
    @classmethod
    def _seed(cls, v: int) -> int:
        _check_seed("variation seed", v)
        return v

    @field_validator("strength")
    @classmethod
    def _strength(cls, v: float) -> float:
        if not (0.0 <= v <= 1.0) or math.isnan(v):
            raise ValueError(f"variation strength={v!r}: must be between 0 and 1")
        return v


class LoraRef(BaseModel):
    """One LoRA an image was rendered with: its name in the lora folder, its weight and its A1111 short hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    weight: float = 1.0
    hash: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_lora_name(v)

    @field_validator("weight", mode="before")
    @classmethod
    def _weight(cls, v: Any) -> float:
        return check_lora_weight(v)

    @field_validator("hash")
    @classmethod
    def _hash(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-fA-F]{8,64}", v):
            raise ValueError(f"LoRA hash={v!r}: must be 8 to 64 hexadecimal digits (A1111 writes 12)")
        return v.lower() if v else None


def _given_hashes(given: Any) -> dict[str, str | None]:
    if not isinstance(given, (list, tuple)):
        raise ValueError(f"loras={given!r}: must be a list of {{name, weight, hash}} tables")
    hashes = {}
    for entry in given:
        if isinstance(entry, LoraRef):
            hashes[entry.name] = entry.hash
        elif isinstance(entry, dict) and isinstance(entry.get("name"), str):
            hashes[entry["name"]] = entry.get("hash")
        else:
            raise ValueError(f"loras entry {entry!r}: must be a table with name, weight and hash")
    return hashes


def prompt_problem(prompt: str) -> str | None:
    """Why ``prompt`` cannot be rendered (the same words everywhere a prompt is typed), or None."""
    if not prompt or not prompt.strip():
        return f"prompt={prompt!r}: must contain some text (not empty or only whitespace)"
    if len(prompt) > MAX_PROMPT_CHARS:
        return f"prompt of {len(prompt)} characters: must be at most {MAX_PROMPT_CHARS} characters"
    return None


def check_prompt(prompt: str) -> str:
    """``prompt`` if it can be rendered, else InvalidInput with the rule (what Home and Generate both show)."""
    problem = prompt_problem(prompt)
    if problem:
        raise InvalidInput(problem)
    return prompt


def _check_seed(label: str, v: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int) or not (0 <= v <= MAX_SEED):
        raise ValueError(f"{label}={v!r}: must be an integer from 0 to {MAX_SEED}")


class ImageParams(BaseModel):
    """Everything that determines one image. Frozen; unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    negative_prompt: str = ""
    model: str
    scheduler: str = "Euler a"
    steps: int = 25
    guidance: float = 7.0
    width: int = 512
    height: int = 512
    seed: int = 0
    # Seed-noise variations, applied in order to the seed's noise (A1111's variation
    # seed is a chain of one). A variation of a variation appends one step.
    variations: tuple[NoiseVariation, ...] = ()
    # img2img: the catalog id of the init image, and how much of it is re-noised.
    init_image_id: str | None = None
    denoise: float | None = None
    # LoRAs, rebuilt from the prompt's <lora:NAME:WEIGHT> tags (see the module's contract).
    loras: tuple[LoraRef, ...] = ()
    # An edit of init_image_id (Vary Region, Pan, Zoom Out; gwen.edit_spec), denoise being its strength.
    edit: EditSpec | None = None
    # The prompt styles the prompt and negative were expanded with (gwen.styles), in order; a record, not a recipe.
    styles: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _loras_follow_tags(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("prompt"), str):
            return data
        tags = lora_tags(data["prompt"])  # InvalidInput is a ValueError: reported like any other rule
        hashes = _given_hashes(data.get("loras") or ())
        return {**data, "loras": tuple({"name": n, "weight": w, "hash": hashes.get(n)} for n, w in tags)}

    @field_validator("prompt")
    @classmethod
    def _prompt(cls, v: str) -> str:
        problem = prompt_problem(v)
        if problem:
            raise ValueError(problem)
        return v

    @field_validator("negative_prompt")
    @classmethod
    def _negative(cls, v: str) -> str:
        if len(v) > MAX_PROMPT_CHARS:
            raise ValueError(f"negative prompt of {len(v)} characters: must be at most {MAX_PROMPT_CHARS} characters")
        return v

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not v or not v.strip():
            raise ValueError("model='': name a model (a preset, a Hugging Face id, a folder or a checkpoint file)")
        return v.strip()

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str) -> str:
        try:
            return canonical_scheduler(v)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("steps", mode="before")
    @classmethod
    def _steps(cls, v: Any) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not (1 <= v <= MAX_STEPS):
            raise ValueError(f"steps={v!r}: must be an integer from 1 to {MAX_STEPS}")
        return v

    @field_validator("guidance", mode="before")
    @classmethod
    def _guidance(cls, v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v) or not (0 <= v <= MAX_GUIDANCE):
            raise ValueError(f"guidance={v!r}: must be a number from 0 to {MAX_GUIDANCE:g}")
        return float(v)

    @field_validator("width", "height", mode="before")
    @classmethod
    def _side(cls, v: Any, info) -> int:
        name = info.field_name
        if isinstance(v, bool) or not isinstance(v, int) or not (MIN_SIDE <= v <= MAX_SIDE) or v % SIZE_MULTIPLE:
            raise ValueError(f"{name}={v!r}: must be a multiple of {SIZE_MULTIPLE} from {MIN_SIDE} to {MAX_SIDE}")
        return v

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> int:
        _check_seed("seed", v)
        return v

    @field_validator("denoise")
    @classmethod
    def _denoise(cls, v: float | None) -> float | None:
        if v is not None and (math.isnan(v) or not (0.0 < v <= 1.0)):
            raise ValueError(f"denoise={v!r}: must be greater than 0 and at most 1")
        return v

    @field_validator("styles", mode="before")
    @classmethod
    def _styles(cls, v: Any) -> tuple[str, ...]:
        if not isinstance(v, (list, tuple)) or not all(isinstance(n, str) for n in v):
            raise ValueError(f"styles={v!r}: must be a list of style names")
        return check_style_names(v)  # InvalidInput is a ValueError

    @field_validator("variations")
    @classmethod
    def _chain(cls, v: tuple) -> tuple:
        if len(v) > MAX_VARIATION_CHAIN:
            raise ValueError(f"{len(v)} chained variations: at most {MAX_VARIATION_CHAIN}")
        return v

    @model_validator(mode="after")
    def _whole(self) -> "ImageParams":
        if self.width * self.height > MAX_PIXELS:
            raise ValueError(f"size={self.width}x{self.height}: at most {MAX_PIXELS:,} pixels (e.g. 2048x2048)")
        if (self.init_image_id is None) != (self.denoise is None):
            raise ValueError("img2img needs both init_image_id and denoise (or neither)")
        if self.edit is not None and self.init_image_id is None:
            raise ValueError(f"edit {self.edit.describe()!r}: needs init_image_id (the image edited) and denoise "
                             "(the strength)")
        if self.denoise is not None and int(self.steps * self.denoise) < 1:
            least = math.ceil(1000 / self.steps) / 1000
            raise ValueError(f"denoise={self.denoise:g} with steps={self.steps}: img2img runs steps × denoise "
                             f"steps, which must be at least 1 (raise denoise to {least:g} or add steps)")
        return self

    # --- construction -----------------------------------------------------
    @classmethod
    def build(cls, **fields: Any) -> "ImageParams":
        """Validate ``fields``; raise InvalidInput naming each bad value and its rule."""
        try:
            return cls(**fields)
        except ValidationError as exc:
            raise InvalidInput(_explain(exc)) from None

    def replace(self, **changes: Any) -> "ImageParams":
        """A validated copy with ``changes`` applied."""
        return ImageParams.build(**{**self.model_dump(), **changes})

    @classmethod
    def from_json(cls, text: str | dict) -> "ImageParams":
        data = json.loads(text) if isinstance(text, str) else dict(text)
        return cls.build(**data)

    # --- identity -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if not data["loras"]:
            del data["loras"]  # params without LoRAs keep their pre-LoRA canonical JSON, hash and ids
        if not data["styles"]:
            del data["styles"]  # likewise for params without styles
        if self.edit is None:
            del data["edit"]  # likewise for params that are not an edit
        else:
            data["edit"] = self.edit.to_dict()
        return data

    def canonical_json(self) -> str:
        return canonical_json(self.to_dict())

    def params_hash(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def is_img2img(self) -> bool:
        return self.init_image_id is not None

    # --- A1111 infotext ------------------------------------------------------
    def infotext(self, extra: dict[str, Any] | None = None) -> str:
        """A1111's ``parameters`` text: prompt, ``Negative prompt:`` line, key: value line."""
        lines = [self.prompt]
        if self.negative_prompt:
            lines.append(f"Negative prompt: {self.negative_prompt}")
        fields: dict[str, Any] = {
            "Steps": self.steps,
            "Sampler": self.scheduler,
            "CFG scale": f"{self.guidance:g}",
            "Seed": self.seed,
            "Size": f"{self.width}x{self.height}",
            "Model": self.model,
        }
        hashed = [lora for lora in self.loras if lora.hash]
        if hashed:  # A1111: Lora hashes: "name: 0123456789ab, other: ..."
            fields["Lora hashes"] = ", ".join(f"{lora.name.replace(':', '').replace(',', '')}: {lora.hash}"
                                              for lora in hashed)
        if self.styles:
            fields["Styles array"] = json.dumps(list(self.styles), ensure_ascii=False)
        if len(self.variations) == 1:
            fields["Variation seed"] = self.variations[0].seed
            fields["Variation seed strength"] = f"{self.variations[0].strength:g}"
        elif self.variations:
            fields["Variation chain"] = " ".join(f"{v.seed}:{v.strength:g}" for v in self.variations)
        if self.is_img2img:
            fields["Denoising strength"] = f"{self.denoise:g}"
            fields["Init image"] = self.init_image_id
        if self.edit is not None:  # A1111's inpaint fields, and what GWEN's edit was
            fields.update({"Mask blur": self.edit.mask_blur, "Inpaint area": "Whole picture",
                           "Masked content": "original" if self.edit.kind == "inpaint" else "fill",
                           "Edit": self.edit.describe(), "Mask sha256": self.edit.mask_sha256})
        fields.update(extra or {})
        lines.append(", ".join(f"{k}: {_quote(v)}" for k, v in fields.items() if v is not None and v != ""))
        return "\n".join(lines)


def _quote(value: Any) -> str:
    text = str(value)
    if any(c in text for c in ',:\n"'):
        return json.dumps(text)  # A1111 reads quoted values back with json.loads
    return text


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _explain(exc: ValidationError) -> str:
    messages = []
    for err in exc.errors():
        msg = err.get("msg", "")
        msg = msg.removeprefix("Value error, ")
        loc = ".".join(str(p) for p in err.get("loc", ()))
        if err.get("type") == "extra_forbidden":
            msg = f"{loc}: unknown parameter"
        elif err.get("type") == "missing":
            msg = f"{loc}: required"
        elif not msg.startswith(loc.split(".")[0]) and loc and "=" not in msg.split(":")[0]:
            msg = f"{loc}={err.get('input')!r}: {msg}"
        messages.append(msg)
    return "; ".join(messages)
