"""Searching and paging the history at scale: full-text search with one rule on both back-ends
(SQLite FTS5, PostgreSQL tsvector), keyset paging, capped totals and the streamed export."""

import re

import pytest
from sqlalchemy import text

from tests.helpers.support import Databases, api_suggest, make_app, reviewer_client
from tests.webapp.test_migrations import load_schema_0002
from webapp.core.extensions import db
from webapp.history import queries
from webapp.history.search import words

QUESTIONS = [
    ("Über alles: Straße und Größe", ""),  # 1
    ("uber driver app crashes", ""),  # 2
    ("node.js express routing", ""),  # 3
    ("snake_case or camelCase in python-3.x", ""),  # 4
    ("C# LINQ: 100% done", ""),  # 5
    ("How to read a file", "<p>With <code>pandas.DataFrame</code> in Python</p>"),  # 6
    ("Привет МИР из Python", ""),  # 7
    ("python2 vs python3 division", ""),  # 8
]
SEARCHES = {
    "über": [1],
    "ÜBER": [1],  # case folds beyond ASCII
    "straße größe": [1],
    "uber": [2],  # accents count: "uber" is not "Über"
    "pyth": [8, 7, 6, 4],  # every word is a prefix
    "python": [8, 7, 6, 4],
    "python3": [8],
    "PYTHON-3": [4],  # the words python and 3
    "js node": [3],  # any order
    "node.js": [3],
    "node express": [3],
    "node django": [],  # every word must be there
    "ode": [],  # a prefix, not any part of a word
    "case": [4],  # snake_case is two words
    "snake_case": [4],
    "dataframe": [6],  # the body counts, HTML and all
    "c": [5],  # a word shorter than 3 characters is a whole word, not a prefix
    "c#": [5],  # # separates words like any punctuation
    "cam": [4],  # 3 characters and more: a prefix (camelCase)
    "3": [4],  # python-3.x, not python3
    "100%": [5],
    "%": [],  # no letter or digit: nothing
    "мир": [7],
    "ПРИВЕТ": [7],
}


def stored_ids(client, query: str, **extra) -> list[int]:
    listing = client.get("/api/v1/predictions", query_string={"q": query, "per_page": 100, **extra}).get_json()
    return [item["id"] for item in listing["items"]]


def fill(client) -> None:
    for title, body in QUESTIONS:
        assert api_suggest(client, {"title": title, "body": body, "models": ["baseline"]}).status_code == 201


def test_query_words():
    assert words("  Über  node.js, c#  snake_case Über ") == ["über", "node", "js", "c", "snake", "case"]
    assert words("100% !!") == ["100"] and words("%_#") == []
    assert len(words(" ".join(f"w{number}" for number in range(30)))) == 10


def test_the_same_searches_find_the_same_questions_on_both_back_ends(request, trained_models, tmp_path):
    found = {}
    for backend in ("sqlite", "postgresql"):
        databases = Databases(request, backend, tmp_path)
        try:
            client = make_app(trained_models / "models", databases()).test_client()
            fill(client)
            found[backend] = {query: stored_ids(client, query) for query in SEARCHES}
        finally:
            databases.close()
    assert found["sqlite"] == found["postgresql"] == SEARCHES


@pytest.mark.parametrize("count_limit", [10_000, 2])
def test_search_combines_with_the_other_filters_and_pages(client_both, reviewer_both, monkeypatch, count_limit):
    # Few matches (all counted) and many (past the count) take different ways on PostgreSQL.
    monkeypatch.setattr(queries, "COUNT_LIMIT", count_limit)
    fill(client_both)
    api_suggest(client_both, {"title": "python pandas merge", "models": ["transformer"]})  # 9
    reviewer_both.post("/api/v1/predictions/6/feedback", json={"accepted": [], "added": ["pandas"]})
    assert stored_ids(client_both, "python", model="transformer") == [9]
    assert stored_ids(client_both, "python", model="baseline") == [8, 7, 6, 4]
    assert stored_ids(client_both, "python", reviewed="yes") == [6]
    assert stored_ids(client_both, "python", tag="pandas") == [6]
    first = client_both.get("/api/v1/predictions?q=python&per_page=2").get_json()
    assert [item["id"] for item in first["items"]] == [9, 8] and first["total"] == min(5, count_limit)
    second = client_both.get(first["next"]).get_json()
    assert [item["id"] for item in second["items"]] == [7, 6] and "q=python" in first["next"]
    page = client_both.get("/history/?q=%C3%BCber").get_data(as_text=True)
    assert re.findall(r"<span>#(\d+)</span>", page) == ["1"] and 'value="über"' in page


