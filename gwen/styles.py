"""Named prompt styles, like A1111's ``styles.csv`` and Fooocus's style list: a template with ``{prompt}``, plus
a negative.

Contract:
- A ``Style`` is {name, prompt, negative_prompt, source}. ``apply`` follows A1111 (``modules/styles.py``): a
  template holding ``{prompt}`` has it replaced by the prompt; any other template is appended after ", " (or
  stands alone when the prompt is empty). The negative likewise. Several styles apply in the order chosen, each
  to the result of the one before.
- ``extract(prompt, negative, styles)`` undoes ``apply``: the user's own prompt and negative, or None when the
  texts do not hold those styles (a style edited or removed since); ``typed_text`` then keeps the expanded text
  with no style ("Use these settings", ``gwen use``).
- ``StyleBook.load(home)``: the built-in styles, then ``$GWEN_HOME/styles.toml`` (the user's own: one table per
  style, ``["Film noir"]`` with ``prompt`` and ``negative_prompt``), then ``$GWEN_HOME/styles.csv`` (A1111's file
  as is: columns ``name, prompt, negative_prompt``, rows whose name starts with ``#`` skipped, A1111's old
  ``name, text`` form read too, and rows with neither template nor negative, as A1111 does). A later source
  replaces a style of the same name. A damaged file or row is skipped and named in ``StyleBook.problems`` (and
  in the message for an unknown style): the built-ins and every good style still work. A missing file is no
  styles.
- ``read_csv(text, where)`` validates a whole A1111 styles.csv (``InvalidInput`` naming ``where`` and the line);
  ``save_csv(home, styles)`` adds or replaces rows of ``$GWEN_HOME/styles.csv`` (atomic rename, one writer at a
  time), keeping every other row as it was, comments and extra columns included: the file stays one A1111 reads.
- Rules: a name of 1 to 100 characters, no control characters, not starting with ``#``; a template of at most
  ``MAX_TEMPLATE_CHARS``; a saved style has a template or a negative; at most ``MAX_STYLES`` styles per grid,
  each once. Every refusal names the value and
  the rule.

No torch, no network; I/O only in ``StyleBook.load`` and ``save_csv``.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable

from gwen.errors import InvalidInput

MAX_STYLES = 8
MAX_NAME_CHARS = 100
MAX_TEMPLATE_CHARS = 2000  # gwen.params.MAX_PROMPT_CHARS (params imports this module, not the reverse)
MAX_CSV_BYTES = 1 << 20
CSV_FIELDS = ("name", "prompt", "negative_prompt")


@dataclass(frozen=True)
class Style:
    name: str
    prompt: str = ""
    negative_prompt: str = ""
    source: str = "built-in"  # built-in | styles.toml | styles.csv

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


BUILT_IN: tuple[Style, ...] = (
    Style("Cinematic", "cinematic still of {prompt}, shallow depth of field, film grain, dramatic lighting",
          "cartoon, illustration, drawing, painting, low quality"),
    Style("Photographic", "photograph of {prompt}, 50mm lens, natural light, sharp focus, highly detailed",
          "drawing, painting, illustration, cartoon, blurry, lowres"),
    Style("Anime", "anime artwork of {prompt}, anime style, vibrant colors, clean line art",
          "photo, photorealistic, 3d render"),
    Style("Digital art", "digital painting of {prompt}, concept art, highly detailed, trending on artstation",
          "photo, blurry"),
    Style("Watercolor", "watercolor painting of {prompt}, soft washes, visible paper texture",
          "photo, 3d render, harsh lines"),
    Style("Line art", "line art drawing of {prompt}, clean ink lines, minimalist, white background",
          "color, photo, shading"),
    Style("Enhance", "highly detailed, sharp focus, best quality", "lowres, blurry, jpeg artifacts"),
)


def check_name(name: Any) -> str:
    """The name, stripped; InvalidInput naming it and the rule otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"style name {name!r}: must be text of 1 to {MAX_NAME_CHARS} characters")
    text = name.strip()
    if len(text) > MAX_NAME_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in text) or text.startswith("#"):
        raise InvalidInput(f"style name {name!r}: must be 1 to {MAX_NAME_CHARS} characters, with no control "
                           "characters, not starting with '#'")
    return text


def check_names(names: Iterable[Any]) -> tuple[str, ...]:
    """The chosen styles' names in order: at most MAX_STYLES, each once."""
    if isinstance(names, str):
        names = [names]
    checked = tuple(check_name(n) for n in names)
    if len(checked) > MAX_STYLES:
        raise InvalidInput(f"{len(checked)} styles: at most {MAX_STYLES} per grid")
    repeated = sorted({n for n in checked if checked.count(n) > 1})
    if repeated:
        raise InvalidInput(f"styles {repeated}: each style may be chosen once")
    return checked


