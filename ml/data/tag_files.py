"""Reading a newer tag catalogue: a Stack Exchange data dump's ``Tags.xml`` or a saved Stack
Exchange API ``/tags`` response.

``Tags.xml`` holds ``<row TagName="..." Count="..." .../>`` rows; the API answers
``{"items": [{"name", "count", "synonyms": [...]}, ...]}``, and saved caches often keep one
item a line (JSON Lines). Every format gives the same ``TagRecord``s. A file that is not one
of these, or that holds one bad record, is refused whole with the place of the first problem:
an import changes everything it says or nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ml.data.tag_names import normalise_tag, tag_problem

# More questions than Stack Overflow will ever hold: a count beyond it is a broken file.
MAX_COUNT = 10**10


class TagFileError(ValueError):
    """The file cannot be read as a tag catalogue; the message says where and why."""


@dataclass(frozen=True)
class TagRecord:
    name: str  # normalised
    count: int
    synonyms: tuple[str, ...] = field(default=())


def read_tag_file(path: Path | str) -> list[TagRecord]:
    """Every record of a ``Tags.xml`` or an API ``/tags`` save (JSON or JSON Lines)."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            start = handle.read(512).lstrip()
    except OSError as error:
        raise TagFileError(f"cannot read {path}: {error.strerror or error}") from None
    if not start:
        raise TagFileError(f"{path} is empty")
    records = list(_xml_records(path) if start.startswith(b"<") else _json_records(path))
    if not records:
        raise TagFileError(f"{path} holds no tags")
    return records


def _xml_records(path: Path) -> Iterator[TagRecord]:
    # defusedxml: a data dump is a file from elsewhere; entity tricks must not expand.
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, iterparse

    try:
        for number, (_, element) in enumerate(iterparse(str(path), events=("end",)), 1):
            if element.tag != "row":
                continue
            where = f"{path}, row {number}"
            yield _record(element.get("TagName"), element.get("Count"), None, where, count_text=True)
            element.clear()
    except ParseError as error:
        raise TagFileError(f"{path} is not well-formed XML ({error})") from None
    except DefusedXmlException as error:
        raise TagFileError(f"{path} uses XML features a tag file does not need ({error})") from None


def _json_records(path: Path) -> Iterator[TagRecord]:
    text = _text(path)
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if isinstance(document, dict) and "items" in document:
        items: Iterable[tuple[str, object]] = _numbered(document["items"], f"{path}, items")
    elif isinstance(document, list):
        items = _numbered(document, f"{path}, item")
    elif isinstance(document, dict):
        items = [(f"{path}, line 1", document)]
    else:
        items = _lines(path, text)
    for where, item in items:
        if not isinstance(item, dict):
            raise TagFileError(f"{where}: expected an object with name and count")
        yield _record(item.get("name"), item.get("count"), item.get("synonyms"), where)


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise TagFileError(f"{path} is not UTF-8 text (byte {error.start})") from None


def _numbered(items: object, label: str) -> list[tuple[str, object]]:
    if not isinstance(items, list):
        raise TagFileError(f"{label} is not a list")
    return [(f"{label} {number}", item) for number, item in enumerate(items, 1)]


def _lines(path: Path, text: str) -> Iterator[tuple[str, object]]:
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield f"{path}, line {number}", json.loads(line)
        except ValueError as error:
            raise TagFileError(f"{path}, line {number} is neither JSON nor JSON Lines ({error})") from None


def _record(name: object, count: object, synonyms: object, where: str, count_text: bool = False) -> TagRecord:
    tag = _tag(name, where, "name")
    if count_text and isinstance(count, str) and count.strip().isdigit():
        count = int(count)
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count < MAX_COUNT:
        raise TagFileError(f"{where}: count must be a whole number from 0, not {str(count)[:20]!r}")
    if synonyms is None:
        synonyms = []
    if not isinstance(synonyms, list):
        raise TagFileError(f"{where}: synonyms must be a list of tag names")
    names = tuple(dict.fromkeys(_tag(s, where, "synonym") for s in synonyms))
    return TagRecord(tag, count, tuple(s for s in names if s != tag))


def _tag(value: object, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise TagFileError(f"{where}: the {what} must be text, not {type(value).__name__}")
    tag = normalise_tag(value)
    problem = tag_problem(tag)
    if problem:
        raise TagFileError(f"{where}: the {what} {value[:40]!r} {problem}")
    return tag
