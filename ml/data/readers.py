"""Streaming readers that turn question dumps into ``Question`` records.

Every reader is a generator that reads its files row by row, so dumps far larger than
memory can be streamed; nothing is opened before the first question is asked for. A row
that cannot become a question is counted in the ``ReadReport`` under exactly one reason
(``missing_title``, ``empty_tags``, ``bad_encoding``, ``malformed_row``, ``malformed_json``,
``malformed_xml``, ``not_a_question``), so ``rows_seen == rows_kept + rows_skipped``. Only
whole-file problems raise ``DataFormatError``. Bodies are kept raw (HTML is cleaned later).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby, pairwise
from operator import itemgetter
from pathlib import Path
from typing import cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser
from xml.parsers.expat import ErrorString

from ml.data.records import DataFormatError, Question, ReadReport

log = logging.getLogger(__name__)

PathArg = str | os.PathLike

FORMATS = ("auto", "corpus", "csv", "jsonl", "stacksample", "posts-xml")

# Stack Overflow tags are made of [a-z0-9+#.-]; every character below separates tags, which
# reads "a b", "<a><b>", "|a|b|" and '["a", "b"]' alike.
_TAG = re.compile(r"[^\s,|<>\[\]\"']+")
# What errors="surrogateescape" turns undecodable bytes into.
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def parse_tags(value: str | Iterable[str] | None) -> tuple[str, ...]:
    """Tags from any encoding the readers meet, lowercased, de-duplicated in first-seen order.

    ``"python pandas"``, ``"<python><pandas>"``, ``"|python|pandas|"``,
    ``'["python", "pandas"]'`` and ``["python", "pandas"]`` all give ``("python", "pandas")``.
    """
    items = () if value is None else [value] if isinstance(value, str) else value
    # Interned: a corpus repeats a few hundred tag strings millions of times.
    names = (sys.intern(name.lower()) for item in items for name in _TAG.findall(str(item)))
    return tuple(dict.fromkeys(names))


def read_questions(path: PathArg, fmt: str = "auto", report: ReadReport | None = None) -> Iterator[Question]:
    """Questions from ``path`` read as ``fmt``, one of ``FORMATS``; "auto" goes by the path."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "auto":
        fmt = _detect_format(path)
    readers = {
        "corpus": read_corpus_csv,
        "csv": _read_csv,
        "jsonl": _read_jsonl,
        "stacksample": read_stacksample,
        "posts-xml": read_posts_xml,
    }
    return readers[fmt](path, report)


def read_corpus_csv(path: PathArg, report: ReadReport | None = None) -> Iterator[Question]:
    """The bundled corpus: UTF-8 CSV ``title,tags`` with space-separated tags."""
    return _read_csv(Path(path), report)


def read_stacksample(path: PathArg, report: ReadReport | None = None) -> Iterator[Question]:
    """Kaggle StackSample: a folder holding Questions.csv and Tags.csv, or that Questions.csv.

    Both latin-1 files are sorted by Id in the real data, so they are merge-joined in one
    pass with O(1) memory. Unsorted input falls back to holding all tags (the smaller file)
    in a dict, which the report notes.
    """
    questions_path, tags_path = _stacksample_paths(Path(path))
    report = report if report is not None else ReadReport(str(questions_path))
    # Checked before the first question is yielded: with Tags.csv out of order, a question
    # could be yielded before all of its tag rows had been read.
    tags_of: Callable[[int], tuple[str, ...]]
    if _ids_ascending(_tag_rows(tags_path)):
        tags_of = _MergeJoin(_tag_rows(tags_path))
    else:
        tags_of = _tags_in_memory(tags_path, report, "Tags.csv is not sorted by Id")
    for line, row in _csv_rows(questions_path, "latin-1", ("id", "title", "body"), report):
        where = f"line {line}"
        try:
            question_id = int(row["id"])
        except ValueError:
            report.skip("malformed_row", where, f"Id {row['id']!r} is not an integer")
            continue
        try:
            tags = tags_of(question_id)
        except _OutOfOrder:
            # The questions already yielded got all their tags; only the rest need the dict.
            why = f"Questions.csv is not sorted by Id ({where})"
            tags_of = _tags_in_memory(tags_path, report, why)
            tags = tags_of(question_id)
        question = _question(report, where, row["title"], row["body"], tags)
        if question:
            yield question


