"""Turning a question (title, optional HTML/markdown body) into the text a model reads.

Tags live in surface forms that generic tokenizers destroy (``c#``, ``c++``, ``.net``,
``node.js``, ``asp.net-mvc``, ``python-3.x``), so cleaning here only removes markup and
collapses whitespace; it never strips punctuation. ``TOKEN_PATTERN`` is the matching
tokenizer for TF-IDF.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# A token may start with a dot (.net), may contain . + # - inside (node.js, asp.net-mvc,
# python-3.x) and may end with + or # (c++, c#), but never ends with . or - so that
# sentence punctuation ("in python.") is not glued to the word.
TOKEN_PATTERN = r"(?u)\.?\w(?:[\w+#.\-]*[\w+#])?"


_CODE_BLOCK_RE = re.compile(r"<pre\b[^>]*>(.*?)</pre\s*>", re.IGNORECASE | re.DOTALL)
_FENCED_RE = re.compile(r"^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INDENTED_RE = re.compile(r"(?:^(?:    |\t)[^\n]*\n?)+", re.MULTILINE)
_BLOCK_TAG_RE = re.compile(r"</?(?:p|div|br|li|ul|ol|h[1-6]|blockquote|hr|table|tr|td|th)\b[^>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^<>]+>")
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_BLANKS_RE = re.compile(r"\n\s*\n+")
_HTML_HINT_RE = re.compile(r"<(?:p|pre|code|div|br|a|strong|em|ul|ol|li|h[1-6]|blockquote)\b", re.I)
_LINE_END_RE = re.compile(r"\r\n?")

# Default character budgets: titles are ~50 characters, bodies can be tens of thousands.
BODY_CHARS = 2000
CODE_CHARS = 500


@dataclass(frozen=True)
class CleanBody:
    """A body split into prose and code, both as plain text."""

    text: str
    code: str


def normalize_line_ends(text: str) -> str:
    """CRLF and lone CR as LF: browsers send a textarea's lines with CRLF, the API usually
    with LF, and the patterns here end lines at LF alone (a fence followed by CR never closed)."""
    return _LINE_END_RE.sub("\n", text)


def normalize_space(text: str) -> str:
    text = _WS_RE.sub(" ", text)
    text = _BLANKS_RE.sub("\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


def strip_html(fragment: str) -> str:
    """Markup to plain text: block tags become line breaks, entities are unescaped once."""
    fragment = _BLOCK_TAG_RE.sub("\n", fragment)
    fragment = _TAG_RE.sub("", fragment)
    return html.unescape(fragment)


def clean_body(body: str) -> CleanBody:
    """Split a Stack Overflow body (HTML, or markdown as users paste it) into prose and code.

    HTML ``<pre>`` blocks, fenced markdown blocks and 4-space indented blocks count as
    code; inline ``<code>`` stays in the prose because it usually names the technology.
    """
    if not body or not body.strip():
        return CleanBody("", "")
    body = normalize_line_ends(body)
    code_parts: list[str] = []

    def take(match: re.Match, group: int) -> str:
        code_parts.append(match.group(group))
        return "\n"

    if _HTML_HINT_RE.search(body):
        prose = _CODE_BLOCK_RE.sub(lambda m: take(m, 1), body)
        code = [strip_html(part) for part in code_parts]
        prose = strip_html(prose)
    else:
        prose = _FENCED_RE.sub(lambda m: take(m, 2), body)
        prose = _INDENTED_RE.sub(lambda m: take(m, 0), prose)
        code = [html.unescape(part) for part in code_parts]
        prose = html.unescape(prose)
    return CleanBody(normalize_space(prose), normalize_space("\n".join(code)))


def clean_title(title: str) -> str:
    # Titles from dumps are entity-escaped ("C&#35; &amp; .NET") and sometimes carry tags.
    return normalize_space(strip_html(normalize_line_ends(title))).replace("\n", " ")


def question_text(title: str, body: str = "", body_chars: int = BODY_CHARS, code_chars: int = CODE_CHARS) -> str:
    """The single string every model reads: title first, then prose, then code.

    Code comes after the prose with its own budget, so a long stack trace cannot crowd out
    the prose. Truncation keeps the start of each part, where the question is stated.
    """
    parts = [clean_title(title)]
    if body:
        cleaned = clean_body(body)
        parts.append(cleaned.text[:body_chars])
        parts.append(cleaned.code[:code_chars])
    return "\n".join(part for part in parts if part)


def split_question(text: str) -> tuple[str, str]:
    """``question_text``'s output back into (title, the rest): the title is its first line."""
    title, _, body = text.partition("\n")
    return title, body
