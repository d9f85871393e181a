"""Batch files: what a user asks the queue to do, read and checked whole before anything is enqueued.

Contract:
- ``read_batch(path, name)`` / ``parse_batch(text, suffix, name)`` read a batch: ``.txt`` (one prompt per line,
  ``#`` comments), ``.json`` / ``.jsonl`` / ``.toml`` (``{"defaults": {...}, "jobs": [...]}``, a bare list, or
  one job per line). Malformed content raises ``InvalidInput`` naming ``file:line``; ``name`` is how messages
  and sources name the file (an upload's own name, never a temporary path).
- ``plan_batch`` / ``plan_entries`` turn entries into ``JobRecord``s, fully resolved (every seed and sampler
  seed fixed now) and validated through the studio's public methods: prompts and settings, the models and
  upscalers of jobs and of their ``then`` follow-ups (a path the server may not open is refused now). A job is
  ``generate`` (``prompt`` or ``prompts``, ``n``, ``seed``, ``styles`` ...; ``then`` lists follow-ups run on each
  result),
  ``reroll`` / ``vary`` / ``upscale`` of an ``image`` id, or ``upscale`` of every image matching ``where``
  (``{"min_rating": 4}``). Any error names the file and the line of its job (or ``job N``).
"""

from __future__ import annotations

import json
import random
import re
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gwen import files
from gwen.errors import GwenError, InvalidInput
from gwen.params import MAX_SEED
from gwen.records import JobRecord, SearchQuery

JOB_KINDS = ("generate", "reroll", "vary", "upscale")
GENERATE_KEYS = {"kind", "prompt", "prompts", "negative", "negative_prompt", "model", "n", "seed", "steps", "guidance",
                 "width", "height", "size", "scheduler", "styles", "then", "max_attempts"}
IMAGE_JOB_KEYS = {"reroll": {"kind", "image", "n", "seed", "max_attempts"},
                  "vary": {"kind", "image", "n", "seed", "strength", "mode", "lock", "prompt", "max_attempts"},
                  "upscale": {"kind", "image", "where", "model", "scale", "tile", "pre_shrink", "max_attempts"}}
FOLLOW_UP_KEYS = {"vary": {"kind", "n", "strength", "mode", "lock", "prompt"}, "upscale": {"kind", "model", "scale",
                                                                                          "tile", "pre_shrink"},
                  "reroll": {"kind", "n"}}
MAX_JOBS_PER_FILE = 10_000


# --- batch files ---------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    job: dict[str, Any]
    where: str  # file:line (or file:job N)


def read_batch(path: str | Path, name: str | None = None) -> tuple[dict[str, Any], list[Entry]]:
    """(defaults, entries) from a batch file; InvalidInput with file:line on malformed content.

    ``name`` is how messages and job sources name the file (an upload's own name rather than the temporary
    path it was saved to); by default its path."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"batch file {str(name or file)!r}: no such file")
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name or file}: not a UTF-8 text file") from None
    return parse_batch(text, file.suffix, name or str(file))


def parse_batch(text: str, suffix: str, path: str) -> tuple[dict[str, Any], list[Entry]]:
    """(defaults, entries) from a batch's text; ``suffix`` picks the format, ``path`` names it in messages."""
    suffix = suffix.lower()
    if suffix not in (".txt", ".json", ".jsonl", ".toml"):
        raise InvalidInput(f"batch file {path!r}: must end in .txt, .json, .jsonl or .toml")
    if suffix == ".jsonl":
        entries = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                entries.append(Entry(_as_job(json.loads(line), f"{path}:{number}"), f"{path}:{number}"))
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{number}: malformed JSON ({exc.msg})") from None
        return {}, _nonempty(entries, path)
    if suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path}:{exc.lineno}: malformed JSON ({exc.msg})") from None
        return _structured(data, path, _json_job_lines(text, data))
    if suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = getattr(exc, "lineno", None) or _toml_line(str(exc))
            raise InvalidInput(f"{path}:{line}: malformed TOML ({str(exc).split(' (at')[0]})") from None
        return _structured(data, path, _toml_job_lines(text))
    entries = [Entry({"prompt": line.strip()}, f"{path}:{n}") for n, line in enumerate(text.splitlines(), 1)
               if line.strip() and not line.lstrip().startswith("#")]
    return {}, _nonempty(entries, path)


def _toml_line(message: str) -> str:
    import re

    match = re.search(r"line (\d+)", message)
    return match.group(1) if match else "?"


def _toml_job_lines(text: str) -> list[int]:
    """Line numbers of the ``[[jobs]]`` tables, in order (a job given inline has none: it is named by index)."""
    import re

    return [n for n, line in enumerate(text.splitlines(), 1) if re.match(r"^\s*\[\[\s*jobs\s*\]\]", line)]


def _json_job_lines(text: str, data: Any) -> list[int]:
    """Line numbers where each job of the list starts (``{"jobs": [...]}`` or a bare list)."""
    decoder = json.JSONDecoder()
    if isinstance(data, dict):
        match = re.search(r'"jobs"\s*:\s*\[', text)
        if not match:
            return []
        position = match.end()
    else:
        position = text.index("[") + 1
    lines = []
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return lines
        lines.append(text.count("\n", 0, position) + 1)
        try:
            _value, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            return lines


