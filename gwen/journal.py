"""Append-only journal of the user's marks: ratings, favorites, tags, deletes, restores.

Contract:
- ``Journal.append(image_id, action, value)`` writes one JSON line and
  fsyncs it *before* the catalog row is updated, so a mark survives losing
  ``gwen.duckdb``. Actions: ``rate`` (0–5), ``favorite`` (bool), ``tag`` /
  ``untag`` (list of tags), ``delete``, ``restore``.
- ``Journal.replay()`` yields events in the order they were written and
  skips a torn last line (a crash mid-append) instead of failing.
- ``apply_marks(events)`` folds events into the final marks per image, which
  is what ``reindex`` writes back.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

ACTIONS = ("rate", "favorite", "tag", "untag", "delete", "restore")


@dataclass
class Marks:
    rating: int = 0
    favorite: bool = False
    tags: set[str] = field(default_factory=set)
    deleted: bool = False


class Journal:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def append(self, image_id: str, action: str, value: Any = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown journal action {action!r}")
        line = json.dumps({"ts": datetime.now(timezone.utc).isoformat(), "id": image_id, "action": action,
                           "value": value}, ensure_ascii=False)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def replay(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a torn final line from a crash mid-append
                if isinstance(event, dict) and event.get("action") in ACTIONS and "id" in event:
                    yield event


def apply_marks(events: Iterable[dict[str, Any]]) -> dict[str, Marks]:
    marks: dict[str, Marks] = {}
    for event in events:
        m = marks.setdefault(event["id"], Marks())
        action, value = event["action"], event.get("value")
        if action == "rate":
            m.rating = int(value)
        elif action == "favorite":
            m.favorite = bool(value)
        elif action == "tag":
            m.tags |= set(value or ())
        elif action == "untag":
            m.tags -= set(value or ())
        elif action == "delete":
            m.deleted = True
        elif action == "restore":
            m.deleted = False
    return marks
