import csv
import shutil
import tracemalloc
from pathlib import Path

import pytest

from ml.data.readers import (
    FORMATS,
    parse_tags,
    read_corpus_csv,
    read_posts_xml,
    read_questions,
    read_stacksample,
)
from ml.data.records import DataFormatError, Question, ReadReport

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def read_generic(path, report=None):
    """CSV or JSON lines by the file's name, as ``--format auto`` reads them."""
    return read_questions(path, fmt="auto", report=report)


def read_all(reader, path):
    report = ReadReport(str(path))
    questions = list(reader(path, report=report))
    assert report.rows_seen == report.rows_kept + report.rows_skipped
    assert report.rows_kept == len(questions)
    return questions, report


# --- parse_tags ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "python pandas",
        "  python   pandas ",
        "<python><pandas>",
        "|python|pandas|",
        '["python", "pandas"]',
        "['python', 'pandas']",
        ["python", "pandas"],
        ("Python", " PANDAS "),
        "python pandas python",
        "python,pandas",
    ],
)
def test_parse_tags_reads_every_encoding(value):
    assert parse_tags(value) == ("python", "pandas")


def test_parse_tags_keeps_punctuated_tags_intact():
    tags = "c# c++ .net node.js asp.net-mvc objective-c python-3.x"
    assert parse_tags(tags) == tuple(tags.split())
    assert parse_tags("<c#><c++><.net>") == ("c#", "c++", ".net")
    assert parse_tags("|asp.net-mvc|node.js|") == ("asp.net-mvc", "node.js")


@pytest.mark.parametrize("value", [None, "", "   ", "<>", "||", "[]", []])
def test_parse_tags_of_nothing_is_empty(value):
    assert parse_tags(value) == ()


# --- corpus and generic CSV ------------------------------------------------------------------


def test_corpus_csv():
    questions, report = read_all(read_corpus_csv, FIXTURES / "corpus_small.csv")
    assert (report.rows_seen, report.rows_kept, report.rows_skipped) == (8, 8, 0)
    assert questions[0] == Question("How to sort a dictionary by value?", ("python",))
    assert questions[2].title == 'Why does "Hello, world" print twice in my C++ program?'
    assert [q.tags for q in questions[4:]] == [
        ("asp.net-mvc", "c#", ".net"),
        ("node.js", "javascript"),
        ("python-3.x", "python"),
        ("objective-c", "ios"),
    ]
    assert all(q.body == "" for q in questions)


def test_generic_csv_keeps_good_rows_and_counts_bad_ones():
    questions, report = read_all(read_generic, FIXTURES / "generic.csv")
    assert questions == [
        Question(
            "How do I merge two dicts in Python?",
            ("python", "dictionary"),
            "<p>I have two dicts:</p>\n<pre><code>a = {1: 2}\nb = {3: 4}\n</code></pre>",
        ),
        Question("Group a DataFrame by two columns", ("python", "pandas"), ""),
        Question("Center a div horizontally", ("html", "css"), "<p>CSS</p>"),
        Question("Deserialize JSON in C#", ("c#", "json.net"), "<p>Using Json.NET</p>"),
    ]
    assert report.rows_seen == 7  # the blank line is not a row
    assert report.skipped == {"missing_title": 1, "empty_tags": 1, "malformed_row": 1}
    assert report.examples == [
        "line 6: missing_title",
        "line 7: empty_tags",
        "line 8: malformed_row (6 fields, header has 5)",
    ]


def test_csv_with_undecodable_bytes_skips_only_that_row():
    questions, report = read_all(read_generic, FIXTURES / "bad_encoding.csv")
    assert [q.title for q in questions] == ["A good row", "Un café correct"]
    assert report.skipped == {"bad_encoding": 1}
    assert report.examples == ["line 3: bad_encoding"]


def test_csv_field_over_the_size_limit_is_a_malformed_row(tmp_path):
    path = tmp_path / "big_field.csv"
    path.write_text(f"title,tags\nshort,python\n{'x' * 500},java\nlast,c\n", encoding="utf-8")
    limit = csv.field_size_limit(100)
    try:
        questions, report = read_all(read_generic, path)
    finally:
        csv.field_size_limit(limit)
    assert [q.title for q in questions] == ["short", "last"]
    assert report.skipped == {"malformed_row": 1}


