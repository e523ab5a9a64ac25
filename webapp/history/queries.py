"""Reading the history back: filters shared by the history page, the API and the export."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, replace

from flask import g
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute

from ml.registry import model_names
from webapp.core.catalogue import site_catalogue
from webapp.core.extensions import db
from webapp.core.guards import MAX_ROW_ID
from webapp.core.inputs import TAG_RE
from webapp.core.tables import ACCEPTED, ADDED, REJECTED, BatchItem, ModelAnswer, Question, QuestionTag, ReviewedTag
from webapp.history import search, tag_index

MAX_PER_PAGE = 100
# Far past any real history, and small enough that page x per_page stays a valid OFFSET
# (a page near 2**63 overflowed the database driver: a 500).
MAX_PAGE = 100_000
PAGE_RULE = f"page must be a whole number from 1 to {MAX_PAGE:,}."
MAX_SEARCH_CHARS = 200
# Totals are counted up to here: past it a page says "more than 10,000" (a COUNT over a
# million filtered rows costs more than the page itself).
COUNT_LIMIT = 10_000
EXPORT_CHUNK = 500
# before= and after= take any id a key can hold (0 included: after=0 is the oldest page).
CURSOR_RULE = f"must be a whole number from 0 to {MAX_ROW_ID}."


@dataclass(frozen=True)
class Filters:
    model: str = ""
    tag: str = ""
    text: str = ""
    reviewed: str = ""  # "", "yes" or "no"
    batch: int | None = None  # the questions of this batch job (the view checks it is the asker's)

    @classmethod
    def from_args(cls, args) -> Filters:
        """Lenient: a value that cannot filter anything is dropped, not an error, so a
        hand-edited URL still shows a page (the form shows which filters apply)."""
        model = args.get("model", "").strip()
        tag = args.get("tag", "").strip().lower()
        reviewed = args.get("reviewed", "").strip().lower()
        reviewed = {"true": "yes", "1": "yes", "false": "no", "0": "no"}.get(reviewed, reviewed)
        return cls(
            model=model if model in model_names() else "",
            # A synonym finds its tag's questions, as reviews store it (golang: go);
            # answers stored under an older name are found too (stored_names).
            tag=site_catalogue().canonical(tag) if TAG_RE.match(tag) else "",
            text=" ".join(args.get("q", "").split())[:MAX_SEARCH_CHARS],
            reviewed=reviewed if reviewed in ("yes", "no") else "",
            batch=_batch_id(args.get("batch", "")),
        )

    def active(self) -> bool:
        return bool(self.model or self.tag or self.text or self.reviewed or self.batch)

    def as_args(self) -> dict[str, str]:
        args = {
            "model": self.model,
            "tag": self.tag,
            "q": self.text,
            "reviewed": self.reviewed,
            "batch": str(self.batch or ""),
        }
        return {key: value for key, value in args.items() if value}


def _batch_id(raw: str) -> int | None:
    """Lenient like the other filters: an id no job can have filters nothing."""
    with suppress(ValueError):
        return parse_cursor(raw) or None
    return None


def history_query(filters: Filters) -> Select:
    """The questions the filters keep, newest first."""
    return select(Question).where(*conditions(filters)).order_by(Question.id.desc())


def conditions(filters: Filters, prefixes: bool = True) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if filters.tag:
        where.append(Question.id.in_(select(QuestionTag.prediction_id).where(*_under_tag(filters))))
    elif filters.model:
        where.append(Question.answers.any(ModelAnswer.model == filters.model))
    if filters.text:
        where.append(search.matches(Question.id, db.engine.dialect.name, search.words(filters.text), prefixes))
    if filters.reviewed == "yes":
        where.append(Question.reviewed_at.is_not(None))
    elif filters.reviewed == "no":
        where.append(Question.reviewed_at.is_(None))
    if filters.batch:
        batch = select(BatchItem.prediction_id).where(BatchItem.job_id == filters.batch)
        where.append(Question.id.in_(batch.where(BatchItem.prediction_id.is_not(None))))
    return where


def _under_tag(filters: Filters) -> list[ColumnElement[bool]]:
    """The question_tags rows of the tag, and with a model those the model's bit is set in:
    the model answered the question, and its answer has the tag or the review kept it. One
    range of the primary key, newest first, tested row by row: at a million questions,
    checking each question's answers and review instead (EXISTS per row) was too slow on
    PostgreSQL to count a common tag's 10,000 matches."""
    names = stored_names(filters.tag)
    where = [QuestionTag.tag == names[0] if len(names) == 1 else QuestionTag.tag.in_(names)]
    if filters.model:
        where.append(QuestionTag.models.op("&")(tag_index.bit(filters.model)) != 0)
    return where


def stored_names(tag: str) -> list[str]:
    """The tag, then those of its older names (synonyms now: ``tsql`` of ``t-sql``) that
    questions here are stored under: answers keep the name a model gave, before a newer
    catalogue renamed it. Each older name is one probe of the primary key, once a request
    (a page reads the filter several times); most tags have none, and then no query at all."""
    older = site_catalogue().names_of(tag)[1:]
    if not older:
        return [tag]
    known: dict[str, list[str]] = g.setdefault("tagsmith_stored_names", {})
    if tag not in known:
        probes = [select(QuestionTag.prediction_id).where(QuestionTag.tag == name).exists() for name in older]
        found = db.session.execute(select(*probes)).one()
        known[tag] = [tag, *(name for name, present in zip(older, found, strict=True) if present)]
    return known[tag]


