"""The memory of reviewed questions: a review counts at once, new tags grow the labels, every
suggestion is traced to the questions that caused it, and it trains, saves and loads like
the other open-vocabulary kinds."""

import json
import threading

import numpy as np
import pytest

from ml.backends.memory import MERGE_EVERY, ReviewMemory
from ml.backends.memory.voting import NAMED_ELSEWHERE, NAMED_IN_TITLE, named
from ml.data.catalogue import TagCatalogue
from ml.data.sources import Source, load_corpus
from ml.predictor import TrainOptions
from ml.registry import get_kind, load_predictor
from tests.helpers.support import make_questions

CATALOGUE = TagCatalogue(
    {"python": 9, "java": 9, "javascript": 9, "c#": 9, "sql": 9, "go": 9, "python-polars": 9},
    {"golang": "go"},
)
POLARS = ["polars lazyframe groupby", "polars lazyframe join is slow", "polars lazyframe collect memory"]


def seeded(n: int = 200) -> ReviewMemory:
    """A memory whose vectoriser knows the tiny corpus, seeded with it (refs "train:<i>")."""
    questions = make_questions(n)
    model = ReviewMemory(k=10, power=1.0, smoothing=0.0, min_df=1, catalogue=CATALOGUE)
    model.fit([title for title, _ in questions], [tags for _, tags in questions], [f"train:{i}" for i in range(n)])
    model.thresholds = np.full(len(model.labels), 0.3)
    model.threshold = 0.3
    return model


def tags_of(model: ReviewMemory, text: str, top_k: int = 3) -> list[str]:
    return [tag for tag, _ in model.predict([text], top_k=top_k)[0]]


def test_a_reviewed_tag_is_suggested_for_a_similar_question_at_once_and_traced_to_its_reviews():
    model = seeded()
    labels_before = list(model.labels)
    assert "python-polars" not in model.labels and "polars" not in model.vocabulary_  # a word it never saw
    assert "python-polars" not in tags_of(model, "polars lazyframe filter by date")
    for ref, title in zip((101, 102, 103), POLARS, strict=True):
        model.add(title, ["Python-Polars", "python"], ref=ref)
    assert model.labels[: len(labels_before)] == labels_before  # labels only append: no column moved
    assert model.labels[-1] == "python-polars" and len(model.thresholds) >= len(model.labels)
    best = model.suggest_with_evidence(["polars lazyframe filter by date"], top_k=3)[0]
    by_tag = {e.tag: e for e in best}
    assert best[0].tag in {"python-polars", "python"} and by_tag["python-polars"].confident
    assert by_tag["python-polars"].refs and set(by_tag["python-polars"].refs) <= {101, 102, 103}
    evidence = model.evidence("polars lazyframe filter by date", "python-polars")
    assert [ref for ref, _ in evidence] == by_tag["python-polars"].refs  # strongest first, same order
    assert [s for _, s in evidence] == sorted((s for _, s in evidence), reverse=True)
    # The scores' columns are the labels as they were when the prediction started.
    scores = model.predict_scores(["polars lazyframe filter by date"])
    assert scores.shape == (1, len(model.labels)) and scores[0, model.column_["python-polars"]] > 0.3
    # Seed questions are traced too, by their corpus row.
    assert all(str(ref).startswith("train:") for ref in model.suggest_with_evidence(["django pip"])[0][0].refs)


def test_a_tag_unknown_to_the_catalogue_is_kept_as_the_reviewer_spelled_it_and_synonyms_are_renamed():
    model = seeded()
    model.add("mylib widget rendering flickers", ["MyLib Widgets"], ref=1)
    model.add("mylib widget layout overflow", ["mylib widgets"], ref=2)
    model.add("goroutine channel deadlock", ["golang"], ref=3)
    assert "mylib-widgets" in model.labels and "mylib-widgets" not in CATALOGUE
    assert tags_of(model, "mylib widget state", top_k=1) == ["mylib-widgets"]
    assert "golang" not in model.labels and tags_of(model, "goroutine channel", top_k=1) == ["go"]
    assert model.best_tags(["mylib widget state"], n=1) == [[("mylib-widgets", pytest.approx(1.0))]]


