"""Files sent as they are written (the history export, a batch job's results): pieces of a few
dozen rows each, so the first bytes leave before the last row is read and no file is held
whole in memory. CSV cells are made inert for spreadsheets."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# What a download is sent as, by its format (the history export, a batch job's results).
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def inert_cell(text: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula (=, +, -, @, tab,
    carriage return) gets a leading apostrophe (OWASP's advice against CSV injection).
    JSON Lines keep every text exactly as it was."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_pieces(header: Sequence[str], rows: Iterable[Sequence[object]], every: int) -> Iterator[str]:
    """The header alone first (it goes out before the first query), then ``every`` rows a
    piece; text cells made inert, numbers written as they are."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([inert_cell(name) for name in header])
    yield _drain(buffer)
    for number, row in enumerate(rows, 1):
        writer.writerow([cell if isinstance(cell, int) else inert_cell(str(cell)) for cell in row])
        if number % every == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def jsonl_pieces(items: Iterable[object], every: int) -> Iterator[str]:
    """One JSON object a line, ``every`` lines a piece."""
    lines = []
    for item in items:
        lines.append(json.dumps(item, ensure_ascii=False))
        if len(lines) == every:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
