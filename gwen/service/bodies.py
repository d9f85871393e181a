"""Request bodies of the service's routes (pydantic; unknown fields are refused with 422)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateBody(Body):
    prompt: str
    negative: str = ""
    model: str | None = None
    n: int = 4
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    scheduler: str | None = None
    variations: list[dict[str, Any]] | None = None  # a kept noise chain ("use these settings" of a variation)
    init_image_id: str | None = None  # img2img from this catalog image ...
    denoise: float | None = None  # ... with this much of it re-noised
    styles: list[str] | None = None  # prompt styles (gwen.styles) applied to prompt and negative, in order


class RenderBody(Body):
    params: list[dict[str, Any]]


class RerollBody(Body):
    n: int = 4
    seed: int | None = None


class VaryBody(Body):
    strength: str | float = "subtle"
    modes: str | list[str] = "mix"
    n: int = 4
    prompt: str | None = None
    locks: list[str] = []
    guidance_range: tuple[float, float] | None = None
    steps_range: tuple[int, int] | None = None
    schedulers: list[str] | None = None
    seed: int | None = None
    model: str | None = None  # render the children with this model instead of the parent's
    denoise_range: tuple[float, float] | None = None  # bounds for a jittered img2img denoise
    taste: str | float | None = None  # 0..1: lean toward the rated images' liked values (the studio checks it: 400)


class RenderPlannedBody(Body):
    children: list[dict[str, Any]]
    plan: dict[str, Any]


class UpscaleBody(Body):
    model: str | None = None  # None: the server's default upscaler
    scale: float | None = None
    tile: int | None = None
    pre_shrink: float = 1.0


class RateBody(Body):
    stars: int


class FavoriteBody(Body):
    on: bool = True


class TagBody(Body):
    tags: list[str]
    remove: bool = False


class SettingsBody(Body):
    model: str | None = None
    upscaler: str | None = None


class CheckBody(Body):
    model: str | None = None
    upscaler: str | None = None


class ExportBody(Body):
    format: str  # zip, parquet or csv
    query: dict[str, Any] = {}


class QueueBody(Body):
    filename: str
    content: str
    defaults: dict[str, Any] = {}
    then: list[dict[str, Any]] | None = None  # follow-ups for every generate job (typed prompts)


class StyleBody(Body):
    name: str
    prompt: str = ""
    negative_prompt: str = ""


class StyleImportBody(Body):
    csv: str  # an A1111 styles.csv's text
    name: str = "styles.csv"  # how messages name it
