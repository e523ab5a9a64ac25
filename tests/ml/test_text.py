import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from ml.text import TOKEN_PATTERN, clean_body, clean_title, question_text

# The words the baseline sees: its own vectorizer's analyzer with the project's token rule.
tokenize = TfidfVectorizer(token_pattern=TOKEN_PATTERN).build_analyzer()

TAG_LIKE = ["c#", "c++", ".net", "node.js", "asp.net-mvc", "objective-c", "python-3.x", "f#", "vb.net"]


@pytest.mark.parametrize("tag", TAG_LIKE)
def test_tag_like_tokens_survive_in_a_sentence(tag):
    sentence = f"How do I use {tag.upper()}, really? ({tag}) {tag}."
    assert tokenize(sentence).count(tag) == 3


def test_sentence_punctuation_is_not_glued_to_words():
    assert tokenize("Is this python. Or java-") == ["is", "this", "python", "or", "java"]


def test_html_body_splits_prose_and_code_and_unescapes_entities():
    body = (
        "<p>I use <code>std::vector&lt;int&gt;</code> in C&#43;&#43; &amp; it fails:</p>\n"
        "<pre><code>int main() {\n  return a &lt; b;\n}</code></pre>\n<p>Why?</p>"
    )
    cleaned = clean_body(body)
    assert cleaned.text == "I use std::vector<int> in C++ & it fails:\nWhy?"
    assert cleaned.code == "int main() {\nreturn a < b;\n}"


def test_markdown_body_fenced_and_indented_code_are_code():
    body = "Text about pandas\n\n```python\nimport pandas as pd\n```\n\n    df.head()\nmore text"
    cleaned = clean_body(body)
    assert "import pandas as pd" in cleaned.code and "df.head()" in cleaned.code
    assert "import" not in cleaned.text and cleaned.text.startswith("Text about pandas")


def test_code_follows_the_prose():
    body = "<pre>SELECT 1</pre><p>Prose here</p>"
    assert question_text("T", body) == "T\nProse here\nSELECT 1"


def test_separate_code_has_its_own_budget():
    body = "<p>" + "word " * 50 + "</p><pre>" + "x" * 5000 + "</pre>"
    text = question_text("Title", body, body_chars=100, code_chars=30)
    title, prose, code = text.split("\n")
    assert title == "Title" and len(prose) == 100 and code == "x" * 30


def test_title_entities_and_whitespace():
    assert clean_title("  C&#35; &amp;   .NET <b>bold</b>\n") == "C# & .NET bold"
    assert question_text("Only a title") == "Only a title"
    assert clean_body("   ").text == ""


def test_crlf_line_ends_read_as_lf():
    # Browsers send a textarea's line ends as CRLF: the code fence must still close, and the
    # question must read exactly as it does with LF (the form and the API give the same tags).
    body = "I get an error with my handler\n\n```python\nimport htmx\nprint(1)\n```\n\nWhat is wrong?"
    crlf = body.replace("\n", "\r\n")
    assert clean_body(crlf) == clean_body(body)
    assert "import htmx" in clean_body(crlf).code
    assert question_text("A title", crlf) == question_text("A title", body)
    assert question_text("A title", body.replace("\n", "\r")) == question_text("A title", body)
