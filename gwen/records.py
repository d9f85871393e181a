"""Plain records and queries shared by the catalog, the facade, the service and its remote client.

Contract: no database, no torch. This is the one module records are imported
from: ``ImageRecord`` / ``JobRecord`` (with ``to_dict``/``from_dict`` for
JSON), ``VerifyResult``, ``SearchQuery`` and ``Filter`` (validated: unknown
fields, operators and sort keys raise ``InvalidInput`` naming the allowed
ones). ``gwen.catalog`` turns them into parameterized SQL.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields
from datetime import date, datetime
from typing import Any

from gwen.errors import InvalidInput

MIN_PREFIX = 6
MAX_PAGE = 1000
MAX_OFFSET = 10**9  # far past any catalog; DuckDB's BIGINT would overflow at 2**63


@dataclass(frozen=True)
class ImageRecord:
    id: str
    created_at: datetime
    path: str  # relative to GWEN_HOME
    width: int
    height: int
    op: str  # one of OPS: generate | img2img | reroll | vary | upscale | import | inpaint | pan | zoom
    parent_id: str | None
    root_id: str
    params: dict[str, Any]
    params_hash: str
    variation: dict[str, Any] | None = None
    batch: dict[str, Any] | None = None  # {"id", "index", "size"}: the pipeline call that made it
    model_hash: str | None = None
    rating: int = 0
    favorite: bool = False
    tags: tuple[str, ...] = ()
    deleted: bool = False
    duration_ms: float | None = None
    device: str | None = None
    dtype: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    file_sha256: str | None = None
    import_source: str | None = None
    worker: str | None = None  # what rendered it: "host:pid" locally, "host:replica" in a pool

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["tags"] = list(self.tags)
        return data

    def file_record(self) -> dict[str, Any]:
        """What the PNG's GWEN chunk carries: the immutable facts (user marks live in the journal). An imported
        image keeps the sha256 of the file it came from, so importing that file again is still recognised after
        the catalog was rebuilt from the PNGs."""
        data = self.to_dict()
        for key in ("path", "rating", "favorite", "tags", "deleted"):
            data.pop(key)
        if data.get("file_sha256") is None:
            data.pop("file_sha256")
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ImageRecord":
        """The inverse of ``to_dict`` (used by the remote client)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["created_at"] = _parse_time(values["created_at"])
        values["tags"] = tuple(values.get("tags") or ())
        return cls(**values)

    @classmethod
    def from_file_record(cls, data: dict[str, Any], path: str, file_sha256: str | None) -> "ImageRecord":
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["created_at"] = _parse_time(values["created_at"])
        values.update(path=path, file_sha256=file_sha256)
        values.setdefault("params", {})
        return cls(**values)


# field -> (column, type) for --filter; "text" fields also accept ~ (contains).
FILTER_FIELDS: dict[str, tuple[str, type]] = {
    "guidance": ("guidance", float), "cfg": ("guidance", float), "steps": ("steps", int),
    "seed": ("seed", int), "width": ("width", int), "height": ("height", int), "rating": ("rating", int),
    "denoise": ("denoise", float), "variation_strength": ("variation_strength", float),
    "variation_seed": ("variation_seed", int), "duration_ms": ("duration_ms", float),
    "scheduler": ("scheduler", str), "sampler": ("scheduler", str), "model": ("model", str), "op": ("op", str),
    "prompt": ("prompt", str), "negative_prompt": ("negative_prompt", str), "device": ("device", str),
    "parent_id": ("parent_id", str), "root_id": ("root_id", str), "batch_id": ("batch_id", str),
    "upscaler": ("upscaler", str), "upscale_scale": ("upscale_scale", float), "worker": ("worker", str),
}
OPERATORS = {"=": "=", "==": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">=", "~": "ILIKE"}
SORT_FIELDS = {"created_at", "rating", "guidance", "steps", "seed", "width", "height", "prompt", "model",
               "scheduler", "denoise", "duration_ms", "favorite", "op"}
