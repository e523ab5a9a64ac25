"""The API's request and response shapes (pydantic), from which ``webapp.api.openapi`` builds
the OpenAPI document. Request fields run the same checks as the forms (``webapp.core.inputs``)
before pydantic's own, so a bad value gets the message a person reads on the site, and the
limits that come from the settings (title length, batch size) stay settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from flask import current_app
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, RootModel, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from ml.predictor import DEFAULT_TOP_K, MAX_TOP_K
from ml.registry import model_names
from webapp.core.guards import MAX_ROW_ID
from webapp.core.inputs import (
    BOTH,
    TAG_RE,
    InputError,
    Limits,
    clean_body,
    clean_models,
    clean_partial_title,
    clean_threshold,
    clean_title,
    clean_top_k,
    parse_tag_list,
)
from webapp.history.queries import CURSOR_RULE, MAX_PAGE, MAX_PER_PAGE, MAX_SEARCH_CHARS, PAGE_RULE

TAG_SEARCH_MAX = 50
# pydantic's message for a field it expected and did not get; the checks' own words where
# a person needs more than "required".
MISSING = {
    "title": "Enter a title: a title is required.",
    "accepted": "list the suggested tags that are right (may be empty).",
    "prefix": "Give the start of a tag name, e.g. ?prefix=pyth",
}


def checked(check: Callable[[Any], Any]) -> BeforeValidator:
    """Runs one of ``webapp.core.inputs``' checks on the raw value; its message becomes the
    field's error, word for word."""

    def validate(value: Any) -> Any:
        try:
            return check(value)
        except InputError as error:
            raise PydanticCustomError("tagsmith", "{message}", {"message": next(iter(error.fields.values()))}) from None

    return BeforeValidator(validate)


def _refuse(message: str) -> PydanticCustomError:
    return PydanticCustomError("tagsmith", "{message}", {"message": message})


