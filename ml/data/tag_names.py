"""What a tag name may be: Stack Overflow's alphabet and length, and how a typed name is written."""

from __future__ import annotations

import re

# Stack Overflow's own limits on a tag name.
MAX_TAG_LENGTH = 35
TAG_NAME = re.compile(r"^[a-z0-9+#.][a-z0-9+#.\-]*$")
_SPACES = re.compile(r"[\s_]+")


def normalise_tag(text: str) -> str:
    """A tag as Stack Overflow stores it: lower case, runs of spaces as one hyphen."""
    return _SPACES.sub("-", text.strip().lower()).strip("-")


def names_something(tag: str) -> bool:
    """Whether a tag has a letter or digit: "...", "+++" fit the alphabet and name nothing."""
    return any(c.isalnum() for c in tag)


def tag_problem(tag: str) -> str | None:
    """Why a (normalised) name cannot be a tag, or None when it can."""
    if not tag:
        return "is empty"
    if len(tag) > MAX_TAG_LENGTH:
        return f"is longer than {MAX_TAG_LENGTH} characters"
    if not TAG_NAME.match(tag):
        return "may only use a-z, 0-9 and + # . -"
    if not names_something(tag):
        return "needs a letter or digit"
    return None
