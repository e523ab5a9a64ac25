"""Checking what users send, shared by the HTML forms and the JSON API so both behave alike.

Every check raises ``InputError`` with a message per field, written for the person who
typed the input; the caller turns it into a 422 (or an inline form error).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote, unquote_to_bytes

from flask import current_app

from ml.data.tag_names import names_something
from ml.errors import TagsmithError
from ml.predictor import DEFAULT_TOP_K, MAX_TOP_K
from ml.registry import model_names

# Every model side by side (the name predates a third model; the API keeps it).
BOTH = "both"
# Stack Overflow's tag alphabet and length limit.
TAG_RE = re.compile(r"^[a-z0-9+#.\-]{1,35}$")
MAX_ADDED_TAGS = 10
# Control characters (Unicode category Cc) other than tab, line feed, form feed and carriage
# return, which pasted text does contain: the others mean a binary file or a broken encoder.
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
# Every control character: none belongs in a name (a reviewer's, a file's).
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")
# Blanks that str.split() does not see as space: the Hangul fillers. With the format
# characters (category Cf: zero-width spaces and joiners U+200B-U+200D, U+2060, U+FEFF,
# bidi controls, the soft hyphen) they draw nothing, so a title of them alone looks empty.
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")


class InputError(TagsmithError):
    status = 422

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {message}" for name, message in fields.items()))
        self.fields = fields


@dataclass(frozen=True)
class Limits:
    title_min: int
    title_max: int
    body_max: int
    batch_max: int

    @classmethod
    def from_app(cls) -> Limits:
        config = current_app.config
        return cls(
            config["TITLE_MIN_CHARS"],
            config["TITLE_MAX_CHARS"],
            config["BODY_MAX_CHARS"],
            config["BATCH_MAX_QUESTIONS"],
        )


def text_problem(text: str) -> str | None:
    """Why ``text`` is not text a person typed, or None."""
    if _CONTROL_RE.search(text):
        return "contains binary data (control characters); paste plain text only"
    if "\ufffd" in text or _SURROGATE_RE.search(text):
        return "is not valid UTF-8 text (it contains undecodable bytes); check the file's encoding"
    return None


def undecodable_form_fields(raw: bytes) -> list[str]:
    """Names of urlencoded form fields whose bytes are not UTF-8. Werkzeug keeps such bytes
    as literal "%E9" text, which no later check could tell from typed text."""
    bad = []
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        try:
            unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError:
            bad.append(unquote(name.decode("ascii", "replace")))
    return bad


def clean_title(value: object, limits: Limits) -> str:
    if value is None:
        raise InputError({"title": "Enter a title: a title is required."})
    if not isinstance(value, str):
        raise InputError({"title": "The title must be text."})
    problem = text_problem(value)
    if problem:
        raise InputError({"title": f"The title {problem}."})
    title = " ".join(value.split())  # titles are one line; runs of spaces mean nothing
    if not title:
        what = "is empty" if not value else "contains only whitespace"
        raise InputError({"title": f"Enter a title: this one {what}."})
    visible = visible_length(title)
    if not visible_length(title.replace(" ", "")):
        raise InputError(
            {"title": "Enter a title: this one contains only invisible characters (such as zero-width spaces)."}
        )
    if visible < limits.title_min:
        raise InputError({"title": f"The title needs at least {limits.title_min} characters (this one has {visible})."})
    if len(title) > limits.title_max:
        raise InputError(
            {"title": f"The title can have at most {limits.title_max:,} characters (this one has {len(title):,})."}
        )
    return title


def clean_body(value: object, limits: Limits) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError({"body": "The body must be text."})
    problem = text_problem(value)
    if problem:
        raise InputError({"body": f"The body {problem}."})
    if len(value) > limits.body_max:
        raise InputError(
            {"body": f"The body can have at most {limits.body_max:,} characters (this one has {len(value):,})."}
        )
    # Kept as pasted (markdown, HTML, code): ml.text cleans it for the models.
    return value if visible_length("".join(value.split())) else ""


def visible_length(text: str) -> int:
    """Characters that draw something (spaces count): what a reader sees of ``text``."""
    return sum(1 for char in text if char not in _FILLERS and unicodedata.category(char) != "Cf")


def clean_question(title: object, body: object, limits: Limits) -> tuple[str, str]:
    errors: dict[str, str] = {}
    cleaned = []
    for check, value in ((clean_title, title), (clean_body, body)):
        try:
            cleaned.append(check(value, limits))
        except InputError as error:
            errors.update(error.fields)
    if errors:
        raise InputError(errors)
    return cleaned[0], cleaned[1]


TOP_K_RULE = f"a whole number of tags from 1 to {MAX_TOP_K}"
THRESHOLD_RULE = "a number from 0 to 1, or empty (null in the API) for each tag's tuned threshold"


def clean_top_k(value: object) -> int:
    """The form and the API share these checks and words (the form parses its text first)."""
    if value is None:
        return DEFAULT_TOP_K
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError({"top_k": f"Tags at most (top_k) must be {TOP_K_RULE}."})
    if not 1 <= value <= MAX_TOP_K:
        raise InputError({"top_k": f"Tags at most (top_k) must be between 1 and {MAX_TOP_K} (got {value})."})
    return value


def clean_threshold(value: object) -> float | None:
    """None keeps each model's tuned per-tag thresholds; a number overrides them all."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError({"threshold": f"The cut-off (threshold) must be {THRESHOLD_RULE}."})
    if not 0.0 <= value <= 1.0:  # also false for NaN
        raise InputError(
            {"threshold": f"The cut-off (threshold) must be between 0 and 1 (got {value}); empty = tuned ones."}
        )
    return float(value)


