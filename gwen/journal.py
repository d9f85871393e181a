"""Append-only journals beside the images: what must survive losing ``gwen.duckdb``.

Contract:
- ``JsonlLog(path)``: one JSON object per line, each append flushed and
  fsynced before it returns. Before appending it makes sure the file ends with
  a newline, so a line torn by a crash or a full disk (no newline at its end)
  can never swallow the next one. ``read()`` returns the good lines in order
  and how many torn or unreadable lines it skipped; a torn line never costs
  the line after it.
- ``Journal`` (``journal.jsonl``): the user's marks, written *before* the
  catalog row: ``rate`` (0–5), ``favorite`` (bool), ``tag`` / ``untag``
  (list of tags), ``delete``, ``restore``. ``apply_marks(events)`` folds them
  into the final marks per image, which ``reindex`` writes back.
- ``JobJournal`` (``jobs.jsonl``): a snapshot of a queue job after each change
  of its state (added, claimed, failed, done, cancelled, retried), written
  before the catalog's row. ``latest()`` is the last snapshot of every job:
  what ``reindex`` restores as the queue's history and its pending work.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from gwen.errors import disk_full

ACTIONS = ("rate", "favorite", "tag", "untag", "delete", "restore")


class JsonlLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        self.append_many([record])

    def append_many(self, records: list[dict[str, Any]]) -> None:
        """Append every record, one line each, with one fsync (a group of queue jobs finishing together)."""
        if not records:
            return
        line = "".join(json.dumps(record, ensure_ascii=False, default=str) + "\n" for record in records)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, open(self.path, "a+b") as handle:
                handle.seek(0, os.SEEK_END)
                if handle.tell() > 0:
                    handle.seek(-1, os.SEEK_END)
                    if handle.read(1) != b"\n":  # the last append was torn: end it, so this line stands alone
                        line = "\n" + line
                handle.write(line.encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:  # a torn line may be left: read() skips it, the next append ends it
            full = disk_full(exc, self.path.parent)
            if full is not None:
                raise full from None
            raise

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """(every readable line's object, in order; how many lines were torn or unreadable and skipped)."""
        if not self.path.exists():
            return [], 0
        records, torn = [], 0
        with open(self.path, "rb") as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    torn += 1
                    continue
                if isinstance(record, dict):
                    records.append(record)
                else:
                    torn += 1
        return records, torn


@dataclass
class Marks:
    rating: int = 0
    favorite: bool = False
    tags: set[str] = field(default_factory=set)
    deleted: bool = False


class Journal:
    """The marks journal (``journal.jsonl``)."""

    def __init__(self, path: Path):
        self.log = JsonlLog(path)
        self.path = self.log.path

    def append(self, image_id: str, action: str, value: Any = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown journal action {action!r}")
        self.log.append({"ts": datetime.now(timezone.utc).isoformat(), "id": image_id, "action": action,
                         "value": value})

    def read(self) -> tuple[list[dict[str, Any]], int]:
        """(the valid mark events in order, how many lines were skipped as torn or malformed)."""
        records, torn = self.log.read()
        events = [r for r in records if r.get("action") in ACTIONS and isinstance(r.get("id"), str)]
        return events, torn + len(records) - len(events)

    def replay(self) -> Iterator[dict[str, Any]]:
        yield from self.read()[0]


class JobJournal:
    """Snapshots of queue jobs (``jobs.jsonl``); the last one of each job is its state."""

    def __init__(self, path: Path):
        self.log = JsonlLog(path)
        self.path = self.log.path

    def record(self, job: dict[str, Any]) -> None:
        self.record_many([job])

    def record_many(self, jobs: list[dict[str, Any]]) -> None:
        ts = datetime.now(timezone.utc).isoformat()
        self.log.append_many([{"ts": ts, "job": job} for job in jobs])

    def latest(self) -> tuple[list[dict[str, Any]], int]:
        """(the last snapshot of every job, oldest job first; lines skipped as torn or malformed)."""
        records, torn = self.log.read()
        last: dict[str, dict[str, Any]] = {}
        for record in records:
            job = record.get("job")
            if isinstance(job, dict) and isinstance(job.get("id"), str):
                last[job["id"]] = job
            else:
                torn += 1
        return [last[k] for k in sorted(last)], torn


def apply_marks(events: Iterable[dict[str, Any]]) -> dict[str, Marks]:
    marks: dict[str, Marks] = {}
    for event in events:
        m = marks.setdefault(event["id"], Marks())
        action, value = event["action"], event.get("value")
        try:
            if action == "rate":
                m.rating = max(0, min(5, int(value)))
            elif action == "favorite":
                m.favorite = bool(value)
            elif action == "tag":
                m.tags |= {str(t) for t in value or ()}
            elif action == "untag":
                m.tags -= {str(t) for t in value or ()}
            elif action == "delete":
                m.deleted = True
            elif action == "restore":
                m.deleted = False
        except (TypeError, ValueError):
            continue  # a hand-edited line with a value of the wrong kind: skip that mark only
    return marks
