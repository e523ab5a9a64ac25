"""Which of a model's reasons a person is shown: the few strongest they would accept."""

from webapp.ask.explain import MAX_REASONS, strongest


def test_a_name_found_and_a_reviewed_question_come_first_and_stop_words_never():
    reasons = [
        {"kind": "words", "text": "even though", "weight": 0.5},
        {"kind": "words", "text": "though", "weight": 0.4},
        {"kind": "words", "text": "django", "weight": 0.3},
        *({"kind": "similar", "title": f"an old question {n}", "weight": 0.9} for n in range(5)),
        {"kind": "phrase", "text": "python", "where": ["title"], "weight": 1.0},
        {"kind": "reviewed", "question_id": 47, "title": "How to pip install", "weight": 0.8},
    ]
    shown = strongest(reasons)
    assert [(reason["kind"], reason.get("text") or reason.get("title")) for reason in shown] == [
        ("phrase", "python"),
        ("reviewed", "How to pip install"),
        ("words", "django"),
    ]
    assert len(shown) == MAX_REASONS


def test_without_better_evidence_one_similar_question_is_shown_and_stop_words_are_dropped():
    reasons = [
        {"kind": "words", "text": "the", "weight": 0.5},
        {"kind": "words", "text": "if it", "weight": 0.4},
        {"kind": "words", "text": "x", "weight": 0.35},  # one letter says nothing a reader can check
        {"kind": "words", "text": "dataframe", "weight": 0.3},
        {"kind": "similar", "title": "merge two dataframes", "weight": 0.9},
        {"kind": "similar", "title": "pandas groupby sum", "weight": 0.8},
    ]
    shown = strongest(reasons)
    assert [reason.get("text") or reason.get("title") for reason in shown] == ["dataframe", "merge two dataframes"]
    assert strongest([{"kind": "words", "text": "even though", "weight": 1.0}]) == []
