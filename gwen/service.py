"""``python -m gwen serve``: the facade over HTTP (FastAPI), for a dashboard or CLI on another machine.

Contract:
- Every route but ``/api/health`` needs ``Authorization: Bearer <token>``,
  compared in constant time; a missing or wrong token gets 401 and nothing
  is done. The server refuses to bind a non-loopback address without a
  token file; on loopback without one it makes a random token and saves it
  (0600) in ``$GWEN_HOME/service.token``.
- Bodies over ``max_body`` bytes get 413 before they are read. Bad input
  gets a 4xx JSON ``{"error": message, "type": kind}``: 400 for invalid
  values or files, 404 for unknown ids (also any id that is not a well-formed
  id: no path from a request reaches the filesystem), 503 when the catalog
  stays busy, 409 when a job was cancelled.
- Routes return the same JSON shapes as the CLI (``{"images": [...]}``,
  records as ``ImageRecord.to_dict()``); image and thumbnail bytes come from
  ``/api/images/{id}/file`` and ``/thumbnail``. ``/api/progress`` reports the
  running render, ``/api/cancel`` stops it. The OpenAPI spec is at
  ``/openapi.json``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Header, Query, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, ConfigDict

from gwen.errors import CatalogBusy, Cancelled, GwenError, ImageRejected, InvalidInput, ModelUnavailable, NotFound
from gwen.records import Filter, SearchQuery, parse_day

MAX_BODY = 32 * 1024 * 1024


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


def _status_for(exc: GwenError) -> int:
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, CatalogBusy):
        return 503
    if isinstance(exc, Cancelled):
        return 409
    if isinstance(exc, (InvalidInput, ImageRejected, ModelUnavailable)):
        return 400
    return 400


def _images(records) -> dict[str, Any]:
    return {"images": [r.to_dict() for r in records]}


class _Progress:
    def __init__(self):
        self.lock = threading.Lock()
        self.state = {"running": False, "done": 0, "total": 0, "what": None}
        self.cancel = threading.Event()

    def start(self, what: str):
        self.cancel.clear()
        with self.lock:
            self.state = {"running": True, "done": 0, "total": 0, "what": what}

        def on_step(done: int, total: int) -> None:
            with self.lock:
                self.state.update(done=done, total=total)
        return on_step

    def finish(self):
        with self.lock:
            self.state = {"running": False, "done": 0, "total": 0, "what": None}


def safe_model_ref(studio, ref: str | None) -> str | None:
    """A model or upscaler named by a request: a preset, a Hugging Face id, or a path inside $GWEN_HOME/models.

    Anything else that names a file on the server is refused: a request must never make the server read
    (let alone unpickle) a file outside its models folder.
    """
    if ref is None:
        return None
    from gwen.presets import MODEL_PRESETS
    from gwen.upscale import UPSCALER_PRESETS

    if ref in MODEL_PRESETS or ref in UPSCALER_PRESETS:
        return ref
    models = (Path(studio.home) / "models").resolve()
    candidate = Path(ref).expanduser()
    inside = (candidate if candidate.is_absolute() else models / candidate).resolve()
    if inside.is_relative_to(models) and inside.exists():
        return str(inside)
    if candidate.is_absolute() or ref.startswith((".", "~")) or ".." in candidate.parts or Path(ref).exists():
        raise InvalidInput(f"model {ref!r}: a path must name a file or folder inside the server's models folder "
                           f"({models})")
    return ref  # a Hugging Face id


def create_app(studio, token: str, max_body: int = MAX_BODY) -> FastAPI:
    """The ASGI app over ``studio``; every route except health needs ``token``."""
    app = FastAPI(title="GWEN", version="1", description="GWEN's facade over HTTP: generate, vary, upscale, "
                  "search, rate, lineage, queue.")
    progress = _Progress()
    runner_box: dict[str, Any] = {}

    @app.middleware("http")
    async def limit_body(request: Request, call_next):
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            return JSONResponse({"error": f"request body of {int(length):,} bytes is over the limit of "
                                 f"{max_body:,} bytes", "type": "TooLarge"}, status_code=413)
        return await call_next(request)

    @app.exception_handler(GwenError)
    async def gwen_error(request: Request, exc: GwenError):
        return JSONResponse({"error": str(exc), "type": type(exc).__name__}, status_code=_status_for(exc))

    def auth(authorization: str | None = Header(default=None)) -> None:
        given = (authorization or "").removeprefix("Bearer ").strip() if (authorization or "").startswith(
            "Bearer ") else ""
        if not given or not hmac.compare_digest(given.encode(), token.encode()):
            raise _Unauthorized()

    @app.exception_handler(_Unauthorized)
    async def unauthorized(request: Request, exc: Exception):
        return JSONResponse({"error": "missing or wrong bearer token", "type": "Unauthorized"}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    guard = [Depends(auth)]

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True}

    def rendering(what: str, work):
        on_step = progress.start(what)
        try:
            return work(on_step, progress.cancel)
        finally:
            progress.finish()

    @app.post("/api/generate", dependencies=guard)
    def generate(body: GenerateBody) -> dict[str, Any]:
        options = body.model_dump()
        prompt = options.pop("prompt")
        options["model"] = safe_model_ref(studio, options["model"])
        return _images(rendering("generate", lambda s, c: studio.generate(prompt, on_step=s, cancel=c, **options)))

    @app.post("/api/images/{image_id}/reroll", dependencies=guard)
    def reroll(image_id: str, body: RerollBody) -> dict[str, Any]:
        return _images(rendering("reroll", lambda s, c: studio.reroll(image_id, body.n, body.seed, on_step=s,
                                                                      cancel=c)))

    def vary_options(body: VaryBody) -> dict[str, Any]:
        return {**body.model_dump(), "model": safe_model_ref(studio, body.model)}

    @app.post("/api/images/{image_id}/vary", dependencies=guard)
    def vary(image_id: str, body: VaryBody) -> dict[str, Any]:
        return _images(rendering("vary", lambda s, c: studio.vary(image_id, on_step=s, cancel=c,
                                                                  **vary_options(body))))

    @app.post("/api/images/{image_id}/vary/plan", dependencies=guard)
    def plan_variations(image_id: str, body: VaryBody) -> dict[str, Any]:
        parent, children, plan = studio.plan_variations(image_id, **vary_options(body))
        return {"parent": parent.to_dict(), "children": [c.to_dict() for c in children],
                "plan": {**plan.to_dict(), "remix_prompt": plan.remix_prompt}}

    @app.post("/api/images/{image_id}/vary/render", dependencies=guard)
    def render_planned(image_id: str, body: RenderPlannedBody) -> dict[str, Any]:
        from gwen.params import ImageParams
        from gwen.variation import VariationPlan

        children = [ImageParams.from_json(c) for c in body.children]
        plan = VariationPlan(float(body.plan["strength"]), tuple(body.plan["modes"]), body.plan.get("preset"),
                             body.plan.get("remix_prompt"))
        return _images(rendering("vary", lambda s, c: studio.render_planned(image_id, children, plan, on_step=s,
                                                                            cancel=c)))

    @app.post("/api/images/{image_id}/upscale", dependencies=guard)
    def upscale(image_id: str, body: UpscaleBody) -> dict[str, Any]:
        full_id = studio.resolve(image_id)  # an id, never a path on the server
        options = {**body.model_dump(), "model": safe_model_ref(studio, body.model or studio.default_upscaler())}
        return _images([rendering("upscale", lambda s, c: studio.upscale(full_id, **options))])

    @app.post("/api/import", dependencies=guard)
    def import_file(file: UploadFile) -> dict[str, Any]:
        data = file.file.read(max_body + 1)
        if len(data) > max_body:
            return JSONResponse({"error": "upload over the size limit", "type": "TooLarge"}, status_code=413)
        name = Path(file.filename or "upload.png").name or "upload.png"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            result = studio.import_paths([path])
        return {"images": [r.to_dict() for r in result["imported"]], "skipped": [
            {k: v for k, v in s.items() if k != "path"} for s in result["skipped"]]}

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

    @app.get("/api/images", dependencies=guard)
    def search(query: SearchQuery = Depends(search_query)) -> dict[str, Any]:
        records, total = studio.search(query)
        return {**_images(records), "total": total}

    @app.post("/api/images/batch", dependencies=guard)
    def get_many(ids: list[str]) -> dict[str, Any]:
        return {"images": {k: v.to_dict() for k, v in studio.get_many(ids[:1000]).items()}}

    @app.get("/api/images/{image_id}", dependencies=guard)
    def show(image_id: str) -> dict[str, Any]:
        record = studio.get(image_id)
        return {**record.to_dict(), "infotext": studio.infotext(record)}

    @app.get("/api/images/{image_id}/file", dependencies=guard)
    def image_file(image_id: str):
        return FileResponse(studio.path_of(studio.get(image_id)), media_type="image/png")

    @app.get("/api/images/{image_id}/thumbnail", dependencies=guard)
    def thumbnail(image_id: str):
        return FileResponse(studio.thumbnail(studio.get(image_id)), media_type="image/webp")

    @app.get("/api/images/{image_id}/lineage", dependencies=guard)
    def lineage(image_id: str) -> dict[str, Any]:
        return studio.lineage(image_id)

    @app.post("/api/images/{image_id}/verify", dependencies=guard)
    def verify(image_id: str) -> dict[str, Any]:
        result = studio.verify(image_id)
        return {**result.__dict__, "identical": result.identical}

    @app.post("/api/images/{image_id}/rate", dependencies=guard)
    def rate(image_id: str, body: RateBody) -> dict[str, Any]:
        return studio.rate(image_id, body.stars).to_dict()

    @app.post("/api/images/{image_id}/favorite", dependencies=guard)
    def favorite(image_id: str, body: FavoriteBody) -> dict[str, Any]:
        return studio.favorite(image_id, body.on).to_dict()

    @app.post("/api/images/{image_id}/tags", dependencies=guard)
    def tag(image_id: str, body: TagBody) -> dict[str, Any]:
        return studio.tag(image_id, body.tags, remove=body.remove).to_dict()

    @app.post("/api/images/{image_id}/delete", dependencies=guard)
    def delete(image_id: str) -> dict[str, Any]:
        return studio.delete(image_id).to_dict()

    @app.post("/api/images/{image_id}/restore", dependencies=guard)
    def restore(image_id: str) -> dict[str, Any]:
        return studio.restore(image_id).to_dict()

    @app.get("/api/stats", dependencies=guard)
    def stats() -> dict[str, Any]:
        return {**studio.stats(), "engine": {**studio.engine_status(), "default_model": studio.default_model()},
                "queue": studio.queue_counts()}

    @app.get("/api/rating-stats", dependencies=guard)
    def rating_stats(by: str, query: SearchQuery = Depends(search_query)) -> list[dict[str, Any]]:
        return studio.rating_stats(by, query)

    @app.get("/api/tags", dependencies=guard)
    def tags() -> dict[str, Any]:
        return {"tags": [{"tag": t, "images": c} for t, c in studio.tags()]}

    @app.get("/api/compare", dependencies=guard)
    def compare(ids: list[str] = Query(default=[])) -> dict[str, Any]:
        result = studio.compare(ids)
        return {**result, "images": [r.to_dict() for r in result["images"]]}

    @app.get("/api/settings", dependencies=guard)
    def get_settings() -> dict[str, Any]:
        return {"model": studio.default_model(), "upscaler": studio.default_upscaler(),
                "model_status": studio.model_status()}

    @app.post("/api/settings", dependencies=guard)
    def set_settings(body: SettingsBody) -> dict[str, Any]:
        if body.model is not None:
            studio.set_default_model(safe_model_ref(studio, body.model))
        if body.upscaler is not None:
            studio.set_default_upscaler(safe_model_ref(studio, body.upscaler))
        return get_settings()

    @app.get("/api/models/status", dependencies=guard)
    def model_status(model: str | None = None) -> dict[str, Any]:
        return studio.model_status(safe_model_ref(studio, model) if model else None)

    @app.get("/api/progress", dependencies=guard)
    def get_progress() -> dict[str, Any]:
        with progress.lock:
            return dict(progress.state)

    @app.post("/api/cancel", dependencies=guard)
    def cancel() -> dict[str, Any]:
        progress.cancel.set()
        return {"cancel_requested": True}

    @app.post("/api/queue", dependencies=guard)
    def queue_add(body: QueueBody) -> dict[str, Any]:
        suffix = Path(body.filename).suffix.lower()
        if suffix not in (".txt", ".json", ".jsonl", ".toml"):
            raise InvalidInput(f"batch file {body.filename!r}: must end in .txt, .json, .jsonl or .toml")
        defaults = dict(body.defaults)
        if "model" in defaults:
            defaults["model"] = safe_model_ref(studio, defaults["model"])
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"batch{suffix}"
            path.write_text(body.content, encoding="utf-8")
            jobs = studio.queue_plan(path, defaults, name=Path(body.filename).name)
        for job in jobs:  # models named inside the file obey the same rule, before anything is enqueued
            for p in job.spec.get("params", []):
                safe_model_ref(studio, p.get("model"))
            if job.kind == "upscale":
                safe_model_ref(studio, job.spec.get("model"))
        studio.jobs.add(jobs)
        return {"jobs": [j.to_dict() for j in jobs], "count": len(jobs)}

    @app.get("/api/queue", dependencies=guard)
    def queue_list(status: str | None = None) -> dict[str, Any]:
        return {"jobs": [j.to_dict() for j in studio.queue_list(status)], "counts": studio.queue_counts()}

    @app.post("/api/queue/{job_id}/cancel", dependencies=guard)
    def queue_cancel(job_id: str) -> dict[str, Any]:
        return studio.queue_cancel(job_id).to_dict()

    @app.post("/api/queue/{job_id}/retry", dependencies=guard)
    def queue_retry(job_id: str) -> dict[str, Any]:
        return studio.queue_retry(job_id).to_dict()

    @app.get("/api/runner", dependencies=guard)
    def runner_state() -> dict[str, Any]:
        box = runner_box.get("runner")
        running = bool(box and box["thread"].is_alive())
        current = box["runner"].current if running else None
        done, total = box["runner"].progress if running else (0, 0)
        return {"running": running, "current": current.to_dict() if current else None, "done": done,
                "total": total, "last_error": runner_box.get("error")}

    @app.post("/api/runner/start", dependencies=guard)
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

    @app.post("/api/runner/stop", dependencies=guard)
    def runner_stop() -> dict[str, Any]:
        box = runner_box.get("runner")
        if box:
            box["runner"].stop_event.set()
            box["thread"].join(timeout=30)
        return runner_state()

    return app


class _Unauthorized(Exception):
    pass


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
        if len(token) < 16:
            raise InvalidInput(f"token file {token_file!r}: the token must be at least 16 characters")
        return token, str(path)
    if os.environ.get("GWEN_TOKEN"):
        return os.environ["GWEN_TOKEN"].strip(), "GWEN_TOKEN"
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


def serve(studio, host: str, port: int, token_file: str | None) -> None:
    import sys

    import uvicorn

    token, source = load_token(studio.home, host, token_file)
    print(f"GWEN service on http://{host}:{port} (token from {source}); OpenAPI at /docs", file=sys.stderr,
          flush=True)
    uvicorn.run(create_app(studio, token), host=host, port=port, log_level="warning")