class Body(BaseModel):
    """A JSON body: unknown keys are refused, so a misspelt option is not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Query(BaseModel):
    """Query arguments: ones the endpoint does not know are ignored, as browsers and proxies add some."""

    model_config = ConfigDict(extra="ignore")


# --- requests ---


class ExplainQuery(Query):
    explain: bool = Field(
        False, description="1: each answer also says why it suggested each tag (`reasons`), recomputed on request."
    )


def _title(value: object) -> str | None:
    return None if value is None else clean_title(value, Limits.from_app())


def _body(value: object) -> str:
    return clean_body(value, Limits.from_app())


Title = Annotated[
    str,
    checked(lambda value: clean_title(value, Limits.from_app())),
    Field(description="One line; 3 to 300 characters by default."),
]
QuestionBody = Annotated[
    str, checked(_body), Field(description="Markdown or HTML as pasted; at most 50,000 characters by default.")
]


class QuestionIn(Body):
    title: Title
    body: QuestionBody = ""

    @model_validator(mode="before")
    @classmethod
    def an_object(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise _refuse("each question must be an object with a title and an optional body.")
        return value


def _batch(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise _refuse('questions must be a non-empty list of {"title", "body"} objects.')
    batch_max = current_app.config["BATCH_MAX_QUESTIONS"]
    if len(value) > batch_max:
        raise _refuse(f"at most {batch_max} questions per request (got {len(value)}).")
    return value


def _models(value: object) -> list[str]:
    from webapp.ask.serving import default_model  # the one that answers when the configured one is not built

    return list(clean_models(value, default_model()))


ModelName = Annotated[str, Field(description="A model's name: see GET /api/v1/models.")]


class SuggestIn(Body):
    """One question (``title``, ``body``) or a batch (``questions``), not both."""

    title: Annotated[str | None, checked(_title)] = Field(None, description="The question's title (one question).")
    body: QuestionBody = ""
    questions: Annotated[list[QuestionIn] | None, BeforeValidator(_batch)] = Field(
        None, description="A batch instead of one question: at most 32 by default.", min_length=1
    )
    models: Annotated[Literal["both"] | ModelName | list[ModelName] | None, checked(_models)] = Field(
        None,
        validate_default=True,
        description=f"{BOTH!r} (every model), one model's name or a list; default: the site's default model.",
    )
    top_k: Annotated[int, checked(clean_top_k)] = Field(
        DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="Tags at most per model."
    )
    threshold: Annotated[float | None, checked(clean_threshold)] = Field(
        None, ge=0, le=1, description="One cut-off for every tag; null: each tag's tuned threshold."
    )

    @model_validator(mode="after")
    def one_or_a_batch(self) -> SuggestIn:
        if self.questions is not None and {"title", "body"} & self.model_fields_set:
            raise _refuse("Send either one question (title, body) or a batch (questions), not both.")
        return self

    def question_list(self) -> list[tuple[str, str]]:
        if self.questions is not None:
            return [(question.title, question.body) for question in self.questions]
        if self.title is None:
            raise InputError({"title": MISSING["title"]})
        return [(self.title, self.body)]


class PreviewIn(Body):
    """A question as it is being typed: suggestions for it, nothing stored."""

    title: Annotated[str, checked(lambda value: clean_partial_title(value, Limits.from_app()))] = Field(
        "", description="The title typed so far (no minimum length)."
    )
    body: QuestionBody = ""
    model: str | None = Field(
        None, description="One model's name; default: TAGSMITH_PREVIEW_MODEL, else the site's default model."
    )
    top_k: Annotated[int, checked(clean_top_k)] = Field(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="Tags at most.")
    threshold: Annotated[float | None, checked(clean_threshold)] = Field(
        None, ge=0, le=1, description="One cut-off for every tag; null: each tag's tuned threshold."
    )


def _tags(field: str) -> BeforeValidator:
    # None stays None: a review without ``rejected`` rejects every suggested tag not accepted.
    return checked(lambda value: None if value is None else parse_tag_list(value, field))


# Parsed into a list whichever way it came; the document shows both ways.
TagList = Annotated[
    list[str],
    WithJsonSchema(
        {"anyOf": [{"type": "array", "items": {"type": "string", "pattern": TAG_RE.pattern}}, {"type": "string"}]}
    ),
]


class FeedbackIn(Body):
    accepted: Annotated[TagList, _tags("accepted")] = Field(
        description="The suggested tags that are right (may be empty); a list or one string separated by spaces."
    )
    rejected: Annotated[TagList | None, _tags("rejected")] = Field(
        None, description="Left out: every suggested tag not accepted."
    )
    added: Annotated[TagList, _tags("added")] = Field(default_factory=list, description="Tags no model suggested.")


def whole_number(name: str, low: int, high: int, rule: str | None = None) -> BeforeValidator:
    """A query argument that must be a whole number from ``low`` to ``high``, with the
    site's wording for one that is not."""

    def check(raw: object) -> int:
        try:
            value = int(str(raw))
        except ValueError:
            value = low - 1
        if value < low:
            raise _refuse(rule or f"{name} must be a whole number of at least {low}.")
        if value > high:
            raise _refuse(rule or f"{name} must be at most {high}.")
        return value

    return BeforeValidator(check)


def _cursor(name: str) -> BeforeValidator:
    return whole_number(name, 0, MAX_ROW_ID, f"{name} {CURSOR_RULE}")


# An empty filter (a form's blank field) filters nothing; any other value must mean something.
def _model_filter(value: object) -> str | None:
    if value == "":
        return None
    if value not in model_names():
        raise _refuse(f"choose from {', '.join(model_names())}.")
    return str(value)


def _tag_filter(value: object) -> str | None:
    tag = str(value).strip().lower()
    if not tag:
        return None
    if not TAG_RE.match(tag):
        raise _refuse(f"{tag[:40]!r} is not a valid tag: use up to 35 of a-z, 0-9, + # . -")
    return tag


