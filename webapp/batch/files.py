"""Reading an uploaded file of questions (CSV or JSONL) and writing it back with the tags.

A file with any row the site cannot use is refused whole (422), listing the first bad rows
by line number: a batch either starts with every row or not at all, so its results always
line up with the file that was sent, and nothing is stored for a file that must be fixed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ml.errors import TagsmithError
from webapp.core.inputs import InputError, Limits, clean_question
from webapp.core.streaming import csv_pieces, jsonl_pieces

CSV, JSONL = "csv", "jsonl"
MEDIA_TYPES = {
    "text/csv": CSV,
    "application/csv": CSV,
    "application/x-ndjson": JSONL,
    "application/jsonl": JSONL,
    "application/x-jsonlines": JSONL,
}
EXTENSIONS = {".csv": CSV, ".jsonl": JSONL, ".ndjson": JSONL}
SHOWN_PROBLEMS = 20
# Columns of a CSV header, fields of a JSON Lines object: every row keeps what it was sent
# with, so a header of a million empty columns must not be what a row is padded to.
MAX_COLUMNS = 100
RESULT_PIECE = 200  # rows per piece of a results download
# Files that are not text at all, by their first bytes: spreadsheets, archives, PDFs.
BINARY_STARTS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0", b"%PDF", b"\x1f\x8b")
# Added to the rows written back; a file that already has such a column gets ours prefixed.
TAGS, SCORES, GUESS, PREFIX = "tags", "scores", "guess", "tagsmith_"
# A result row's tags: (tag, score, confident), best first; not confident: the model's guess.
Tagged = list[tuple[str, float, bool]]


class BatchFileError(TagsmithError):
    def __init__(self, status: int, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.status = status
        self.problems = problems or []

    @property
    def fields(self) -> dict[str, str] | None:
        """The API lists the bad rows under ``fields``, one per line number."""
        if not self.problems:
            return None
        return {f"row {index}": problem for index, problem in enumerate(self.problems, 1)}


@dataclass
class Row:
    line: int
    title: str
    body: str
    original: str  # JSON: the CSV row's cells, or the JSONL line's object


@dataclass
class ParsedFile:
    format: str
    header: list[str] | None
    rows: list[Row] = field(default_factory=list)


def format_of(filename: str | None, media_type: str | None) -> str:
    """csv or jsonl, from the file's name or else its media type; anything else is a 415."""
    name = (filename or "").lower()
    for extension, kind in EXTENSIONS.items():
        if name.endswith(extension):
            return kind
    if media_type in MEDIA_TYPES and not name:
        return MEDIA_TYPES[media_type]
    what = f"{filename!r}" if filename else f"a {media_type or 'file of unknown type'}"
    raise BatchFileError(
        415,
        f"Upload a CSV (.csv, text/csv) or JSON Lines (.jsonl, application/x-ndjson) file; {what} is neither.",
    )


def parse(data: bytes, kind: str, limits: Limits, max_rows: int) -> ParsedFile:
    if data.startswith(BINARY_STARTS) or b"\x00" in data[:4096]:
        raise BatchFileError(
            415, "This is a binary file (a spreadsheet, archive or PDF?), not text: save it as CSV UTF-8 or JSON Lines."
        )
    try:
        text = data.decode("utf-8-sig")  # a spreadsheet's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise BatchFileError(
            422, f"The file is not UTF-8 text (line {line} has bytes that are not UTF-8); save it as UTF-8."
        ) from None
    parsed = _csv(text, limits, max_rows) if kind == CSV else _jsonl(text, limits, max_rows)
    if not parsed.rows:
        raise BatchFileError(422, "The file has no questions: add a row with a title under the header.")
    return parsed


class _Collector:
    """The rows, the bad ones by line number, and the row cap."""

    def __init__(self, limits: Limits, max_rows: int):
        self.limits = limits
        self.max_rows = max_rows
        self.rows: list[Row] = []
        self.problems: list[str] = []
        self.bad = 0
        self.count = 0

    def add(self, line: int, title: object, body: object, original: object) -> None:
        self.count += 1
        if self.count > self.max_rows:
            raise BatchFileError(
                413, f"A file can have at most {self.max_rows:,} questions; this one has more. Split it into parts."
            )
        try:
            clean_title, clean_body = clean_question(title, body, self.limits)
        except InputError as error:
            self.problem(line, " ".join(error.fields.values()))
            return
        kept = json.dumps(original, ensure_ascii=False)
        try:
            kept.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (\ud800) that JSON allowed
            self.problem(line, "not valid Unicode (a lone surrogate escape such as \\ud800).")
            return
        self.rows.append(Row(line, clean_title, clean_body, kept))

    def problem(self, line: int, message: str) -> None:
        self.bad += 1
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(f"line {line}: {message}")

    def check(self) -> None:
        if self.bad:
            shown = "the first are" if self.bad > len(self.problems) else "here they are"
            raise BatchFileError(
                422,
                f"{self.bad:,} row{'s' if self.bad != 1 else ''} of the file cannot be used, so nothing was "
                f"stored; {shown} below. Fix them and upload the file again.",
                self.problems,
            )


