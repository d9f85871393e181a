"""The ASGI app: FastAPI with one router per resource, behind ``gwen.http_guard.Guard``, one error shape."""

from __future__ import annotations

from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gwen.errors import CatalogBusy, Cancelled, DiskFull, GwenError, ModelUnavailable, NotFound
from gwen.http_guard import Guard
from gwen.service import (routes_edits, routes_images, routes_library, routes_queue, routes_render, routes_sdapi,
                          routes_settings)
from gwen.service.progress import Progress

MAX_BODY = 32 * 1024 * 1024


def create_app(studio, token: str, max_body: int = MAX_BODY, api_docs: bool = False,
               health: Callable[[], dict[str, Any]] | None = None):
    """The app over ``studio``; every route but ``/api/health`` needs ``token``. ``health()`` adds what the
    health route reports about the workers (a pool's replicas)."""
    app = FastAPI(title="GWEN", version="1", description="GWEN's facade over HTTP: generate, vary, upscale, "
                  "search, rate, lineage, queue.", docs_url="/docs" if api_docs else None,
                  redoc_url="/redoc" if api_docs else None, openapi_url="/openapi.json" if api_docs else None)
    install_error_handlers(app)
    app.include_router(routes_settings.router(studio, health or (lambda: {"workers": studio.engine_status().get(
        "workers", [])})))
    app.include_router(routes_images.router(studio))
    app.include_router(routes_library.router(studio))
    progress = Progress()  # the one watched render, which /api/progress and /sdapi/v1/progress both report
    app.include_router(routes_render.router(studio, progress))
    app.include_router(routes_edits.router(studio, progress))
    app.include_router(routes_sdapi.router(studio, progress))
    app.include_router(routes_queue.router(studio, routes_queue.RunnerBox(studio)))
    return Guard(app, token, max_body)


def status_for(exc: GwenError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, CatalogBusy):
        return 503
    if isinstance(exc, Cancelled):
        return 409
    if isinstance(exc, DiskFull):
        return 507
    return 400  # InvalidInput, ImageRejected, ModelUnavailable, and any other GwenError: the request's fault


def install_error_handlers(app: FastAPI) -> None:
    """One error shape everywhere: ``{"error": message, "type": kind}`` (a model's reason and hint too)."""

    @app.exception_handler(GwenError)
    async def gwen_error(request: Request, exc: GwenError):
        extra = exc.details() if isinstance(exc, ModelUnavailable) else {}
        return JSONResponse({"error": str(exc), "type": type(exc).__name__, **extra}, status_code=status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        return JSONResponse({"error": _validation_message(exc), "type": "InvalidInput"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # a bug: say what, not where (no paths, no traceback)
        return JSONResponse({"error": f"unexpected error ({type(exc).__name__}); the server's log has the details",
                             "type": "Internal"}, status_code=500)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path"))
        value = error.get("input")
        shown = f"={value!r}" if value is not None and not isinstance(value, (dict, list)) else ""
        parts.append(f"{where or 'request'}{shown}: {error.get('msg', 'invalid')}"[:300])
    return "; ".join(parts) or "invalid request"
