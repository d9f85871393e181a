"""Routes about the server itself: health (public: the workers and their state), the default model and
upscaler, what a model needs, checks of model and upscaler references, the prompt styles (list, save one, import
an A1111 styles.csv) and the engine's status."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import APIRouter

from gwen.service.bodies import CheckBody, SettingsBody, StyleBody, StyleImportBody


def router(studio, health: Callable[[], dict[str, Any]]) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.get("/health")
    def get_health() -> dict[str, Any]:
        return {"ok": True, **health()}

    @api.get("/settings")
    def get_settings() -> dict[str, Any]:
        return {"model": studio.default_model(), "upscaler": studio.default_upscaler(),
                "model_status": studio.model_status()}

    @api.post("/settings")
    def set_settings(body: SettingsBody) -> dict[str, Any]:
        if body.model is not None:
            studio.set_default_model(body.model)
        if body.upscaler is not None:
            studio.set_default_upscaler(body.upscaler)
        return get_settings()

    @api.get("/models")
    def list_models() -> dict[str, Any]:
        return {"models": studio.list_models(), "upscalers": studio.list_upscalers(), "loras": studio.list_loras()}

    @api.get("/models/status")
    def model_status(model: str | None = None) -> dict[str, Any]:
        return studio.model_status(model)

    @api.post("/models/check")
    def check(body: CheckBody) -> dict[str, Any]:
        studio.check_model(body.model)
        studio.check_upscaler(body.upscaler)
        return {"ok": True}

    @api.get("/styles")
    def list_styles() -> dict[str, Any]:
        return {"styles": studio.list_styles()}

    @api.post("/styles")
    def save_style(body: StyleBody) -> dict[str, Any]:
        return studio.save_style(body.name, body.prompt, body.negative_prompt)

    @api.post("/styles/import")
    def import_styles(body: StyleImportBody) -> dict[str, Any]:
        return studio.import_styles(body.csv, body.name)

    @api.get("/engine")
    def engine_status() -> dict[str, Any]:
        return {**studio.engine_status(), "default_model": studio.default_model()}

    return api
