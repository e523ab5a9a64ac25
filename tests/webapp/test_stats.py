"""/stats from running totals: after any mix of writes, after an upgrade, and after a rebuild
the figures equal the ones computed from every row the old way (tests/helpers/stats_oracle.py),
on SQLite and on PostgreSQL."""

from __future__ import annotations

import math
import random
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime
from xml.etree import ElementTree

import flask_migrate
import numpy as np
import pytest
from sqlalchemy import text

from ml.predictor import Predictor
from ml.registry import model_names
from tests.helpers import stats_oracle
from tests.helpers.support import csrf_token, make_app, reviewer_client
from tests.webapp.test_migrations import load_schema_0002
from webapp.ask.serving import EXTENSION_KEY
from webapp.core.catalogue import site_catalogue
from webapp.core.database import MIGRATIONS_DIR
from webapp.core.extensions import db
from webapp.core.tables import ModelAnswer, Question, ReviewedTag, SuggestedTag
from webapp.history import tag_index
from webapp.stats import counters
from webapp.stats.figures import Stats, compute, read_over_time, under_todays_names

LABELS = ["python", "java", "javascript", "c#", "sql", "django", "pandas", "spring", "docker", "linux", "react"]


class RandomModel(Predictor):
    """Scores that depend on the question and the model's seed: models agree sometimes."""

    def __init__(self, name: str, seed: int):
        self.name = name  # type: ignore[misc]
        self.seed = seed
        self.labels = list(LABELS)
        self.thresholds = np.full(len(LABELS), 0.5)
        self.metadata = {"model": name, "model_version": f"{name}-random-{seed}", "labels": LABELS}

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for question in texts:
            rng = random.Random(zlib.crc32(question.encode()) + self.seed)
            rows.append([rng.random() if rng.random() < 0.7 else rng.random() * 0.3 for _ in LABELS])
        return np.array(rows)


def site(trained_models, url):
    app = make_app(trained_models / "models", url, RATELIMIT_ENABLED=False)
    for seed, name in enumerate(model_names()):
        if name != "baseline":  # the tiny trained baseline answers as itself
            app.extensions[EXTENSION_KEY].put(name, RandomModel(name, seed))
    return app


def assert_same(new: Stats, old: Stats) -> None:
    assert (new.questions, new.reviewed) == (old.questions, old.reviewed)
    assert new.days == old.days
    assert new.weeks == old.weeks
    for by in ("suggested", "rejected", "added"):  # the page reads only the tags it shows
        assert new.top_tags(by) == old.top_tags(by), by
    assert new.top_tags("added", 100, unknown_to=LABELS) == old.top_tags("added", 100, unknown_to=LABELS)
    assert [asdict(model) for model in new.models.values()] == [asdict(model) for model in old.models.values()]
    assert len(new.agreements) == len(old.agreements)
    for ours, theirs in zip(new.agreements, old.agreements, strict=True):
        assert (ours.first, ours.second, ours.questions, ours.same_top) == (
            theirs.first,
            theirs.second,
            theirs.questions,
            theirs.same_top,
        )
        assert math.isclose(ours.jaccard_sum, theirs.jaccard_sum, rel_tol=1e-12, abs_tol=1e-12), (ours, theirs)


def check(app) -> Stats:
    """The page's figures equal the oracle's, and a rebuild from the rows changes nothing."""
    with app.app_context():
        new, old = compute(), stats_oracle.compute()
        assert_same(new, old)
        every_tag = Stats()
        read_over_time(every_tag, counters.read_all_tag_counters(db.session))
        assert under_todays_names(every_tag.tags, site_catalogue().canonical) == old.tags
        db.session.rollback()
    result = app.test_cli_runner().invoke(args=["stats", "check"])
    assert result.exit_code == 0, result.output
    return new


def review(client, prediction_id: int, rng: random.Random) -> None:
    data = client.get(f"/api/v1/predictions/{prediction_id}").get_json()
    suggested = sorted({tag["tag"] for answer in data["answers"].values() for tag in answer["tags"]})
    accepted = [tag for tag in suggested if rng.random() < 0.5]
    added = rng.sample(["flask", "numpy", "kubernetes", "python", "go"], rng.randint(0, 2))
    response = client.post(f"/api/v1/predictions/{prediction_id}/feedback", json={"accepted": accepted, "added": added})
    assert response.status_code == 200, response.get_json()