def _reviewed(value: object) -> str | None:
    if str(value).strip() == "":
        return None
    answer = {"true": "yes", "1": "yes", "false": "no", "0": "no"}.get(str(value).strip().lower(), value)
    if answer not in ("yes", "no"):
        raise _refuse("reviewed must be yes or no.")
    return str(answer)


class QuestionQuery(Query):
    """Filters and paging for the history. Page by one of ``page``, ``before`` or ``after``."""

    page: Annotated[int | None, whole_number("page", 1, MAX_PAGE, PAGE_RULE)] = Field(
        None, ge=1, le=MAX_PAGE, description="An OFFSET page: slower the deeper it goes."
    )
    per_page: Annotated[int | None, whole_number("per_page", 1, MAX_PER_PAGE)] = Field(
        None, ge=1, le=MAX_PER_PAGE, description="Default 20."
    )
    before: Annotated[int | None, _cursor("before")] = Field(
        None, ge=0, le=MAX_ROW_ID, description="The questions older than this id (the `next` link)."
    )
    after: Annotated[int | None, _cursor("after")] = Field(
        None, ge=0, le=MAX_ROW_ID, description="The questions just newer than this id (`prev`); 0: the oldest page."
    )
    model: Annotated[str | None, BeforeValidator(_model_filter)] = Field(None, description="Answered by this model.")
    tag: Annotated[str | None, BeforeValidator(_tag_filter)] = Field(
        None, pattern=TAG_RE.pattern, description="Suggested, accepted or added."
    )
    q: str | None = Field(None, description=f"Full-text search; the first {MAX_SEARCH_CHARS} characters count.")
    reviewed: Annotated[Literal["yes", "no"] | None, BeforeValidator(_reviewed)] = None

    @model_validator(mode="after")
    def one_position(self) -> QuestionQuery:
        given = [name for name in ("page", "before", "after") if getattr(self, name) is not None]
        if len(given) > 1:
            raise _refuse("Page by one of page, before or after, not several.")
        return self


def _prefix(value: object) -> str:
    prefix = str(value).strip()
    if not prefix:
        raise _refuse("Give the start of a tag name, e.g. ?prefix=pyth")
    return prefix


class TagSearchQuery(Query):
    prefix: Annotated[str, BeforeValidator(_prefix)] = Field(
        description="The start of a tag name or synonym.", min_length=1, pattern=r"\S"
    )
    limit: Annotated[int, whole_number("limit", 1, TAG_SEARCH_MAX, None)] = Field(10, ge=1, le=TAG_SEARCH_MAX)


# --- responses ---


class TagScore(BaseModel):
    tag: str
    score: float
    confident: bool = Field(description="False: below its threshold (the top-1 fallback).")


class Reason(BaseModel):
    """One piece of evidence for a tag; which fields it has depends on its kind."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["words", "phrase", "reviewed", "similar", "replaced"] = Field(
        description='"words": words or code tokens that weighed most for the linear model; "phrase": what the '
        'lexical matcher found (match, where); "reviewed": a reviewed question voted for it; "similar": a '
        'training question did; "replaced": reviewers put it in place of the tag in text, which was proposed '
        "here (weight: the share of the reviewed questions showing that tag where they did)."
    )
    weight: float = Field(description="How much it weighed (comparable within one kind and model).")
    text: str | None = Field(None, description="words / phrase / replaced: the words, the phrase, the replaced tag.")
    question_id: int | None = Field(None, description="reviewed: the reviewed question (/history/<id>).")
    title: str | None = Field(None, description="reviewed / similar: that question's title.")
    model: str | None = Field(None, description="In the ensemble's reasons: the member that gave it.")


class Answer(BaseModel):
    model_version: str
    latency_ms: float
    confident: bool = Field(description="False: no tag reached its threshold.")
    tags: list[TagScore]
    reasons: dict[str, list[Reason]] | None = Field(
        default=None,
        description="Why each tag was suggested, where the model can say (the memory, the ensemble through it); "
        "single-question answers only.",
    )


class ReviewOut(BaseModel):
    reviewed_at: str
    accepted: list[str]
    rejected: list[str]
    added: list[str]
    tags: list[str]


class QuestionOut(BaseModel):
    id: int
    url: str = Field(description="This question in the API (absolute).")
    page: str = Field(description="This question on the site (absolute).")
    title: str
    body: str
    created_at: str | None
    source: str
    top_k: int
    threshold: float | None
    answers: dict[str, Answer]
    review: ReviewOut | None


class SuggestOut(QuestionOut):
    unavailable: dict[str, str] = Field(description="Requested models that could not answer, and why.")


class SuggestBatchOut(BaseModel):
    predictions: list[QuestionOut]
    unavailable: dict[str, str]


class SuggestCreated(RootModel[SuggestOut | SuggestBatchOut]):
    """One stored question (with a Location header), or a batch's."""


