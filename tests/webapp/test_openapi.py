"""The OpenAPI document against the running API: schemathesis sends what the document allows
(and what it forbids) to every route, on each database, and checks each answer: no 500, a
documented status, the documented media type and shape. Then what the document, the root
and the page promise, and CORS."""

import json
import re
from urllib.parse import urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from werkzeug.http import HTTP_STATUS_CODES

from tests.helpers.support import FakeTransformer, api_suggest, make_app


@pytest.fixture
def api_app(trained_models, new_database):
    app = make_app(trained_models / "models", new_database(), transformer=FakeTransformer(), RATELIMIT_ENABLED=False)
    client = app.test_client()
    for title in ("python django pip", "java spring hashmap", "sql join on two tables"):  # ids 1-3 exist
        assert api_suggest(client, {"title": title}).status_code == 201
    return app


def test_every_route_answers_as_documented(api_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", api_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # Not checked: that everything the document allows is accepted. Some of the checks'
    # rules are no JSON Schema (a title of invisible characters, control characters, limits
    # the settings change), and a query's integer drawn as "10.0" is refused on purpose.
    assert len(operations) >= 11
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def answers_as_documented(case):
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        answers_as_documented()


@pytest.fixture
def site(trained_models, tmp_path):
    return make_app(trained_models / "models", tmp_path / "site.sqlite3")


def test_the_document_covers_every_api_route(site):
    """Generated from the views' decorators: a route added without @documented fails here."""
    document = site.test_client().get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.") and document["info"]["title"] == "tagsmith API"
    documented = {(path, method.upper()) for path, operations in document["paths"].items() for method in operations}
    not_api = {"api.openapi_json", "api.docs", "api.docs_asset", "static"}
    routes = {
        (re.sub(r"<(?:\w+(?:\([^)]*\))?:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in site.url_map.iter_rules()
        if rule.rule.startswith("/api/") and rule.endpoint not in not_api
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert routes and routes <= documented
    suggest = document["paths"]["/api/v1/suggest"]["post"]
    assert suggest["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SuggestIn")
    assert set(suggest["responses"]) >= {"201", "400", "413", "415", "422", "429", "503"}
    assert "application/problem+json" in suggest["responses"]["422"]["content"]
    question = document["paths"]["/api/v1/predictions/{prediction_id}"]["get"]
    assert question["parameters"][0]["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
    assert "404" in question["responses"]


def test_the_root_describes_the_api_with_absolute_links(site):
    client = site.test_client()
    root = client.get("/api/v1/")
    assert root.status_code == 200
    data = root.get_json()
    assert data["title"] == "tagsmith API" and data["version"] == "1"
    assert data["openapi"] == "http://localhost/api/v1/openapi.json" and data["docs"] == "http://localhost/api/v1/docs"
    links = {(link["method"], link["href"]) for link in data["endpoints"]}
    assert ("POST", "http://localhost/api/v1/suggest") in links
    assert ("GET", "http://localhost/api/v1/predictions/{prediction_id}") in links
    assert all(link["summary"] for link in data["endpoints"])
    assert client.get(data["openapi"]).status_code == 200


def test_every_operation_has_a_working_example_and_no_rst_markup(api_app):
    """Swagger UI's "Try it out" sent {"title": null} and got a 422; descriptions showed
    literal ``double backticks``."""
    from tests.helpers.support import reviewer_client

    client = reviewer_client(api_app)  # feedback needs a reviewer
    document = client.get("/api/v1/openapi.json").get_json()
    assert "``" not in json.dumps(document)
    tried = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parameters = {p["name"]: p for p in operation.get("parameters", [])}
            url = path
            for name, parameter in parameters.items():
                if parameter["in"] == "path":
                    assert "example" in parameter, (method, path, name)
                    url = url.replace("{" + name + "}", str(parameter["example"]))
            body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
            if body is None:
                continue
            assert "example" in body, (method, path)
            response = client.open(url, method=method.upper(), json=body["example"])
            assert 200 <= response.status_code < 300, (method, path, response.get_json())
            tried += 1
    assert tried == 3  # suggest, preview, feedback


def test_the_docs_page_is_served_by_the_site(site):
    client = site.test_client()
    page = client.get("/api/v1/docs")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "script-src 'self'" in page.headers["Content-Security-Policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and not [source for source in sources if source.startswith(("http:", "https:", "//"))]
    assert 'data-spec-url="/api/v1/openapi.json"' in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/api/v1/docs/assets/{asset}")
        assert response.status_code == 200 and len(response.data) > 10_000
    assert client.get("/api/v1/docs/assets/..%2f..%2fcore.py").status_code == 404
    assert client.get("/api/v1/docs/assets/index.html").status_code == 404
    assert client.get("/static/api-docs.js").status_code == 200
    assert 'href="/api/v1/docs"' in client.get("/").get_data(as_text=True)  # the site links it


def test_errors_are_problem_details(site):
    client = site.test_client()
    for response, status in (
        (client.get("/api/v1/nothing-here"), 404),
        (client.delete("/api/v1/suggest"), 405),
        (client.post("/api/v1/suggest", data="title=x"), 415),
        (client.post("/api/v1/suggest", data="{", content_type="application/json"), 400),
        (client.get("/api/v1/predictions/5"), 404),
    ):
        data = response.get_json()
        assert response.status_code == status and response.mimetype == "application/problem+json"
        assert data["type"] == "about:blank" and data["status"] == status and data["detail"]
        assert data["title"] == HTTP_STATUS_CODES[status] and data["instance"] == urlsplit(response.request.url).path
        assert "errors" not in data
    response = api_suggest(client, {"title": "ab", "top_k": 0, "colour": "red"})
    data = response.get_json()
    assert response.status_code == 422 and response.mimetype == "application/problem+json"
    assert data["errors"] == {
        "title": "The title needs at least 3 characters (this one has 2).",
        "top_k": "Tags at most (top_k) must be between 1 and 20 (got 0).",
        "colour": "unknown field; expected one of body, models, questions, threshold, title, top_k",
    }
    assert data["fields"] == data["errors"] and data["error"] == data["detail"]  # v1's names, kept
    questions = [{"title": "fine title"}, {"body": "x"}, "text", {"title": "ok", "x": 1}]
    batch = api_suggest(client, {"questions": questions})
    assert batch.get_json()["errors"] == {
        "questions[1].title": "Enter a title: a title is required.",
        "questions[2]": "each question must be an object with a title and an optional body.",
        "questions[3].title": "The title needs at least 3 characters (this one has 2).",
        "questions[3].x": "unknown field; expected one of body, title",
    }


@pytest.mark.parametrize(
    "query, field",
    [
        ("model=nope", "model"),
        ("reviewed=maybe", "reviewed"),
        ("tag=not%20a%20tag", "tag"),
        ("per_page=0", "per_page"),
        ("per_page=101", "per_page"),
        ("page=x", "page"),
        ("before=-1", "before"),
    ],
)
def test_every_unknown_filter_value_is_a_422(site, query, field):
    response = site.test_client().get(f"/api/v1/predictions?{query}")
    assert response.status_code == 422 and list(response.get_json()["errors"]) == [field]


def test_known_and_empty_filters_are_accepted(site):
    client = site.test_client()
    for query in ("model=baseline", "reviewed=no", "reviewed=true", "tag=C%23", "model=&tag=&reviewed=", "q=pip"):
        assert client.get(f"/api/v1/predictions?{query}").status_code == 200, query
    assert client.get("/api/v1/tags?prefix=pyth&limit=51").status_code == 422
    missing = client.get("/api/v1/tags").get_json()
    assert missing["errors"] == {"prefix": "Give the start of a tag name, e.g. ?prefix=pyth"}


def test_links_are_absolute_and_follow_the_proxy(trained_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSMITH_PROXIES", "1")
    monkeypatch.setenv("TAGSMITH_TRUSTED_HOSTS", "tags.example.org")
    client = make_app(trained_models / "models", tmp_path / "proxied.sqlite3").test_client()
    # The proxy passes the Host on and says the scheme (ProxyFix believes X-Forwarded-Proto).
    forwarded = {"X-Forwarded-Proto": "https", "Host": "tags.example.org"}
    for title in ("python django pip", "java spring hashmap"):
        created = api_suggest(client, {"title": title}, headers=forwarded).get_json()
    assert created["url"] == f"https://tags.example.org/api/v1/predictions/{created['id']}"
    assert created["page"] == f"https://tags.example.org/history/{created['id']}"
    listing = client.get("/api/v1/predictions?per_page=1&model=baseline", headers=forwarded).get_json()
    assert listing["next"] == "https://tags.example.org/api/v1/predictions?per_page=1&model=baseline&before=2"
    older = client.get(listing["next"], headers=forwarded).get_json()
    assert older["prev"] == "https://tags.example.org/api/v1/predictions?per_page=1&model=baseline&after=1"


def test_cors_opens_reads_not_writes(site):
    client = site.test_client()
    elsewhere = {"Origin": "https://elsewhere.example"}
    for path in ("/api/v1/", "/api/v1/predictions", "/api/v1/models", "/api/v1/openapi.json", "/api/v1/nothing"):
        assert client.get(path, headers=elsewhere).headers.get("Access-Control-Allow-Origin") == "*", path
    preflight = client.options("/api/v1/tags", headers=elsewhere | {"Access-Control-Request-Method": "GET"}).headers
    assert preflight["Access-Control-Allow-Origin"] == "*" and "GET" in preflight["Access-Control-Allow-Methods"]
    write = api_suggest(client, {"title": "python django pip"}, headers=elsewhere)
    assert write.status_code == 403 and not _cors_headers(write)  # refused, and unreadable there
    preflight = client.options("/api/v1/suggest", headers=elsewhere | {"Access-Control-Request-Method": "POST"})
    assert not _cors_headers(preflight)
    assert not _cors_headers(client.get("/history/", headers=elsewhere))  # the pages stay same-origin


def _cors_headers(response) -> list[str]:
    return [name for name, _ in response.headers.items() if name.lower().startswith("access-control-")]


def test_cors_origins_are_configurable(trained_models, tmp_path, monkeypatch):
    monkeypatch.setenv("TAGSMITH_CORS_ORIGINS", "https://one.example, https://two.example")
    client = make_app(trained_models / "models", tmp_path / "a.sqlite3").test_client()
    allowed = client.get("/api/v1/models", headers={"Origin": "https://two.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://two.example"
    assert not _cors_headers(client.get("/api/v1/models", headers={"Origin": "https://three.example"}))
    monkeypatch.setenv("TAGSMITH_CORS_ORIGINS", "")
    client = make_app(trained_models / "models", tmp_path / "b.sqlite3").test_client()
    assert not _cors_headers(client.get("/api/v1/models", headers={"Origin": "https://one.example"}))