def run_model(client, prediction_id: int, model: str) -> None:
    token = csrf_token(client, f"/history/{prediction_id}")
    assert client.post(f"/history/{prediction_id}/run/{model}", data={"csrf_token": token}).status_code == 303


def ask(client, title: str, models: list[str]) -> int:
    response = client.post("/api/v1/suggest", json={"title": title, "models": models})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def a_mix_of_writes(app, seed: int = 0) -> list[int]:
    """Asks with one to every model, a batch, other models asked later (before and after a
    review), reviews and re-reviews."""
    rng = random.Random(seed)
    client = reviewer_client(app)
    names = list(model_names())
    words = ["django pip", "spring maven", "npm promise", "linq wpf", "join index", "docker linux", "react dom"]
    ids = [
        ask(client, f"{rng.choice(words)} question {number}", rng.sample(names, rng.randint(1, 5)))
        for number in range(14)
    ]
    batch = {"questions": [{"title": f"batch {rng.choice(words)} {n}"} for n in range(4)], "models": names[:3]}
    response = client.post("/api/v1/suggest", json=batch)
    assert response.status_code == 201
    ids += [item["id"] for item in response.get_json()["predictions"]]
    for prediction_id in rng.sample(ids, 5):  # another model later, before any review
        asked = client.get(f"/api/v1/predictions/{prediction_id}").get_json()["answers"]
        missing = [name for name in names if name not in asked]
        if missing:
            run_model(client, prediction_id, rng.choice(missing))
    reviewed = rng.sample(ids, 9)
    for prediction_id in reviewed:
        review(client, prediction_id, rng)
    for prediction_id in reviewed[:4]:  # re-reviews: the latest counts
        review(client, prediction_id, rng)
    for prediction_id in reviewed[3:8]:  # a model asked after the review: its new tags have no verdict
        asked = client.get(f"/api/v1/predictions/{prediction_id}").get_json()["answers"]
        missing = [name for name in names if name not in asked]
        if missing:
            run_model(client, prediction_id, rng.choice(missing))
    review(client, reviewed[5], rng)  # and reviewed again after that
    return ids


def test_a_mix_of_writes_gives_the_figures_the_rows_give(trained_models, new_database):
    app = site(trained_models, new_database())
    check(app)  # empty
    a_mix_of_writes(app)
    stats = check(app)
    assert stats.reviewed == 9 and sum(pair.questions for pair in stats.agreements) > 10
    assert all(model.answers and model.reviewed for model in stats.models.values())
    page = app.test_client().get("/stats").get_data(as_text=True)
    assert f'id="stat-questions">{stats.questions}<' in page
    assert_charts(page, stats)


def chart_section(page: str, key: str) -> tuple[ElementTree.Element, list[list[str]]]:
    """The chart's SVG (parsed as XML, as the browser reads inline SVG) and its table's rows."""
    section = re.search(rf'<section class="card chart-card" id="chart-{key}".*?</section>', page, re.S)
    assert section, f"no chart {key}"
    svg = re.search(r"<svg.*?</svg>", section.group(0), re.S)
    table = re.search(r"<details class=\"chart-data\">.*?(<table.*?</table>)", section.group(0), re.S)
    assert svg and table, f"chart {key} lacks its image or its table"
    rows = ElementTree.fromstring(table.group(1)).findall("./tbody/tr")
    return ElementTree.fromstring(svg.group(0)), [["".join(cell.itertext()) for cell in row] for row in rows]


def assert_charts(page: str, stats: Stats) -> None:
    """Each chart is an SVG image with a title and a description, with its figures in a table."""
    rows = {}
    for key in ("usage", "precision", "suggested", "rejected", "added", "unknown"):
        svg, rows[key] = chart_section(page, key)
        title, desc = svg.find("title"), svg.find("desc")
        assert svg.get("role") == "img" and title is not None and desc is not None, key
        assert title.text and desc.text and svg.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    today = max(stats.days)
    assert rows["usage"][0] == [today, f"{stats.days[today].questions:,}", f"{stats.days[today].reviewed:,}"]
    assert len(rows["precision"]) == len(stats.weeks)  # one week here: a row per (model, version)
    assert [row[0] for row in rows["suggested"]] == [tag.tag for tag in stats.top_tags("suggested")]
    assert [int(row[1]) for row in rows["rejected"]] == [tag.rejected for tag in stats.top_tags("rejected")]
    # The random models know LABELS, python among them; reviewers also added these:
    assert rows["unknown"] and {row[0] for row in rows["unknown"]} <= {"flask", "numpy", "kubernetes", "go"}