OPS = ("generate", "img2img", "reroll", "vary", "upscale", "import", "inpaint", "pan", "zoom")
_FILTER_RE = re.compile(r"^\s*([A-Za-z_]+)\s*(>=|<=|!=|==|=|<|>|~)\s*(.*?)\s*$")


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    value: Any

    @classmethod
    def parse(cls, text: str) -> "Filter":
        match = _FILTER_RE.match(text)
        if not match:
            raise InvalidInput(f"filter {text!r}: write FIELD OP VALUE with OP one of "
                               f"{' '.join(OPERATORS)} (e.g. 'guidance>=5')")
        name, op, raw = match.group(1).lower(), match.group(2), match.group(3)
        return cls.build(name, op, raw)

    @classmethod
    def build(cls, name: str, op: str, raw: Any) -> "Filter":
        if name not in FILTER_FIELDS:
            raise InvalidInput(f"filter field {name!r}: unknown; filterable fields are "
                               f"{', '.join(sorted(FILTER_FIELDS))}")
        if op not in OPERATORS:
            raise InvalidInput(f"filter operator {op!r}: unknown; use one of {' '.join(OPERATORS)}")
        _column, kind = FILTER_FIELDS[name]
        if op == "~" and kind is not str:
            raise InvalidInput(f"filter {name}{op}{raw}: '~' (contains) works on text fields only")
        if isinstance(raw, str):
            raw = raw.strip().strip("'\"") if kind is str else raw.strip()
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            raise InvalidInput(f"filter {name}{op}{raw}: {raw!r} is not a valid {kind.__name__}") from None
        return cls(name, op, value)


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    filters: tuple[Filter, ...] = ()
    model: str | None = None
    op: str | None = None
    min_rating: int | None = None
    favorite: bool | None = None
    tags: tuple[str, ...] = ()
    styles: tuple[str, ...] = ()  # prompt styles (gwen.styles); every one must have been applied
    since: date | None = None
    until: date | None = None  # inclusive day
    include_deleted: bool = False
    only_deleted: bool = False
    sort: str = "created_at"
    descending: bool = True
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if self.sort not in SORT_FIELDS:
            raise InvalidInput(f"sort={self.sort!r}: sort by one of {', '.join(sorted(SORT_FIELDS))}")
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or not (1 <= self.limit <= MAX_PAGE):
            raise InvalidInput(f"limit={self.limit}: must be from 1 to {MAX_PAGE}")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or not (0 <= self.offset <= MAX_OFFSET):
            raise InvalidInput(f"offset={self.offset!r}: must be an integer from 0 to {MAX_OFFSET:,}")
        if self.op is not None and self.op not in OPS:
            raise InvalidInput(f"op={self.op!r}: must be one of {', '.join(OPS)}")
        if self.min_rating is not None and not (0 <= self.min_rating <= 5):
            raise InvalidInput(f"min rating={self.min_rating}: must be from 0 to 5")


def parse_day(text: str, label: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{label}={text!r}: write a date as YYYY-MM-DD") from None


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str  # generate | reroll | vary | upscale
    spec: dict[str, Any]
    status: str = "pending"  # pending | running | done | failed | cancelled
    attempts: int = 0
    max_attempts: int = 3
    cancel_requested: bool = False
    error: str | None = None
    image_ids: tuple[str, ...] = ()
    parent_job_id: str | None = None
    source: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["image_ids"] = list(self.image_ids)
        for key in ("created_at", "updated_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobRecord":
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values["image_ids"] = tuple(values.get("image_ids") or ())
        for key in ("created_at", "updated_at"):
            values[key] = _parse_time(values[key]) if values.get(key) else None
        return cls(**values)


JOB_STATUSES = ("pending", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class VerifyResult:
    """An image re-rendered from its record (nothing written) and compared with its file."""

    image_id: str
    max_diff: int  # 0..255
    mean_diff: float
    batch_size: int  # layout re-rendered (1 = single run)

    @property
    def identical(self) -> bool:
        return self.max_diff == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "identical": self.identical}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "VerifyResult":
        return cls(str(data["image_id"]), int(data["max_diff"]), float(data["mean_diff"]), int(data["batch_size"]))


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


