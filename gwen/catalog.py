"""The DuckDB catalog of images: every line of SQL in GWEN lives here (and in migrations).

Contract:
- One row per image (``ImageRecord``); lineage by reference (``parent_id``,
  ``root_id``), never by copy.
- Every query is parameterized; user text never becomes SQL. Filter fields,
  operators and sort keys come from fixed whitelists; anything else raises
  ``InvalidInput`` naming the field and the allowed ones.
- Writes happen in a transaction. Callers write the image file first; the
  row is the second step, so a crash leaves at worst a file without a row,
  which ``reindex`` adopts. ``insert_later`` commits the rows of a grid just
  behind its call (``gwen.pending_rows``: before any later operation on the
  file, in this process or another; a dead process's rows are adopted by the
  next one to open it), and ``JobStore.finish_and_claim`` commits a group of
  finished queue jobs with the next claims (``gwen.queue_group``).
- Single writer, taken in turns: DuckDB lets one process at a time open the
  file. Each method (or a ``session()`` block) opens it if needed and works;
  afterwards the file stays open for up to ``GWEN_CATALOG_LINGER`` seconds
  (default 5) and is handed over within milliseconds when another process
  asks for it (``gwen.catalog_hold``): a process that finds it locked asks
  and retries for up to ``lock_timeout`` seconds, and only if it stays locked
  that long raises ``CatalogBusy``. So bursts of operations pay DuckDB's
  ~40 ms open and close once, and a dashboard, a queue runner and CLI calls
  still share one GWEN_HOME. Within one process, access is serialized by a
  lock. ``GWEN_CATALOG_HOLD=1`` keeps the file until ``close()`` and hands it
  to no one (a process that owns its GWEN_HOME alone). Opening, sharing and
  closing the file is ``gwen.catalog_file.CatalogFile``'s.
"""

from __future__ import annotations

import functools
import json
import os
import re
import warnings
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterable

import duckdb
import numpy as np

from gwen.catalog_file import CatalogFile
from gwen.errors import DiskFull, GwenError, InvalidInput, NotFound, disk_full
from gwen.files import check_id
from gwen.journal import JobJournal
from gwen.pending_rows import forget, orphans, pending_for
from gwen.records import FILTER_FIELDS, JOB_STATUSES, MIN_PREFIX, OPERATORS, ImageRecord, JobRecord, SearchQuery


# The prompt styles an image was rendered with (gwen.styles), as a list; [] when none.
STYLES = "coalesce(CAST(json_extract(params_json, '$.styles') AS VARCHAR[]), [])"
NO_STYLE = "(no style)"
_COLUMNS = ("id, created_at, path, width, height, op, parent_id, root_id, params_json, params_hash, variation_json, "
            "batch_id, batch_index, batch_size, model_hash, rating, favorite, tags, deleted, duration_ms, device, "
            "dtype, versions_json, file_sha256, import_source, worker")

TASTE_COLUMNS = ("guidance", "steps", "scheduler", "denoise", "variation_strength", "model", "rating", "favorite")

FEW_ROWS = 32  # up to this many rows are inserted by one statement, more through one Arrow table
_ROW_COLUMNS = (f"{_COLUMNS}, prompt, negative_prompt, model, scheduler, steps, guidance, seed, variation_seed, "
                "variation_strength, init_image_id, denoise, upscaler, upscale_scale")


def _in_session(method):
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.session():
            return method(self, *args, **kwargs)
    return wrapper


class _RowsBehind:
    """The rows of a grid committed behind its call (``gwen.pending_rows``): a part of ``Catalog``, apart so that
    each stays small. Uses ``Catalog``'s ``insert``, ``_insert_rows``, ``_absent`` and ``_transaction_on``."""

    def insert_later(self, records: Iterable[ImageRecord]) -> None:
        """Insert rows whose files are written, committing them behind the caller (``gwen.pending_rows``): before
        this process's next operation on the file, before the file is handed over or closed, within
        ``FLUSH_AFTER`` seconds otherwise. A catalog that closes its file after every operation
        (``GWEN_CATALOG_LINGER=0``) inserts at once."""
        records = list(records)
        if not records:
            return
        if not (self.hold or self._lingering.linger > 0):
            return self.insert(records)
        with self.session(settle=False):  # the file is held while rows are pending: no one else can miss them
            try:
                pending_for(self.path).add(records, self.flush_pending)
            except OSError as exc:
                raise disk_full(exc, self.path.parent) or exc

    def flush_pending(self) -> None:
        """Commit this process's pending rows of this file now (a full disk raises ``DiskFull``: the flusher waits)."""
        with self.session(settle=False):
            self._commit_pending()

    def _settle(self, opened: bool, settle: bool) -> None:
        if opened:
            self._adopt_orphans()
        if settle:
            try:
                self._commit_pending()
            except DiskFull:  # the rows stay pending (and logged); the operation goes on, a write will say it
                pass

    def _before_close(self) -> None:
        self._commit_pending()

    def _commit_pending(self) -> None:
        """Commit pending rows on the open connection; readers of the registry wait until they are in."""
        pending = pending_for(self.path)
        if not pending:
            return
        with pending.lock:
            records = pending.take()
            if records:
                rows = [_row(r) for r in records]
                try:
                    self._transaction_on(self._con, lambda: self._insert_rows(self._absent(rows)))
                except GwenError:
                    raise
                except Exception as exc:  # rows DuckDB refuses would block every operation: drop them, keep PNGs
                    warnings.warn(f"{len(rows)} new image rows could not be cataloged ({type(exc).__name__}: "
                                  f"{exc}); their PNGs are kept: `python -m gwen reindex` adopts them")
                pending.committed(len(records))

    def _adopt_orphans(self) -> None:
        """Rows a dead process left pending (its log): inserted where missing, then the log is deleted."""
        for path, records, handle in orphans(self.path):
            try:
                rows = [_row(r) for r in records]
                self._transaction_on(self._con, lambda: self._insert_rows(self._absent(rows)))
                forget(path, handle)
            except DiskFull:  # the log stays for the next opener
                pass
            except Exception as exc:  # a log whose rows DuckDB refuses must not block every opener: set aside
                path.replace(path.with_suffix(".bad"))
                warnings.warn(f"pending rows in {path} could not be cataloged ({type(exc).__name__}: {exc}); "
                              f"set aside as {path.with_suffix('.bad').name}: `python -m gwen reindex` adopts "
                              "their PNGs")
            finally:
                handle.close()


