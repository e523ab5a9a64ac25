"""A newer tag catalogue imported into the site: read from a data dump's Tags.xml or a saved
API /tags response, stored as a version with its report, and used by every worker at once
(autocompletion, canonical names, and suggestions for a brand-new tag a title names)."""

import json

import pytest

from ml.data.tag_files import TagFileError, read_tag_file
from tests.helpers.support import make_app, reviewer_client
from tests.webapp import test_learning
from webapp.core.extensions import db
from webapp.core.tables import CatalogueImport, CatalogueSynonym, CatalogueTag

learning_models = test_learning.learning_models  # a tiny memory, lexical matcher and their ensemble

# As the Stack Exchange API answers /tags: a brand-new tag, a rename (flutter-layout is a tag
# in the bundled catalogue; here it becomes flutter's synonym) and a newer count.
ITEMS = [
    {"name": "zorbletjs", "count": 1234, "has_synonyms": True, "synonyms": ["zorblet-js"]},
    {"name": "flutter", "count": 180000, "synonyms": ["flutter-layout"]},
    {"name": "python", "count": 2300000, "synonyms": []},
]
TAGS_XML = """<?xml version="1.0" encoding="utf-8"?>
<tags>
  <row Id="1" TagName="zorbletjs" Count="1234" ExcerptPostId="9" />
  <row Id="2" TagName="python" Count="2192726" />
</tags>
"""


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_every_format_reads_the_same_records(tmp_path):
    lines = write(tmp_path / "tags.jsonl", "".join(json.dumps(item) + "\n" for item in ITEMS))
    wrapped = write(tmp_path / "tags.json", json.dumps({"items": ITEMS, "has_more": False}))
    listed = write(tmp_path / "list.json", json.dumps(ITEMS))
    records = read_tag_file(lines)
    assert records == read_tag_file(wrapped) == read_tag_file(listed)
    assert records[1].name == "flutter" and records[1].synonyms == ("flutter-layout",)
    xml = read_tag_file(write(tmp_path / "Tags.xml", TAGS_XML))
    assert [(r.name, r.count) for r in xml] == [("zorbletjs", 1234), ("python", 2192726)]


@pytest.mark.parametrize(
    "text, says",
    [
        ("", "is empty"),
        ('{"name": "python", "count": 1}\n{"name": "java", "count":', "line 2"),
        ('[{"name": "bad tag!", "count": 1}]', "item 1: the name 'bad tag!' may only use"),
        ('{"items": [{"name": "python", "count": -3}]}', "count must be a whole number"),
        ('{"items": [{"name": "python", "count": 1, "synonyms": "py"}]}', "synonyms must be a list"),
        ('{"items": []}', "holds no tags"),
        ("<tags><row TagName='python' Count='x'/></tags>", "row 1: count must be"),
        ("<tags><row TagName='python'", "not well-formed XML"),
        (
            '<?xml version="1.0"?><!DOCTYPE t [<!ENTITY a "aaaa">]><tags><row TagName="&a;" Count="1"/></tags>',
            "XML features",
        ),
    ],
)
def test_a_bad_file_is_refused_with_where_and_why(tmp_path, text, says):
    with pytest.raises(TagFileError, match=says.replace("(", r"\(")):
        read_tag_file(write(tmp_path / "bad.txt", text))


def counts(app) -> tuple[int, int, int]:
    with app.app_context():
        return tuple(db.session.query(table).count() for table in (CatalogueImport, CatalogueTag, CatalogueSynonym))


