"""Routes of images: search, records, their params, files and thumbnails, lineage, and marks.

Every route reads or marks through the studio's public methods; ids come from the path and never become paths.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from gwen.records import SearchQuery
from gwen.service.bodies import FavoriteBody, RateBody, TagBody
from gwen.service.queries import search_query


def images(records) -> dict[str, Any]:
    return {"images": [r.to_dict() for r in records]}


def router(studio) -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.get("/images")
    def search(query: SearchQuery = Depends(search_query)) -> dict[str, Any]:
        records, total = studio.search(query)
        return {**images(records), "total": total}

    @api.post("/images/batch")
    def get_many(ids: list[str]) -> dict[str, Any]:
        return {"images": {k: v.to_dict() for k, v in studio.get_many(ids[:1000]).items()}}

    @api.get("/images/{image_id}")
    def show(image_id: str) -> dict[str, Any]:
        record = studio.get(image_id)
        return {**record.to_dict(), "infotext": studio.infotext(record)}

    @api.get("/images/{image_id}/params")
    def params(image_id: str) -> dict[str, Any]:
        return studio.params_of(studio.get(image_id)).to_dict()

    @api.get("/images/{image_id}/file")
    def image_file(image_id: str):
        return FileResponse(studio.path_of(studio.get(image_id)), media_type="image/png")

    @api.get("/images/{image_id}/thumbnail")
    def thumbnail(image_id: str):
        return FileResponse(studio.thumbnail(studio.get(image_id)), media_type="image/webp")

    @api.get("/images/{image_id}/lineage")
    def lineage(image_id: str) -> dict[str, Any]:
        return studio.lineage(image_id)

    @api.post("/images/{image_id}/rate")
    def rate(image_id: str, body: RateBody) -> dict[str, Any]:
        return studio.rate(image_id, body.stars).to_dict()

    @api.post("/images/{image_id}/favorite")
    def favorite(image_id: str, body: FavoriteBody) -> dict[str, Any]:
        return studio.favorite(image_id, body.on).to_dict()

    @api.post("/images/{image_id}/tags")
    def tag(image_id: str, body: TagBody) -> dict[str, Any]:
        return studio.tag(image_id, body.tags, remove=body.remove).to_dict()

    @api.post("/images/{image_id}/delete")
    def delete(image_id: str) -> dict[str, Any]:
        return studio.delete(image_id).to_dict()

    @api.post("/images/{image_id}/restore")
    def restore(image_id: str) -> dict[str, Any]:
        return studio.restore(image_id).to_dict()

    return api