Key = ColumnElement[int] | QueryableAttribute[int]


@dataclass(frozen=True)
class MatchingIds:
    """The ids of the questions the filters keep: ``query`` selects ``key``, the column the
    pages order and compare by. A tag's questions are read from question_tags, a SQLite
    search's from the FTS index and a model's from its answers, each in id order, so that a
    page, a cursor and the capped total all stop after the rows they need; as
    ``predictions.id IN (...)`` both databases first gathered every match (a third of the
    history for a common tag or word)."""

    query: Select
    key: Key


def matching_ids(filters: Filters) -> MatchingIds:
    dialect = db.engine.dialect.name
    if filters.tag and len(stored_names(filters.tag)) > 1:
        # Under several names a question can be under two (answers from before and after
        # the rename): each once, by id from predictions. This reads every row of the
        # names, as the one-name path does not; storing today's names in question_tags
        # would avoid it (they are the answers' own names, canonicalised nowhere in SQL).
        return MatchingIds(select(Question.id).where(*conditions(filters)), Question.id)
    if filters.tag:
        key: Key = QuestionTag.prediction_id
        query = select(key).where(*_under_tag(filters))
        rest = conditions(replace(filters, tag="", model=""))
    elif filters.text and dialect == "sqlite" and search.words(filters.text):
        query, key = search.sqlite_matches(search.words(filters.text))
        rest = conditions(replace(filters, text=""))
    elif filters.model and not filters.text and filters.reviewed != "yes":
        # The model's answers by question, newest first, from ix_model_answers_model_question.
        # Reviewed questions (a minority, with their own partial index) and a search's matches
        # are read first and checked for the model's answer instead: at a million questions,
        # counting a common model's answers to reviewed questions was slower this way.
        key = ModelAnswer.prediction_id
        query = select(key).where(ModelAnswer.model == filters.model)
        rest = conditions(replace(filters, model=""))
    else:
        return MatchingIds(select(Question.id).where(*conditions(filters)), Question.id)
    if rest:
        query = query.join(Question, Question.id == key).where(*rest)
    return MatchingIds(query, key)