def test_an_import_is_a_version_every_worker_uses_at_once(learning_models, new_database, tmp_path):
    database = new_database()
    first = reviewer_client(make_app(learning_models, database))
    second = make_app(learning_models, database).test_client()  # another worker, already serving
    title = "zorbletjs router drops the query string"

    def ensemble_tags(client, text: str) -> list[str]:
        answer = client.post("/api/v1/suggest", json={"title": text, "models": ["ensemble"]}).get_json()
        return [item["tag"] for item in answer["answers"]["ensemble"]["tags"]]

    assert "zorbletjs" not in ensemble_tags(second, title)
    assert second.get("/api/v1/tags?prefix=zorbletj").get_json()["tags"] == []
    assert second.get("/api/v1/tags/flutter-layout").get_json()["tag"] == "flutter-layout"

    admin = make_app(learning_models, database)  # the flask command's own app
    path = write(tmp_path / "tags.jsonl", "".join(json.dumps(item) + "\n" for item in ITEMS))
    result = admin.test_cli_runner().invoke(args=["tagsmith", "catalogue", "import", str(path)])
    assert result.exit_code == 0, result.output
    assert "catalogue version 1" in result.output and "1 added" in result.output
    assert "2 counts updated" in result.output and "renamed: flutter-layout -> flutter" in result.output
    assert counts(admin) == (1, 3, 2)

    for client in (first, second):  # the next request, on each worker
        found = client.get("/api/v1/tags?prefix=zorbletj").get_json()["tags"]
        assert found[0]["tag"] == "zorbletjs" and found[0]["count"] == 1234
        assert client.get("/api/v1/tags/zorblet-js").get_json()["tag"] == "zorbletjs"
        assert client.get("/api/v1/tags/flutter-layout").get_json()["tag"] == "flutter"
        assert client.get("/api/v1/tags/python").get_json()["count"] == 2300000
        assert "zorbletjs" in ensemble_tags(client, title)
    # A tag a reviewer adds is stored under its newest canonical name.
    created = first.post("/api/v1/suggest", json={"title": "a scene loads slowly", "models": ["ensemble"]})
    question = created.get_json()["id"]
    review = {"accepted": [], "added": ["flutter-layout"]}
    assert first.post(f"/api/v1/predictions/{question}/feedback", json=review).status_code == 200
    assert first.get(f"/api/v1/predictions/{question}").get_json()["review"]["added"] == ["flutter"]


def test_a_bad_file_changes_nothing_and_says_why(learning_models, new_database, tmp_path):
    app = make_app(learning_models, new_database())
    runner = app.test_cli_runner()
    good = write(tmp_path / "tags.jsonl", json.dumps(ITEMS[0]) + "\n")
    assert runner.invoke(args=["tagsmith", "catalogue", "import", str(good)]).exit_code == 0
    before = counts(app)
    bad = write(tmp_path / "bad.jsonl", json.dumps(ITEMS[2]) + "\n" + '{"name": "c++", "count": "many"}\n')
    result = runner.invoke(args=["tagsmith", "catalogue", "import", str(bad)])
    assert result.exit_code == 1 and "line 2: count must be" in result.output
    assert "nothing was imported" in result.output
    assert counts(app) == before
    assert app.test_client().get("/api/v1/tags/python").get_json()["count"] != 2300000  # the bad file's count


def test_suggestions_come_under_the_newest_names_once_a_tag_is_renamed(learning_models, new_database, tmp_path):
    app = make_app(learning_models, new_database())
    client = app.test_client()

    def asked(path: str) -> list[str]:
        body = {"title": "django pip virtualenv", "models": ["ensemble", "lexical"]}
        if path.endswith("preview"):
            body = {"title": body["title"], "model": "ensemble"}
            return [item["tag"] for item in client.post(path, json=body).get_json()["tags"]]
        answers = client.post(path, json=body).get_json()["answers"]
        return [item["tag"] for model in ("ensemble", "lexical") for item in answers[model]["tags"]]

    assert "python" in asked("/api/v1/suggest") and "python" in asked("/api/v1/suggest/preview")
    rename = write(tmp_path / "rename.jsonl", json.dumps({"name": "cpython-lang", "count": 9, "synonyms": ["python"]}))
    assert app.test_cli_runner().invoke(args=["tagsmith", "catalogue", "import", str(rename)]).exit_code == 0
    for path in ("/api/v1/suggest", "/api/v1/suggest/preview"):
        found = asked(path)
        assert "cpython-lang" in found and "python" not in found, (path, found)
