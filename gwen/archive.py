"""Images in and out of the catalog as files: import, reindex (rebuild from the files), export.

Contract:
- ``import_files([(name, bytes)])`` is all or nothing: every file is opened and its metadata checked first
  (``gwen.importer``); a refused file is named (as the user named it) and nothing is written. Then every file is
  written (atomically), then every row in one transaction; a full disk half-way takes the files back. A GWEN
  file keeps its id; a file already in the catalog (same id, or the same bytes imported before) is skipped.
- ``reindex()`` rebuilds the catalog from the PNGs' GWEN chunks, replays the marks journal and restores the
  queue from the jobs journal; damaged files and torn journal lines are skipped, counted and reported. An
  edit's mask (``<id>.mask.png``, beside its image) is not an image: reindex and folder imports pass it by.
- ``export(query, target)``: the matching images as a zip of PNGs, or their parameters as Parquet or CSV,
  written atomically.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterable

from PIL import Image

from gwen import files, recording
from gwen.errors import GwenError, ImageRejected, InvalidInput
from gwen.importer import plan_import, stored_text
from gwen.journal import apply_marks
from gwen.params import ImageParams
from gwen.pnginfo import read_metadata
from gwen.records import ImageRecord, SearchQuery

IMPORT_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


class Archive:
    def __init__(self, library, jobs):
        self.library = library
        self.jobs = jobs  # the queue's journaled job store: reindex restores it too
        self.home: Path = library.home
        self.catalog = library.catalog

    def import_paths(self, paths: Iterable[str | Path]) -> dict[str, Any]:
        return self.import_files([(str(path), path.read_bytes()) for path in expand(paths)])

    def import_files(self, items: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
        plans = [plan_import(name, data, self.home) for name, data in items]
        imported, skipped, notes = [], [], []
        with self.catalog.session():
            known = self.catalog.all_ids()
            try:
                for plan in plans:
                    record = plan.record
                    existing = record.id if plan.own_record and record.id in known else \
                        self.catalog.find_by_sha256(plan.sha256)
                    if existing or any(r.id == record.id for r in imported):
                        skipped.append({"path": plan.name, "id": existing or record.id,
                                        "reason": f"already in the catalog as {existing or record.id}"})
                        continue
                    if plan.own_record:
                        files.write_bytes_atomic(self.library.path_of(record), plan.data)
                    else:
                        record = replace(record, file_sha256=plan.sha256)
                        files.write_png_atomic(self.library.path_of(record), _storable(plan.image),
                                               stored_text(plan, _infotext(record)))
                    imported.append(record)
                    notes += [{"path": plan.name, "id": record.id, "note": note} for note in plan.notes]
                self.catalog.insert(imported)  # every row in one transaction, after every file
            except GwenError:  # a full disk half-way: take the files back, so nothing was imported
                for record in imported:
                    self.library.path_of(record).unlink(missing_ok=True)
                raise
        return {"imported": imported, "skipped": skipped, "notes": notes}

    def reindex(self) -> dict[str, Any]:
        removed_tmp = files.remove_stale_temp_files(self.home)
        records, skipped = [], []
        for png in sorted(p for p in (self.home / "images").glob("**/*.png") if not files.is_mask(p)):
            try:
                with Image.open(png) as im:
                    meta = read_metadata(im)
                if meta.source != "gwen" or meta.record is None or meta.record.get("id") != png.stem:
                    skipped.append({"path": str(png), "reason": "no GWEN record matching its file name"})
                    continue
                records.append(recording.from_file(meta.record, self.home))
            except Exception as exc:  # a damaged file must not stop the rebuild
                skipped.append({"path": str(png), "reason": f"unreadable ({str(exc).splitlines()[0][:200]})"})
        events, skipped_lines = self.library.journal.read()
        marks = apply_marks(events)
        final = []
        for r in records:
            m = marks.get(r.id)
            if m is not None:
                r = replace(r, rating=m.rating, favorite=m.favorite, tags=tuple(sorted(m.tags)), deleted=m.deleted)
            final.append(r)
        self.catalog.replace_all(final)
        jobs = self.jobs.restore()
        return {"images": len(final), "marked": len(set(marks) & {r.id for r in records}), "skipped": skipped,
                "removed_temp_files": removed_tmp, "journal_lines_skipped": skipped_lines, "jobs": jobs["jobs"],
                "jobs_journal_lines_skipped": jobs["skipped_lines"]}

    def export(self, query: SearchQuery, target: str | Path) -> dict[str, Any]:
        target = Path(target)
        suffix = target.suffix.lower()
        if suffix not in (".zip", ".parquet", ".csv"):
            raise InvalidInput(f"export target {str(target)!r}: must end in .zip, .parquet or .csv")
        if suffix in (".parquet", ".csv"):
            target.parent.mkdir(parents=True, exist_ok=True)
            count = self.catalog.export_rows(query, target, suffix[1:])
            return {"path": str(target), "images": count}
        count, offset = 0, 0
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            while True:
                page, total = self.catalog.search(replace(query, limit=500, offset=offset))
                for record in page:
                    archive.write(self.library.path_of(record), f"{record.id}.png")
                    count += 1
                offset += len(page)
                if not page or offset >= total:
                    break
        files.write_bytes_atomic(target, buffer.getvalue())
        return {"path": str(target), "images": count}


def expand(paths: Iterable[str | Path]) -> list[Path]:
    """Files and the images in folders (``IMPORT_SUFFIXES``); ImageRejected for a path that does not exist."""
    out = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMPORT_SUFFIXES and p.is_file()
                          and not files.is_mask(p))  # an edit's mask is not an image of its own
        elif path.is_file():
            out.append(path)
        else:
            raise ImageRejected(f"{raw}: no such file or folder")
    if not out:
        raise ImageRejected(f"{', '.join(map(str, paths))}: no images (.png, .jpg, .jpeg, .webp) found")
    return out


def _infotext(record: ImageRecord) -> str | None:
    try:
        return ImageParams.from_json({k: v for k, v in record.params.items()
                                      if k in ImageParams.model_fields}).infotext()
    except InvalidInput:
        return None


def _storable(image: Image.Image) -> Image.Image:
    return image if image.mode in ("RGB", "RGBA", "L", "LA", "P", "I", "I;16", "1") else image.convert("RGBA")