def test_changed_and_deleted_questions_leave_the_index(app):
    client = app.test_client()
    fill(client)
    with app.app_context():
        db.session.execute(text("UPDATE predictions SET title = 'kotlin coroutines' WHERE id = 3"))
        db.session.execute(text("DELETE FROM predictions WHERE id = 8"))
        db.session.commit()
    assert stored_ids(client, "node") == []
    assert stored_ids(client, "kotlin") == [3]
    assert stored_ids(client, "python") == [7, 6, 4]
    with app.app_context():  # a review changes no text: the index is not touched
        db.session.execute(text("UPDATE predictions SET reviewed_at = created_at WHERE id = 4"))
        db.session.commit()
    assert stored_ids(client, "snake") == [4]


def test_the_migration_indexes_the_questions_already_stored(trained_models, backend, new_database):
    import flask_migrate

    url = new_database(empty=True)
    load_schema_0002(backend, url)
    app = make_app(trained_models / "models", url)
    client = app.test_client()
    assert stored_ids(client, "dicts") == [1] and stored_ids(client, "HASHMAP java") == [2]
    with app.app_context():
        flask_migrate.downgrade(revision="0004_heartbeats")
        flask_migrate.upgrade()
    assert stored_ids(client, "merge") == [1]
    api_suggest(client, {"title": "merge two pandas frames"})
    assert stored_ids(client, "merge") == [3, 1]


# -- paging ---------------------------------------------------------------------------


@pytest.mark.parametrize("search", ["", "django"])
@pytest.mark.parametrize("count_limit", [10_000, 2])
def test_keyset_links_walk_the_whole_history_both_ways(app, monkeypatch, search, count_limit):
    monkeypatch.setattr(queries, "COUNT_LIMIT", count_limit)
    client = app.test_client()
    for number in range(7):
        api_suggest(client, {"title": f"question {number} about python django"})
    listing = client.get(f"/api/v1/predictions?per_page=3&q={search}").get_json()
    assert listing["page"] == 1 and listing["prev"] is None and "before=5" in listing["next"]
    seen = [item["id"] for item in listing["items"]]
    while listing["next"]:
        listing = client.get(listing["next"]).get_json()
        assert listing["page"] is None  # reached by a cursor
        seen += [item["id"] for item in listing["items"]]
    assert seen == [7, 6, 5, 4, 3, 2, 1] and listing["prev"]
    back = []
    while listing["prev"]:
        listing = client.get(listing["prev"]).get_json()
        back += [item["id"] for item in listing["items"]]
    assert back == [4, 3, 2, 7, 6, 5]  # each page newest first, pages walked back to the newest
    oldest = client.get(f"/api/v1/predictions?per_page=3&after=0&q={search}").get_json()
    assert [item["id"] for item in oldest["items"]] == [3, 2, 1] and oldest["next"] is None
    newest = client.get(f"/api/v1/predictions?per_page=3&after=5&q={search}").get_json()
    assert [item["id"] for item in newest["items"]] == [7, 6] and newest["prev"] is None
    assert client.get(f"/api/v1/predictions?before=1&q={search}").get_json()["items"] == []
    deep = client.get(f"/api/v1/predictions?per_page=3&page=2&q={search}").get_json()
    assert [item["id"] for item in deep["items"]] == [4, 3, 2] and "after=4" in deep["prev"]


@pytest.mark.parametrize(
    "query, field",
    [("before=x", "before"), ("after=-1", "after"), (f"before={2**63}", "before"), ("after=1.5", "after")],
)
def test_bad_cursors_are_422(client, query, field):
    response = client.get(f"/api/v1/predictions?{query}")
    assert response.status_code == 422 and field in response.get_json()["fields"]


@pytest.mark.parametrize("query", ["before=3&after=1", "page=2&before=3"])
def test_one_way_of_paging_at_a_time(client, query):
    assert client.get(f"/api/v1/predictions?{query}").status_code == 422


