"""The Stack Overflow tag catalogue: canonical names, counts, synonyms, descriptions.

Every tag that enters the system (training data, gold tags in ``eval``, tags added in
review, the API) goes through ``TagCatalogue.canonical``: lower case, spaces as hyphens,
and an approved synonym renamed to its target, as Stack Overflow does (``golang`` -> ``go``,
``k8s`` -> ``kubernetes``). ``search`` answers prefix queries for autocompletion.

The bundled catalogue is the September 2021 data dump (``data/catalogue/``) brought up to
date by a 2024 save of the API's 2,000 most used tags (``NEWER_FILE``): its counts, and its
synonyms, which rename tags merged since (``tsql`` -> ``t-sql``, ``unity3d`` ->
``unity-game-engine``, ``use-state`` -> ``react-hooks``), as Stack Overflow names them on
every question today.
``changes`` and ``merged`` are the same step a site's ``catalogue import`` takes. Tags newer
than both (python-polars, langchain) are simply unknown to it, never refused.
"""

from __future__ import annotations

import bisect
import csv
import difflib
import heapq
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ml.data.tag_files import TagRecord, read_tag_file
from ml.data.tag_names import normalise_tag
from ml.paths import PROJECT_ROOT

CATALOGUE_DIR = PROJECT_ROOT / "data" / "catalogue"
TAGS_FILE = "so_tags_2021.csv"
SYNONYMS_FILE = "so_tag_synonyms_2021.csv"
EXCERPTS_FILE = "so_tag_excerpts_2021.jsonl"
TOPICS_FILE = "tech_topics.jsonl"
# Newer tag records (a saved API /tags answer) merged over the 2021 files when present.
NEWER_FILE = "so_api_tags_top2000_2024.jsonl"
# How alike (difflib's ratio) a catalogue name must be to be offered for a mistyped tag.
CLOSE_NAME_CUTOFF = 0.8


@dataclass(frozen=True)
class TagInfo:
    name: str  # the canonical tag
    count: int  # questions on Stack Overflow, 2021 or 2024 (0: not in the catalogue)
    description: str = ""
    matched: str = ""  # the synonym the query matched, when it was one

    def to_dict(self) -> dict:
        info = {"tag": self.name, "count": self.count, "description": self.description}
        if self.matched:
            info["synonym"] = self.matched
        return info


