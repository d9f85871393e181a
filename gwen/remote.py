"""``RemoteStudio``: the facade's contract (``gwen.api.StudioAPI``) kept over HTTP, against a ``gwen serve``.

Contract:
- Every member of ``StudioAPI``, returning the same types as the local studio (``ImageRecord``, ``JobRecord``,
  ``VerifyResult``, dicts). Errors come back as the same ``GwenError`` classes with the server's message
  (``gwen.http_client``: retries, timeouts, a rejected token).
- ``path_of`` / ``thumbnail`` download the bytes once into a local cache folder, so pages show remote images
  unchanged; ``export`` writes the server's export to a local file; ``queue_runner`` drives the server's runner
  and streams its progress (``gwen.remote_queue``).
- Renders follow the server's progress and previews, and cancel on the server when the caller stops.
- Imports nothing heavy: this module runs in the light (``requirements-remote.txt``) install.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import quote

from gwen.errors import ImageRejected, InvalidInput
from gwen.http_client import RemoteError, Transport  # noqa: F401  (RemoteError: part of this module's API)
from gwen.records import ImageRecord, JobRecord, SearchQuery, VerifyResult
from gwen.remote_edits import RemoteEdits
from gwen.remote_styles import RemoteStyles

IMPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
UPLOAD_BATCH = 24 * 1024 * 1024


class RemoteStudio(RemoteEdits, RemoteStyles):  # vary_region, pan, zoom: gwen.remote_edits; styles
    def __init__(self, url: str, token: str | None, timeout: float = 10.0, render_timeout: float = 900.0,
                 retries: int = 3, cache_dir: str | Path | None = None):
        self.http = Transport(url, token, timeout, render_timeout, retries)
        self.url = self.http.url
        self.home = self.url  # shown by pages as the data location
        self.cache = Path(cache_dir or tempfile.mkdtemp(prefix="gwen-remote-"))
        self.cache.mkdir(parents=True, exist_ok=True)

    def _json(self, method: str, path: str, **kwargs) -> Any:
        return self.http.json(method, path, **kwargs)

    def close(self) -> None:
        self.http.close()

    # --- preferences and models ------------------------------------------------------------
    def default_model(self) -> str:
        return self._json("GET", "/api/settings")["model"]

    def default_upscaler(self) -> str:
        return self._json("GET", "/api/settings")["upscaler"]

    def set_default_model(self, ref: str) -> str:
        return self._json("POST", "/api/settings", json={"model": ref})["model"]

    def set_default_upscaler(self, ref: str) -> str:
        return self._json("POST", "/api/settings", json={"upscaler": ref})["upscaler"]

    def check_model(self, ref: str | None) -> None:
        self._json("POST", "/api/models/check", json={"model": ref})

    def check_upscaler(self, ref: str | None) -> None:
        self._json("POST", "/api/models/check", json={"upscaler": ref})

    def model_status(self, ref: str | None = None) -> dict[str, Any]:
        return self._json("GET", "/api/models/status", params={"model": ref} if ref else None)

    def list_models(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/models")["models"]  # paths are the server's

    def list_upscalers(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/models")["upscalers"]

    def list_loras(self) -> list[dict[str, Any]]:
        return self._json("GET", "/api/models")["loras"]

    def engine_status(self) -> dict[str, Any]:
        return {**self._json("GET", "/api/engine"), "location": self.url}

    # --- planning -------------------------------------------------------------------------
    def plan_generate(self, prompt: str, **options: Any):
        from gwen.params import ImageParams

        data = self._json("POST", "/api/generate/plan", json={"prompt": prompt, **_plain(options)})
        return [ImageParams.from_json(p) for p in data["params"]]

    def plan_variations(self, image_id: str, **options: Any):
        from gwen.params import ImageParams
        from gwen.variation import VariationPlan

        data = self._json("POST", f"/api/images/{_seg(image_id)}/vary/plan", json=_vary_body(options))
        return (ImageRecord.from_dict(data["parent"]), [ImageParams.from_json(c) for c in data["children"]],
                VariationPlan.from_wire(data["plan"]))

    def params_of(self, record: ImageRecord):
        from gwen.params import ImageParams

        return ImageParams.from_json(self._json("GET", f"/api/images/{_seg(record.id)}/params"))

    # --- rendering ------------------------------------------------------------------------
    def generate(self, prompt: str, *, on_step=None, cancel=None, on_preview=None, **options: Any
                 ) -> list[ImageRecord]:
        return _records(self.http.render("/api/generate", {"prompt": prompt, **_plain(options)}, on_step,
                                         on_preview, cancel))

    def render_params(self, params, *, on_step=None, cancel=None, on_preview=None, job=None) -> list[ImageRecord]:
        return _records(self.http.render("/api/render", {"params": [p.to_dict() for p in params]}, on_step,
                                         on_preview, cancel))

    def reroll(self, image_id: str, n: int = 4, seed: int | None = None, *, on_step=None, cancel=None,
               on_preview=None, job=None) -> list[ImageRecord]:
        return _records(self.http.render(f"/api/images/{_seg(image_id)}/reroll", {"n": n, "seed": seed}, on_step,
                                         on_preview, cancel))

    def vary(self, image_id: str, *, on_step=None, cancel=None, on_preview=None, job=None, **options: Any
             ) -> list[ImageRecord]:
        return _records(self.http.render(f"/api/images/{_seg(image_id)}/vary", _vary_body(options), on_step,
                                         on_preview, cancel))

    def render_planned(self, parent_id: str, children, plan, *, on_step=None, cancel=None, on_preview=None
                       ) -> list[ImageRecord]:
        body = {"children": [c.to_dict() for c in children],
                "plan": plan.to_wire()}
        return _records(self.http.render(f"/api/images/{_seg(parent_id)}/vary/render", body, on_step, on_preview,
                                         cancel))

    def upscale(self, source: str | Path, model: str | None = None, scale: float | None = None,
                tile: int | None = None, pre_shrink: float = 1.0, job=None) -> ImageRecord:
        path = Path(str(source))
        image_id = _upload(self, _files_under([path]))[1][0].id if path.is_file() else str(source)
        data = self._json("POST", f"/api/images/{_seg(image_id)}/upscale", render=True,
                          json={"model": model, "scale": scale, "tile": tile, "pre_shrink": pre_shrink})
        return _records(data)[0]

    def verify(self, image_id: str) -> VerifyResult:
        return VerifyResult.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/verify", render=True))

    # --- the library -----------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        return ImageRecord.from_dict(self._json("GET", f"/api/images/{_seg(image_id)}"))

    def get_many(self, ids: Iterable[str]) -> dict[str, ImageRecord]:
        data = self._json("POST", "/api/images/batch", json=list(ids))
        return {k: ImageRecord.from_dict(v) for k, v in data["images"].items()}

    def resolve(self, image_id: str) -> str:
        return self.get(image_id).id

    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        data = self._json("GET", "/api/images", params=query_params(query))
        return _records(data), data["total"]

    def lineage(self, image_id: str) -> dict[str, Any]:
        return self._json("GET", f"/api/images/{_seg(image_id)}/lineage")

    def stats(self) -> dict[str, Any]:
        return self._json("GET", "/api/stats")

    def rating_stats(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        return self._json("GET", "/api/rating-stats", params=[("by", by), *query_params(query or SearchQuery())])

    def tags(self) -> list[tuple[str, int]]:
        return [(t["tag"], t["images"]) for t in self._json("GET", "/api/tags")["tags"]]

    def compare(self, ids: Iterable[str]) -> dict[str, Any]:
        data = self._json("GET", "/api/compare", params=[("ids", str(i)) for i in ids])
        return {**data, "images": [ImageRecord.from_dict(r) for r in data["images"]]}

    def infotext(self, record: ImageRecord) -> str:
        return self._json("GET", f"/api/images/{_seg(record.id)}")["infotext"]

    def location_of(self, record: ImageRecord) -> str:
        return f"{self.url}/api/images/{record.id}/file"

    def path_of(self, record: ImageRecord) -> Path:
        return self._cached(record.id, "file", ".png")

    def thumbnail(self, record: ImageRecord) -> Path:
        return self._cached(record.id, "thumbnail", ".webp")

    def _cached(self, image_id: str, kind: str, suffix: str) -> Path:
        target = self.cache / f"{image_id}.{kind}{suffix}"
        if not target.exists():
            data = self.http.request("GET", f"/api/images/{_seg(image_id)}/{kind}").content
            tmp = target.with_suffix(".part")
            tmp.write_bytes(data)
            tmp.replace(target)
        return target

    def rate(self, image_id: str, stars: int) -> ImageRecord:
        return self._mark(image_id, "rate", {"stars": stars})

    def favorite(self, image_id: str, on: bool = True) -> ImageRecord:
        return self._mark(image_id, "favorite", {"on": on})

    def tag(self, image_id: str, tags: Iterable[str], remove: bool = False) -> ImageRecord:
        return self._mark(image_id, "tags", {"tags": list(tags), "remove": remove})

    def delete(self, image_id: str) -> ImageRecord:
        return self._mark(image_id, "delete", None)

    def restore(self, image_id: str) -> ImageRecord:
        return self._mark(image_id, "restore", None)

    def _mark(self, image_id: str, what: str, body: dict | None) -> ImageRecord:
        return ImageRecord.from_dict(self._json("POST", f"/api/images/{_seg(image_id)}/{what}", json=body))

    # --- import, reindex, export -------------------------------------------------------------
    def import_paths(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        return self.import_files(_files_under(paths))

    def import_files(self, items: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        """Upload images in requests of at most ~24 MiB; the server imports each request all or nothing."""
        return _upload(self, list(items))[0]

    def reindex(self) -> dict[str, Any]:
        return self._json("POST", "/api/reindex", render=True)

    def export(self, query: SearchQuery, target: str | Path) -> dict[str, Any]:
        target = Path(target)
        fmt = target.suffix.lower().lstrip(".")
        if fmt not in ("zip", "parquet", "csv"):
            raise InvalidInput(f"export target {str(target)!r}: must end in .zip, .parquet or .csv")
        body = {"format": fmt, "query": _query_body(query)}
        answer = self.http.request("POST", "/api/export", json=body, render=True)
        from gwen.files import write_bytes_atomic

        write_bytes_atomic(target, answer.content)
        return {"path": str(target), "images": int(answer.headers.get("X-GWEN-Images", 0))}

    # --- the queue ----------------------------------------------------------------------------
    def queue_plan(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
                   ) -> list[JobRecord]:
        return self._batch("/api/queue/plan", path, defaults, name)

    def queue_add(self, path: str | Path, defaults: dict[str, Any] | None = None, name: str | None = None
                  ) -> list[JobRecord]:
        return self._batch("/api/queue", path, defaults, name)

    def _batch(self, route: str, path: str | Path, defaults: dict[str, Any] | None, name: str | None
               ) -> list[JobRecord]:
        path = Path(path)
        if not path.is_file():
            raise InvalidInput(f"batch file {str(name or path)!r}: no such file")
        data = self._json("POST", route, json={"filename": name or path.name, "content": path.read_text("utf-8"),
                                               "defaults": _plain(defaults or {})})
        return [JobRecord.from_dict(j) for j in data["jobs"]]

    def queue_add_text(self, text: str, suffix: str = ".txt", defaults: dict[str, Any] | None = None,
                       name: str = "typed prompts", then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
        filename = name if Path(name).suffix else f"{name}{suffix}"
        data = self._json("POST", "/api/queue", json={"filename": filename, "content": text, "then": then,
                                                      "defaults": _plain(defaults or {})})
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

    def queue_runner(self, poll_seconds: float = 1.0):
        from gwen.remote_queue import RemoteQueueRunner

        return RemoteQueueRunner(self, poll_seconds)


def _files_under(paths: Iterable[str | Path]) -> list[tuple[str, bytes]]:
    items = []
    for raw in paths:
        path = Path(raw)
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMPORT_SUFFIXES
                       and not p.name.lower().endswith(".mask.png")) \
            if path.is_dir() else [path]
        for file in found:
            if not file.is_file():
                raise ImageRejected(f"{file}: no such file or folder")
            items.append((str(file), file.read_bytes()))
    if not items:
        raise ImageRejected(f"{', '.join(map(str, paths))}: no images (.png, .jpg, .jpeg, .webp) found")
    return items


def _upload(studio: RemoteStudio, items: list[tuple[str, bytes]]) -> tuple[dict[str, Any], list[ImageRecord]]:
    """(what ``import_files`` answers, the record of every file: imported now or already there)."""
    imported, skipped, notes, either = [], [], [], []
    for batch in _batches(items, UPLOAD_BATCH):
        data = studio._json("POST", "/api/import", render=True,
                            files=[("file", (Path(name).name, content)) for name, content in batch])
        records = _records(data)
        imported += records
        either += records
        names = {Path(name).name: name for name, _content in batch}
        for s in data["skipped"]:
            skipped.append({**s, "path": names.get(s.get("path"), s.get("path"))})
            either.append(studio.get(s["id"]))
        notes += data.get("notes", [])
    return {"imported": imported, "skipped": skipped, "notes": notes}, either


def _records(data: dict[str, Any]) -> list[ImageRecord]:
    return [ImageRecord.from_dict(r) for r in data["images"]]


def _plain(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None and k not in ("on_step", "cancel", "on_preview", "job")}


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


def query_params(query: SearchQuery) -> list[tuple[str, Any]]:
    """A query as the service's query string (lists as repeated ``filter``, ``tag``, ``style``)."""
    params: list[tuple[str, Any]] = []
    for key, value in _query_body(query).items():
        params += [(key, v) for v in value] if isinstance(value, list) else [(key, value)]
    return params


def _query_body(query: SearchQuery) -> dict[str, Any]:
    body: dict[str, Any] = {key: getattr(query, key) for key in ("text", "model", "op", "min_rating", "favorite",
                                                                 "sort", "limit", "offset")
                            if getattr(query, key) is not None}
    body.update(descending=query.descending, only_deleted=query.only_deleted, include_deleted=query.include_deleted,
                filter=[f"{f.field}{f.op}{f.value}" for f in query.filters], tag=list(query.tags),
                style=list(query.styles))
    if query.since:
        body["since"] = query.since.isoformat()
    if query.until:
        body["until"] = query.until.isoformat()
    return body


def _vary_body(options: dict[str, Any]) -> dict[str, Any]:
    body = _plain(options)
    if "locks" in body:
        body["locks"] = list(body["locks"])
    if "schedulers" in body:
        body["schedulers"] = list(body["schedulers"])
    return body


def _seg(value: str) -> str:
    """One URL path segment: anything that could change the path is escaped (the server then says 404)."""
    return quote(str(value), safe="")
