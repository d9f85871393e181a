"""The library: looking at the catalog (records, search, lineage, statistics, comparison) and marking images.

Contract:
- Reads never write. ``get`` / ``resolve`` accept a whole id or a unique prefix or suffix (≥ 6 characters);
  anything else is ``NotFound``.
- Marks (rating, favorite, tags, delete, restore) are validated first (``InvalidInput`` naming the value and
  the rule), then journaled (``journal.jsonl``, fsynced), then written to the row: they survive losing
  ``gwen.duckdb``. Each returns the updated record.
- ``path_of`` is where an image's file is; ``location_of`` how it is shown to a user; ``thumbnail`` a cached
  256-px WebP made on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from gwen import files, recording
from gwen.catalog import Catalog
from gwen.errors import InvalidInput
from gwen.journal import Journal
from gwen.params import ImageParams
from gwen.records import ImageRecord, SearchQuery


class Library:
    def __init__(self, home: Path, catalog: Catalog, journal: Journal):
        self.home = home
        self.catalog = catalog
        self.journal = journal

    # --- files ------------------------------------------------------------------------
    def path_of(self, record: ImageRecord) -> Path:
        return self.home / record.path

    def location_of(self, record: ImageRecord) -> str:
        return str(self.path_of(record))

    def thumbnail(self, record: ImageRecord) -> Path:
        return files.make_thumbnail(self.home, record.id, self.path_of(record))

    # --- looking ------------------------------------------------------------------------
    def get(self, image_id: str) -> ImageRecord:
        return self.catalog.get(image_id)

    def get_many(self, ids: Iterable[str]) -> dict[str, ImageRecord]:
        return self.catalog.get_many(list(ids))

    def resolve(self, image_id: str) -> str:
        return self.catalog.resolve(image_id)

    def batch(self, batch_id: str) -> list[ImageRecord]:
        """The images one pipeline call made, in their batch order."""
        return self.catalog.batch(batch_id)

    def insert(self, records: list[ImageRecord]) -> None:
        """Catalog rows for images whose files are already written (one transaction)."""
        self.catalog.insert(records)

    def insert_later(self, records: list[ImageRecord]) -> None:
        """The same, committed behind the caller (``gwen.pending_rows``): visible to every later read all the
        same, in this process or another."""
        self.catalog.insert_later(records)

    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        return self.catalog.search(query)

    def stats(self) -> dict[str, Any]:
        return self.catalog.stats()

    def rating_stats(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        return self.catalog.rating_by(by, query)

    def rated_rows(self) -> tuple[dict[str, Any], str]:
        """The rated images' taste columns and the snapshot's hash (``Catalog.rated_rows``): what a taste fits."""
        return self.catalog.rated_rows()

    def tags(self) -> list[tuple[str, int]]:
        return self.catalog.tag_counts()

    def compare(self, ids: Iterable[str]) -> dict[str, Any]:
        from gwen.compare import check_count, compare

        records = [self.catalog.get(i) for i in check_count(ids)]
        return {**compare(records), "images": records}

    def lineage(self, image_id: str) -> dict[str, Any]:
        ancestors, descendants = self.catalog.lineage(image_id)
        nodes = ancestors + descendants
        ids = {r.id for r in nodes}
        edges = [{"parent": r.parent_id, "child": r.id, "op": r.op, "strength": _edge_strength(r)}
                 for r in nodes if r.parent_id in ids]
        return {"root": ancestors[0].id if ancestors else image_id, "image": ancestors[-1].id,
                "nodes": [_node(r) for r in nodes], "edges": edges}

    def infotext(self, record: ImageRecord) -> str:
        """The A1111 infotext stored in the PNG (what A1111/Civitai read), else one made from the params."""
        try:
            with Image.open(self.path_of(record)) as im:
                stored = (getattr(im, "text", None) or {}).get("parameters")
            if stored:
                return stored
        except OSError:
            pass
        try:
            params = {k: v for k, v in record.params.items() if k in ImageParams.model_fields}
            return ImageParams.from_json(params).infotext(recording.infotext_extra(record))
        except InvalidInput:
            return "\n".join(f"{k}: {v}" for k, v in record.params.items())

    # --- marks (journal first, then row) ---------------------------------------------------
    def rate(self, image_id: str, stars: int) -> ImageRecord:
        if isinstance(stars, bool) or not isinstance(stars, int) or not (0 <= stars <= 5):
            raise InvalidInput(f"rating={stars!r}: must be an integer from 0 to 5")
        return self._mark(image_id, "rate", stars, lambda full: self.catalog.set_rating(full, stars))

    def favorite(self, image_id: str, on: bool = True) -> ImageRecord:
        return self._mark(image_id, "favorite", bool(on), lambda full: self.catalog.set_favorite(full, bool(on)))

    def tag(self, image_id: str, tags: Iterable[str], remove: bool = False) -> ImageRecord:
        clean = sorted({_check_tag(t) for t in tags})
        if not clean:
            raise InvalidInput("tags: give at least one tag")
        change = self.catalog.remove_tags if remove else self.catalog.add_tags
        return self._mark(image_id, "untag" if remove else "tag", clean, lambda full: change(full, clean))

    def delete(self, image_id: str) -> ImageRecord:
        """Soft delete: hidden from search, file and row kept, ``restore`` brings it back."""
        return self._mark(image_id, "delete", None, lambda full: self.catalog.set_deleted(full, True))

    def restore(self, image_id: str) -> ImageRecord:
        return self._mark(image_id, "restore", None, lambda full: self.catalog.set_deleted(full, False))

    def _mark(self, image_id: str, action: str, value: Any, write) -> ImageRecord:
        with self.catalog.session():
            full = self.catalog.resolve(image_id)
            self.journal.append(full, action, value)
            write(full)
            return self.catalog.get(full)


def _check_tag(tag: str) -> str:
    clean = str(tag).strip()
    if not clean or len(clean) > 64 or any(c in clean for c in ",\n\r\t"):
        raise InvalidInput(f"tag={tag!r}: 1–64 characters, no commas, tabs or newlines")
    return clean


def _edge_strength(record: ImageRecord) -> float | None:
    if record.variation and record.variation.get("strength") is not None:
        return record.variation["strength"]
    return record.params.get("denoise")


def _node(r: ImageRecord) -> dict[str, Any]:
    return {"id": r.id, "op": r.op, "parent_id": r.parent_id, "rating": r.rating, "favorite": r.favorite,
            "prompt": r.params.get("prompt"), "seed": r.params.get("seed"), "path": r.path, "deleted": r.deleted,
            "worker": r.worker}
