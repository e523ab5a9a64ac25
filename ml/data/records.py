"""Plain records shared by every reader: one question, and the report of a read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ml.errors import DataError


@dataclass(frozen=True, slots=True)
class Question:
    """One labelled (or unlabelled) question. ``body`` is raw (HTML or markdown), may be ''."""

    title: str
    tags: tuple[str, ...] = ()
    body: str = ""


class DataFormatError(DataError):
    """The whole file is unreadable in the requested format (one clear message)."""


@dataclass
class ReadReport:
    """What a reader saw: rows kept, rows skipped by reason, and the first few problems."""

    source: str
    rows_seen: int = 0
    rows_kept: int = 0
    skipped: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    max_examples: int = 10

    def skip(self, reason: str, where: str | int | None = None, detail: str = "") -> None:
        self.skipped[reason] += 1
        if len(self.examples) < self.max_examples:
            place = f"{where}: " if where is not None else ""
            self.examples.append(f"{place}{reason}{' (' + detail + ')' if detail else ''}")

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())

    def summary(self) -> str:
        text = f"{self.source}: {self.rows_kept} questions kept of {self.rows_seen} rows"
        if self.skipped:
            reasons = ", ".join(f"{n} {r}" for r, n in self.skipped.most_common())
            text += f"; skipped {reasons}"
        return text

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "rows_seen": self.rows_seen,
            "rows_kept": self.rows_kept,
            "skipped": dict(self.skipped),
            "examples": list(self.examples),
        }
