"""``python -m gwen serve``: the facade over HTTP (FastAPI), for a dashboard or CLI on another machine.

Contract:
- ``gwen.http_guard.Guard`` stands in front of every route: the token
  (``Authorization: Bearer <token>``, or HTTP Basic with the token as the
  password) is checked from the headers before any body is read, compared in
  constant time; a missing or wrong token gets 401 and nothing is done. Only
  ``/api/health`` is public. Bodies over ``max_body`` bytes get 413, whether
  declared or chunked, counted as they stream. The server refuses to bind a
  non-loopback address without a token; on loopback without one it makes a
  random token and saves it (0600) in ``$GWEN_HOME/service.token``. A token
  (file or ``GWEN_TOKEN``) has at least 16 characters.
- The served studio is confined to ``$GWEN_HOME/models``
  (``gwen.boundary``): whatever path a request, a record or a batch names,
  no model or upscaler file outside it is opened, and every refusal reads the
  same whatever is at that path.
- Every error is JSON ``{"error": message, "type": kind}``: 400 for invalid
  values or files, 422 for a malformed request, 404 for unknown ids (also any
  id that is not a well-formed id: no path from a request reaches the
  filesystem), 503 when the catalog stays busy, 409 when a job was cancelled,
  507 when the disk is full, 500 (without details) for a bug.
- Routes return the same JSON shapes as the CLI (``{"images": [...]}``,
  records as ``ImageRecord.to_dict()``); image and thumbnail bytes come from
  ``/api/images/{id}/file`` and ``/thumbnail``. ``/api/progress`` reports the
  running render, ``/api/cancel`` stops it. /docs, /redoc and /openapi.json
  exist only with ``--api-docs`` (and then behind the token).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import threading
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from gwen.errors import (CatalogBusy, Cancelled, DiskFull, GwenError, ImageRejected, InvalidInput, ModelUnavailable,
                         NotFound)
from gwen.http_guard import Guard
from gwen.records import Filter, SearchQuery, parse_day

MAX_BODY = 32 * 1024 * 1024
MIN_TOKEN = 16


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GenerateBody(_Body):
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


class RerollBody(_Body):
    n: int = 4
    seed: int | None = None


class VaryBody(_Body):
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


class RenderPlannedBody(_Body):
    children: list[dict[str, Any]]
    plan: dict[str, Any]


class UpscaleBody(_Body):
    model: str | None = None  # None: the server's default upscaler
    scale: float | None = None
    tile: int | None = None
    pre_shrink: float = 1.0


class RateBody(_Body):
    stars: int


class FavoriteBody(_Body):
    on: bool = True


class TagBody(_Body):
    tags: list[str]
    remove: bool = False


class SettingsBody(_Body):
    model: str | None = None
    upscaler: str | None = None


class QueueBody(_Body):
    filename: str
    content: str
    defaults: dict[str, Any] = {}
    then: list[dict[str, Any]] | None = None  # follow-ups for every generate job (typed prompts)


def _status_for(exc: GwenError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, CatalogBusy):
        return 503
    if isinstance(exc, Cancelled):
        return 409
    if isinstance(exc, DiskFull):
        return 507
    if isinstance(exc, (InvalidInput, ImageRejected, ModelUnavailable)):
        return 400
    return 400


def _images(records) -> dict[str, Any]:
    return {"images": [r.to_dict() for r in records]}


class _Progress:
    """The running render's progress and latest previews (PNG, base64), for ``/api/progress``."""

    def __init__(self):
        self.lock = threading.Lock()
        self.state = self._idle()
        self.cancel = threading.Event()

    @staticmethod
    def _idle() -> dict[str, Any]:
        return {"running": False, "done": 0, "total": 0, "what": None, "previews": {}, "preview_serial": 0}

    def start(self, what: str):
        self.cancel.clear()
        with self.lock:
            self.state = {**self._idle(), "running": True, "what": what}

        def on_step(done: int, total: int) -> None:
            with self.lock:
                self.state.update(done=done, total=total)
        return on_step

    def preview(self, first: int, images: list) -> None:
        import base64
        import io

        encoded = {}
        for offset, image in enumerate(images):
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            encoded[str(first + offset)] = base64.b64encode(buffer.getvalue()).decode()
        with self.lock:
            self.state["previews"] = {**self.state["previews"], **encoded}
            self.state["preview_serial"] += 1

    def snapshot(self, previews: bool) -> dict[str, Any]:
        with self.lock:
            state = dict(self.state)
        return state if previews else {k: v for k, v in state.items() if k != "previews"}

    def finish(self):
        with self.lock:
            self.state = self._idle()