def make_style(name: Any, prompt: Any = "", negative_prompt: Any = "", source: str = "styles.csv",
               require_text: bool = True) -> Style:
    """A checked ``Style``; InvalidInput names the field, the value's size and the rule. ``require_text=False``
    accepts a style with neither template nor negative (A1111 reads such rows: they change nothing)."""
    checked = check_name(name)
    for field, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        if not isinstance(text, str):
            raise InvalidInput(f"style {checked!r}: {field}={text!r} must be text")
        if len(text) > MAX_TEMPLATE_CHARS:
            raise InvalidInput(f"style {checked!r}: {field} of {len(text)} characters: at most "
                               f"{MAX_TEMPLATE_CHARS}")
    if require_text and not prompt.strip() and not negative_prompt.strip():
        raise InvalidInput(f"style {checked!r}: give a prompt template (with {{prompt}}) or a negative prompt")
    return Style(checked, prompt, negative_prompt, source)


# --- applying and undoing (A1111's rules) ----------------------------------------------
def merge(template: str, text: str) -> str:
    if "{prompt}" in template:
        return template.replace("{prompt}", text)
    return ", ".join(part for part in (text.strip(), template.strip()) if part)


def apply(prompt: str, negative: str, styles: Iterable[Style]) -> tuple[str, str]:
    """(prompt, negative) with every style applied, in order."""
    for style in styles:
        prompt, negative = merge(style.prompt, prompt), merge(style.negative_prompt, negative)
    return prompt, negative


def _unmerge(template: str, text: str) -> str | None:
    text, template = text.strip(), template.strip()
    if "{prompt}" in template:
        left, _, right = template.partition("{prompt}")
        if "{prompt}" not in right and text.startswith(left) and text.endswith(right) \
                and len(text) >= len(left) + len(right):
            return text[len(left):len(text) - len(right)]
        return None
    if not template:
        return text
    if text == template:
        return ""
    if text.endswith(", " + template):
        return text[:-len(template) - 2]
    return None


def extract(prompt: str, negative: str, styles: Iterable[Style]) -> tuple[str, str] | None:
    """The prompt and negative before ``styles`` were applied, or None when the texts do not hold them."""
    for style in reversed(list(styles)):
        prompt_before, negative_before = _unmerge(style.prompt, prompt), _unmerge(style.negative_prompt, negative)
        if prompt_before is None or negative_before is None:
            return None
        prompt, negative = prompt_before, negative_before
    return prompt, negative


def typed_text(prompt: str, negative: str, names: Iterable[str], listing: Iterable[dict[str, str]]
               ) -> tuple[str, str, list[str]]:
    """(prompt, negative, style names) as the user typed them, from a record's expanded text and style names and
    a style listing (``list_styles()``): the styles taken back out when every one still exists and the text holds
    it; otherwise the expanded text as it is, with no style (rendering that gives the same image)."""
    names = list(names)
    book = {s["name"]: Style(**s) for s in listing} if names else {}
    own = extract(prompt, negative, [book[n] for n in names]) if names and all(n in book for n in names) else None
    return (*own, names) if own is not None else (prompt, negative, [])


# --- the user's styles -----------------------------------------------------------------
class StyleBook:
    """Every style a grid may name: built-in, then styles.toml, then styles.csv (later ones win)."""

    def __init__(self, styles: Iterable[Style], problems: Iterable[str] = ()):
        self.problems = list(problems)  # what was skipped in the user's files, and why
        self.styles: dict[str, Style] = {}
        for style in styles:
            self.styles.pop(style.name, None)  # a replaced style moves to its new source's place
            self.styles[style.name] = style

    @classmethod
    def load(cls, home: Path) -> "StyleBook":
        """Every style; a damaged file or row is skipped and named in ``problems``, never taking the rest down."""
        problems: list[str] = []
        styles = [*BUILT_IN]
        for reader, path in ((read_toml, home / "styles.toml"), (read_csv_file, home / "styles.csv")):
            try:
                styles += reader(path, problems)
            except InvalidInput as exc:
                problems.append(str(exc))
        return cls(styles, problems)

    def list(self) -> list[Style]:
        return list(self.styles.values())

    def pick(self, names: Iterable[Any]) -> list[Style]:
        """The named styles, in the order given; InvalidInput for an unknown name, listing the known ones."""
        picked = []
        for name in check_names(names):
            if name not in self.styles:
                known = list(self.styles)
                shown = ", ".join(known[:30]) + (f" (and {len(known) - 30} more)" if len(known) > 30 else "")
                skipped = f"; skipped: {'; '.join(self.problems)}" if self.problems else ""
                raise InvalidInput(f"style {name!r}: unknown style; known styles: {shown} (add your own to "
                                   f"styles.toml or styles.csv in the data folder){skipped}")
            picked.append(self.styles[name])
        return picked