def test_csv_header_is_matched_case_insensitively_and_bom_is_ignored(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("\ufeffTitle,Body,Tags\nHello,<p>b</p>,C#\n", encoding="utf-8")
    questions, _ = read_all(read_generic, path)
    assert questions == [Question("Hello", ("c#",), "<p>b</p>")]


# --- JSON lines ------------------------------------------------------------------------------


def test_jsonl_keeps_good_lines_and_counts_bad_ones():
    questions, report = read_all(read_generic, FIXTURES / "generic.jsonl")
    assert questions == [
        Question(
            "How do I merge two dicts in Python?",
            ("python", "dictionary"),
            "<p>Use <code>{**a, **b}</code></p>",
        ),
        Question("Select rows by column value", ("python", "pandas")),
        Question("A vector of vectors in C++", ("c++", "vector")),
        Question("Serve static files with Express", ("node.js", "express")),
    ]
    assert report.rows_seen == 8
    assert report.skipped == {"malformed_json": 2, "missing_title": 1, "empty_tags": 1}
    assert report.examples[0].startswith("line 4: malformed_json")
    assert report.examples[-1] == "line 9: malformed_json (not a JSON object)"


def test_jsonl_with_undecodable_bytes(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'{"title": "ok", "tags": "a"}\n{"title": "bad \xff", "tags": "b"}\n')
    questions, report = read_all(read_generic, path)
    assert [q.title for q in questions] == ["ok"]
    assert report.skipped == {"bad_encoding": 1}


def test_json_array_file_is_refused_with_a_hint(tmp_path):
    path = tmp_path / "questions.json"
    path.write_text('[{"title": "a", "tags": ["b"]}]\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match="JSON array"):
        list(read_generic(path))


# --- StackSample -----------------------------------------------------------------------------

STACKSAMPLE_EXPECTED = [
    Question(
        "Run several SQL statements in one call",
        ("sql", "database"),
        '<p>I wrote a <a href="http://example.com/sql">SQL</a> script that creates tables.</p>'
        "\n\n<pre><code>CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\n</code></pre>",
    ),
    Question(
        "Good tutorials on branching in Subversion?",
        ("svn", "tortoisesvn", "branch"),
        "<p>Are there any good tutorials?</p>",
    ),
    Question(
        "SQL-based site map provider for ASP.NET",
        ("sql", "asp.net"),
        "<p>Has anyone written one?</p>",
    ),
    Question(
        "Sort strings with accents like été and café correctly",
        ("sorting", "unicode"),
        "<p>Which collation puts <code>été</code> first?</p>",
    ),
    Question("Nested classes or separate files?", ("c++", "oop"), "<p>In C++, should I nest them?</p>"),
]


@pytest.mark.parametrize("path", [FIXTURES / "stacksample", FIXTURES / "stacksample" / "Questions.csv"])
def test_stacksample_merge_join(path):
    questions, report = read_all(read_stacksample, path)
    assert questions == STACKSAMPLE_EXPECTED
    assert report.rows_seen == 6
    # Id 260 has no tag rows; the tags of Id 999 have no question.
    assert report.skipped == {"empty_tags": 1}
    assert report.examples == ["line 12: empty_tags"]


def test_stacksample_with_unsorted_tags_falls_back_to_the_same_result():
    questions, report = read_all(read_stacksample, FIXTURES / "stacksample_unsorted")
    assert questions == STACKSAMPLE_EXPECTED
    assert report.skipped == {"empty_tags": 1}
    assert report.examples[0].startswith("Tags.csv is not sorted by Id")


def test_stacksample_with_unsorted_questions_falls_back_midway_to_the_same_result(tmp_path):
    raw = (FIXTURES / "stacksample" / "Questions.csv").read_bytes().decode("latin-1")
    header, *records = list(csv.reader(raw.splitlines(keepends=True)))
    by_id = {int(record[0]): record for record in records}
    order = [80, 90, 180, 120, 330, 260]  # goes back at 120
    with open(tmp_path / "Questions.csv", "w", encoding="latin-1", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows([header, *(by_id[i] for i in order)])
    shutil.copy(FIXTURES / "stacksample" / "Tags.csv", tmp_path / "Tags.csv")

    questions, report = read_all(read_stacksample, tmp_path)
    expected = {q.title: q for q in STACKSAMPLE_EXPECTED}
    assert questions == [expected[q.title] for q in questions]
    assert len(questions) == len(STACKSAMPLE_EXPECTED)
    assert report.skipped == {"empty_tags": 1}
    assert any(note.startswith("Questions.csv is not sorted by Id") for note in report.examples)


def test_stacksample_question_with_a_bad_id_is_a_malformed_row(tmp_path):
    (tmp_path / "Questions.csv").write_text("Id,Title,Body\nabc,A,<p></p>\n5,Kept,b\n", "latin-1")
    (tmp_path / "Tags.csv").write_text("Id,Tag\n5,python\nxyz,ignored\n", "latin-1")
    questions, report = read_all(read_stacksample, tmp_path)
    assert questions == [Question("Kept", ("python",), "b")]
    assert report.skipped == {"malformed_row": 1}


def test_stacksample_without_tags_file(tmp_path):
    shutil.copy(FIXTURES / "stacksample" / "Questions.csv", tmp_path / "Questions.csv")
    with pytest.raises(DataFormatError, match="Tags.csv"):
        list(read_stacksample(tmp_path))


# --- Posts.xml -------------------------------------------------------------------------------


def test_posts_xml_keeps_questions_and_survives_a_broken_row():
    questions, report = read_all(read_posts_xml, FIXTURES / "Posts.xml")
    assert questions == [
        Question(
            "How do I read an XML file in Python?",
            ("python", "xml"),
            '<p>My file looks like:</p>\n<pre><code>&lt;a x="1"/&gt;\n</code></pre>',
        ),
        Question(
            "C++ vs C# for a game engine",
            ("c++", "c#", ".net"),
            "<p>Both compile &amp; run fast.</p>",
        ),
        Question("Routing in asp.net-mvc with node.js behind it", ("asp.net-mvc", "node.js"), ""),
        Question("Objective-C blocks, café edition", ("objective-c", "python-3.x"), "<p>Blocks?</p>"),
    ]
    assert report.rows_seen == 9
    assert report.skipped == {
        "not_a_question": 2,
        "malformed_xml": 1,
        "missing_title": 1,
        "empty_tags": 1,
    }
    assert report.examples == [
        "line 5: malformed_xml (not well-formed (invalid token))",
        "line 8: missing_title",
        "line 9: empty_tags",
    ]


def test_posts_xml_line_with_undecodable_bytes(tmp_path):
    path = tmp_path / "Posts.xml"
    path.write_bytes(
        b"<posts>\n"
        b'<row Id="1" PostTypeId="1" Title="bad \xff byte" Tags="&lt;a&gt;" />\n'
        b'<row Id="2" PostTypeId="1" Title="fine" Tags="&lt;b&gt;" />\n'
        b"</posts>\n"
    )
    questions, report = read_all(read_posts_xml, path)
    assert questions == [Question("fine", ("b",))]
    assert report.skipped == {"bad_encoding": 1}


@pytest.mark.parametrize(
    "content",
    [
        "this is not xml\nat all\n",
        "<posts>\n</posts>\n",
        '<users>\n<row Id="1" DisplayName="someone" />\n</users>\n',
    ],
)
def test_xml_without_post_rows_is_refused(tmp_path, content):
    path = tmp_path / "Posts.xml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match="no Stack Exchange post rows"):
        list(read_posts_xml(path))


# --- dispatcher and whole-file errors --------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (FIXTURES / "corpus_small.csv", "csv"),
        (FIXTURES / "generic.csv", "csv"),
        (FIXTURES / "generic.jsonl", "jsonl"),
        (FIXTURES / "stacksample", "stacksample"),
        (FIXTURES / "stacksample" / "Questions.csv", "stacksample"),
        (FIXTURES / "Posts.xml", "posts-xml"),
    ],
)
def test_auto_detection_picks_the_right_reader(path, fmt):
    assert list(read_questions(path)) == list(read_questions(path, fmt))
    assert list(read_questions(path))


def test_auto_detection_reads_json_extension_as_json_lines(tmp_path):
    path = tmp_path / "questions.json"
    shutil.copy(FIXTURES / "generic.jsonl", path)
    assert list(read_questions(path)) == list(read_questions(FIXTURES / "generic.jsonl", "jsonl"))


def test_corpus_format_name():
    path = FIXTURES / "corpus_small.csv"
    assert list(read_questions(path, "corpus")) == list(read_corpus_csv(path))


def test_unknown_format_lists_the_choices():
    choices = "choose one of: auto, corpus, csv, jsonl, stacksample, posts-xml"
    with pytest.raises(ValueError, match=choices):
        read_questions(FIXTURES / "generic.csv", "parquet")
    assert FORMATS == ("auto", "corpus", "csv", "jsonl", "stacksample", "posts-xml")


def test_auto_detection_refuses_an_unknown_extension():
    with pytest.raises(DataFormatError, match="cannot tell the format"):
        read_questions("questions.parquet")


@pytest.mark.parametrize("fmt", ["corpus", "csv", "jsonl", "posts-xml", "stacksample"])
def test_missing_file(tmp_path, fmt):
    with pytest.raises(DataFormatError, match="file not found"):
        list(read_questions(tmp_path / "nothing.here", fmt))


def test_csv_header_without_tags_names_the_columns_found(tmp_path):
    path = tmp_path / "no_tags.csv"
    path.write_text("id,title,body\n1,a,b\n", encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"lacks tags \(found: id, title, body\)"):
        list(read_questions(path))


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(DataFormatError, match="empty file"):
        list(read_questions(path))


# --- streaming -------------------------------------------------------------------------------


def write_big_files(folder, count):
    """The same ``count`` questions as CSV, JSON lines, Posts.xml and StackSample."""
    rows = range(1, count + 1)
    (folder / "big.csv").write_text("title,tags\n" + "".join(f"question {i},tag{i % 7} tag{i % 11}\n" for i in rows))
    (folder / "big.jsonl").write_text("".join(f'{{"title": "question {i}", "tags": ["tag{i % 7}"]}}\n' for i in rows))
    xml_rows = (f'<row Id="{i}" PostTypeId="1" Title="question {i}" Tags="|tag{i % 7}|"/>\n' for i in rows)
    (folder / "big.xml").write_text("<posts>\n" + "".join(xml_rows) + "</posts>\n")
    stacksample = folder / "stacksample"
    stacksample.mkdir()
    (stacksample / "Questions.csv").write_text(
        "Id,Title,Body\n" + "".join(f'{i},question {i},"<p>body\nof {i}</p>"\n' for i in rows)
    )
    (stacksample / "Tags.csv").write_text("Id,Tag\n" + "".join(f"{i},tag{i % 7}\n{i},tag{i % 11 + 7}\n" for i in rows))
    return [folder / "big.csv", folder / "big.jsonl", folder / "big.xml", stacksample]


def test_readers_are_lazy(tmp_path):
    for path in write_big_files(tmp_path, 50_000):
        report = ReadReport(str(path))
        questions = read_questions(path, report=report)
        assert iter(questions) is questions
        assert report.rows_seen == 0  # nothing read before the first question is asked for
        assert next(questions).title == "question 1"
        assert report.rows_seen == 1, path


def test_readers_stream_in_constant_memory(tmp_path):
    count = 10_000
    # Kept alive so that sys.intern finds every tag: otherwise tags dying and coming back make
    # the interpreter rebuild its intern table, a one-off allocation the size of that table.
    vocabulary = parse_tags(f"tag{i}" for i in range(18))
    for path in write_big_files(tmp_path, count):
        tracemalloc.start()
        try:
            assert sum(1 for _ in read_questions(path)) == count
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        # Holding the questions, or StackSample's tags in a dict, would take 1 MB or more.
        assert peak < 600_000, (path, peak)
    assert len(vocabulary) == 18