class QuestionList(BaseModel):
    items: list[QuestionOut]
    page: int | None = Field(description="Its number for page= and the first page; null after a cursor.")
    per_page: int
    total: int = Field(description="Counted up to 10,000.")
    total_exact: bool
    pages: int | None
    next: str | None = Field(description="The older page (absolute), or null.")
    prev: str | None = Field(description="The newer page (absolute), or null.")


class CatalogueTag(BaseModel):
    tag: str
    count: int
    description: str | None
    synonym: str | None = None


class TagSearchOut(BaseModel):
    prefix: str
    tags: list[CatalogueTag]


class TagInfoOut(CatalogueTag):
    known: bool = Field(description="False: not in the catalogue (it would be added as new).")
    did_you_mean: list[str] | None = Field(
        None,
        description="Only for a tag the catalogue lacks: tags it may be a typo of, on this site or in the catalogue.",
    )


class ModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    label: str
    description: str
    available: bool
    message: str | None = None
    version: str | None = None
    labels: list[str] | None = None
    global_threshold: float | None = None


class ModelsOut(BaseModel):
    models: list[ModelOut]


class Health(BaseModel):
    status: Literal["ok", "degraded", "error"]
    database: str | None = None
    models: dict[str, str] | None = None


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="about:blank: the status says it all.")
    title: str
    status: int
    detail: str = Field(description="What went wrong, written for a person.")
    instance: str = Field(description="The path that was requested.")
    errors: dict[str, str] | None = Field(None, description="422: a message per invalid field.")
    error: str = Field(description="Deprecated: the same as detail (kept for v1 clients).")
    fields: dict[str, str] | None = Field(None, description="Deprecated: the same as errors.")


class Link(BaseModel):
    method: str
    href: str
    summary: str


class ApiRoot(BaseModel):
    title: str
    version: str
    openapi: str = Field(description="The OpenAPI document (absolute URL).")
    docs: str = Field(description="The interactive page (absolute URL).")
    endpoints: list[Link]


class PreviewOut(BaseModel):
    model: str
    tags: list[TagScore]
    confident: bool
    elapsed_ms: float | None = Field(None, description="The model's time for this question.")
    stored: Literal[False] = Field(description="Always false: a preview stores nothing.")


class BatchJobOut(BaseModel):
    id: int
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    format: Literal["csv", "jsonl"]
    filename: str
    model: str = Field(description="The model that tags the file's questions.")
    total: int = Field(description="Questions in the file.")
    done: int = Field(description="Questions tagged and stored so far.")
    percent: float
    errors: str | None = Field(None, description="Why the job failed, when it did.")
    created_at: str
    finished_at: str | None
    url: str = Field(description="This job's progress (absolute URL).")
    page: str = Field(description="The job's page on the site.")
    results: str | None = Field(description="The file with the tags added, once the job has ended.")
    key: str | None = Field(
        None, description="The key that opens the job (?key= or X-Batch-Key), given to whoever submits it."
    )


class BatchList(BaseModel):
    items: list[BatchJobOut]
