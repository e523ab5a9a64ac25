import json

import numpy as np
import pytest
import scipy.sparse as sp

from ml.evaluate import evaluate, format_report, format_table, write_metrics

# Tags: python, java, c, go.  Row 0 misses "c", row 1 adds a spurious "c", row 2 is exact.
Y_TRUE = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]])
Y_PRED = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1]])
SCORES = np.array([[0.9, 0.1, 0.4, 0.45], [0.2, 0.55, 0.6, 0.1], [0.7, 0.6, 0.1, 0.65]])
LABELS = ["python", "java", "c", "go"]


@pytest.fixture
def metrics():
    return evaluate(Y_TRUE, Y_PRED, scores=SCORES, labels=LABELS, unknown_gold_tags=7)


def test_summary_metrics_match_hand_computed_values(metrics):
    # TP=5, FP=1, FN=1 over all cells; 2 of 12 cells wrong; only row 2 is an exact match.
    assert metrics["n_samples"] == 3 and metrics["n_labels"] == 4
    assert metrics["micro_precision"] == pytest.approx(0.8333)
    assert metrics["micro_recall"] == pytest.approx(0.8333)
    assert metrics["micro_f1"] == pytest.approx(0.8333)
    assert metrics["hamming_loss"] == pytest.approx(0.1667)
    assert metrics["exact_match"] == pytest.approx(0.3333)
    # Per-tag F1 is 1, 1, 0, 1 with supports 2, 2, 1, 1.
    assert metrics["macro_f1"] == 0.75
    assert metrics["weighted_f1"] == pytest.approx(0.8333)
    # Per-sample F1: 2/3, 2/3, 1.
    assert metrics["samples_f1"] == pytest.approx(0.7778)
    assert metrics["samples_precision"] == pytest.approx(0.8333)
    assert metrics["label_cardinality_true"] == 2.0
    assert metrics["label_cardinality_pred"] == 2.0
    assert metrics["unknown_gold_tags"] == 7


def test_precision_at_k_uses_score_ranking(metrics):
    # Best-scored tag is right in rows 0 and 2, wrong ("c") in row 1.
    assert metrics["precision_at_1"] == pytest.approx(0.6667)
    # Top 3: {python, go, c} -> 2 hits, {c, java, python} -> 1, {python, go, java} -> 3.
    assert metrics["precision_at_3"] == pytest.approx(0.6667)
    # k beyond the 4 labels still divides by k: (2 + 1 + 3) / 5 / 3.
    assert metrics["precision_at_5"] == 0.4


def test_without_scores_there_is_no_precision_at_k():
    metrics = evaluate(Y_TRUE, Y_PRED)
    assert not any(key.startswith("precision_at") for key in metrics)
    assert [row["tag"] for row in metrics["per_tag"]] == ["0", "1", "2", "3"]


def test_sparse_input_gives_the_same_metrics(metrics):
    sparse = evaluate(
        sp.csr_matrix(Y_TRUE), sp.csc_matrix(Y_PRED), scores=sp.coo_matrix(SCORES), labels=LABELS, unknown_gold_tags=7
    )
    assert sparse == metrics


def test_metrics_are_plain_json_ready_python(metrics):
    assert json.loads(json.dumps(metrics)) == metrics

    def check(value):
        if isinstance(value, dict):
            for item in value.values():
                check(item)
        elif isinstance(value, list):
            for item in value:
                check(item)
        else:
            assert type(value) in (int, float, str), (value, type(value))

    check(metrics)


def test_per_tag_table_sorted_by_support(metrics):
    assert metrics["per_tag"] == [
        {"tag": "java", "support": 2, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        {"tag": "python", "support": 2, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        {"tag": "c", "support": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0},
        {"tag": "go", "support": 1, "precision": 1.0, "recall": 1.0, "f1": 1.0},
    ]


def test_mismatched_shapes_are_rejected():
    with pytest.raises(ValueError, match="shape"):
        evaluate(Y_TRUE, Y_PRED[:2])
    with pytest.raises(ValueError, match="label names"):
        evaluate(Y_TRUE, Y_PRED, labels=["a"])


def test_format_table_aligns_numbers_right_and_text_left():
    rows = [{"tags": 10, "name": "small", "micro_f1": 0.5}, {"tags": 100, "name": "x", "micro_f1": None}]
    assert format_table(rows, ["name", "tags", "micro_f1"]).splitlines() == [
        "name   tags  micro_f1",
        "-----  ----  --------",
        "small    10    0.5000",
        "x       100",
    ]


def test_format_report_shows_summary_top_tags_and_worst_tags(metrics):
    report = format_report(metrics, per_tag_rows=2)
    assert "micro_f1" in report and "0.8333" in report
    top, worst = report.split("Tags by support")[1].split("Worst of the other tags by F1")
    assert "java" in top and "python" in top and "go" not in top
    worst_rows = worst.splitlines()[3:]
    assert [row.split()[0] for row in worst_rows] == ["c", "go"]
    assert worst_rows[0].split() == ["c", "1", "0.0000", "0.0000", "0.0000"]


def test_format_report_skips_worst_table_when_every_tag_is_listed(metrics):
    assert "Worst" not in format_report(metrics)


def test_write_metrics_creates_dirs_and_sorts_keys(tmp_path, metrics):
    path = write_metrics(metrics, tmp_path / "runs" / "eval" / "metrics.json")
    text = path.read_text()
    assert json.loads(text) == metrics
    assert text.startswith('{\n  "exact_match"')


def test_ptm4tag_protocol_drops_rare_tags_skips_empty_questions_and_caps_recall():
    from ml.evaluate import ptm4tag_metrics

    counts = {"python": 1000, "pandas": 500, "django": 80, "polars": 12, "rust": 900}
    gold = [
        {"python", "pandas", "polars"},  # polars (12 uses) leaves the gold: 2 tags remain
        {"polars"},  # nothing left: the question is skipped
        {"django"},
    ]
    ranked = [
        ["polars", "pandas", "rust", "python", "numpy"],  # polars and numpy (unknown) leave the ranking
        ["polars", "python"],
        ["rust", "python", "django"],
    ]
    metrics = ptm4tag_metrics(gold, ranked, counts, min_uses=50)
    assert metrics["n_samples"] == 2 and metrics["gold_tags"] == 3
    # Question 1 ranks pandas, rust, python: P@1 1, P@3 2/3; question 3 ranks rust, python, django.
    assert metrics["precision_at_1"] == pytest.approx(0.5)
    assert metrics["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3) / 2, abs=1e-4)
    # R@k divides by min(k, gold tags): question 1 has 2 gold tags, so R@1 = 1/1, not 1/2.
    assert metrics["recall_at_1"] == pytest.approx(0.5)
    assert metrics["recall_at_3"] == pytest.approx(1.0)
    assert metrics["f1_at_3"] == pytest.approx(2 * 0.5 * 1.0 / 1.5, abs=1e-4)
    assert metrics["min_uses"] == 50


def test_ptm4tag_protocol_with_nothing_left_says_so():
    from ml.evaluate import ptm4tag_metrics

    with pytest.raises(ValueError, match="no question keeps a tag"):
        ptm4tag_metrics([{"polars"}], [["polars"]], {"polars": 3})
