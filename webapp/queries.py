"""Reading the history back: filters shared by the history page, the API and the export."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, func, or_, select

from ml.registry import model_names

from .extensions import db
from .inputs import TAG_RE
from .tables import REJECTED, ModelAnswer, Prediction, ReviewedTag, SuggestedTag

MAX_PER_PAGE = 100
# Far past any real history, and small enough that page x per_page stays a valid OFFSET
# (a page near 2**63 overflowed the database driver: a 500).
MAX_PAGE = 100_000
PAGE_RULE = f"page must be a whole number from 1 to {MAX_PAGE:,}."
MAX_SEARCH_CHARS = 200


@dataclass(frozen=True)
class Filters:
    model: str = ""
    tag: str = ""
    text: str = ""
    reviewed: str = ""  # "", "yes" or "no"

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
            tag=tag if TAG_RE.match(tag) else "",
            text=" ".join(args.get("q", "").split())[:MAX_SEARCH_CHARS],
            reviewed=reviewed if reviewed in ("yes", "no") else "",
        )

    def active(self) -> bool:
        return bool(self.model or self.tag or self.text or self.reviewed)

    def as_args(self) -> dict[str, str]:
        args = {"model": self.model, "tag": self.tag, "q": self.text, "reviewed": self.reviewed}
        return {key: value for key, value in args.items() if value}


def history_query(filters: Filters) -> Select:
    query = select(Prediction)
    if filters.model:
        query = query.where(Prediction.answers.any(ModelAnswer.model == filters.model))
    if filters.tag:
        suggested = ModelAnswer.tags.any(SuggestedTag.tag == filters.tag)
        if filters.model:
            suggested = and_(ModelAnswer.model == filters.model, suggested)
        reviewed_right = Prediction.review.any(and_(ReviewedTag.tag == filters.tag, ReviewedTag.verdict != REJECTED))
        query = query.where(or_(Prediction.answers.any(suggested), reviewed_right))
    if filters.text:
        pattern = "%" + _escape_like(filters.text) + "%"
        query = query.where(
            or_(Prediction.title.ilike(pattern, escape="\\"), Prediction.body.ilike(pattern, escape="\\"))
        )
    if filters.reviewed == "yes":
        query = query.where(Prediction.reviewed_at.is_not(None))
    elif filters.reviewed == "no":
        query = query.where(Prediction.reviewed_at.is_(None))
    # Newest first; ids grow with time and break ties within one second.
    return query.order_by(Prediction.id.desc())


def page_of(filters: Filters, page: int, per_page: int):
    return db.paginate(history_query(filters), page=page, per_page=per_page, max_per_page=MAX_PER_PAGE, error_out=False)


def exportable_count() -> int:
    query = select(func.count(Prediction.id)).where(
        Prediction.reviewed_at.is_not(None), Prediction.review.any(ReviewedTag.verdict != REJECTED)
    )
    return db.session.scalar(query) or 0


def reviewed_for_export():
    """Reviewed questions with at least one right tag, oldest first, streamed in chunks."""
    query = select(Prediction).where(Prediction.reviewed_at.is_not(None)).order_by(Prediction.id)
    for prediction in db.session.scalars(query.execution_options(yield_per=200)):
        tags = prediction.right_tags()
        if tags:
            yield prediction, tags


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