def _structured(data: Any, path: str, lines: list[int] | None = None) -> tuple[dict[str, Any], list[Entry]]:
    defaults: dict[str, Any] = {}
    if isinstance(data, dict):
        unknown = set(data) - {"defaults", "jobs"}
        if unknown:
            raise InvalidInput(f"{path}: unknown top-level key(s) {sorted(unknown)}; use 'defaults' and 'jobs'")
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise InvalidInput(f"{path}: 'defaults' must be a table/object")
        data = data.get("jobs") or []
    if not isinstance(data, list):
        raise InvalidInput(f"{path}: expected a list of jobs")
    lines = lines if lines and len(lines) == len(data) else None
    where = [f"{path}:{lines[i - 1]}" if lines else f"{path}:job {i}" for i in range(1, len(data) + 1)]
    entries = [Entry(_as_job(job, where[i - 1]), where[i - 1]) for i, job in enumerate(data, 1)]
    return defaults, _nonempty(entries, path)


def _as_job(value: Any, where: str) -> dict[str, Any]:
    if isinstance(value, str):
        return {"prompt": value}
    if not isinstance(value, dict):
        raise InvalidInput(f"{where}: a job must be an object (or a prompt string)")
    return value


def _nonempty(entries: list[Entry], path: str) -> list[Entry]:
    if not entries:
        raise InvalidInput(f"{path}: the batch is empty (no prompts or jobs)")
    if len(entries) > MAX_JOBS_PER_FILE:
        raise InvalidInput(f"{path}: {len(entries)} jobs; at most {MAX_JOBS_PER_FILE} per file")
    return entries