@dataclass
class CatalogueChanges:
    """What newer tag records change in a catalogue (``TagCatalogue.changes``): the tags they
    add, the counts they update, the tags they rename (a tag that became another's synonym),
    and the ``counts`` and ``synonyms`` to merge (a name that stops being a synonym maps to
    itself)."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    synonyms_set: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    synonyms: dict[str, str] = field(default_factory=dict)


class TagCatalogue:
    def __init__(
        self,
        counts: dict[str, int],
        synonyms: dict[str, str] | None = None,
        descriptions: dict[str, str] | None = None,
        aliases: dict[str, list[str]] | None = None,
    ):
        self.counts = dict(counts)
        self.synonyms = {source: self._resolve(target, synonyms or {}) for source, target in (synonyms or {}).items()}
        self.descriptions = dict(descriptions or {})
        # Extra names a technology goes by (from the topic list); not renamed, only matched.
        self.aliases = dict(aliases or {})
        # Every name a prefix query can hit: tags and synonyms, sorted for bisection.
        self._names = sorted(set(self.counts) | set(self.synonyms))
        self._sources: dict[str, list[str]] | None = None  # names_of's index, built on first use

    @staticmethod
    def _resolve(tag: str, synonyms: dict[str, str]) -> str:
        seen = {tag}
        while tag in synonyms and synonyms[tag] not in seen:  # chains a -> b -> c end at c
            tag = synonyms[tag]
            seen.add(tag)
        return tag

    def __len__(self) -> int:
        return len(self.counts)

    def __contains__(self, tag: object) -> bool:
        return isinstance(tag, str) and self.canonical(tag) in self.counts

    def canonical(self, tag: str) -> str:
        name = normalise_tag(tag)
        return self.synonyms.get(name, name)

    def canonical_tags(self, tags: Iterable[str]) -> tuple[str, ...]:
        """Canonical names in first-seen order, without duplicates or empty names."""
        return tuple(dict.fromkeys(name for name in (self.canonical(tag) for tag in tags) if name))

    def names_of(self, tag: str) -> tuple[str, ...]:
        """The tag's canonical name, then every synonym that leads to it, sorted: the names
        a question stored before a rename may carry (``t-sql``, ``transact-sql``, ``tsql``)."""
        name = self.canonical(tag)
        if self._sources is None:
            sources: dict[str, list[str]] = {}
            for source, target in sorted(self.synonyms.items()):
                sources.setdefault(target, []).append(source)
            self._sources = sources
        return (name, *self._sources.get(name, ()))

    def count(self, tag: str) -> int:
        return self.counts.get(self.canonical(tag), 0)

    def description(self, tag: str) -> str:
        return self.descriptions.get(self.canonical(tag), "")

    def info(self, tag: str) -> TagInfo:
        name = self.canonical(tag)
        matched = normalise_tag(tag)
        return TagInfo(
            name, self.counts.get(name, 0), self.descriptions.get(name, ""), matched if matched != name else ""
        )

    def search(self, prefix: str, limit: int = 10) -> list[TagInfo]:
        """Tags whose name or synonym starts with ``prefix``, most used first."""
        query = normalise_tag(prefix)
        if not query or limit < 1:
            return []
        start = bisect.bisect_left(self._names, query)
        stop = bisect.bisect_left(self._names, query + "\uffff")
        best: dict[str, str] = {}
        for name in self._names[start:stop]:
            target = self.synonyms.get(name, name)
            if target not in best or name == target:
                best[target] = "" if name == target else name
        ranked = heapq.nlargest(limit, best, key=lambda tag: (self.counts.get(tag, 0), tag == query, tag))
        return [TagInfo(tag, self.counts.get(tag, 0), self.descriptions.get(tag, ""), best[tag]) for tag in ranked]

    def close_names(self, tag: str, limit: int = 3) -> list[str]:
        """Catalogue tags a mistyped ``tag`` may have meant: tags it begins, most used first
        (``javascrip``), then tags a small edit away among the names with the same first two
        letters (``pyhton``), most used first."""
        query = normalise_tag(tag)
        if not query or limit < 1:
            return []
        found = [info.name for info in self.search(query, limit + 1) if info.name.startswith(query)]
        start = bisect.bisect_left(self._names, query[:2])
        stop = bisect.bisect_left(self._names, query[:2] + "\uffff")
        alike = difflib.get_close_matches(query, self._names[start:stop], n=limit, cutoff=CLOSE_NAME_CUTOFF)
        found += sorted({self.synonyms.get(name, name) for name in alike}, key=lambda name: -self.counts.get(name, 0))
        return [name for name in dict.fromkeys(found) if name != query][:limit]

    def changes(self, records: Iterable[TagRecord]) -> CatalogueChanges:
        """What these newer records (``ml.data.tag_files``) change in this catalogue."""
        records = list(records)
        found = CatalogueChanges()
        names = {record.name for record in records}  # a tag of the file is no synonym in it
        for record in records:
            name = record.name
            was_synonym = self.synonyms.get(name, name) != name
            if was_synonym:
                found.synonyms[name] = name
            if name not in self.counts:
                if not was_synonym:  # a former synonym is a rename's target, reported as the rename
                    found.added.append(name)
            elif self.counts[name] != record.count:
                found.updated.append(name)
            found.counts[name] = record.count
            for source in record.synonyms:
                if source in names or (self.synonyms.get(source) == name and source not in found.synonyms):
                    continue
                if source in self.counts and self.canonical(source) == source:
                    found.renamed.append((source, name))
                found.synonyms[source] = name
                found.synonyms_set += 1
        return found

    def merged(self, counts: dict[str, int], synonyms: dict[str, str]) -> TagCatalogue:
        """This catalogue with newer ``counts`` and ``synonyms`` (``changes``) over it. A name
        that became a synonym is no tag any more, and its description and aliases pass to
        the tag it was renamed to, unless that tag has its own."""
        merged_synonyms = {**self.synonyms, **synonyms}
        # A name the newer catalogue made a tag is no synonym any more (stored as its own target).
        merged_synonyms = {source: target for source, target in merged_synonyms.items() if source != target}
        merged_counts = {tag: count for tag, count in {**self.counts, **counts}.items() if tag not in merged_synonyms}
        catalogue = TagCatalogue(merged_counts, merged_synonyms)
        for old, new in ((self.descriptions, catalogue.descriptions), (self.aliases, catalogue.aliases)):
            for tag in sorted(old, key=lambda tag: catalogue.canonical(tag) != tag):  # a tag's own first
                new.setdefault(catalogue.canonical(tag), old[tag])  # type: ignore[arg-type]
        return catalogue

    def popular(self, min_count: int) -> list[str]:
        return [tag for tag, count in self.counts.items() if count >= min_count]

    @classmethod
    def load(cls, folder: Path | str = CATALOGUE_DIR) -> TagCatalogue:
        folder = Path(folder)
        counts: dict[str, int] = {}
        with open(folder / TAGS_FILE, encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                counts[normalise_tag(row["tag"])] = int(row["count"])
        synonyms: dict[str, str] = {}
        synonyms_path = folder / SYNONYMS_FILE
        if synonyms_path.is_file():
            with open(synonyms_path, encoding="utf-8", newline="") as handle:
                for row in csv.DictReader(handle):
                    synonyms[normalise_tag(row["from"])] = normalise_tag(row["to"])
        descriptions: dict[str, str] = {}
        aliases: dict[str, list[str]] = {}
        topics_path = folder / TOPICS_FILE
        if topics_path.is_file():
            for record in _json_lines(topics_path):
                tag = record.get("so_tag")
                if tag:
                    tag = normalise_tag(tag)
                    descriptions.setdefault(tag, record.get("short_description") or "")
                    names = [record.get("display_name") or "", *(record.get("aliases") or [])]
                    aliases[tag] = [name for name in names if name]
        excerpts_path = folder / EXCERPTS_FILE
        if excerpts_path.is_file():  # the tag's own wiki excerpt wins over a topic's blurb
            for record in _json_lines(excerpts_path):
                if record.get("tag") and record.get("excerpt"):
                    descriptions[normalise_tag(record["tag"])] = record["excerpt"]
        catalogue = cls(counts, synonyms, descriptions, aliases)
        newer_path = folder / NEWER_FILE
        if newer_path.is_file():
            found = catalogue.changes(read_tag_file(newer_path))
            catalogue = catalogue.merged(found.counts, found.synonyms)
        return catalogue


def _json_lines(path: Path) -> Iterable[dict]:
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


@lru_cache(maxsize=4)
def load_catalogue(folder: str | None = None) -> TagCatalogue:
    """The catalogue in ``folder`` (the bundled one by default), read once per process."""
    return TagCatalogue.load(folder or CATALOGUE_DIR)
