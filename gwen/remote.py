"""A client with the Studio's interface that drives a ``gwen serve`` service over HTTP.

Contract:
- ``RemoteStudio(url, token)`` offers the facade methods the CLI and the
  pages use (generate, reroll, vary, plan/render variations, upscale,
  import, search, get, lineage, rate, favorite, tag, delete, restore,
  verify, stats, queue ...), returning the same ``ImageRecord``/``JobRecord``
  values. ``path_of``/``thumbnail`` download the bytes once into a local
  cache folder, so pages show remote images unchanged.
- Errors come back as the same ``GwenError`` classes with the server's
  message (400 → InvalidInput, 404 → NotFound, 401 → RemoteError saying the
  token was rejected). Connection failures are retried with backoff
  (``retries``), then raise ``RemoteError`` naming the URL, within
  ``timeout`` seconds per attempt. Rendering calls wait up to
  ``render_timeout``.
- Imports nothing heavy: this module and what it uses run in the light
  (``requirements-remote.txt``) install.
"""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterable

import httpx

from gwen.errors import Cancelled, CatalogBusy, GwenError, ImageRejected, InvalidInput, ModelUnavailable, NotFound
from gwen.records import ImageRecord, JobRecord, SearchQuery


class RemoteError(GwenError):
    """The service could not be reached, or refused the token."""


_ERRORS = {"NotFound": NotFound, "InvalidInput": InvalidInput, "ImageRejected": ImageRejected,
           "ModelUnavailable": ModelUnavailable, "CatalogBusy": CatalogBusy, "Cancelled": Cancelled,
           "DiskFull": GwenError}