def plan_batch(path: str | Path, defaults: dict[str, Any], studio, rng: random.Random | None = None,
               name: str | None = None, then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
    """Every job of the file, resolved and validated; raises before anything is enqueued. ``name``: how
    messages and the jobs' ``source`` name the file (see ``read_batch``)."""
    return plan_entries(*read_batch(path, name), defaults, studio, rng, then)


def plan_entries(file_defaults: dict[str, Any], entries: list[Entry], defaults: dict[str, Any], studio,
                 rng: random.Random | None = None, then: list[dict[str, Any]] | None = None) -> list[JobRecord]:
    """Plan parsed entries (``parse_batch``); ``then``: follow-ups added to every generate job that has none."""
    rng = rng or random.Random()
    merged_defaults = {**file_defaults, **{k: v for k, v in defaults.items() if v is not None}}
    jobs: list[JobRecord] = []
    for entry in entries:
        if then and entry.job.get("kind", "generate") == "generate" and "then" not in entry.job:
            entry = Entry({**entry.job, "then": then}, entry.where)
        try:
            jobs += _plan_entry(entry, merged_defaults, studio, rng)
        except GwenError as exc:
            raise InvalidInput(f"{entry.where}: {exc}") from None
    return jobs


def _plan_entry(entry: Entry, defaults: dict[str, Any], studio, rng: random.Random) -> list[JobRecord]:
    job = dict(entry.job)
    kind = job.get("kind", "generate")
    if kind not in JOB_KINDS:
        raise InvalidInput(f"kind={kind!r}: must be one of {', '.join(JOB_KINDS)}")
    max_attempts = _int_in(job.get("max_attempts", defaults.get("max_attempts", 3)), "max_attempts", 1, 10)
    if kind == "generate":
        _known(job, GENERATE_KEYS)
        settings = {**{k: v for k, v in defaults.items() if k in GENERATE_KEYS}, **job}
        prompts = settings.pop("prompts", None) or [settings.get("prompt")]
        follow = [_check_follow_up(f, studio) for f in (settings.get("then") or [])]
        out = []
        for prompt in prompts:
            options = _generate_options(settings, prompt, rng)
            params = studio.plan_generate(**options)
            studio.check_model(params[0].model)  # a path the server may not open is refused now, not at run time
            out.append(JobRecord(id=files.new_id(), kind="generate",
                                 spec={"params": [p.to_dict() for p in params], "then": follow},
                                 max_attempts=max_attempts, source=entry.where))
        return out
    _known(job, IMAGE_JOB_KEYS[kind])
    if kind == "upscale" and "where" in job:
        targets = _matching(studio, job["where"])
        if not targets:
            raise InvalidInput(f"where={job['where']!r}: no image matches")
    else:
        if "image" not in job:
            raise InvalidInput(f"a {kind} job needs 'image' (an image id)")
        targets = [studio.resolve(str(job["image"]))]
    spec_base = {k: v for k, v in job.items() if k not in ("kind", "image", "where", "max_attempts")}
    out = []
    for image_id in targets:
        spec = _image_spec(kind, image_id, spec_base, rng, studio.default_upscaler())
        _dry_run(kind, spec, studio)
        out.append(JobRecord(id=files.new_id(), kind=kind, spec=spec, max_attempts=max_attempts,
                             source=entry.where))
    return out


def _generate_options(settings: dict[str, Any], prompt: Any, rng: random.Random) -> dict[str, Any]:
    if not isinstance(prompt, str):
        raise InvalidInput(f"prompt={prompt!r}: must be text")
    width, height = settings.get("width"), settings.get("height")
    if settings.get("size"):
        try:
            width, height = (int(x) for x in str(settings["size"]).lower().split("x"))
        except ValueError:
            raise InvalidInput(f"size={settings['size']!r}: write it as WIDTHxHEIGHT") from None
    n = _int_in(settings.get("n", 4), "n", 1, 64)
    seed = settings.get("seed")
    if seed is None:
        seed = rng.randrange(0, MAX_SEED - 64)
    return dict(prompt=prompt, negative=settings.get("negative", settings.get("negative_prompt", "")) or "",
                model=settings.get("model"), n=n, seed=seed, steps=settings.get("steps"),
                guidance=settings.get("guidance"), width=width, height=height, scheduler=settings.get("scheduler"),
                styles=_styles(settings.get("styles")))


def _styles(given: Any) -> list[str] | None:
    """A job's ``styles``: a list of names, or one name as text."""
    if given is None or isinstance(given, list):
        return given
    if isinstance(given, str):
        return [given]
    raise InvalidInput(f"styles={given!r}: must be a list of style names")


def _image_spec(kind: str, image_id: str, base: dict[str, Any], rng: random.Random, upscaler: str
                ) -> dict[str, Any]:
    spec = {"image": image_id, **base}
    if kind in ("reroll", "vary"):
        spec.setdefault("n", 4)
        spec.setdefault("seed", rng.randrange(0, MAX_SEED))
    if kind == "vary":
        spec.setdefault("strength", "subtle")
        spec.setdefault("mode", "mix")
    if kind == "upscale":
        spec.setdefault("model", upscaler)
    return spec


def _dry_run(kind: str, spec: dict[str, Any], studio) -> None:
    """Validate an image job's settings without rendering anything."""
    if kind == "vary":
        studio.plan_variations(spec["image"], strength=spec["strength"], modes=spec["mode"], n=spec["n"],
                               prompt=spec.get("prompt"), locks=_locks(spec.get("lock")), seed=spec["seed"])
    elif kind == "reroll":
        from gwen import variation
        variation.reroll(studio.params_of(studio.get(spec["image"])), spec["n"], spec["seed"])
    elif kind == "upscale":
        from gwen.upscale import UpscaleSettings
        UpscaleSettings(tile=spec.get("tile"), pre_shrink=spec.get("pre_shrink", 1.0), scale=spec.get("scale"))
        studio.check_upscaler(spec.get("model"))


def _check_follow_up(follow: Any, studio) -> dict[str, Any]:
    if not isinstance(follow, dict) or follow.get("kind") not in FOLLOW_UP_KEYS:
        raise InvalidInput(f"then={follow!r}: each follow-up is an object with kind vary, reroll or upscale")
    _known(follow, FOLLOW_UP_KEYS[follow["kind"]])
    if follow["kind"] == "vary":
        from gwen.variation import parse_modes, parse_strength
        parse_strength(follow.get("strength", "subtle"))
        parse_modes(follow.get("mode", "mix"))
    if "n" in follow:
        _int_in(follow["n"], "n", 1, 64)
    if follow["kind"] == "upscale":
        from gwen.upscale import UpscaleSettings
        UpscaleSettings(tile=follow.get("tile"), pre_shrink=follow.get("pre_shrink", 1.0), scale=follow.get("scale"))
        studio.check_upscaler(follow.get("model"))
    return follow


def _matching(studio, where: Any) -> list[str]:
    if not isinstance(where, dict):
        raise InvalidInput(f"where={where!r}: must be an object like {{\"min_rating\": 4}}")
    allowed = {"text", "min_rating", "favorite", "tag", "model", "op"}
    unknown = set(where) - allowed
    if unknown:
        raise InvalidInput(f"where: unknown key(s) {sorted(unknown)}; use {', '.join(sorted(allowed))}")
    query = SearchQuery(text=where.get("text"), min_rating=where.get("min_rating"), favorite=where.get("favorite"),
                        tags=(where["tag"],) if where.get("tag") else (), model=where.get("model"),
                        op=where.get("op"), limit=1000, sort="created_at", descending=False)
    ids, offset = [], 0
    while True:
        page, total = studio.search(replace(query, offset=offset))
        ids += [r.id for r in page]
        offset += len(page)
        if not page or offset >= total:
            return ids


def _known(job: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(job) - allowed
    if unknown:
        raise InvalidInput(f"unknown key(s) {sorted(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _int_in(value: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not (lo <= value <= hi):
        raise InvalidInput(f"{name}={value!r}: must be an integer from {lo} to {hi}")
    return value


def _locks(value: Any) -> list[str]:
    if not value:
        return []
    return [x.strip() for x in value.split(",")] if isinstance(value, str) else list(value)