def read_toml(path: Path, problems: list[str] | None = None) -> list[Style]:
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid TOML ({exc}); one table per style: [\"Name\"] with prompt = "
                           "\"... {prompt} ...\" and negative_prompt = \"...\"") from None
    styles = []
    for name, table in data.items():
        try:
            if not isinstance(table, dict) or set(table) - {"prompt", "negative_prompt"}:
                raise InvalidInput(f"style {name!r}: must be a table with prompt and negative_prompt only")
            styles.append(make_style(name, table.get("prompt", ""), table.get("negative_prompt", ""),
                                     "styles.toml", require_text=False))
        except InvalidInput as exc:
            if problems is None:
                raise InvalidInput(f"{path}: {exc}") from None
            problems.append(f"{path}: {exc}")
    return styles


def read_csv_file(path: Path, problems: list[str] | None = None) -> list[Style]:
    if not path.is_file():
        return []
    try:
        return read_csv(path.read_bytes(), str(path), problems)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None


def read_csv(data: bytes | str, where: str = "styles.csv", problems: list[str] | None = None) -> list[Style]:
    """The styles of an A1111 styles.csv (UTF-8, with or without BOM); InvalidInput naming ``where`` and the line.
    With ``problems``, a bad row is named there and skipped instead (reading the user's own file)."""
    text = csv_text(data, where)
    if not text.strip():
        return []
    reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = [h.strip() for h in reader.fieldnames or []]
    if "name" not in header or not ({"prompt", "text"} & set(header)):
        raise InvalidInput(f"{where}: line 1: the header must name the columns name, prompt, negative_prompt "
                           f"(A1111's styles.csv); found {header or 'no header'}")
    reader.fieldnames = header
    styles: list[Style] = []
    try:
        for row in reader:
            name = (row.get("name") or "").strip()
            if not name or name.startswith("#"):
                continue  # A1111 skips empty rows and comments
            prompt = row.get("prompt") if "prompt" in header else row.get("text")
            try:
                styles.append(make_style(name, prompt or "", row.get("negative_prompt") or "", "styles.csv",
                                         require_text=False))
            except InvalidInput as exc:
                if problems is None:
                    raise InvalidInput(f"{where}: line {reader.line_num}: {exc}") from None
                problems.append(f"{where}: line {reader.line_num}: {exc}")
    except csv.Error as exc:
        raise InvalidInput(f"{where}: line {reader.line_num}: not valid CSV ({exc})") from None
    return styles


def csv_text(data: bytes | str, where: str = "styles.csv") -> str:
    """The text of a styles file's bytes (UTF-8, a BOM dropped), within ``MAX_CSV_BYTES``; InvalidInput otherwise."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > MAX_CSV_BYTES:
        raise InvalidInput(f"{where}: {len(data):,} bytes: a styles file may have at most {MAX_CSV_BYTES:,}")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput(f"{where}: not UTF-8 text (A1111's styles.csv is UTF-8)") from None


def save_csv(home: Path, styles: Iterable[Style]) -> dict[str, Any]:
    """Add or replace ``styles`` in ``$GWEN_HOME/styles.csv``; {"added", "replaced", "path"}. Every other row is
    kept as it was (comments and extra columns included); the file is replaced atomically, one writer at a time."""
    import fcntl

    from gwen.files import write_bytes_atomic  # Pillow: imported only when a file is written

    path = home / "styles.csv"
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".styles.lock", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        header, rows = _raw_rows(path)
        at = {field: header.index(field) for field in CSV_FIELDS if field in header}
        at.setdefault("prompt", header.index("text") if "text" in header else len(header))
        for field in CSV_FIELDS:
            if at.setdefault(field, len(header)) == len(header):
                header.append(field)
        by_name = {row[at["name"]].strip(): row for row in rows if len(row) > at["name"]}
        added, replaced = [], []
        for style in styles:
            row = by_name.get(style.name)
            if row is None:
                row = by_name[style.name] = []
                rows.append(row)
                added.append(style.name)
            else:
                replaced.append(style.name)
            row.extend([""] * (len(header) - len(row)))
            row[at["name"]], row[at["prompt"]], row[at["negative_prompt"]] = \
                style.name, style.prompt, style.negative_prompt
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows([header, *rows])
        write_bytes_atomic(path, out.getvalue().encode("utf-8"))
    return {"added": added, "replaced": replaced, "path": str(path)}


def _raw_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of a styles.csv as they are; A1111's header when there is no file yet. A file that cannot be
    read as A1111's is refused (``InvalidInput``) rather than rewritten."""
    if not path.is_file():
        return list(CSV_FIELDS), []
    text = csv_text(path.read_bytes(), str(path))
    try:
        header, *rows = list(csv.reader(io.StringIO(text, newline=""))) or [[]]
    except csv.Error as exc:
        raise InvalidInput(f"{path}: not valid CSV ({exc}): fix or move it, then save again") from None
    header = [h.strip() for h in header]
    if "name" not in header:
        raise InvalidInput(f"{path}: line 1: no 'name' column (A1111's styles.csv): fix or move it, then save again")
    return header, rows