def clean_models(value: object, default: str = BOTH) -> tuple[str, ...]:
    """ "both", one model's name, or a list of names -> the model names to run, in order;
    nothing given -> ``default``."""
    names_known = model_names()
    if value is None or value == "":
        value = default
    if value == BOTH:
        return names_known
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not names or not all(isinstance(name, str) for name in names):
        choices = ", ".join(map(repr, (BOTH, *names_known)))
        raise InputError({"models": f"models must be {choices} or a list of model names."})
    unknown = [name for name in names if name not in names_known]
    if unknown:
        raise InputError({"models": f"unknown model {unknown[0]!r}; choose from {', '.join(names_known)}."})
    return tuple(name for name in names_known if name in names)


def canonical_added(tags: list[str]) -> list[str]:
    """Tags a reviewer adds, renamed as Stack Overflow renames synonyms (golang -> go)."""
    from webapp.core.catalogue import site_catalogue

    return list(site_catalogue().canonical_tags(tags))


def parse_tag_list(value: object, field: str) -> list[str]:
    """Tags given as a list or as one string separated by spaces or commas; lowercased,
    de-duplicated, each checked against Stack Overflow's tag alphabet."""
    if value is None:
        return []
    if isinstance(value, str):
        items = value.replace(",", " ").split()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        items = [item.strip() for item in value if item.strip()]
    else:
        raise InputError({field: f"{field} must be a list of tags or one string of tags separated by spaces."})
    tags = list(dict.fromkeys(item.lower() for item in items))
    bad = [tag for tag in tags if not TAG_RE.match(tag)]
    if bad:
        raise InputError({field: f"{bad[0][:40]!r} is not a valid tag: use up to 35 of a-z, 0-9, + # . -"})
    bare = [tag for tag in tags if not names_something(tag)]
    if bare:
        raise InputError({field: f"{bare[0]!r} is not a valid tag: it needs a letter or digit."})
    return tags


def clean_partial_title(value: object, limits: Limits) -> str:
    """A title being typed: any length up to the maximum (the submit enforces the minimum)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputError({"title": "The title must be text."})
    problem = text_problem(value)
    if problem:
        raise InputError({"title": f"The title {problem}."})
    title = " ".join(value.split())
    if len(title) > limits.title_max:
        raise InputError(
            {"title": f"The title can have at most {limits.title_max:,} characters (this one has {len(title):,})."}
        )
    return title