def _csv(text: str, limits: Limits, max_rows: int) -> ParsedFile:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    collector = _Collector(limits, max_rows)
    try:
        header = next(reader, None)
        if header is None:
            raise BatchFileError(422, "The file is empty: the first line must be a header such as title,body.")
        if len(header) > MAX_COLUMNS:
            raise BatchFileError(
                422, f"The header (line 1) has {len(header):,} columns; a file can have at most {MAX_COLUMNS} columns."
            )
        names = [name.strip().lower() for name in header]
        if "title" not in names:
            raise BatchFileError(
                422, f"The header (line 1) has no title column; it has {', '.join(map(repr, header)) or 'nothing'}."
            )
        doubled = sorted({name for name in ("title", "body") if names.count(name) > 1})
        if doubled:
            raise BatchFileError(422, f"The header (line 1) has more than one {doubled[0]} column.")
        title_at = names.index("title")
        body_at = names.index("body") if "body" in names else None
        line = reader.line_num + 1
        for cells in reader:
            if any(cell.strip() for cell in cells):
                if len(cells) > len(header):
                    collector.problem(line, f"{len(cells)} cells, but the header names {len(header)}.")
                else:  # kept as sent: a short row is padded only when written back
                    title = cells[title_at] if title_at < len(cells) else ""
                    body = cells[body_at] if body_at is not None and body_at < len(cells) else None
                    collector.add(line, title, body, cells)
            line = reader.line_num + 1
    except csv.Error as error:
        raise BatchFileError(422, f"The CSV cannot be read at line {reader.line_num}: {error}.") from None
    collector.check()
    return ParsedFile(CSV, header, collector.rows)


def _jsonl(text: str, limits: Limits, max_rows: int) -> ParsedFile:
    collector = _Collector(limits, max_rows)
    for line, raw in enumerate(text.split("\n"), 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw, parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:  # ValueError: also a number of > 4,300 digits
            reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deeply or a huge number"
            collector.problem(line, f"not JSON ({reason}).")
            continue
        if not isinstance(item, dict):
            collector.problem(line, 'each line must be a JSON object such as {"title": "...", "body": "..."}.')
            continue
        if len(item) > MAX_COLUMNS:
            collector.problem(line, f"{len(item):,} fields; an object can have at most {MAX_COLUMNS} fields.")
            continue
        collector.add(line, item.get("title"), item.get("body"), item)
    collector.check()
    return ParsedFile(JSONL, None, collector.rows)


def _no_constant(name: str) -> None:
    # json reads NaN and Infinity, which are not JSON: written back, the results would not be.
    raise ValueError(f"{name} is not a JSON value")


def added_names(taken: Iterable[str]) -> tuple[str, str, str]:
    """The names of the columns (fields) the results add: tags, scores and guess, prefixed
    with ``tagsmith_`` as often as it takes to clash with nothing the file has."""
    taken = {name.strip().lower() for name in taken}
    prefix = ""
    while any(prefix + name in taken for name in (TAGS, SCORES, GUESS)):
        prefix += PREFIX
    return prefix + TAGS, prefix + SCORES, prefix + GUESS


def csv_results(header: list[str], rows: Iterable[tuple[str, Tagged]]) -> Iterator[str]:
    """The uploaded CSV with three columns added: the tags, their scores in the same order
    (space-separated), and "yes" in guess when no tag was confident (the model's best guess,
    as the site marks it). Every cell is made inert for spreadsheets, like the history export."""
    width = len(header)
    lines = (
        [
            *_padded(json.loads(original), width),
            " ".join(tag for tag, _, _ in tags),
            " ".join(f"{score:.4f}" for _, score, _ in tags),
            "yes" if tags and not all(confident for _, _, confident in tags) else "",
        ]
        for original, tags in rows
    )
    return csv_pieces([*header, *added_names(header)], lines, RESULT_PIECE)


def _padded(cells: list[str], width: int) -> list[str]:
    return cells + [""] * (width - len(cells))


def jsonl_results(rows: Iterable[tuple[str, Tagged]]) -> Iterator[str]:
    """Each uploaded object with ``tags``: a list of {"tag", "score", "confident"}, best first."""

    def tagged(original: str, tags: Tagged) -> dict:
        item = json.loads(original)
        item[added_names(item)[0]] = [
            {"tag": tag, "score": round(score, 4), "confident": confident} for tag, score, confident in tags
        ]
        return item

    return jsonl_pieces((tagged(original, tags) for original, tags in rows), RESULT_PIECE)
