"""What every metadata reader shares: the result type, the damage signal, limits and the field collector.

Contract:
- ``Metadata(source, params, record, notes, recovered)`` is what ``read_metadata`` returns. ``source`` names the
  format the parameters were read from (``gwen``, ``a1111``, ``comfyui``, ``invokeai``, ``fooocus``, ``novelai``
  or ``none``); ``notes`` are sentences for the user (damaged metadata, fields left out); ``recovered`` holds
  metadata text found outside PNG text chunks (EXIF, stealth pixels) as the PNG chunks its tool writes, so the
  stored PNG carries it.
- A reader raises ``Damaged(what, reason)`` when a format's metadata is present but cannot be read as a whole
  (bad JSON, wrong shape, truncated bits, no value of a usable type), and ``NotParameters`` for readable text
  where metadata could be that holds none (a camera's UserComment). Never anything else on purpose: the
  dispatcher turns any other exception into a note too, so an untrusted file never crashes an import.
- ``Fields`` collects GWEN param keys from loose values: a value of the wrong type is left out and named in
  ``problems`` (e.g. ``seed='abc' is not a whole number``), never raised.
- ``MAX_METADATA_CHARS`` bounds every metadata text read (typed or hidden); longer is refused as damaged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from gwen.formats.samplers import scheduler_for

GWEN_CHUNK = "gwen"
A1111_CHUNK = "parameters"
MAX_METADATA_CHARS = 256 * 1024  # a ComfyUI workflow of a few hundred nodes; A1111's text is a few kB


@dataclass
class Metadata:
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    record: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    recovered: dict[str, str] = field(default_factory=dict)


class Damaged(Exception):
    """A known format's metadata that cannot be read; ``str()`` is a sentence naming the format and the fault."""

    def __init__(self, what: str, reason: str):
        super().__init__(f"its {what} is damaged ({reason})")
        self.what, self.reason = what, reason


class NotParameters(Damaged):
    """Readable text where a tool's metadata could be that holds none (a camera's comment, another tool's JSON)."""

    def __init__(self, what: str, reason: str):
        Exception.__init__(self, f"its {what} holds no generation parameters ({reason})")
        self.what, self.reason = what, reason


def json_object(text: str, what: str) -> dict[str, Any]:
    """``text`` parsed as a JSON object, or ``Damaged`` saying why not."""
    if len(text) > MAX_METADATA_CHARS:
        raise Damaged(what, f"{len(text):,} characters, over the limit of {MAX_METADATA_CHARS:,}")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Damaged(what, f"not JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise Damaged(what, f"a JSON {type(value).__name__}, not an object")
    return value


def looks_like_json_object(text: str) -> dict[str, Any] | None:
    """``text`` as a JSON object when it is one, else None (for sniffing: a prompt may start with ``{``)."""
    if not text.lstrip().startswith("{") or len(text) > MAX_METADATA_CHARS:
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class Fields:
    """GWEN params built from one tool's loose values; wrong types are left out and named in ``problems``."""

    def __init__(self) -> None:
        self.params: dict[str, Any] = {}
        self.problems: list[str] = []

    def text(self, key: str, value: Any, label: str | None = None) -> None:
        if value is None:
            return
        if isinstance(value, str):
            self.params[key] = value
        else:
            self._bad(label or key, value, "is not text")

    def int(self, key: str, value: Any, label: str | None = None) -> None:
        if value is None or value == "":
            return
        number = _as_number(value)
        if number is None or number != int(number):
            self._bad(label or key, value, "is not a whole number")
        else:
            self.params[key] = int(number)

    def float(self, key: str, value: Any, label: str | None = None) -> None:
        if value is None or value == "":
            return
        number = _as_number(value)
        if number is None:
            self._bad(label or key, value, "is not a number")
        else:
            self.params[key] = float(number)

    def scheduler(self, sampler: Any, schedule: Any = None, label: str = "sampler") -> None:
        """The canonical scheduler for a tool's sampler (+ schedule) name; unknown names go to ``sampler_original``."""
        if sampler is None or sampler == "":
            return
        if not isinstance(sampler, str) or (schedule is not None and not isinstance(schedule, str)):
            self._bad(label, sampler if not isinstance(sampler, str) else schedule, "is not text")
            return
        canonical = scheduler_for(sampler, schedule)
        if canonical:
            self.params["scheduler"] = canonical
        else:
            self.params["sampler_original"] = f"{sampler} {schedule}".strip() if schedule else sampler

    def size(self, width: Any, height: Any) -> None:
        self.int("width", width)
        self.int("height", height)

    def nothing_found(self, what: str) -> Damaged:
        """The ``Damaged`` for metadata that gave no usable value, naming the first values it refused."""
        refused = "; ".join(p.removesuffix("; left out") for p in self.problems[:3])
        return Damaged(what, "no usable generation parameters" + (f": {refused}" if refused else ""))

    def _bad(self, label: str, value: Any, rule: str) -> None:
        self.problems.append(f"{label}={_short(value)} {rule}; left out")


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            return int(value.strip())  # exact, even for seeds past 2**53
        except ValueError:
            pass
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    if math.isnan(number) or math.isinf(number):
        return None
    return int(value) if isinstance(value, int) else number


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