def create_app(studio, token: str, max_body: int = MAX_BODY, api_docs: bool = False):
    """The ASGI app over ``studio``: FastAPI routes behind ``gwen.http_guard.Guard`` (the token before any body,
    the streamed body limit, security headers). ``api_docs`` serves /docs, /redoc and /openapi.json (behind the
    token like everything else); they are off by default."""
    app = FastAPI(title="GWEN", version="1", description="GWEN's facade over HTTP: generate, vary, upscale, "
                  "search, rate, lineage, queue.", docs_url="/docs" if api_docs else None,
                  redoc_url="/redoc" if api_docs else None, openapi_url="/openapi.json" if api_docs else None)
    progress = _Progress()
    runner_box: dict[str, Any] = {}
    install_error_handlers(app)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    def rendering(what: str, work):
        """Run ``work(on_step, cancel, on_preview)`` as the one watched render (``/api/progress``,
        ``/api/cancel``)."""
        on_step = progress.start(what)
        try:
            return work(on_step, progress.cancel, progress.preview)
        finally:
            progress.finish()

    @app.post("/api/generate")
    def generate(body: GenerateBody) -> dict[str, Any]:
        options = body.model_dump()
        prompt = options.pop("prompt")
        return _images(rendering("generate", lambda s, c, v: studio.generate(prompt, on_step=s, cancel=c, on_preview=v,
                                                                             **options)))

    @app.post("/api/images/{image_id}/reroll")
    def reroll(image_id: str, body: RerollBody) -> dict[str, Any]:
        return _images(rendering("reroll", lambda s, c, v: studio.reroll(image_id, body.n, body.seed, on_step=s,
                                                                         on_preview=v,
                                                                      cancel=c)))

    def vary_options(body: VaryBody) -> dict[str, Any]:
        return body.model_dump()

    @app.post("/api/images/{image_id}/vary")
    def vary(image_id: str, body: VaryBody) -> dict[str, Any]:
        return _images(rendering("vary", lambda s, c, v: studio.vary(image_id, on_step=s, cancel=c, on_preview=v,
                                                                  **vary_options(body))))

    @app.post("/api/images/{image_id}/vary/plan")
    def plan_variations(image_id: str, body: VaryBody) -> dict[str, Any]:
        parent, children, plan = studio.plan_variations(image_id, **vary_options(body))
        return {"parent": parent.to_dict(), "children": [c.to_dict() for c in children],
                "plan": {**plan.to_dict(), "remix_prompt": plan.remix_prompt}}

    @app.post("/api/images/{image_id}/vary/render")
    def render_planned(image_id: str, body: RenderPlannedBody) -> dict[str, Any]:
        from gwen.params import ImageParams
        from gwen.variation import VariationPlan

        children = [ImageParams.from_json(c) for c in body.children]
        plan = VariationPlan(float(body.plan["strength"]), tuple(body.plan["modes"]), body.plan.get("preset"),
                             body.plan.get("remix_prompt"))
        return _images(rendering("vary", lambda s, c, v: studio.render_planned(image_id, children, plan, on_step=s,
                                                                               on_preview=v,
                                                                            cancel=c)))

    @app.post("/api/images/{image_id}/upscale")
    def upscale(image_id: str, body: UpscaleBody) -> dict[str, Any]:
        full_id = studio.resolve(image_id)  # an id, never a path on the server
        options = body.model_dump()
        return _images([rendering("upscale", lambda s, c, v: studio.upscale(full_id, **options))])

    @app.post("/api/import")
    def import_files(file: list[UploadFile]) -> dict[str, Any]:
        """One or more uploaded images, all or nothing; errors name the file as the client named it."""
        items = [(Path(f.filename or "upload.png").name or "upload.png", f.file.read()) for f in file]
        result = studio.import_files(items)
        return {"images": [r.to_dict() for r in result["imported"]], "skipped": result["skipped"],
                "notes": result["notes"]}

    def search_query(text: str | None = None, filter: list[str] = Query(default=[]),  # noqa: A002
                     model: str | None = None, op: str | None = None, min_rating: int | None = None,
                     favorite: bool | None = None, tag: list[str] = Query(default=[]), since: str | None = None,
                     until: str | None = None, only_deleted: bool = False, include_deleted: bool = False,
                     sort: str = "created_at", descending: bool = True, limit: int = 50,
                     offset: int = 0) -> SearchQuery:
        return SearchQuery(text=text, filters=tuple(Filter.parse(f) for f in filter), model=model, op=op,
                           min_rating=min_rating, favorite=favorite, tags=tuple(tag),
                           since=parse_day(since, "since") if since else None,
                           until=parse_day(until, "until") if until else None, only_deleted=only_deleted,
                           include_deleted=include_deleted, sort=sort, descending=descending, limit=limit,
                           offset=offset)

    @app.get("/api/images")
    def search(query: SearchQuery = Depends(search_query)) -> dict[str, Any]:
        records, total = studio.search(query)
        return {**_images(records), "total": total}

    @app.post("/api/images/batch")
    def get_many(ids: list[str]) -> dict[str, Any]:
        return {"images": {k: v.to_dict() for k, v in studio.get_many(ids[:1000]).items()}}

    @app.get("/api/images/{image_id}")
    def show(image_id: str) -> dict[str, Any]:
        record = studio.get(image_id)
        return {**record.to_dict(), "infotext": studio.infotext(record)}

    @app.get("/api/images/{image_id}/file")
    def image_file(image_id: str):
        return FileResponse(studio.path_of(studio.get(image_id)), media_type="image/png")

    @app.get("/api/images/{image_id}/thumbnail")
    def thumbnail(image_id: str):
        return FileResponse(studio.thumbnail(studio.get(image_id)), media_type="image/webp")

    @app.get("/api/images/{image_id}/lineage")
    def lineage(image_id: str) -> dict[str, Any]:
        return studio.lineage(image_id)

    @app.post("/api/images/{image_id}/verify")
    def verify(image_id: str) -> dict[str, Any]:
        result = studio.verify(image_id)
        return {**result.__dict__, "identical": result.identical}

    @app.post("/api/images/{image_id}/rate")
    def rate(image_id: str, body: RateBody) -> dict[str, Any]:
        return studio.rate(image_id, body.stars).to_dict()

    @app.post("/api/images/{image_id}/favorite")
    def favorite(image_id: str, body: FavoriteBody) -> dict[str, Any]:
        return studio.favorite(image_id, body.on).to_dict()

    @app.post("/api/images/{image_id}/tags")
    def tag(image_id: str, body: TagBody) -> dict[str, Any]:
        return studio.tag(image_id, body.tags, remove=body.remove).to_dict()

    @app.post("/api/images/{image_id}/delete")
    def delete(image_id: str) -> dict[str, Any]:
        return studio.delete(image_id).to_dict()

    @app.post("/api/images/{image_id}/restore")
    def restore(image_id: str) -> dict[str, Any]:
        return studio.restore(image_id).to_dict()

    @app.get("/api/stats")
    def stats() -> dict[str, Any]:
        return {**studio.stats(), "engine": {**studio.engine_status(), "default_model": studio.default_model()},
                "queue": studio.queue_counts()}

    @app.get("/api/rating-stats")
    def rating_stats(by: str, query: SearchQuery = Depends(search_query)) -> list[dict[str, Any]]:
        return studio.rating_stats(by, query)

    @app.get("/api/tags")
    def tags() -> dict[str, Any]:
        return {"tags": [{"tag": t, "images": c} for t, c in studio.tags()]}

    @app.get("/api/compare")
    def compare(ids: list[str] = Query(default=[])) -> dict[str, Any]:
        result = studio.compare(ids)
        return {**result, "images": [r.to_dict() for r in result["images"]]}

    @app.get("/api/settings")
    def get_settings() -> dict[str, Any]:
        return {"model": studio.default_model(), "upscaler": studio.default_upscaler(),
                "model_status": studio.model_status()}

    @app.post("/api/settings")
    def set_settings(body: SettingsBody) -> dict[str, Any]:
        if body.model is not None:
            studio.set_default_model(body.model)
        if body.upscaler is not None:
            studio.set_default_upscaler(body.upscaler)
        return get_settings()

    @app.get("/api/models/status")
    def model_status(model: str | None = None) -> dict[str, Any]:
        return studio.model_status(model)

    @app.get("/api/progress")
    def get_progress(previews: bool = False) -> dict[str, Any]:
        return progress.snapshot(previews)

    @app.post("/api/cancel")
    def cancel() -> dict[str, Any]:
        progress.cancel.set()
        return {"cancel_requested": True}

    @app.post("/api/queue")
    def queue_add(body: QueueBody) -> dict[str, Any]:
        name = Path(body.filename).name or "batch"
        jobs = studio.queue_add_text(body.content, Path(name).suffix or ".txt", dict(body.defaults), name,
                                     then=body.then)
        return {"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}

    @app.get("/api/queue")
    def queue_list(status: str | None = None) -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in studio.queue_list(status)], "counts": studio.queue_counts()}

    @app.post("/api/queue/{job_id}/cancel")
    def queue_cancel(job_id: str) -> dict[str, Any]:
        return studio.queue_cancel(job_id).to_dict()

    @app.post("/api/queue/{job_id}/retry")
    def queue_retry(job_id: str) -> dict[str, Any]:
        return studio.queue_retry(job_id).to_dict()

    @app.get("/api/runner")
    def runner_state() -> dict[str, Any]:
        box = runner_box.get("runner")
        running = bool(box and box["thread"].is_alive())
        current = box["runner"].current if running else None
        done, total = box["runner"].progress if running else (0, 0)
        return {"running": running, "current": current.to_dict() if current else None, "done": done,
                "total": total, "last_error": runner_box.get("error")}

    @app.post("/api/runner/start")
    def runner_start() -> dict[str, Any]:
        box = runner_box.get("runner")
        if not (box and box["thread"].is_alive()):
            runner = studio.queue_runner(poll_seconds=1.0)

            def work() -> None:
                try:
                    runner.run(until_empty=False)
                except Exception as exc:
                    runner_box["error"] = str(exc)
            thread = threading.Thread(target=work, daemon=True, name="gwen-service-runner")
            runner_box["runner"] = {"runner": runner, "thread": thread}
            runner_box["error"] = None
            thread.start()
        return runner_state()

    @app.post("/api/runner/stop")
    def runner_stop() -> dict[str, Any]:
        box = runner_box.get("runner")
        if box:
            box["runner"].stop_event.set()
            box["thread"].join(timeout=30)
        return runner_state()

    return Guard(app, token, max_body)