class Catalog(_RowsBehind, CatalogFile):
    """A DuckDB catalog file (``$GWEN_HOME/gwen.duckdb``): its queries; opening and sharing the file is
    ``CatalogFile``'s."""

    # --- writes -------------------------------------------------------------
    @_in_session
    def insert(self, records: Iterable[ImageRecord]) -> None:
        rows = [_row(r) for r in records]
        if rows:
            self.transaction(lambda: self._insert_rows(rows))

    @_in_session
    def replace_all(self, records: Iterable[ImageRecord]) -> None:
        """Empty the table and insert ``records``, in one transaction (reindex)."""
        rows = [_row(r) for r in records]

        def work() -> None:
            self.con.execute("DELETE FROM images")
            self._insert_rows(rows)
        self.transaction(work)

    def set_rating(self, image_id: str, stars: int) -> None:
        self._update(image_id, "rating = ?", [stars])

    def set_favorite(self, image_id: str, on: bool) -> None:
        self._update(image_id, "favorite = ?", [on])

    def set_deleted(self, image_id: str, deleted: bool) -> None:
        self._update(image_id, "deleted = ?", [deleted])

    def add_tags(self, image_id: str, tags: Iterable[str]) -> None:
        self._update(image_id, "tags = list_sort(list_distinct(list_concat(tags, ?::VARCHAR[])))", [list(tags)])

    def remove_tags(self, image_id: str, tags: Iterable[str]) -> None:
        self._update(image_id, "tags = list_filter(tags, lambda t: NOT list_contains(?::VARCHAR[], t))", [list(tags)])

    @_in_session
    def _update(self, image_id: str, assignment: str, args: list) -> None:
        self.transaction(lambda: self.con.execute(f"UPDATE images SET {assignment} WHERE id = ?", [*args, image_id]))

    def _absent(self, rows: list[list]) -> list[list]:
        """The rows whose id is not in the table yet (a job re-run after a crash): an indexed lookup, which costs
        less than ``INSERT OR IGNORE`` (4.2 against 1.8 ms for a one-row insert)."""
        if not rows:
            return rows
        marks = ", ".join("?" for _ in rows)
        present = {found for (found,) in self.con.execute(f"SELECT id FROM images WHERE id IN ({marks})",
                                                          [row[0] for row in rows]).fetchall()}
        return [row for row in rows if row[0] not in present]

    def _insert_rows(self, rows: list[list], or_ignore: bool = False) -> None:
        """Insert rows in one statement: executemany costs ~1.3 ms a row in DuckDB (each statement does); many
        rows go through one Arrow table, a few µs a row (reindex rebuilds 10,000 images in seconds)."""
        if not rows:
            return
        verb = "INSERT OR IGNORE INTO" if or_ignore else "INSERT INTO"
        if len(rows) <= FEW_ROWS:  # one statement of many VALUES: ~2 ms for 1 row, ~4 ms for 8; more rows through
            one = "(" + ", ".join("?" for _ in rows[0]) + ")"  # one Arrow table (~4 ms, then µs a row)
            self.con.execute(f"{verb} images ({_ROW_COLUMNS}) VALUES {', '.join(one for _ in rows)}",
                             [value for row in rows for value in row])
            return
        import pyarrow as pa

        names = [c.strip() for c in _ROW_COLUMNS.split(",")]
        staging = pa.table({name: [row[k] for row in rows] for k, name in enumerate(names)})
        self.con.register("gwen_staging_rows", staging)
        try:
            self.con.execute(f"{verb} images ({_ROW_COLUMNS}) SELECT {_ROW_COLUMNS} FROM gwen_staging_rows")
        finally:
            self.con.unregister("gwen_staging_rows")

    @_in_session
    def transaction(self, work) -> None:
        """``work`` in one transaction. A failure rolls it back and is raised as itself (a full disk as
        ``DiskFull``), never hidden behind a failed rollback."""
        self._transaction_on(self.con, work)

    def _transaction_on(self, con, work) -> None:
        try:
            con.execute("BEGIN TRANSACTION")
            work()
            con.execute("COMMIT")
        except Exception as exc:
            try:
                con.execute("ROLLBACK")
            except duckdb.Error:  # the transaction is already gone (DuckDB aborts it on an I/O error)
                pass
            full = disk_full(exc, self.path.parent)
            if full is not None:
                raise full from None
            raise

    # --- reads ------------------------------------------------------------------
    @_in_session
    def resolve(self, image_id: str) -> str:
        """The full id for ``image_id``: a whole id, or a unique prefix or suffix of one (≥ 6 characters),
        as the UI shows them; else NotFound naming the rule."""
        return _resolve_id(self.con, "images", "image", image_id)

    @_in_session
    def get(self, image_id: str) -> ImageRecord:
        full = self.resolve(image_id)
        row = self.con.execute(f"SELECT {_COLUMNS} FROM images WHERE id = ?", [full]).fetchone()
        return _record(row)

    @_in_session
    def get_many(self, ids: list[str]) -> dict[str, ImageRecord]:
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)  # IN (?, …) is an index lookup; list_contains scans the table
        rows = self.con.execute(f"SELECT {_COLUMNS} FROM images WHERE id IN ({marks})", list(ids)).fetchall()
        return {r.id: r for r in map(_record, rows)}

    @_in_session
    def find_by_sha256(self, sha: str) -> str | None:
        row = self.con.execute("SELECT id FROM images WHERE file_sha256 = ? LIMIT 1", [sha]).fetchone()
        return row[0] if row else None

    @_in_session
    def all_ids(self) -> set[str]:
        return {r[0] for r in self.con.execute("SELECT id FROM images").fetchall()}

    @_in_session
    def count(self, include_deleted: bool = False) -> int:
        sql = "SELECT count(*) FROM images" + ("" if include_deleted else " WHERE NOT deleted")
        return int(self.con.execute(sql).fetchone()[0])

    @_in_session
    def batch(self, batch_id: str) -> list[ImageRecord]:
        rows = self.con.execute(f"SELECT {_COLUMNS} FROM images WHERE batch_id = ? ORDER BY batch_index",
                                [batch_id]).fetchall()
        return [_record(r) for r in rows]

    @_in_session
    def search(self, query: SearchQuery) -> tuple[list[ImageRecord], int]:
        where, args = _where(query)
        order = f"{query.sort} {'DESC' if query.descending else 'ASC'} NULLS LAST, id {'DESC' if query.descending else 'ASC'}"
        total = int(self.con.execute(f"SELECT count(*) FROM images WHERE {where}", args).fetchone()[0])
        rows = self.con.execute(f"SELECT {_COLUMNS} FROM images WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                                [*args, query.limit, query.offset]).fetchall()
        return [_record(r) for r in rows], total

    @_in_session
    def export_rows(self, query: SearchQuery, target: Path, fmt: str) -> int:
        """Write every row matching ``query`` (no paging) as Parquet or CSV; return the row count."""
        return _export_rows(self.con, query, target, fmt)

    @_in_session
    def lineage(self, image_id: str) -> tuple[list[ImageRecord], list[ImageRecord]]:
        """(ancestors from the root down to the image, descendants of the image, nearest first)."""
        return _lineage(self.con, self.resolve(image_id))

    @_in_session
    def rating_by(self, by: str, query: SearchQuery | None = None) -> list[dict[str, Any]]:
        """Mean rating and count of the rated images among those ``query`` matches (all when None), grouped."""
        return _rating_by(self.con, by, query)

    @_in_session
    def rated_rows(self) -> tuple[dict[str, Any], str]:
        """The rated images (a rating or a favorite, not deleted) as columns ``TASTE_COLUMNS`` (numpy arrays in
        id order; None / NaN where a value is missing), and a stable hash of the snapshot: sha256 over the sorted
        ``id:rating:favorite`` rows (the same ratings give the same hash, whatever the order they were made in)."""
        rated = "FROM images WHERE NOT deleted AND (rating > 0 OR favorite)"
        digest = self.con.execute(
            "SELECT sha256(coalesce(string_agg(id || ':' || rating || ':' || CAST(favorite AS INTEGER), ',' "
            f"ORDER BY id), '')) {rated}").fetchone()[0]
        strength = ("CAST(coalesce(json_extract_string(variation_json, '$.strength'), CAST(variation_strength AS "
                    "VARCHAR)) AS DOUBLE) AS variation_strength")  # the vary plan's strength, else the noise's
        picked = ", ".join(strength if name == "variation_strength" else name for name in TASTE_COLUMNS)
        data = self.con.execute(f"SELECT {picked} {rated} ORDER BY id").fetchnumpy()
        columns: dict[str, Any] = {}
        for name in TASTE_COLUMNS:
            column = np.ma.asarray(data[name])
            if name in ("scheduler", "model"):
                columns[name] = np.ma.filled(column.astype(object), None)
            elif name == "favorite":
                columns[name] = np.ma.filled(column, False).astype(bool)
            else:
                columns[name] = np.ma.filled(column.astype(float), np.nan)
        return columns, digest

    @_in_session
    def tag_counts(self, limit: int = 200) -> list[tuple[str, int]]:
        """Every tag in use (on images not deleted) with how many images carry it, most used first."""
        return [(t, int(c)) for t, c in self.con.execute(
            "SELECT tag, count(*) AS c FROM (SELECT unnest(tags) AS tag FROM images WHERE NOT deleted) "
            "GROUP BY tag ORDER BY c DESC, tag LIMIT ?", [limit]).fetchall()]

    @_in_session
    def stats(self) -> dict[str, Any]:
        row = self.con.execute("""SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted),
                                  count(*) FILTER (WHERE favorite AND NOT deleted), max(created_at)
                                  FROM images""").fetchone()
        by_op = dict(self.con.execute("SELECT op, count(*) FROM images WHERE NOT deleted GROUP BY op").fetchall())
        by_style = dict(self.con.execute(f"SELECT style, count(*) FROM (SELECT unnest({STYLES}) AS style FROM images "
                                         "WHERE NOT deleted) GROUP BY style ORDER BY count(*) DESC, style").fetchall())
        return {"images": row[0], "deleted": row[1], "favorites": row[2],
                "latest": row[3].isoformat() if row[3] else None, "by_op": by_op, "by_style": by_style}


_JOB_COLUMNS = ("id, created_at, updated_at, kind, spec_json, status, attempts, max_attempts, cancel_requested, "
                "error, image_ids, parent_job_id, source")

def _cancel_requested_among(con, ids: list[str]) -> set[str]:
    if not ids:
        return set()
    return {i for (i,) in con.execute(
        f"SELECT id FROM jobs WHERE cancel_requested AND id IN ({', '.join('?' for _ in ids)})", ids).fetchall()}


def _insert_jobs(con, rows: list[list]) -> None:
    """Insert job rows, up to 256 per statement (DuckDB costs ~1.3 ms a statement, executemany one a row)."""
    for start in range(0, len(rows), 256):
        part = rows[start:start + 256]
        marks = ", ".join("(" + ", ".join("?" for _ in part[0]) + ")" for _ in part)
        con.execute(f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES {marks}", [v for row in part for v in row])


def _job_row(j: JobRecord) -> list:
    now = datetime.now(timezone.utc)
    return [j.id, j.created_at or now, j.updated_at or now, j.kind, json.dumps(j.spec, sort_keys=True), j.status,
            j.attempts, j.max_attempts, j.cancel_requested, j.error, list(j.image_ids), j.parent_job_id, j.source]


def _job(row) -> JobRecord:
    (id_, created_at, updated_at, kind, spec_json, status, attempts, max_attempts, cancel_requested, error,
     image_ids, parent_job_id, source) = row
    return JobRecord(id=id_, kind=kind, spec=json.loads(spec_json), status=status, attempts=attempts,
                     max_attempts=max_attempts, cancel_requested=bool(cancel_requested), error=error,
                     image_ids=tuple(image_ids or ()), parent_job_id=parent_job_id, source=source,
                     created_at=created_at, updated_at=updated_at)


class JobStore:
    """The ``jobs`` table of a catalog file (same file, same turn-taking), journaled.

    Every change of a job's state is first written as a snapshot to the job journal (``jobs.jsonl``, fsynced),
    then to the table, so ``restore`` can rebuild the queue's history and pending work after ``gwen.duckdb`` is
    lost. ``attempts`` counts the attempts that were started and did not end in a crash: a runner killed
    mid-job gives its attempt back (``recover_interrupted``), so only failures count toward ``max_attempts``.
    """

    def __init__(self, catalog: "Catalog", journal: "JobJournal | None" = None):
        self.catalog = catalog
        self.journal = journal

    def _record(self, jobs: Iterable[JobRecord]) -> None:
        if self.journal is not None:
            self.journal.record_many([job.to_dict() for job in jobs])

    def _get(self, con, job_id: str) -> JobRecord | None:
        row = con.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", [job_id]).fetchone()
        return _job(row) if row else None

    def _save(self, con, job: JobRecord) -> JobRecord:
        """Journal ``job``'s new state, then write it (callers hold the session and a transaction)."""
        job = replace(job, updated_at=datetime.now(timezone.utc))
        self._record([job])
        con.execute("UPDATE jobs SET status = ?, error = ?, attempts = ?, cancel_requested = ?, image_ids = ?, "
                    "updated_at = ? WHERE id = ?", [job.status, job.error, job.attempts, job.cancel_requested,
                                                    list(job.image_ids), job.updated_at, job.id])
        return job

    def _change(self, job_id: str, change, only_from: tuple[str, ...] = ()) -> JobRecord | None:
        """Apply ``change(job) -> job`` in one transaction; None when the job is not in ``only_from``."""
        with self.catalog.session() as con:
            out: list = []

            def work() -> None:
                job = self._get(con, job_id)
                if job is not None and (not only_from or job.status in only_from):
                    out.append(self._save(con, change(job)))
            self.catalog.transaction(work)
            return out[0] if out else None

    def add(self, jobs: list[JobRecord]) -> None:
        now = datetime.now(timezone.utc)
        jobs = [replace(j, created_at=j.created_at or now, updated_at=now) for j in jobs]
        self._record(jobs)
        rows = [_job_row(j) for j in jobs]
        with self.catalog.session() as con:
            self.catalog.transaction(lambda: _insert_jobs(con, rows))

    def list(self, status: str | None = None, limit: int = 1000) -> list[JobRecord]:
        if status is not None and status not in JOB_STATUSES:
            raise InvalidInput(f"status={status!r}: must be one of {', '.join(JOB_STATUSES)}")
        with self.catalog.session() as con:
            sql = f"SELECT {_JOB_COLUMNS} FROM jobs"
            args: list = []
            if status:
                sql += " WHERE status = ?"
                args.append(status)
            rows = con.execute(sql + " ORDER BY id LIMIT ?", [*args, limit]).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.catalog.session() as con:
            return dict(con.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())

    def resolve(self, job_id: str) -> JobRecord:
        """The job for a whole id, or a unique prefix or suffix of one (≥ 6 characters); else NotFound."""
        with self.catalog.session() as con:
            full = _resolve_id(con, "jobs", "job", job_id)
            return self._get(con, full)

    def claim_next(self) -> JobRecord | None:
        """The oldest pending job, now running with one more attempt (None if the queue is empty)."""
        with self.catalog.session() as con:
            claimed: list = []

            def work() -> None:
                row = con.execute("SELECT id FROM jobs WHERE status = 'pending' ORDER BY id LIMIT 1").fetchone()
                if row:
                    job = self._get(con, row[0])
                    claimed.append(self._save(con, replace(job, status="running", attempts=job.attempts + 1)))
            self.catalog.transaction(work)
            return claimed[0] if claimed else None

    def set_status(self, job_id: str, status: str, error: str | None = None, only_from: tuple[str, ...] = ()
                   ) -> bool:
        """Move a job to ``status``; with ``only_from``, only if it is currently in one of those states."""
        def change(job: JobRecord) -> JobRecord:
            return replace(job, status=status, error=error,
                           cancel_requested=False if status == "pending" else job.cancel_requested)
        changed = self._change(job_id, change, only_from) is not None
        if changed and status == "cancelled":
            self.signal_cancel()
        return changed

    def give_back(self, job_id: str) -> None:
        """A running job back to pending with its attempt not counted: one journaled change (so a full disk
        leaves it either given back or still running, which the next runner recovers, never half of it)."""
        self._change(job_id, lambda job: replace(job, status="pending", attempts=max(0, job.attempts - 1)),
                     only_from=("running",))

    def finish_and_claim(self, finished: list[tuple[JobRecord, list[ImageRecord], list[ImageRecord], list[JobRecord]]],
                         claim: int = 0, watch: Iterable[str] = (), count: bool = False
                         ) -> tuple[list[JobRecord], int | None, set[str]]:
        """Group commit of a queue runner: each finished ``(job, new rows, every image, follow-ups)`` is marked
        done with its rows inserted (where absent) and its follow-ups enqueued, then up to ``claim`` pending jobs
        are claimed (running, one more attempt). Every snapshot goes to the journal in one append, then everything
        commits in one transaction of few statements (each DuckDB statement costs ~1 ms here, whatever its size).
        Returns (the claimed jobs, oldest first; with ``count``, how many stay pending; which of the ``watch``
        ids have a cancel request)."""
        now = datetime.now(timezone.utc)
        done, follow_ups, rows = [], [], []
        for job, fresh, every, follows in finished:
            ids = [r.id for r in every]
            done.append(replace(job, status="done", error=None, updated_at=now,
                                image_ids=tuple(dict.fromkeys([*job.image_ids, *ids]))))
            follow_ups += [replace(j, created_at=now, updated_at=now) for j in follows]
            rows += [_row(r) for r in fresh]
        watch = list(watch)
        out: dict = {"claimed": [], "pending": None, "cancel": set(), "committed": False}
        try:
            self._finish_and_claim(done, follow_ups, rows, claim, watch, count, out, now)
        except Exception:
            if not out["committed"]:
                raise
            # committed; closing the file afterwards failed (a full disk at checkpoint): the next operation says so
        return out["claimed"], out["pending"], out["cancel"]

    def _finish_and_claim(self, done, follow_ups, rows, claim, watch, count, out, now) -> None:
        with self.catalog.session() as con:
            def work() -> None:
                self.catalog._insert_rows(self.catalog._absent(rows))
                if follow_ups:
                    _insert_jobs(con, [_job_row(j) for j in follow_ups])
                if claim > 0:
                    found = con.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE status = 'pending' ORDER BY id "
                                        "LIMIT ?", [claim]).fetchall()
                    out["claimed"] = [replace(j, status="running", attempts=j.attempts + 1, updated_at=now)
                                      for j in map(_job, found)]
                changed = [*done, *out["claimed"]]
                self._record([*done, *follow_ups, *out["claimed"]])
                if changed:
                    values = ", ".join("(?, ?, ?, ?, ?::VARCHAR[], ?::TIMESTAMPTZ)" for _ in changed)
                    con.execute(
                        "UPDATE jobs SET status = c.status, error = c.error, attempts = c.attempts, "
                        f"image_ids = c.image_ids, updated_at = c.updated_at FROM (VALUES {values}) "
                        "AS c(id, status, error, attempts, image_ids, updated_at) WHERE jobs.id = c.id",
                        [v for j in changed for v in (j.id, j.status, j.error, j.attempts, list(j.image_ids),
                                                      j.updated_at)])
                if count:
                    out["pending"] = con.execute("SELECT count(*) FROM jobs WHERE status = 'pending'").fetchone()[0]
                out["cancel"] = _cancel_requested_among(con, watch)
            self.catalog.transaction(work)
            out["committed"] = True

    def reset_attempts(self, job_id: str) -> None:
        self._change(job_id, lambda job: replace(job, attempts=0))

    def request_cancel(self, job_id: str) -> None:
        self._change(job_id, lambda job: replace(job, cancel_requested=True))
        self.signal_cancel()

    @property
    def cancel_signal_path(self) -> Path:
        return self.catalog.path.with_name("queue.cancel")

    def signal_cancel(self) -> None:
        """Touch ``queue.cancel``: a runner checks its mtime (a ``stat``) before asking the catalog."""
        try:
            self.cancel_signal_path.touch()
            os.utime(self.cancel_signal_path)
        except OSError:  # a read-only or full home: the runner still asks once a second
            pass

    def cancel_requested_among(self, ids: list[str]) -> set[str]:
        with self.catalog.session() as con:
            return _cancel_requested_among(con, ids)

    def cancel_requested(self, job_id: str) -> bool:
        with self.catalog.session() as con:
            row = con.execute("SELECT cancel_requested FROM jobs WHERE id = ?", [job_id]).fetchone()
        return bool(row and row[0])

    def recover_interrupted(self) -> int:
        """Jobs left ``running`` by a runner that died go back to ``pending``; the interrupted attempt is given
        back (a crash is not a failure of the job)."""
        with self.catalog.session() as con:
            found: list = []

            def work() -> None:
                for (job_id,) in con.execute("SELECT id FROM jobs WHERE status = 'running'").fetchall():
                    job = self._get(con, job_id)
                    found.append(self._save(con, replace(job, status="pending", attempts=max(0, job.attempts - 1),
                                                         cancel_requested=False)))
            self.catalog.transaction(work)
            return len(found)

    def restore(self) -> dict[str, int]:
        """Rebuild the jobs table from the journal (after ``gwen.duckdb`` was lost); interrupted jobs pend."""
        if self.journal is None:
            return {"jobs": 0, "skipped_lines": 0}
        snapshots, skipped = self.journal.latest()
        jobs = []
        for data in snapshots:
            try:
                job = JobRecord.from_dict(data)
            except (TypeError, ValueError, KeyError):
                skipped += 1
                continue
            if job.status == "running":
                job = replace(job, status="pending", attempts=max(0, job.attempts - 1), cancel_requested=False)
            jobs.append(job)
        rows = [_job_row(j) for j in jobs]
        with self.catalog.session() as con:
            def work() -> None:
                con.execute("DELETE FROM jobs")
                if rows:
                    _insert_jobs(con, rows)
            self.catalog.transaction(work)
        return {"jobs": len(jobs), "skipped_lines": skipped}


def _resolve_id(con, table: str, what: str, given: str) -> str:
    """A whole id, or the one id that starts or ends with ``given`` (≥ MIN_PREFIX characters)."""
    candidate = str(given).strip().upper()
    if len(candidate) == 26:
        if what == "image":
            candidate = check_id(candidate)
        if con.execute(f"SELECT 1 FROM {table} WHERE id = ?", [candidate]).fetchone():
            return candidate
        raise NotFound(f"{what} {given!r}: not in the catalog" if what == "image" else
                       f"{what} {given!r}: no such {what} in the queue")
    if len(candidate) < MIN_PREFIX or not re.fullmatch(r"[0-9A-HJKMNP-TV-Z]+", candidate):
        raise NotFound(f"{what} id {given!r}: not a GWEN {what} id (26 characters, or a unique prefix or suffix "
                       f"of at least {MIN_PREFIX})")
    rows = con.execute(f"SELECT id FROM {table} WHERE starts_with(id, ?) OR ends_with(id, ?) LIMIT 2",
                       [candidate, candidate]).fetchall()
    if not rows:
        raise NotFound(f"{what} {given!r}: not in the catalog (no image id starts or ends with it)" if what == "image"
                       else f"{what} {given!r}: no such {what} in the queue (no {what} id starts or ends with it)")
    if len(rows) > 1:
        raise NotFound(f"{what} id {given!r}: matches more than one {what} ({rows[0][0]}, {rows[1][0]}); "
                       "give more characters")
    return rows[0][0]


def _where(query: SearchQuery) -> tuple[str, list]:
    clauses, args = [], []
    if query.only_deleted:
        clauses.append("deleted")
    elif not query.include_deleted:
        clauses.append("NOT deleted")
    for term in _terms(query.text or ""):
        like, pattern = _contains(term)
        clauses.append(f"(prompt {like} OR negative_prompt {like})")
        args += [pattern, pattern]
    for flt in query.filters:
        column, kind = FILTER_FIELDS[flt.field]
        if flt.op == "~":
            like, pattern = _contains(flt.value)
            clauses.append(f"{column} {like}")
            args.append(pattern)
        elif kind is str and flt.op in ("=", "=="):
            clauses.append(f"lower({column}) = lower(?)")
            args.append(flt.value)
        else:
            clauses.append(f"{column} {OPERATORS[flt.op]} ?")
            args.append(flt.value)
    if query.model:
        like, pattern = _contains(query.model)
        clauses.append(f"model {like}")
        args.append(pattern)
    if query.op:
        clauses.append("op = ?")
        args.append(query.op)
    if query.min_rating is not None:
        clauses.append("rating >= ?")
        args.append(query.min_rating)
    if query.favorite is not None:
        clauses.append("favorite = ?")
        args.append(query.favorite)
    for tag in query.tags:
        clauses.append("list_contains(tags, ?)")
        args.append(tag)
    for style in query.styles:
        clauses.append(f"list_contains({STYLES}, ?)")
        args.append(style)
    if query.since:
        clauses.append("created_at >= ?")
        args.append(datetime.combine(query.since, datetime.min.time(), tzinfo=timezone.utc))
    if query.until:
        clauses.append("created_at < ?")
        args.append(datetime.combine(query.until + timedelta(days=1), datetime.min.time(), tzinfo=timezone.utc))
    return (" AND ".join(clauses) or "true"), args


def _terms(text: str) -> list[str]:
    """Words and "quoted phrases"; every one must appear (in prompt or negative prompt)."""
    return [a or b for a, b in re.findall(r'"([^"]+)"|(\S+)', text)]


def _contains(text: str) -> tuple[str, str]:
    """(SQL operator with its placeholder, parameter) for a case-insensitive literal substring match.

    Plain ``ILIKE`` when the text holds no LIKE metacharacters (DuckDB runs it as a fast substring scan, about
    twice as fast as with an ESCAPE clause); otherwise escaped, so ``%`` and ``_`` stay literal.
    """
    if any(c in text for c in "%_\\"):
        return "ILIKE ? ESCAPE '\\'", f"%{_escape_like(text)}%"
    return "ILIKE ?", f"%{text}%"


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row(r: ImageRecord) -> list:
    p = r.params
    last_variation = (p.get("variations") or [None])[-1]
    batch = r.batch or {}
    upscale = p.get("upscale") if isinstance(p.get("upscale"), dict) else {}
    return [
        r.id, r.created_at, r.path, r.width, r.height, r.op, r.parent_id, r.root_id,
        json.dumps(p, sort_keys=True, separators=(",", ":"), ensure_ascii=False), r.params_hash,
        json.dumps(r.variation) if r.variation is not None else None,
        batch.get("id"), batch.get("index"), batch.get("size"), r.model_hash, r.rating, r.favorite, list(r.tags),
        r.deleted, r.duration_ms, r.device, r.dtype, json.dumps(r.versions), r.file_sha256, r.import_source, r.worker,
        p.get("prompt"), p.get("negative_prompt"), p.get("model"), p.get("scheduler"), _int(p.get("steps")),
        _float(p.get("guidance")), _int(p.get("seed")),
        last_variation.get("seed") if isinstance(last_variation, dict) else None,
        last_variation.get("strength") if isinstance(last_variation, dict) else None,
        p.get("init_image_id"), _float(p.get("denoise")), upscale.get("model"), _float(upscale.get("scale")),
    ]


def _record(row) -> ImageRecord:
    (id_, created_at, path, width, height, op, parent_id, root_id, params_json, params_hash, variation_json,
     batch_id, batch_index, batch_size, model_hash, rating, favorite, tags, deleted, duration_ms, device, dtype,
     versions_json, file_sha256, import_source, worker) = row
    return ImageRecord(
        id=id_, created_at=created_at, path=path, width=width, height=height, op=op, parent_id=parent_id,
        root_id=root_id, params=json.loads(params_json), params_hash=params_hash,
        variation=json.loads(variation_json) if variation_json else None,
        batch={"id": batch_id, "index": batch_index, "size": batch_size} if batch_id else None,
        model_hash=model_hash, rating=int(rating), favorite=bool(favorite), tags=tuple(tags or ()),
        deleted=bool(deleted), duration_ms=duration_ms, device=device, dtype=dtype,
        versions=json.loads(versions_json) if versions_json else {}, file_sha256=file_sha256,
        import_source=import_source, worker=worker)


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def _float(v: Any) -> float | None:
    try:
        return float(v) if v is not None else None
    except (TypeError, ValueError):
        return None


def with_marks(record: ImageRecord, **marks: Any) -> ImageRecord:
    return replace(record, **marks)


# --- reports over the images table (module functions over an open connection) ------------------------------
def _export_rows(con, query: SearchQuery, target: Path, fmt: str) -> int:
    where, args = _where(query)
    rel = con.sql(
        "SELECT id, created_at, path, op, parent_id, root_id, prompt, negative_prompt, model, model_hash, "
        "scheduler, steps, guidance, seed, variation_seed, variation_strength, init_image_id, denoise, width, "
        "height, rating, favorite, array_to_string(tags, ',') AS tags, deleted, duration_ms, device, dtype, worker, "
        f"params_json, params_hash FROM images WHERE {where} ORDER BY created_at", params=args)
    count = len(rel)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if fmt == "parquet":
            rel.write_parquet(str(tmp))
        else:
            rel.write_csv(str(tmp), header=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return count


def _lineage(con, full: str) -> tuple[list[ImageRecord], list[ImageRecord]]:
    """Every image carries its family's ``root_id``, so the family's (id, parent) pairs come back in one index
    lookup and are walked here, then only the records on the path are read; rows whose ``root_id`` disagrees
    with their parent's (hand-edited or adopted files) fall back to the recursive walk."""
    root = con.execute("SELECT root_id FROM images WHERE id = ?", [full]).fetchone()[0]
    parent_of = dict(con.execute("SELECT id, parent_id FROM images WHERE root_id = ?", [root]).fetchall())
    up = [full]
    while parent_of.get(up[-1]) is not None:
        if parent_of[up[-1]] not in parent_of or len(up) > len(parent_of):
            return _lineage_by_walk(con, full)
        up.append(parent_of[up[-1]])
    children: dict[str, list[str]] = {}
    for child, parent in parent_of.items():
        if parent is not None:
            children.setdefault(parent, []).append(child)
    down, level = [], [full]
    while level:
        level = sorted(c for p in level for c in children.get(p, ()))
        down.extend(level)
        if len(down) > len(parent_of):  # a cycle: only hand-edited rows can make one
            return _lineage_by_walk(con, full)
    if con.execute("SELECT 1 FROM images WHERE parent_id IN (SELECT unnest(?::VARCHAR[])) AND "
                   "root_id IS DISTINCT FROM ? LIMIT 1", [[full, *down], root]).fetchone():
        return _lineage_by_walk(con, full)
    rows = {r.id: r for r in map(_record, con.execute(
        f"SELECT {_COLUMNS} FROM images WHERE root_id = ? AND id IN (SELECT unnest(?::VARCHAR[]))",
        [root, up + down]).fetchall())}
    return [rows[i] for i in reversed(up)], [rows[i] for i in down]


def _lineage_by_walk(con, full: str) -> tuple[list[ImageRecord], list[ImageRecord]]:
    columns = ", ".join("i." + c.strip() for c in _COLUMNS.split(","))
    up = con.execute(f"""
        WITH RECURSIVE up(id, depth) AS (
            SELECT id, 0 FROM images WHERE id = ?
            UNION ALL
            SELECT i.parent_id, up.depth + 1 FROM images i JOIN up ON i.id = up.id
            WHERE i.parent_id IS NOT NULL AND up.depth < 10000
        )
        SELECT {columns} FROM up JOIN images i ON i.id = up.id ORDER BY up.depth DESC""", [full]).fetchall()
    down = con.execute(f"""
        WITH RECURSIVE down(id, depth) AS (
            SELECT id, 0 FROM images WHERE id = ?
            UNION ALL
            SELECT i.id, down.depth + 1 FROM images i JOIN down ON i.parent_id = down.id
            WHERE down.depth < 10000
        )
        SELECT {columns} FROM down JOIN images i ON i.id = down.id WHERE down.depth > 0
        ORDER BY down.depth, i.id""", [full]).fetchall()
    return [_record(r) for r in up], [_record(r) for r in down]


RATING_GROUPS = {
    "guidance": "CAST(floor(guidance / 2) * 2 AS INTEGER)::VARCHAR || '–' || "
                "CAST(floor(guidance / 2) * 2 + 2 AS INTEGER)::VARCHAR",
    "steps": "CAST(steps AS VARCHAR)", "scheduler": "scheduler", "model": "model",
    "style": "style",  # one group per style an image was rendered with (a row per style), NO_STYLE for none
}


def _rating_by(con, by: str, query: SearchQuery | None) -> list[dict[str, Any]]:
    if by not in RATING_GROUPS:
        raise InvalidInput(f"group by {by!r}: choose one of {', '.join(RATING_GROUPS)}")
    where, args = _where(query or SearchQuery())
    if by == "style":
        rows = con.execute(
            f"SELECT style AS grp, avg(rating), count(*) FROM (SELECT unnest(CASE WHEN len({STYLES}) = 0 THEN "
            f"['{NO_STYLE}'] ELSE {STYLES} END) AS style, rating FROM images WHERE {where} AND rating > 0) "
            "GROUP BY grp ORDER BY avg(rating) DESC, grp", args).fetchall()
        return [{"group": g, "mean_rating": round(float(m), 2), "images": int(c)} for g, m, c in rows]
    rows = con.execute(
        f"SELECT {RATING_GROUPS[by]} AS grp, avg(rating), count(*) FROM images "
        f"WHERE {where} AND rating > 0 AND {by} IS NOT NULL GROUP BY grp ORDER BY min({by})", args).fetchall()
    return [{"group": g, "mean_rating": round(float(m), 2), "images": int(c)} for g, m, c in rows]