@dataclass
class Page:
    """One page of the history, newest first, with what it takes to move on from it.

    ``older``/``newer``: the ids to page on from (``before=older``, ``after=newer``), None at
    either end. ``total``: how many questions the filters keep, counted up to COUNT_LIMIT;
    past it ``total_exact`` is False and ``total`` is COUNT_LIMIT ("more than 10,000").
    ``number``: the page number for ``page=`` (and for the first page), None when the page
    was reached by a cursor.
    """

    items: list[Question]
    per_page: int
    total: int
    total_exact: bool
    older: int | None
    newer: int | None
    number: int | None

    @property
    def pages(self) -> int | None:
        return max(1, -(-self.total // self.per_page)) if self.total_exact else None


def page_of(
    filters: Filters,
    per_page: int,
    *,
    page: int | None = None,
    before: int | None = None,
    after: int | None = None,
) -> Page:
    """A page by keyset (``before``: the questions older than that id; ``after``: the ones
    just newer) or by number (``page``, an OFFSET: fine near the start, linear in depth).
    A keyset page costs the same at any depth: an index range read of per_page + 1 rows."""
    per_page = min(per_page, MAX_PER_PAGE)
    ids = matching_ids(filters)
    number = None if before is not None or after is not None else (page or 1)
    if filters.text and db.engine.dialect.name == "postgresql":
        # The ids up to the cap, once: they are the count, and when they are all the matches,
        # the page is cut from them here. Left to itself PostgreSQL guesses that a rare word
        # matches 0.5% of the rows and walks the primary key newest first, testing each row,
        # which reads the whole table when nothing matches.
        if _whole_words_pass_the_cap(filters):
            found: list[int] = []
            total, exact = COUNT_LIMIT, False
        else:
            found = list(db.session.scalars(ids.query.limit(COUNT_LIMIT + 1)))
            total, exact = min(len(found), COUNT_LIMIT), len(found) <= COUNT_LIMIT
        if exact:
            shown, older, newer = _page_of_ids(sorted(found, reverse=True), per_page, number, before, after)
        else:
            shown, older, newer = _page_of_query(ids, per_page, number, before, after)
    else:
        total, exact = capped_count(ids)
        shown, older, newer = _page_of_query(ids, per_page, number, before, after)
    loaded = {item.id: item for item in db.session.scalars(select(Question).where(Question.id.in_(shown)))}
    items = [loaded[prediction_id] for prediction_id in shown if prediction_id in loaded]
    return Page(items, per_page, total, exact, older, newer, number)


def _whole_words_pass_the_cap(filters: Filters) -> bool:
    """PostgreSQL: whether the search's words as whole words already match more questions
    than the cap, and so as prefixes too (a superset). Prefixes of several words make the GIN
    index recheck each row's tsvector, read from the heap: counting 10,001 matches of two
    common prefixes took many times as long as the same words whole. One word needs no
    recheck, and a rare whole word would only add a count."""
    query_words = search.words(filters.text)
    if len(query_words) < 2 or all(len(word) < search.MIN_PREFIX for word in query_words):
        return False
    whole = MatchingIds(select(Question.id).where(*conditions(filters, prefixes=False)), Question.id)
    return not capped_count(whole)[1]


def _page_of_query(ids: MatchingIds, per_page: int, number: int | None, before: int | None, after: int | None):
    """(ids shown, newest first; older cursor; newer cursor), read from the database."""
    key = ids.key
    if after is not None:
        rows = list(db.session.scalars(ids.query.where(key > after).order_by(key).limit(per_page + 1)))
        shown = rows[:per_page][::-1]
        newer = shown[0] if len(rows) > per_page else None
        older = shown[-1] if shown and _exists(ids, key < shown[-1]) else None
        return shown, older, newer
    query = ids.query.order_by(key.desc())
    if before is not None:
        query = query.where(key < before)
    if number:
        query = query.offset((number - 1) * per_page)
    rows = list(db.session.scalars(query.limit(per_page + 1)))
    shown = rows[:per_page]
    older = shown[-1] if len(rows) > per_page else None
    if number:
        newer = shown[0] if shown and number > 1 else None
    else:
        newer = shown[0] if shown and _exists(ids, key > shown[0]) else None
    return shown, older, newer


def _page_of_ids(matching: list[int], per_page: int, number: int | None, before: int | None, after: int | None):
    """The same as _page_of_query over every matching id, newest first, held in memory."""
    if after is not None:
        end = sum(1 for prediction_id in matching if prediction_id > after)
        start = max(0, end - per_page)
    else:
        if before is not None:
            start = sum(1 for prediction_id in matching if prediction_id >= before)
        else:
            start = ((number or 1) - 1) * per_page
        end = start + per_page
    shown = matching[start:end]
    older = shown[-1] if shown and end < len(matching) else None
    newer = shown[0] if shown and start > 0 else None
    return shown, older, newer


def _exists(ids: MatchingIds, condition: ColumnElement[bool]) -> bool:
    return db.session.scalar(ids.query.where(condition).limit(1)) is not None


def capped_count(ids: MatchingIds) -> tuple[int, bool]:
    """(count, exact): rows counted up to COUNT_LIMIT + 1 at most, so a count costs no more
    than reading 10,001 ids however many rows match (an exact COUNT reads every one)."""
    matching = ids.query.limit(COUNT_LIMIT + 1).subquery()
    found = db.session.scalar(select(func.count()).select_from(matching)) or 0
    return min(found, COUNT_LIMIT), found <= COUNT_LIMIT


def exportable_count() -> tuple[int, bool]:
    """Reviewed questions with at least one right tag (capped like capped_count)."""
    where = [Question.reviewed_at.is_not(None), Question.review.any(ReviewedTag.verdict != REJECTED)]
    return capped_count(MatchingIds(select(Question.id).where(*where), Question.id))


def reviewed_for_export(chunk: int | None = None) -> Iterator[tuple[int, str, str, list[str]]]:
    """(id, title, body, right tags) of each reviewed question with at least one right tag,
    oldest first. Read in chunks by id (a keyset over the partial index of reviewed ids), each
    chunk its own short query, so memory stays constant and no statement runs for long."""
    chunk = chunk or EXPORT_CHUNK
    last = 0
    while True:
        rows = db.session.execute(
            select(Question.id, Question.title, Question.body)
            .where(Question.reviewed_at.is_not(None), Question.id > last)
            .order_by(Question.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        verdicts: dict[int, list[tuple[str, str]]] = {}
        review = (
            select(ReviewedTag.prediction_id, ReviewedTag.tag, ReviewedTag.verdict)
            .where(ReviewedTag.prediction_id.in_([row.id for row in rows]), ReviewedTag.verdict != REJECTED)
            .order_by(ReviewedTag.prediction_id, ReviewedTag.position)
        )
        for prediction_id, tag, verdict in db.session.execute(review):
            verdicts.setdefault(prediction_id, []).append((tag, verdict))
        db.session.rollback()  # ends the read transaction between chunks
        for row in rows:
            marked = verdicts.get(row.id, [])
            # As Prediction.right_tags: accepted suggestions, then the tags the reviewer added.
            tags = [tag for tag, verdict in marked if verdict == ACCEPTED] + [
                tag for tag, verdict in marked if verdict == ADDED
            ]
            if tags:
                yield row.id, row.title, row.body, tags
        last = rows[-1].id


def parse_cursor(raw: str | None) -> int | None:
    """The id of ``before=``/``after=``: None when absent, ValueError when no key can hold it."""
    if raw is None or raw.strip() == "":
        return None
    if not raw.strip().isdigit():
        raise ValueError(raw)
    value = int(raw)
    if value > MAX_ROW_ID:
        raise ValueError(raw)
    return value
