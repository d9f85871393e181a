"""The user's defaults (model, upscaler) and what a model or upscaler reference needs before it can be used.

Contract:
- ``default_model()``: ``GWEN_MODEL`` / ``settings.toml`` / the device's preset (decided without importing
  torch); ``default_upscaler()``: ``GWEN_UPSCALER`` / ``settings.toml`` / ``x4plus``.
- ``set_default_model(ref)`` / ``set_default_upscaler(ref)`` validate the reference through the studio's
  ``ModelBoundary`` (a served studio refuses paths outside its models folder), save it in
  ``$GWEN_HOME/settings.toml`` and use it from now on in this process.
- ``check_model`` / ``check_upscaler`` refuse now a reference that could never load (no network, no torch);
  ``model_status`` says what a model needs before it renders: ``ready``, ``download``, ``builds`` or
  ``missing``.
- ``list_models()`` / ``list_upscalers()`` / ``list_loras()``: the presets and what lies in the models folder
  (``gwen.model_list``); nothing is loaded.
- ``style_book()`` / ``list_styles()``: the prompt styles (``gwen.styles``: built-in, ``styles.toml``,
  ``styles.csv``), read afresh each time so an edited file counts at once (a damaged row or file is skipped, the
  rest works). ``save_style`` and ``import_styles`` (an A1111 styles.csv's text) validate everything first, then
  add or replace rows of ``$GWEN_HOME/styles.csv``, keeping its other rows as they were.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from gwen.boundary import ModelBoundary
from gwen.config import Settings, save_setting
from gwen.errors import InvalidInput, ModelUnavailable
from gwen.presets import default_model, preset_for, preset_named


class Preferences:
    def __init__(self, home: Path, boundary: ModelBoundary, settings: Settings):
        self.home = home
        self.boundary = boundary
        self.settings = settings

    def default_model(self) -> str:
        if self.settings.model:
            return self.settings.model
        from gwen.memory import likely_device

        return default_model(likely_device(self.settings.device))

    def default_upscaler(self) -> str:
        from gwen.upscale import DEFAULT_UPSCALER

        return self.settings.upscaler or DEFAULT_UPSCALER

    def set_default_model(self, ref: str) -> str:
        ref = str(ref or "").strip()
        if not ref:
            raise InvalidInput("model='': name a preset, a Hugging Face id, a folder or a checkpoint file")
        self.check_model(ref)
        save_setting(self.home, "model", ref)
        self.settings = replace(self.settings, model=ref)
        return ref

    def set_default_upscaler(self, ref: str) -> str:
        ref = str(ref or "").strip()
        if not ref:
            raise InvalidInput("upscaler='': name a preset or a model file")
        self.check_upscaler(ref)
        save_setting(self.home, "upscaler", ref)
        self.settings = replace(self.settings, upscaler=ref)
        return ref

    def check_model(self, ref: str | None) -> None:
        from gwen.models import resolve_model

        if ref and preset_named(ref) is None:
            resolve_model(ref, self.boundary)

    def check_upscaler(self, ref: str | None) -> None:
        from gwen.upscale import UPSCALER_PRESETS

        if ref and ref not in UPSCALER_PRESETS:
            located = self.boundary.locate(ref, "upscaler")
            if located is None or not located.is_file():
                raise ModelUnavailable(f"upscaler {ref!r}: not a preset ({', '.join(UPSCALER_PRESETS)}) and no "
                                       "such file", model=ref, reason="missing")

    def list_models(self) -> list[dict[str, Any]]:
        from gwen.model_list import list_models

        return list_models(self.boundary.models_dir)

    def list_upscalers(self) -> list[dict[str, Any]]:
        from gwen.model_list import list_upscalers

        return list_upscalers(self.boundary.models_dir)

    def list_loras(self) -> list[dict[str, Any]]:
        from gwen.model_list import list_loras

        return list_loras(self.boundary.models_dir)

    def style_book(self):
        from gwen.styles import StyleBook

        return StyleBook.load(self.home)

    def list_styles(self) -> list[dict[str, Any]]:
        return [style.to_dict() for style in self.style_book().list()]

    def save_style(self, name: str, prompt: str, negative_prompt: str = "") -> dict[str, Any]:
        from gwen.styles import make_style, save_csv

        return save_csv(self.home, [make_style(name, prompt, negative_prompt)])

    def import_styles(self, text: str | bytes, name: str = "styles.csv") -> dict[str, Any]:
        from gwen.styles import read_csv, save_csv

        styles = read_csv(text, name)
        if not styles:
            raise InvalidInput(f"{name}: holds no styles (rows of name, prompt, negative_prompt under the header)")
        return save_csv(self.home, styles)

    def model_status(self, ref: str | None = None) -> dict[str, Any]:
        from gwen import hub

        ref = ref or self.default_model()
        preset = preset_for(ref)
        return {"model": ref, "label": preset.label if preset else ref,
                "availability": hub.availability(ref, self.boundary),
                "from_environment": bool(os.environ.get("GWEN_MODEL")) and ref == os.environ.get("GWEN_MODEL")}