def test_the_latest_review_of_a_question_counts_and_a_removed_question_no_longer_votes():
    model = seeded()
    size = len(model)
    model.add("quux frobnicator crashes on start", ["java"], ref=7)
    assert tags_of(model, "quux frobnicator", top_k=1) == ["java"] and len(model) == size + 1
    model.add("quux frobnicator crashes on start", ["sql"], ref=7)  # a later review changed the tags
    assert tags_of(model, "quux frobnicator", top_k=1) == ["sql"] and len(model) == size + 1
    assert model.evidence("quux frobnicator", "sql") and not model.evidence("quux frobnicator", "java")
    assert model.remove(7) and not model.remove(7) and 7 not in model and len(model) == size
    assert model.evidence("quux frobnicator", "sql") == []
    model.add("quux frobnicator crashes on start", ["sql"], ref=8)
    assert not model.add("quux frobnicator crashes on start", [], ref=8)  # no right tag left: forgotten
    assert 8 not in model and model.predict(["quux frobnicator"]) == [[]]  # nothing similar: no guess


def test_additions_survive_merges_and_threads_predicting_meanwhile_see_no_error():
    model = seeded(100)
    errors: list[BaseException] = []
    stop = threading.Event()

    def predict() -> None:
        try:
            while not stop.is_set():
                for row in model.suggest_with_evidence(["zed editor plugin crash", "django pip"], top_k=3):
                    for suggestion in row:
                        assert suggestion.tag in model.labels
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    readers = [threading.Thread(target=predict) for _ in range(3)]
    for thread in readers:
        thread.start()

    def write(start: int) -> None:
        for i in range(start, start + MERGE_EVERY + 50):
            model.add(f"zed editor plugin {i} crash", [f"zed-{i % 3}", "zed"], ref=i)

    writers = [threading.Thread(target=write, args=(start,)) for start in (0, 10_000)]
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    stop.set()
    for thread in readers:
        thread.join()
    assert errors == []
    assert len(model) == 100 + 2 * (MERGE_EVERY + 50) and len(model._segments) >= 2  # merged at least once
    assert tags_of(model, "zed editor plugin crash", top_k=1) == ["zed"]
    assert model.evidence("zed editor plugin 10005 crash", "zed")[0][0] == 10005  # the identical question first


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("memory")
    data = folder / "open.jsonl"
    records = [{"title": title, "tags": tags} for title, tags in make_questions(500, seed=3)]
    data.write_text("".join(json.dumps(record) + "\n" for record in records))
    corpus = load_corpus((Source("open", str(data), "jsonl", "all", "hash"),), splits_dir=None)
    options = TrainOptions(output=folder / "models" / "memory", command="train memory", params={})
    metadata = get_kind("memory").predictor_class().train(corpus, options)
    return folder / "models", metadata, corpus


def test_it_trains_through_the_common_interface_and_chooses_its_settings_on_validation(trained):
    models, metadata, corpus = trained
    assert metadata["model"] == "memory" and metadata["seed"] == "all"
    assert metadata["remembered"] == len(corpus.complete("train")) == metadata["training_questions"]
    assert metadata["metrics"]["test"]["all"]["micro_f1"] > 0.8  # the tiny corpus is easy
    assert 0 < metadata["thresholds"]["global"] < 1 and len(metadata["validation_grid"]) == 18 + 5
    best = max(metadata["validation_grid"], key=lambda row: row["micro_f1"])
    assert metadata["params"]["k"] == best["k"] and metadata["params"]["power"] == best["power"]


def test_save_and_load_keep_every_remembered_question_with_its_ref(trained, tmp_path):
    models, metadata, _ = trained
    model = load_predictor("memory", models)
    assert isinstance(model, ReviewMemory) and model.labels == metadata["labels"] == model.base_labels
    assert model.predict(["django pip virtualenv"], top_k=1)[0][0][0] == "python"
    before = model.predict_scores(["spring maven jvm", "select join"])
    model.add("zig comptime allocator", ["zig"], ref=42)
    model.add("zig comptime generic", ["zig"], ref="43")
    model.save(tmp_path / "memory", model.metadata)
    again = ReviewMemory.load(tmp_path / "memory")
    assert 42 in again and "43" in again and len(again) == len(model)
    assert again.labels == model.labels and again.labels[-1] == "zig"
    np.testing.assert_allclose(again.predict_scores(["spring maven jvm", "select join"])[:, : before.shape[1]], before)
    assert again.suggest_with_evidence(["zig comptime"], top_k=1)[0][0].refs == [42, "43"]