def install_error_handlers(app: FastAPI) -> None:
    """One error shape everywhere: ``{"error": message, "type": kind}``."""

    @app.exception_handler(GwenError)
    async def gwen_error(request: Request, exc: GwenError):
        extra = exc.details() if isinstance(exc, ModelUnavailable) else {}
        return JSONResponse({"error": str(exc), "type": type(exc).__name__, **extra}, status_code=_status_for(exc))

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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_token(home: Path, host: str, token_file: str | None) -> tuple[str, str]:
    """(token, where it came from); refuses a non-loopback bind without a token."""
    if token_file:
        path = Path(token_file)
        if not path.is_file():
            raise InvalidInput(f"token file {token_file!r}: no such file")
        token = path.read_text(encoding="utf-8").strip()
        if len(token) < MIN_TOKEN:
            raise InvalidInput(f"token file {token_file!r}: the token must be at least {MIN_TOKEN} characters "
                               f"(it has {len(token)})")
        return token, str(path)
    if os.environ.get("GWEN_TOKEN"):
        token = os.environ["GWEN_TOKEN"].strip()
        if len(token) < MIN_TOKEN:
            raise InvalidInput(f"GWEN_TOKEN: the token must be at least {MIN_TOKEN} characters "
                               f"(it has {len(token)})")
        return token, "GWEN_TOKEN"
    if not is_loopback(host):
        raise InvalidInput(f"host={host!r}: serving beyond this machine needs a token "
                           "(--token-file FILE or GWEN_TOKEN)")
    path = home / "service.token"
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32))
    return path.read_text().strip(), str(path)


def serve(studio, host: str, port: int, token_file: str | None, api_docs: bool = False) -> None:
    import sys

    import uvicorn

    token, source = load_token(studio.home, host, token_file)
    print(f"GWEN service on http://{host}:{port} (token from {source})"
          + ("; OpenAPI at /docs (behind the token)" if api_docs else ""), file=sys.stderr, flush=True)
    uvicorn.run(create_app(studio, token, api_docs=api_docs), host=host, port=port, log_level="warning")