def test_the_migration_fills_the_totals_from_the_rows_already_stored(trained_models, new_database):
    url = new_database()
    app = site(trained_models, url)
    a_mix_of_writes(app, seed=1)
    with app.app_context():
        before = compute()
        db.session.remove()  # its transaction would hold the tables the downgrade drops
        flask_migrate.downgrade(str(MIGRATIONS_DIR), revision="0004_heartbeats")
        assert "stats_counters" not in db.inspect(db.engine).get_table_names()
        db.engine.dispose()
    upgraded = site(trained_models, url)  # starting the site upgrades the database
    assert_same(check(upgraded), before)


def test_a_database_from_revision_0002_shows_the_same_stats(trained_models, backend, new_database):
    url = new_database(empty=True)
    load_schema_0002(backend, url)
    app = make_app(trained_models / "models", url)
    stats = check(app)
    assert stats.questions == 2 and stats.reviewed == 1


LATENCIES = [0.0, 0.001, 0.29, 0.999, 1.0, 1.005, 9.999, 10.0, 12.345, 99.99, 100.0, 999.999, 1000.0]
LATENCIES += [1e4, 99_999.999, 1e5, 123_456.789, 2_000_000.0]


@pytest.mark.parametrize("answers", [1, 2, 19, 20, 21, 400])
def test_latency_percentiles_are_the_nearest_rank_values_to_three_digits(trained_models, new_database, answers):
    """Answers stored behind the site's back, then a rebuild: every latency bucket SQL
    computes is Python's, and p50/p95 are the nearest-rank latencies rounded down to three
    significant digits."""
    app = make_app(trained_models / "models", new_database())
    rng = random.Random(answers)
    values = (LATENCIES * 2 + [round(rng.lognormvariate(math.log(5), 1.2), 3) for _ in range(answers)])[:answers]
    if answers == 400:
        values += [7.5] * 150  # many equal latencies in one bucket
    with app.app_context():
        for number, latency in enumerate(values):
            prediction = Question(title=f"q{number}", source="api", top_k=5)
            models = ["baseline", "ensemble"] if number % 3 else ["ensemble"]
            prediction.answers = [
                ModelAnswer(
                    model=model,
                    model_version="x",
                    latency_ms=latency if model == "ensemble" else latency * 3,
                    tags=[SuggestedTag(rank=0, tag="python", score=0.9)],
                )
                for model in models
            ]
            if number % 4 == 0:
                prediction.reviewed_at = datetime(2026, 1, 1)
                prediction.review = [ReviewedTag(tag="python", verdict="accepted", position=0)]
            db.session.add(prediction)
        db.session.commit()
        dialect = db.engine.dialect.name
        pairs = db.session.execute(
            text(f"SELECT latency_ms, {counters.latency_bucket_sql('latency_ms', dialect)} FROM model_answers")
        ).all()
        assert [bucket for _, bucket in pairs] == [counters.latency_bucket(latency) for latency, _ in pairs]
        assert [counters.latency_bucket(value) for value in sorted(values)] == sorted(
            counters.latency_bucket(value) for value in values
        )  # buckets grow with the latency
        with db.engine.begin() as connection:
            counters.rebuild(connection)
    stats = check(app)
    assert stats.models["ensemble"].answers == len(values)
    ordered = sorted(values)
    for q, shown in ((50, stats.models["ensemble"].latency_p50_ms), (95, stats.models["ensemble"].latency_p95_ms)):
        exact = ordered[max(1, -(-len(ordered) * q // 100)) - 1]
        assert shown == counters.bucket_floor(counters.latency_bucket(exact))
        assert exact * 0.99 <= shown <= exact  # three significant digits, rounded down


def test_the_totals_follow_each_write_on_their_own(trained_models, new_database):
    app = site(trained_models, new_database())
    client = reviewer_client(app)
    first = ask(client, "django pip question", ["baseline", "transformer"])
    with app.app_context():
        assert counters.read_counters(db.session)["pair:baseline:transformer:questions"] == 1
    review(client, first, random.Random(3))
    run_model(client, first, "lexical")
    review(client, first, random.Random(4))
    check(app)
    with app.app_context():
        stored = counters.read_counters(db.session)
    assert stored["questions"] == 1 and stored["reviewed"] == 1
    assert stored["model:lexical:reviewed"] == 1 and stored["pair:baseline:lexical:questions"] == 1


def test_deleting_questions_takes_back_what_they_counted(trained_models, new_database):
    app = site(trained_models, new_database())
    ids = a_mix_of_writes(app, seed=3)
    client = reviewer_client(app, "deleter")
    reviewed = [number for number in ids if client.get(f"/api/v1/predictions/{number}").get_json()["review"]]
    unreviewed = [number for number in ids if number not in reviewed]
    assert client.delete(f"/api/v1/predictions/{reviewed[0]}").status_code == 204
    assert client.delete(f"/api/v1/predictions/{unreviewed[0]}").status_code == 204
    token = csrf_token(client, f"/history/{reviewed[1]}")
    assert client.post(f"/history/{reviewed[1]}/delete", data={"csrf_token": token}).status_code == 303
    stats = check(app)
    assert stats.questions == len(ids) - 3 and stats.reviewed == 9 - 2


def test_rebuild_and_check_commands(trained_models, new_database):
    app = site(trained_models, new_database())
    a_mix_of_writes(app, seed=2)
    runner = app.test_cli_runner()

    def question_tags() -> tuple[set, set]:
        """(the rows of question_tags, the rows the answers and reviews give)"""
        with app.app_context():
            stored = set(db.session.execute(text("SELECT tag, prediction_id, models FROM question_tags")).all())
            pairs = set(db.session.execute(text(tag_index.ROWS.format(answers="", reviews=""))).all())
            return stored, pairs

    stored, pairs = question_tags()
    assert stored == pairs and len(pairs) > 18  # kept in step by every write of the mix
    # Every question has an answer, so every row is under some model, and some under several.
    assert all(models for _, _, models in pairs) and any(models & (models - 1) for _, _, models in pairs)
    with app.app_context():
        db.session.execute(text("UPDATE stats_counters SET value = value + 5 WHERE name = 'questions'"))
        db.session.execute(text("DELETE FROM stats_latency WHERE model = 'baseline'"))
        db.session.execute(text("DELETE FROM question_tags WHERE prediction_id < 5"))
        db.session.commit()
    assert question_tags()[0] != pairs
    result = runner.invoke(args=["stats", "check"])
    assert result.exit_code == 1
    assert "counter questions: stored 23.0, rows say 18" in result.output
    assert "latency bucket ('baseline'," in result.output
    result = runner.invoke(args=["stats", "rebuild"])
    assert result.exit_code == 0 and "rebuilt" in result.output
    check(app)
    assert question_tags() == (pairs, pairs)


def test_every_model_has_its_own_bit_in_the_tag_index():
    bits = [tag_index.bit(name) for name in model_names(include_unserved=True)]
    assert all(bits) and len(set(bits)) == len(bits)
    assert all(bit & (bit - 1) == 0 for bit in bits)  # one bit each


def test_writers_at_the_same_time_neither_deadlock_nor_lose_counts(trained_models, new_database):
    """Each writer changes the same hot counters (questions, a pair, a model's review
    totals) in one order; reviews and later answers on one question wait for each other."""
    app = site(trained_models, new_database())
    client = app.test_client()
    shared = [ask(client, f"spring maven shared {number}", ["baseline", "ensemble"]) for number in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def writer(number: int) -> None:
        try:
            own = reviewer_client(app, f"writer-{number}")
            rng = random.Random(number)
            token = csrf_token(own, f"/history/{shared[0]}")
            start.wait()
            for step in range(4):
                prediction_id = ask(own, f"django pip writer {number} step {step}", ["baseline", "transformer"])
                review(own, prediction_id, rng)
                review(own, shared[step % len(shared)], rng)
                later = shared[(step + number) % len(shared)]
                response = own.post(f"/history/{later}/run/lexical", data={"csrf_token": token})
                assert response.status_code == 303
        except BaseException as error:  # reported below, with the thread's traceback
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    stats = check(app)
    assert stats.questions == 3 + 4 * 4


def test_precision_is_kept_per_model_version_and_week(trained_models, new_database):
    """A retrained model (a new version) gets its own line; weeks run Monday to Sunday in
    Python and in SQL alike (rows stored behind the site's back, then a rebuild)."""
    app = site(trained_models, new_database())
    client = reviewer_client(app)
    first = ask(client, "django pip question one", ["lexical"])
    review(client, first, random.Random(1))
    app.extensions[EXTENSION_KEY].put("lexical", RandomModel("lexical", 99))  # as a reload would
    second = ask(client, "django pip question two", ["lexical"])
    review(client, second, random.Random(2))
    with app.app_context():
        for number, moment in enumerate(
            [datetime(2026, 1, 4, 23, 59, 59), datetime(2026, 1, 5), datetime(2026, 1, 11)]
        ):
            prediction = Question(title=f"old {number}", source="api", top_k=5, created_at=moment, reviewed_at=moment)
            prediction.answers = [
                ModelAnswer(
                    model="lexical",
                    model_version="lexical-old",
                    latency_ms=3.0,
                    tags=[SuggestedTag(rank=0, tag="go", score=0.9)],
                )
            ]
            prediction.review = [ReviewedTag(tag="go", verdict="accepted", position=0)]
            db.session.add(prediction)
        db.session.commit()
        with db.engine.begin() as connection:
            counters.rebuild(connection)
    stats = check(app)
    lexical = {(version, week): found for (model, version, week), found in stats.weeks.items() if model == "lexical"}
    versions = {version for version, _ in lexical}
    first_version = f"lexical-random-{model_names().index('lexical')}"
    assert versions == {first_version, "lexical-random-99", "lexical-old"}
    assert lexical["lexical-old", "2025-12-29"].reviewed == 1  # Sunday the 4th: the week from Monday 29 December
    assert lexical["lexical-old", "2026-01-05"].reviewed == 2  # Monday the 5th and Sunday the 11th
    assert lexical["lexical-old", "2026-01-05"].precision == 1.0
    page = client.get("/stats").get_data(as_text=True)
    _, rows = chart_section(page, "precision")
    assert {row[2] for row in rows} == versions and stats.days["2026-01-04"].questions == 1


def test_a_bar_charts_tag_names_fit_inside_it_whole():
    """ "large-language-model" was cut to "rge-language-model" at the chart's left edge."""
    import html
    import re

    from webapp.stats.charts import NAME_CHAR_WIDTH, bar_chart

    svg = str(bar_chart("Tags", "the most suggested tags", [("large-language-model", 5), ("c", 3)]))
    found = re.findall(r'<text class="chart-label chart-name" x="([\d.]+)"[^>]*>([^<]+)</text>', svg)
    names = [html.unescape(text) for _, text in found]
    assert names == ["large-language-model", "c"]
    assert all(float(x) - NAME_CHAR_WIDTH * len(name) >= 0 for (x, _), name in zip(found, names, strict=True))
    long = str(bar_chart("Tags", "d", [("a-very-long-tag-name-that-goes-on-and-on-forever", 1)]))
    x, text = re.findall(r'<text class="chart-label chart-name" x="([\d.]+)"[^>]*>([^<]+)</text>', long)[0]
    assert text.endswith("…") and float(x) - NAME_CHAR_WIDTH * len(text) >= 0


def test_a_tags_older_names_count_under_its_name_of_today(trained_models, new_database):
    """Answers stored as tsql before the rename and as t-sql after: /stats shows one t-sql."""
    app = site(trained_models, new_database())
    client = reviewer_client(app)
    ids = [ask(client, f"pivot rows in sql server {number}", ["lexical"]) for number in range(3)]
    with app.app_context():  # as an older version of the site stored them
        for prediction_id, name in zip(ids, ["tsql", "transact-sql", "t-sql"], strict=True):
            answer = db.session.get(Question, prediction_id).answers[0]
            answer.tags = [SuggestedTag(rank=0, tag=name, score=0.9)]
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["stats", "rebuild"]).exit_code == 0
    stats = check(app)
    assert "tsql" not in stats.tags and "transact-sql" not in stats.tags
    assert stats.tags["t-sql"].suggested == 3
    _, rows = chart_section(client.get("/stats").get_data(as_text=True), "suggested")
    assert ["t-sql", "3"] in [row[:2] for row in rows]


def test_the_most_suggested_tags_are_ranked_after_adding_up_their_names(trained_models, new_database):
    """Ten tags suggested 10 times, t-sql 6 times and as tsql 6 more: t-sql (12) leads the chart."""
    app = site(trained_models, new_database())
    counts = {f"tag-{number:02d}": 10 for number in range(10)} | {"t-sql": 6, "tsql": 6}
    with app.app_context():
        db.session.execute(
            text("INSERT INTO stats_counters (name, value) VALUES (:name, :value)"),
            [{"name": f"tag:{tag}:suggested", "value": value} for tag, value in counts.items()],
        )
        db.session.commit()
        top = compute().top_tags("suggested")
    assert [(tag.tag, tag.suggested) for tag in top[:2]] == [("t-sql", 12), ("tag-00", 10)]
    assert len(top) == 10 and "tsql" not in [tag.tag for tag in top]