class RemoteStudio:
    def __init__(self, url: str, token: str | None, timeout: float = 10.0, render_timeout: float = 900.0,
                 retries: int = 3, cache_dir: str | Path | None = None):
        if not url or not url.startswith(("http://", "https://")):
            raise InvalidInput(f"remote url={url!r}: must start with http:// or https://")
        self.url = url.rstrip("/")
        self.home = self.url  # shown by pages as the data location
        self.timeout = timeout
        self.render_timeout = render_timeout
        self.retries = retries
        self.cache = Path(cache_dir or tempfile.mkdtemp(prefix="gwen-remote-"))
        self.cache.mkdir(parents=True, exist_ok=True)
        self._client = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token or ''}"})

    # --- transport ---------------------------------------------------------------
    def _request(self, method: str, path: str, *, render: bool = False, **kwargs) -> httpx.Response:
        timeout = httpx.Timeout(self.render_timeout if render else self.timeout, connect=self.timeout)
        delay = 0.25
        for attempt in range(self.retries + 1):
            try:
                response = self._client.request(method, path, timeout=timeout, **kwargs)
                break
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.RemoteProtocolError) as exc:
                if attempt == self.retries:
                    raise RemoteError(f"GWEN service at {self.url} is unreachable after {attempt + 1} attempts "
                                      f"({type(exc).__name__}); is `python -m gwen serve` running there?") from None
                time.sleep(delay)
                delay *= 2
            except httpx.TimeoutException:
                raise RemoteError(f"GWEN service at {self.url} did not answer {method} {path} within "
                                  f"{timeout.read:g} s") from None
        if response.status_code == 401:
            raise RemoteError(f"GWEN service at {self.url} rejected the token (set GWEN_TOKEN or the "
                              "token in st.secrets to the server's)")
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {"error": response.text[:300], "type": ""}
            fallback = NotFound if response.status_code == 404 else (
                InvalidInput if response.status_code < 500 else RemoteError)
            cls = _ERRORS.get(body.get("type"), fallback)
            message = body.get("error") or f"HTTP {response.status_code}"
            if cls is ModelUnavailable:  # the server's reason, Hub id and the command to run on the server
                raise ModelUnavailable(message, **{k: body.get(k) for k in ("model", "hub_id", "reason", "hint")})
            raise cls(message)
        return response

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self._request(method, path, **kwargs).json()

    def _records(self, data: dict[str, Any]) -> list[ImageRecord]:
        return [ImageRecord.from_dict(r) for r in data["images"]]

    def _render(self, path: str, body: dict[str, Any], on_step=None, on_preview=None, cancel=None) -> Any:
        """POST a render and, while the server works, follow ``/api/progress``: ``on_step(done, total)``, the
        server's live previews to ``on_preview(first, images)``. If the caller stops (an exception out of a
        callback, as Streamlit raises when Cancel is clicked) or ``cancel`` is set, the server is told to
        cancel: it then writes nothing."""
        if on_step is None and on_preview is None and cancel is None:
            return self._json("POST", path, json=body, render=True)
        outcome: dict[str, Any] = {}

        def call() -> None:
            try:
                outcome["data"] = self._json("POST", path, json=body, render=True)
            except BaseException as exc:  # handed to the caller's thread
                outcome["error"] = exc
        worker = threading.Thread(target=call, daemon=True, name="gwen-remote-render")
        worker.start()
        serial = 0
        try:
            while True:
                worker.join(POLL_SECONDS)
                if not worker.is_alive():
                    break
                if cancel is not None and cancel.is_set():
                    raise Cancelled("cancelled by the user; nothing from this job was written")
                state = self._json("GET", "/api/progress", params={"previews": bool(on_preview)})
                if on_step is not None and state.get("running") and state.get("total"):
                    on_step(int(state["done"]), int(state["total"]))
                if on_preview is not None and state.get("preview_serial", 0) != serial and state.get("previews"):
                    serial = state["preview_serial"]
                    _deliver_previews(state["previews"], on_preview)
        except BaseException:
            try:
                self._json("POST", "/api/cancel")
            except Exception:  # the server is gone: nothing more to stop
                pass
            raise
        if "error" in outcome:
            raise outcome["error"]
        return outcome["data"]

    def close(self) -> None:
        self._client.close()

    # --- making images ---------------------------------------------------------------
    def generate(self, prompt: str, *, on_step=None, cancel=None, on_preview=None, **options: Any
                 ) -> list[ImageRecord]:
        return self._records(self._render("/api/generate", {"prompt": prompt, **options}, on_step, on_preview,
                                          cancel))

    def reroll(self, image_id: str, n: int = 4, seed: int | None = None, *, on_step=None, cancel=None,
               on_preview=None, job=None) -> list[ImageRecord]:
        return self._records(self._render(f"/api/images/{_seg(image_id)}/reroll", {"n": n, "seed": seed}, on_step,
                                          on_preview, cancel))

    def vary(self, image_id: str, *, on_step=None, cancel=None, on_preview=None, job=None, **options: Any
             ) -> list[ImageRecord]:
        return self._records(self._render(f"/api/images/{_seg(image_id)}/vary", _vary_body(options), on_step,
                                          on_preview, cancel))

    def plan_variations(self, image_id: str, **options: Any):
        from gwen.params import ImageParams
        from gwen.variation import VariationPlan

        data = self._json("POST", f"/api/images/{_seg(image_id)}/vary/plan", json=_vary_body(options))
        plan = data["plan"]
        return (ImageRecord.from_dict(data["parent"]), [ImageParams.from_json(c) for c in data["children"]],
                VariationPlan(plan["strength"], tuple(plan["modes"]), plan.get("preset"), plan.get("remix_prompt")))

    def render_planned(self, parent_id: str, children, plan, *, on_step=None, cancel=None, on_preview=None
                       ) -> list[ImageRecord]:
        body = {"children": [c.to_dict() for c in children],
                "plan": {**plan.to_dict(), "remix_prompt": plan.remix_prompt}}
        return self._records(self._render(f"/api/images/{_seg(parent_id)}/vary/render", body, on_step, on_preview,
                                          cancel))

    def upscale(self, source: str | Path, model: str | None = None, scale: float | None = None,
                tile: int | None = None, pre_shrink: float = 1.0) -> ImageRecord:
        path = Path(str(source))
        if path.is_file():  # a local file: upload (import) it first
            image_id = self.import_paths([path])["imported_or_existing"][0].id
        else:
            image_id = str(source)
        data = self._json("POST", f"/api/images/{_seg(image_id)}/upscale",
                          json={"model": model, "scale": scale, "tile": tile, "pre_shrink": pre_shrink}, render=True)
        return self._records(data)[0]

    def import_paths(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        items = []
        for raw in paths:
            path = Path(raw)
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMPORT_SUFFIXES) \
                if path.is_dir() else [path]
            for file in found:
                if not file.is_file():
                    raise ImageRejected(f"{file}: no such file or folder")
                items.append((str(file), file.read_bytes()))
        if not items:
            raise ImageRejected(f"{', '.join(map(str, paths))}: no images (.png, .jpg, .jpeg, .webp) found")
        return self.import_files(items)

    def import_files(self, items: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        """Upload images (name, bytes) in requests of at most ~24 MiB; the server imports each request's files
        all or nothing."""
        imported, skipped, notes, either = [], [], [], []
        for batch in _batches(list(items), 24 * 1024 * 1024):
            data = self._json("POST", "/api/import", render=True,
                              files=[("file", (Path(name).name, content)) for name, content in batch])
            records = self._records(data)
            imported += records
            either += records
            names = {Path(name).name: name for name, _content in batch}
            for s in data["skipped"]:
                skipped.append({**s, "path": names.get(s.get("path"), s.get("path"))})
                either.append(self.get(s["id"]))
            notes += data.get("notes", [])
        return {"imported": imported, "skipped": skipped, "notes": notes, "imported_or_existing": either}

    # --- looking ----------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        return ImageRecord.from_dict(self._json("GET", f"/api/images/{_seg(image_id)}"))

    def get_many(self, ids: list[str]) -> dict[str, ImageRecord]:
        data = self._json("POST", "/api/images/batch", json=list(ids))
        return {k: ImageRecord.from_dict(v) for k, v in data["images"].items()}

    def resolve(self, image_id: str) -> str:
        return self.get(image_id).id

    def infotext(self, record: ImageRecord) -> str:
        return self._json("GET", f"/api/images/{_seg(record.id)}")["infotext"]

    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        data = self._json("GET", "/api/images", params=_query_params(query))
        return self._records(data), data["total"]

    def lineage(self, image_id: str) -> dict[str, Any]:
        return self._json("GET", f"/api/images/{_seg(image_id)}/lineage")

    def verify(self, image_id: str):
        from types import SimpleNamespace

        return SimpleNamespace(**self._json("POST", f"/api/images/{_seg(image_id)}/verify", render=True))

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/api/stats")

    def engine_status(self) -> dict[str, Any]:
        return {**self.stats()["engine"], "location": self.url}

    def rating_stats(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        return self._json("GET", "/api/rating-stats", params=[("by", by), *_query_params(query or SearchQuery())])

    def tags(self) -> list[tuple[str, int]]:
        return [(t["tag"], t["images"]) for t in self._json("GET", "/api/tags")["tags"]]

    def compare(self, ids) -> dict[str, Any]:
        data = self._json("GET", "/api/compare", params=[("ids", str(i)) for i in ids])
        return {**data, "images": [ImageRecord.from_dict(r) for r in data["images"]]}

    def default_upscaler(self) -> str:
        return self._json("GET", "/api/settings")["upscaler"]

    def set_default_model(self, ref: str) -> str:
        return self._json("POST", "/api/settings", json={"model": ref})["model"]

    def set_default_upscaler(self, ref: str) -> str:
        return self._json("POST", "/api/settings", json={"upscaler": ref})["upscaler"]

    def model_status(self, ref: str | None = None) -> dict[str, Any]:
        return self._json("GET", "/api/models/status", params={"model": ref} if ref else None)

    def location_of(self, record: ImageRecord) -> str:
        return f"{self.url}/api/images/{record.id}/file"

    def reindex(self) -> dict[str, Any]:
        raise InvalidInput("reindex rebuilds the server's catalog: run it on the server")

    def export(self, query, target) -> dict[str, Any]:
        raise InvalidInput("export reads the server's files: run it on the server")

    def path_of(self, record: ImageRecord) -> Path:
        return self._cached(record.id, "file", ".png")

    def thumbnail(self, record: ImageRecord) -> Path:
        return self._cached(record.id, "thumbnail", ".webp")

    def _cached(self, image_id: str, kind: str, suffix: str) -> Path:
        target = self.cache / f"{image_id}.{kind}{suffix}"
        if not target.exists():
            data = self._request("GET", f"/api/images/{_seg(image_id)}/{kind}").content
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target

    # --- marks -----------------------------------------------------------------------------
    def rate(self, image_id: str, stars: int) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/rate", json={"stars": stars}))

    def favorite(self, image_id: str, on: bool = True) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/favorite", json={"on": on}))

    def tag(self, image_id: str, tags: Iterable[str], remove: bool = False) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/tags",
                                                json={"tags": list(tags), "remove": remove}))

    def delete(self, image_id: str) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/delete"))

    def restore(self, image_id: str) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/restore"))

    # --- queue ----------------------------------------------------------------------------------
    def queue_add(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
                  ) -> list[JobRecord]:
        path = Path(path)
        if not path.is_file():
            raise InvalidInput(f"batch file {str(name or path)!r}: no such file")
        data = self._json("POST", "/api/queue", json={"filename": name or path.name,
                                                      "content": path.read_text("utf-8"),
                                                      "defaults": {k: v for k, v in (defaults or {}).items()
                                                                   if v is not None}})
        return [JobRecord.from_dict(j) for j in data["jobs"]]

    def queue_add_text(self, text: str, suffix: str = ".txt", defaults: dict[str, Any] | None = None,
                       name: str = "typed prompts", then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
        filename = name if Path(name).suffix else f"{name}{suffix}"
        data = self._json("POST", "/api/queue", json={"filename": filename, "content": text, "then": then,
                                                      "defaults": {k: v for k, v in (defaults or {}).items()
                                                                   if v is not None}})
        return [JobRecord.from_dict(j) for j in data["jobs"]]

    def queue_list(self, status: str | None = None) -> list[JobRecord]:
        data = self._json("GET", "/api/queue", params={"status": status} if status else None)
        return [JobRecord.from_dict(j) for j in data["jobs"]]

    def queue_counts(self) -> dict[str, int]:
        return self._json("GET", "/api/queue")["counts"]

    def queue_cancel(self, job_id: str) -> JobRecord:
        return JobRecord.from_dict(self._json("POST", f"/api/queue/{_seg(job_id)}/cancel"))

    def queue_retry(self, job_id: str) -> JobRecord:
        return JobRecord.from_dict(self._json("POST", f"/api/queue/{_seg(job_id)}/retry"))

    def default_model(self) -> str:
        return self._json("GET", "/api/settings")["model"]


IMPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def _batches(items: list[tuple[str, bytes]], limit: int) -> list[list[tuple[str, bytes]]]:
    batches: list[list[tuple[str, bytes]]] = [[]]
    size = 0
    for item in items:
        if batches[-1] and size + len(item[1]) > limit:
            batches.append([])
            size = 0
        batches[-1].append(item)
        size += len(item[1])
    return [b for b in batches if b]


def _query_params(query: SearchQuery) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = []
    for key in ("text", "model", "op", "min_rating", "favorite", "sort", "limit", "offset"):
        value = getattr(query, key)
        if value is not None:
            params.append((key, value))
    params += [("descending", query.descending), ("only_deleted", query.only_deleted),
               ("include_deleted", query.include_deleted)]
    params += [("filter", f"{f.field}{f.op}{f.value}") for f in query.filters]
    params += [("tag", t) for t in query.tags]
    if query.since:
        params.append(("since", query.since.isoformat()))
    if query.until:
        params.append(("until", query.until.isoformat()))
    return params


POLL_SECONDS = 0.5


def _deliver_previews(encoded: dict[str, str], on_preview) -> None:
    import base64
    import io

    from PIL import Image

    images = {int(k): Image.open(io.BytesIO(base64.b64decode(v))) for k, v in encoded.items()}
    first = min(images)
    run = []
    for index in range(first, first + len(images)):
        if index not in images:
            break
        run.append(images[index])
    on_preview(first, run)


def _vary_body(options: dict[str, Any]) -> dict[str, Any]:
    body = dict(options)
    if "locks" in body:
        body["locks"] = list(body["locks"])
    return {k: v for k, v in body.items() if k not in ("on_step", "cancel", "job")}


def _seg(value: str) -> str:
    """One URL path segment: anything that could change the path is escaped (the server then says 404)."""
    from urllib.parse import quote

    return quote(str(value), safe="")


class RemoteRunner:
    """The Queue page's runner controls, for a remote service (same interface as ``gwen.ui.state.RunnerThread``)."""

    def __init__(self, studio: RemoteStudio):
        self.studio = studio

    def _state(self) -> dict[str, Any]:
        return self.studio._json("GET", "/api/runner")

    @property
    def running(self) -> bool:
        return self._state()["running"]

    @property
    def last_error(self) -> str | None:
        return self._state().get("last_error")

    def start(self) -> None:
        self.studio._json("POST", "/api/runner/start")

    def stop(self, wait: float = 30.0) -> None:
        self.studio._json("POST", "/api/runner/stop", render=True)

    @property
    def runner(self):
        from types import SimpleNamespace

        state = self._state()
        current = JobRecord.from_dict(state["current"]) if state.get("current") else None
        return SimpleNamespace(current=current, progress=(state["done"], state["total"]))