def test_the_history_page_pages_by_keyset(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), PAGE_SIZE=3)
    client = app.test_client()
    for number in range(7):
        api_suggest(client, {"title": f"question {number} about python django"})

    def ids(url):
        page = client.get(url).get_data(as_text=True)
        return [int(number) for number in re.findall(r"<span>#(\d+)</span>", page)], page

    first, page = ids("/history/?q=django")
    assert first == [7, 6, 5] and "Page 1 of 3" in page
    older = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert "before=5" in older and "q=django" in older
    second, page = ids(older)
    assert second == [4, 3, 2] and "#4 to #2" in page
    newer = re.search(r'rel="prev" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert ids(newer)[0] == [7, 6, 5]
    assert ids("/history/?after=0")[0] == [3, 2, 1]
    assert ids("/history/?before=junk")[0] == [7, 6, 5]  # lenient, like the filters
    assert "This page is past the end" in ids("/history/?before=1")[1]


def test_totals_are_counted_up_to_a_cap(app, monkeypatch):
    client = reviewer_client(app)
    for number in range(5):
        api_suggest(client, {"title": f"question {number} about python django"})
    client.post("/api/v1/predictions/1/feedback", json={"accepted": [], "added": ["python"]})
    monkeypatch.setattr(queries, "COUNT_LIMIT", 3)
    listing = client.get("/api/v1/predictions?per_page=2").get_json()
    assert (listing["total"], listing["total_exact"], listing["pages"]) == (3, False, None)
    assert listing["next"]
    page = client.get("/history/").get_data(as_text=True)
    assert "More than 3 questions" in page and "Export 1 reviewed question:" in page
    monkeypatch.setattr(queries, "COUNT_LIMIT", 5)
    listing = client.get("/api/v1/predictions?per_page=2").get_json()
    assert (listing["total"], listing["total_exact"], listing["pages"]) == (5, True, 3)

    # Searches too. PostgreSQL counts several words as whole words first: past the cap there
    # ("question django") it skips the prefix count, which "question djan" still needs.
    for search in ("django", "djan", "question+django", "question+djan", "abou+djan"):
        listing = client.get(f"/api/v1/predictions?per_page=2&q={search}").get_json()
        assert (listing["total"], listing["total_exact"], len(listing["items"])) == (5, True, 2)
        monkeypatch.setattr(queries, "COUNT_LIMIT", 3)
        listing = client.get(f"/api/v1/predictions?per_page=2&q={search}").get_json()
        assert (listing["total"], listing["total_exact"], [item["id"] for item in listing["items"]]) == (
            3,
            False,
            [5, 4],
        )
        monkeypatch.setattr(queries, "COUNT_LIMIT", 5)


def test_the_export_streams_in_chunks(app, monkeypatch):
    client = reviewer_client(app)
    for number in range(7):
        api_suggest(client, {"title": f"question {number} about python django"})
    for prediction_id in (2, 3, 5, 6, 7):
        client.post(
            f"/api/v1/predictions/{prediction_id}/feedback", json={"accepted": [], "added": [f"t{prediction_id}"]}
        )
    client.post("/api/v1/predictions/4/feedback", json={"accepted": []})  # reviewed, no right tag
    monkeypatch.setattr(queries, "EXPORT_CHUNK", 2)
    statements = []
    with app.app_context():
        from sqlalchemy import event

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        event.listen(db.engine, "before_cursor_execute", count)
        response = client.get("/history/export.csv")
        assert response.is_streamed
        lines = response.get_data(as_text=True).splitlines()
        event.remove(db.engine, "before_cursor_execute", count)
    assert [line.split(",")[0] for line in lines] == ["id", "2", "3", "5", "6", "7"]
    assert lines[1].endswith(",t2")
    reads = [statement for statement in statements if "FROM predictions" in statement]
    assert len(reads) == 4  # three chunks of at most two reviewed ids, then an empty one
    jsonl = client.get("/history/export.jsonl").get_data(as_text=True).splitlines()
    assert [line.split(",")[0] for line in jsonl] == [f'{{"id": {number}' for number in (2, 3, 5, 6, 7)]
