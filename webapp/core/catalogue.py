"""The site's tag catalogue: the bundled one, with whatever newer catalogues were imported.

``import_catalogue`` merges a data dump's ``Tags.xml`` or a saved API ``/tags`` response
(``ml.data.tag_files``) into the database in one transaction, as a new version with its report:
tags added, counts updated, tags renamed (a tag that became another's synonym), synonyms
set. ``site_catalogue`` is what every part of the site reads (autocompletion, tag pages,
canonical names of tags reviewers add): each worker rebuilds it when the version moved,
checked once a request. An import also moves ``review_changes``, so every worker's learner
wakes up and gives the memory the names of brand-new tags (``new_tag_names``): a question
that names one gets it, without retraining.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app, g, has_app_context
from sqlalchemy import delete, func, insert, select
from sqlalchemy.exc import DBAPIError

from ml.data.catalogue import TagCatalogue, load_catalogue
from ml.data.tag_files import read_tag_file
from ml.predictor import Suggestion
from webapp.core.extensions import db
from webapp.core.tables import CatalogueImport, CatalogueSynonym, CatalogueTag, QuestionTag
from webapp.review.changes import note_review_change

EXTENSION_KEY = "tagsmith.catalogue"
CHUNK = 500  # keys per DELETE ... IN (...)


@dataclass
class ImportReport:
    version: int
    source: str
    tags: int
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)
    synonyms: int = 0

    def summary(self) -> str:
        return (
            f"catalogue version {self.version} from {self.source}: {self.tags} tags read, "
            f"{len(self.added)} added, {len(self.updated)} counts updated, {len(self.renamed)} renamed, "
            f"{self.synonyms} synonyms set"
        )


class _Held:
    """One worker's catalogue and the version it was built from."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: int | None = None
        self.catalogue: TagCatalogue = load_catalogue()


_READ_VERSION = select(func.max(CatalogueImport.id))


def catalogue_version() -> int | None:
    """The newest import's id; None while nothing was imported (the bundled catalogue). Core
    on the session's connection: read once a request, the ORM's overhead would be most of it."""
    return db.session.connection().execute(_READ_VERSION).scalar()


def site_catalogue() -> TagCatalogue:
    """The catalogue as of the newest import, built again in this worker when it moved."""
    if not has_app_context() or EXTENSION_KEY not in current_app.extensions:
        return load_catalogue()
    if "tagsmith_catalogue" in g:
        return g.tagsmith_catalogue
    held: _Held = current_app.extensions[EXTENSION_KEY]
    try:
        version = catalogue_version()
    except DBAPIError:  # the database is down: the catalogue this worker holds still answers
        db.session.rollback()
        return held.catalogue
    with held.lock:
        if version != held.version:
            held.catalogue = load_catalogue().merged(*_overlay()) if version is not None else load_catalogue()
            held.version = version
        g.tagsmith_catalogue = held.catalogue
    return held.catalogue


def renamed_suggestions(rows: list[list[Suggestion]]) -> list[list[Suggestion]]:
    """Suggested tags under their newest names: after an import renamed flutter-sdk to flutter,
    a model that learned flutter-sdk suggests flutter (once, at its best score). The 100-tag
    baseline learned the names of its own data (``osx``), so this runs before any import too."""
    catalogue = site_catalogue()
    renamed = []
    for row in rows:
        seen: set[str] = set()
        kept = []
        for item in row:
            name = catalogue.canonical(item.tag)
            if name not in seen:
                seen.add(name)
                kept.append(item if name == item.tag else item._replace(tag=name))
        renamed.append(kept)
    return renamed


def did_you_mean(tag: str, limit: int = 3) -> list[str]:
    """What a tag the catalogue lacks may be a typo of: tags already on this site that it
    begins (``langch``, once reviewers added ``langchain``), then the catalogue's close names."""
    on_site = db.session.scalars(
        select(QuestionTag.tag)
        .where(QuestionTag.tag.startswith(tag, autoescape=True), QuestionTag.tag != tag)
        .distinct()
        .order_by(QuestionTag.tag)
        .limit(limit)
    ).all()
    return list(dict.fromkeys([*on_site, *site_catalogue().close_names(tag, limit)]))[:limit]


def _overlay() -> tuple[dict[str, int], dict[str, str]]:
    counts = {name: count for name, count in db.session.execute(select(CatalogueTag.name, CatalogueTag.count))}
    rows = db.session.execute(select(CatalogueSynonym.source, CatalogueSynonym.target))
    synonyms = {source: target for source, target in rows}
    return counts, synonyms


def new_tag_names() -> list[str]:
    """Imported tags the bundled catalogue did not have at all: no model was trained on them."""
    bundled = load_catalogue()
    names = db.session.scalars(select(CatalogueTag.name)).all()
    return sorted(name for name in names if name not in bundled.counts and name not in bundled.synonyms)


def import_catalogue(path: Path | str) -> ImportReport:
    """Merge the tag file at ``path`` into the site's catalogue as a new version. A file that
    cannot be read raises ``ml.data.tag_files.TagFileError`` before anything is written."""
    records = read_tag_file(path)
    found = site_catalogue().changes(records)
    counts, synonyms = found.counts, found.synonyms
    report = ImportReport(0, "", len(records), found.added, found.updated, found.renamed, found.synonyms_set)
    entry = CatalogueImport(
        source=str(path)[-300:],
        tags=len(records),
        added=len(report.added),
        updated=len(report.updated),
        renamed=len(report.renamed),
        synonyms=report.synonyms,
    )
    db.session.add(entry)
    db.session.flush()
    for table, key, rows in (
        (CatalogueTag, CatalogueTag.name, [{"name": n, "count": c, "import_id": entry.id} for n, c in counts.items()]),
        (
            CatalogueSynonym,
            CatalogueSynonym.source,
            [{"source": s, "target": t, "import_id": entry.id} for s, t in synonyms.items()],
        ),
    ):
        keys = [next(iter(row.values())) for row in rows]
        for start in range(0, len(keys), CHUNK):
            db.session.execute(delete(table).where(key.in_(keys[start : start + CHUNK])))
        if rows:
            db.session.execute(insert(table), rows)

    note_review_change(db.session)  # every worker's learner looks again (new names for the memory)
    db.session.commit()
    report.version, report.source = entry.id, entry.source
    return report


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = _Held()