def read_posts_xml(path: PathArg, report: ReadReport | None = None) -> Iterator[Question]:
    """Questions (PostTypeId 1) from a Stack Exchange data dump's Posts.xml.

    The dump holds one ``<row .../>`` per line. Lines are fed one by one to a pull parser so
    that a broken row costs only its own line: after a parse error a fresh parser takes over
    at the next line.
    """
    path = Path(path)
    report = report if report is not None else ReadReport(str(path))
    parser: XMLPullParser[Element] = XMLPullParser(("start", "end"))
    root: Element | None = None
    posts_seen = 0
    with _open(path, "rb") as handle:
        for line_number, line in enumerate(handle, 1):
            where = f"line {line_number}"
            try:
                parser.feed(line)
                # Only "start" and "end" were asked for, so every event is (name, element); typeshed's
                # read_events() also allows the shapes of the namespace and comment events.
                for event, element in cast(Iterator[tuple[str, Element]], parser.read_events()):
                    if event == "start":
                        root = element if root is None else root
                    elif element.tag == "row":
                        report.rows_seen += 1
                        posts_seen += "PostTypeId" in element.attrib
                        question = _post_question(report, where, element.attrib)
                        # Each row is used once; kept, the tree would grow with the file.
                        assert root is not None  # set by the "start" of <posts>, before any row ends
                        root.clear()
                        if question:
                            yield question
            except ParseError as error:
                report.rows_seen += 1
                # Parser positions restart with each fresh parser: only the message is kept.
                report.skip(_xml_error_reason(line), where, ErrorString(error.code))
                parser, root = XMLPullParser(("start", "end")), None
                parser.feed(b"<posts>")
    if not posts_seen:
        raise DataFormatError(
            f"{path}: no Stack Exchange post rows found; expected <posts> holding"
            f' <row Id=".." PostTypeId=".." .../> lines'
            f" ({report.skipped['malformed_xml']} lines were not well-formed XML)"
        )