def test_a_tag_reviewers_keep_replacing_has_a_replacement_until_too_few_reviews_say_so():
    from ml.backends.memory.index import MIN_SHOWN, UNANIMOUS_SHOWN

    model = seeded()
    titles = [*POLARS, *(f"polars frame number {n}" for n in range(20))]
    for ref, title in enumerate(titles[: UNANIMOUS_SHOWN - 1], 101):  # shown python and pandas; pandas was wrong
        model.add(title, ["python", "python-polars"], ref=ref, shown=["Python", "pandas"])
    model.add("quux frobnicator", ["java"], ref=200)  # what was shown is not known: counts nowhere
    assert model.replacement("pandas") is None  # too few reviews showed it
    model.add(titles[UNANIMOUS_SHOWN], ["python", "python-polars"], ref=150, shown=["pandas"])
    assert model.replacement("pandas") == ("python-polars", pytest.approx(1.0))  # replaced every time
    assert model.replacing("python-polars") == [("pandas", pytest.approx(1.0))]
    assert model.replacement("python") is None  # shown and right: never replaced
    model.add("pandas frame merge", ["pandas"], ref=151, shown=["pandas"])  # once right: no longer unanimous
    assert model.replacement("pandas") is None
    for ref in range(110, 110 + MIN_SHOWN - UNANIMOUS_SHOWN - 1):
        model.add(f"polars frame number {ref}", ["python-polars"], ref=ref, shown=["pandas"])
    shown = MIN_SHOWN  # more often than not, on enough reviews
    assert model.replacement("pandas") == ("python-polars", pytest.approx((shown - 1) / shown))
    for ref in range(110, 110 + MIN_SHOWN - UNANIMOUS_SHOWN - 1):
        model.remove(ref)  # too few reviews left, and not unanimous
    assert model.replacement("pandas") is None and model.replacing("python-polars") == []


def test_a_tag_reviewers_keep_adding_far_more_often_than_the_models_used_to_miss_it_is_missed():
    model = seeded()
    model.expected_miss, model.expected_miss_default = {"python": 0.1, "pandas": 0.8}, 1.0
    for ref in range(300, 309):  # python and pandas right, neither shown: the reviewer added both
        model.add(f"polars frame number {ref}", ["python", "pandas"], ref=ref, shown=["java"])
    assert model.missed("python") is None  # right on 9 reviewed questions: too few
    model.add("polars frame number 309", ["python", "pandas"], ref=309, shown=["java"])
    assert model.missed("python") == pytest.approx(1.0)  # added on 10 of 10, expected 1 in 10
    assert model.missed("pandas") is None  # 1.0 against an expected 0.8: not MISS_MARGIN more
    assert model.missed("java") is None  # shown and wrong: never right
    # Shown now (the ensemble lifts a missed tag) and accepted: still missed by the models.
    for ref in range(310, 320):
        model.add(f"polars frame number {ref}", ["python"], ref=ref, shown=["python"])
    assert model.missed("python") == pytest.approx(1.0)
    for ref in range(300, 320):
        model.remove(ref)
    assert model.missed("python") is None and not model._added_count["python"] and not model._right_count["python"]
    # With no expectation (no ensemble told it one), nothing counts as missed.
    fresh = seeded()
    for ref in range(300, 320):
        fresh.add(f"polars frame number {ref}", ["python"], ref=ref, shown=["java"])
    assert fresh.missed("python") is None


def test_a_tag_taught_once_is_suggested_for_the_next_question_that_names_it():
    model = seeded()
    question = "LangChain agent: how to stream tokens from the tool call"
    assert "langchain" not in tags_of(model, question)
    model.add("build a retrieval chain with langchain and a vector store", ["langchain", "python"], ref=301)
    best = model.suggest_with_evidence([question], top_k=3)[0]
    assert best[0].tag == "langchain" and best[0].confident
    assert "langchain" in [tag for tag, _ in model.best_tags([question])[0]]  # what the ensemble reads
    # Spelled with a space or a hyphen, it is the same name; merely in the body, it is weaker.
    assert "langchain" in tags_of(model, "lang chain memory keeps growing")
    column = model.column_["langchain"]
    assert named("stream tokens\nI use langchain for it", {"langchain": column}, 0.2) == {column: 0.2 * NAMED_ELSEWHERE}
    assert named("LangChain agents", {"langchain": column}, 0.2) == {column: 0.2 * NAMED_IN_TITLE}
    assert named("LangChain agents", {"langchain": column}, 0.9) == {column: 1.0}  # a score stays a probability
    assert 1.0 <= NAMED_ELSEWHERE < NAMED_IN_TITLE  # a name anywhere passes the memory's threshold
    # A tag some seed question carries is the models' to find: a name alone does not force it.
    assert model.predict_scores(["java"])[0][model.column_["java"]] < 0.8
    model.remove(301)
    assert "langchain" not in tags_of(model, question)  # forgotten with its only review


def test_a_loaded_memory_learns_names_from_replayed_reviews(trained):
    loaded = load_predictor("memory", trained[0])
    assert "langchain" not in tags_of(loaded, "LangChain agent streaming")
    loaded.add_many([("build a retrieval chain with langchain", ["langchain"], 301)])  # the site's replay
    assert tags_of(loaded, "LangChain agent streaming")[0] == "langchain"
    loaded.remove(301)
