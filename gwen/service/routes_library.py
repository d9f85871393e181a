"""Routes over the whole catalog: statistics, tags, comparison, import, reindex and export.

Uploads are imported all or nothing, named by the client's own file names; an export is built in a temporary
folder and sent back as bytes (its count in ``X-GWEN-Images``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Query, UploadFile
from fastapi.responses import Response

from gwen.errors import InvalidInput
from gwen.records import SearchQuery
from gwen.service.bodies import ExportBody
from gwen.service.queries import query_from, search_query
from gwen.service.routes_images import images

EXPORT_TYPES = {"zip": "application/zip", "parquet": "application/vnd.apache.parquet", "csv": "text/csv"}


def router(studio) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.get("/stats")
    def stats() -> dict[str, Any]:
        return {**studio.stats(), "queue": studio.queue_counts()}

    @api.get("/rating-stats")
    def rating_stats(by: str, query: SearchQuery = Depends(search_query)) -> list[dict[str, Any]]:
        return studio.rating_stats(by, query)

    @api.get("/tags")
    def tags() -> dict[str, Any]:
        return {"tags": [{"tag": t, "images": c} for t, c in studio.tags()]}

    @api.get("/compare")
    def compare(ids: list[str] = Query(default=[])) -> dict[str, Any]:
        result = studio.compare(ids)
        return {**result, "images": [r.to_dict() for r in result["images"]]}

    @api.post("/import")
    def import_files(file: list[UploadFile]) -> dict[str, Any]:
        """One or more uploaded images, all or nothing; errors name the file as the client named it."""
        items = [(Path(f.filename or "upload.png").name or "upload.png", f.file.read()) for f in file]
        result = studio.import_files(items)
        return {**images(result["imported"]), "skipped": result["skipped"], "notes": result["notes"]}

    @api.post("/reindex")
    def reindex() -> dict[str, Any]:
        return studio.reindex()

    @api.post("/export")
    def export(body: ExportBody):
        if body.format not in EXPORT_TYPES:
            raise InvalidInput(f"export format {body.format!r}: must be one of {', '.join(EXPORT_TYPES)}")
        query = query_from({k: v for k, v in body.query.items() if k not in ("limit", "offset")})
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / f"gwen-export.{body.format}"
            result = studio.export(query, target)
            return Response(target.read_bytes(), media_type=EXPORT_TYPES[body.format],
                            headers={"X-GWEN-Images": str(result["images"])})

    return api