def _detect_format(path: Path) -> str:
    if path.is_dir() or path.name == "Questions.csv":
        return "stacksample"
    by_suffix = {".xml": "posts-xml", ".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
    fmt = by_suffix.get(path.suffix.lower())
    if fmt is None:
        raise DataFormatError(f"{path}: cannot tell the format from the name; pass one of: {', '.join(FORMATS[1:])}")
    return fmt


def _read_csv(path: Path, report: ReadReport | None = None) -> Iterator[Question]:
    report = report if report is not None else ReadReport(str(path))
    for line, row in _csv_rows(path, "utf-8-sig", ("title", "tags"), report, optional=("body",)):
        question = _question(report, f"line {line}", row["title"], row.get("body"), row["tags"])
        if question:
            yield question


def _read_jsonl(path: Path, report: ReadReport | None = None) -> Iterator[Question]:
    report = report if report is not None else ReadReport(str(path))
    with _open(path, encoding="utf-8-sig", errors="surrogateescape", newline="") as handle:
        for line_number, line in enumerate(handle, 1):
            if line_number == 1 and line.lstrip().startswith("["):
                raise DataFormatError(f"{path}: looks like one JSON array; expected JSON lines (one object per line)")
            if not line.strip():
                continue
            report.rows_seen += 1
            where = f"line {line_number}"
            if _UNDECODABLE.search(line):
                report.skip("bad_encoding", where)
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                report.skip("malformed_json", where, error.msg)
                continue
            if not isinstance(record, dict):
                report.skip("malformed_json", where, "not a JSON object")
                continue
            tags = record.get("tags")
            tags = tags if isinstance(tags, (str, list)) else None
            question = _question(report, where, record.get("title"), record.get("body"), tags)
            if question:
                yield question


def _question(
    report: ReadReport, where: str, title: object, body: object, tags: str | Iterable[str] | None
) -> Question | None:
    """The question of one row, or None once the reason to skip the row is counted."""
    title = title.strip() if isinstance(title, str) else ""
    if not title:
        report.skip("missing_title", where)
        return None
    tag_names = parse_tags(tags)
    if not tag_names:
        report.skip("empty_tags", where)
        return None
    report.rows_kept += 1
    return Question(title, tag_names, body.strip() if isinstance(body, str) else "")


def _open(path: Path, mode: str = "r", **options):
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "file not found"
        raise DataFormatError(f"{path}: {problem}")
    return open(path, mode, **options)


def _csv_rows(
    path: Path,
    encoding: str,
    required: tuple[str, ...],
    report: ReadReport,
    optional: tuple[str, ...] = (),
) -> Iterator[tuple[int, dict[str, str]]]:
    """(first line, {column: text}) for each well-formed record; other records are counted.

    Column names match case-insensitively; columns neither required nor optional are ignored.
    """
    with _open(path, encoding=encoding, errors="surrogateescape", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            expected = ", ".join(required)
            raise DataFormatError(f"{path}: empty file; expected a CSV header with {expected}")
        names = [name.strip().lower() for name in header]
        missing = [name for name in required if name not in names]
        if missing:
            raise DataFormatError(f"{path}: CSV header lacks {', '.join(missing)} (found: {', '.join(header)})")
        columns = {name: names.index(name) for name in (*required, *optional) if name in names}
        undecodable_possible = encoding != "latin-1"  # latin-1 decodes every byte
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # e.g. a field over csv.field_size_limit()
                report.rows_seen += 1
                report.skip("malformed_row", f"line {line}", str(error))
                continue
            if not row:  # blank line
                continue
            report.rows_seen += 1
            if len(row) != len(header):
                detail = f"{len(row)} fields, header has {len(header)}"
                report.skip("malformed_row", f"line {line}", detail)
                continue
            fields = {name: row[index] for name, index in columns.items()}
            if undecodable_possible and any(_UNDECODABLE.search(text) for text in fields.values()):
                report.skip("bad_encoding", f"line {line}")
                continue
            yield line, fields


def _stacksample_paths(path: Path) -> tuple[Path, Path]:
    questions_path = path / "Questions.csv" if path.is_dir() else path
    tags_path = questions_path.with_name("Tags.csv")
    for needed in (questions_path, tags_path):
        if not needed.is_file():
            raise DataFormatError(
                f"{needed}: file not found; StackSample needs Questions.csv and Tags.csv side by side"
            )
    return questions_path, tags_path


def _tag_rows(tags_path: Path) -> Iterator[tuple[int, str]]:
    """(question Id, tag) for each row of StackSample's Tags.csv."""
    # A malformed tag row cannot be matched to a question, and the report counts questions,
    # so such rows are dropped without being counted.
    uncounted = ReadReport(str(tags_path))
    for _, row in _csv_rows(tags_path, "latin-1", ("id", "tag"), uncounted):
        try:
            question_id = int(row["id"])
        except ValueError:
            continue
        yield question_id, sys.intern(row["tag"])


def _ids_ascending(tag_rows: Iterator[tuple[int, str]]) -> bool:
    return all(previous <= current for (previous, _), (current, _) in pairwise(tag_rows))


class _OutOfOrder(Exception):
    """A question Id lower than the one before: a merge-join cannot go back."""


class _MergeJoin:
    """Tags of each question, asked for in ascending Id order, from tag rows sorted by Id."""

    def __init__(self, tag_rows: Iterator[tuple[int, str]]):
        self._groups = (
            (question_id, tuple(tag for _, tag in rows)) for question_id, rows in groupby(tag_rows, key=itemgetter(0))
        )
        self._group = next(self._groups, None)
        self._last_id: int | None = None

    def __call__(self, question_id: int) -> tuple[str, ...]:
        if self._last_id is not None and question_id < self._last_id:
            raise _OutOfOrder(question_id)
        self._last_id = question_id
        while self._group is not None and self._group[0] < question_id:
            self._group = next(self._groups, None)
        return self._group[1] if self._group is not None and self._group[0] == question_id else ()


def _tags_in_memory(tags_path: Path, report: ReadReport, why: str) -> Callable[[int], tuple[str, ...]]:
    """Tags by question Id from a dict of all of Tags.csv: works in any order, costs memory."""
    note = f"{why}: all of Tags.csv is held in memory instead of merge-joined"
    log.warning("%s: %s", tags_path, note)
    report.examples.append(note)
    tags_by_id: dict[int, tuple[str, ...]] = {}
    for question_id, tag in _tag_rows(tags_path):
        # Questions have a handful of tags, so growing tuples is cheap and spares a list each.
        tags_by_id[question_id] = tags_by_id.get(question_id, ()) + (tag,)
    return lambda question_id: tags_by_id.get(question_id, ())


def _post_question(report: ReadReport, where: str, attributes: dict[str, str]) -> Question | None:
    if attributes.get("PostTypeId") != "1":
        # Answers are half of a dump and no problem: counted, but kept out of the examples.
        report.skipped["not_a_question"] += 1
        return None
    title, body, tags = (attributes.get(name) for name in ("Title", "Body", "Tags"))
    return _question(report, where, title, body, tags)


def _xml_error_reason(line: bytes) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "bad_encoding"
    return "malformed_xml"
