import json
import time

import numpy as np
import pytest
import scipy.sparse as sp

from ml.data.records import Question
from ml.data.split import Split, data_hash, iterative_split, label_matrix, make_or_load_split

FRACTIONS = (0.8, 0.1, 0.1)


def skewed_label_sets(n=3000, n_labels=40, seed=1):
    """Zipf-like tag frequencies, 0-3 tags per example (some untagged)."""
    rng = np.random.default_rng(seed)
    popularity = 1 / np.arange(1, n_labels + 1) ** 1.2
    popularity /= popularity.sum()
    return [
        tuple(f"t{i}" for i in rng.choice(n_labels, size=rng.integers(0, 4), replace=False, p=popularity))
        for _ in range(n)
    ]


LABEL_SETS = skewed_label_sets()


def stratification_error(matrix, parts, fractions=FRACTIONS):
    """Mean over labels and parts of |share of the label's examples in the part - fraction|."""
    totals = np.asarray(matrix.sum(axis=0)).ravel()
    shares = [np.asarray(matrix[part].sum(axis=0)).ravel() / totals for part in parts]
    return float(np.mean([np.abs(share - f) for share, f in zip(shares, fractions, strict=True)]))


def test_label_matrix_dedupes_and_ignores_unknown_tags():
    matrix, labels = label_matrix([("b", "a", "a"), (), ("c",)], labels=["a", "b"])
    assert labels == ["a", "b"]
    assert matrix.toarray().tolist() == [[1, 1], [0, 0], [0, 0]]
    assert label_matrix([("b",), ("a", "b")])[1] == ["a", "b"]


def test_every_index_used_once_sorted_and_sizes_match_fractions():
    parts = iterative_split(LABEL_SETS, FRACTIONS, seed=0)
    n = len(LABEL_SETS)
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(n))
    for part, fraction in zip(parts, FRACTIONS, strict=True):
        assert np.all(np.diff(part) > 0)
        assert abs(len(part) - fraction * n) <= 0.01 * n


def test_same_seed_same_split_other_seed_other_split():
    first = iterative_split(LABEL_SETS, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(first, iterative_split(LABEL_SETS, seed=3), strict=True))
    assert not np.array_equal(first[2], iterative_split(LABEL_SETS, seed=4)[2])


def test_label_sets_sparse_and_dense_inputs_agree():
    matrix, _ = label_matrix(LABEL_SETS)
    expected = iterative_split(LABEL_SETS, seed=0)
    for same in (iterative_split(matrix, seed=0), iterative_split(matrix.toarray(), seed=0)):
        assert all(np.array_equal(a, b) for a, b in zip(expected, same, strict=True))


def test_stratifies_far_better_than_a_random_split():
    matrix, _ = label_matrix(LABEL_SETS)
    stratified = stratification_error(matrix, iterative_split(matrix, FRACTIONS, seed=0))
    order = np.random.default_rng(0).permutation(matrix.shape[0])
    cuts = np.cumsum([int(f * matrix.shape[0]) for f in FRACTIONS[:-1]])
    random = stratification_error(matrix, np.split(order, cuts))
    assert stratified < random / 3


def test_rarest_label_gets_its_exact_share():
    label_sets = [("rare",)] * 10 + [("common",)] * 90 + [()] * 20
    parts = iterative_split(label_sets, FRACTIONS, seed=5)
    assert [sum(i < 10 for i in part) for part in parts] == [8, 1, 1]
    assert [len(part) for part in parts] == [96, 12, 12]


def test_fractions_must_sum_to_one():
    with pytest.raises(ValueError, match="fractions"):
        iterative_split(LABEL_SETS, (0.8, 0.1))


def test_fast_on_a_large_sparse_matrix():
    rng = np.random.default_rng(0)
    n, n_labels = 50_000, 100
    rows = np.repeat(np.arange(n), 3)
    matrix = sp.csr_matrix((np.ones(3 * n), (rows, rng.zipf(1.5, 3 * n) % n_labels)), shape=(n, n_labels))
    started = time.perf_counter()
    parts = iterative_split(matrix, seed=0)
    assert time.perf_counter() - started < 3  # typically ~0.2 s; the bound only catches a quadratic slip
    assert sum(len(part) for part in parts) == n


QUESTIONS = [
    Question("How to sort?", ("python", "sorting"), "<p>list</p>"),
    Question("Null pointer", ("java",)),
]


def test_data_hash_is_stable_and_ignores_tag_order():
    assert data_hash(QUESTIONS) == data_hash(iter(list(QUESTIONS)))
    reordered_tags = [Question("How to sort?", ("sorting", "python"), "<p>list</p>"), QUESTIONS[1]]
    assert data_hash(reordered_tags) == data_hash(QUESTIONS)


@pytest.mark.parametrize(
    "changed",
    [
        [Question("How to sort?!", ("python", "sorting"), "<p>list</p>"), QUESTIONS[1]],
        [Question("How to sort?", ("python",), "<p>list</p>"), QUESTIONS[1]],
        [Question("How to sort?", ("python", "sorting"), "<p>list</p> "), QUESTIONS[1]],
        QUESTIONS[::-1],
        QUESTIONS[:1],
        # Moving text across the title/body boundary must not collide.
        [Question("How to sort?<p>list</p>", ("python", "sorting")), QUESTIONS[1]],
    ],
)
def test_data_hash_changes_with_content_or_order(changed):
    assert data_hash(changed) != data_hash(QUESTIONS)


def many_questions(n=400):
    return [Question(f"q{i}", tags) for i, tags in enumerate(skewed_label_sets(n, 10, seed=2))]


def test_split_save_load_round_trip_stores_only_held_out_indices(tmp_path):
    split = make_or_load_split(many_questions(), seed=1)
    path = split.save(tmp_path / "split.json")
    assert "train" not in json.loads(path.read_text())
    loaded = Split.load(path)
    for name in ("train", "validation", "test"):
        assert np.array_equal(getattr(loaded, name), getattr(split, name))
    assert (loaded.data_hash, loaded.seed, loaded.fractions, loaded.n_total) == (split.data_hash, 1, FRACTIONS, 400)


def test_load_rejects_overlapping_indices(tmp_path):
    path = tmp_path / "split.json"
    record = {"data_hash": "x", "seed": 0, "fractions": list(FRACTIONS), "n_total": 5, "validation": [1], "test": [1]}
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError, match="overlap"):
        Split.load(path)


def tamper(path):
    """Swap one validation and one test index so a reused file is recognisable."""
    record = json.loads(path.read_text())
    record["validation"][0], record["test"][0] = record["test"][0], record["validation"][0]
    path.write_text(json.dumps(record))
    return sorted(record["test"])


def test_saved_split_reused_only_when_data_and_settings_match(tmp_path):
    questions = many_questions()
    path = tmp_path / "splits" / "split.json"
    fresh = make_or_load_split(questions, path, seed=1)
    assert path.exists()

    tampered_test = tamper(path)
    assert make_or_load_split(questions, path, seed=1).test.tolist() == tampered_test

    for changed_questions, seed, fractions in [
        ([Question("edited", questions[0].tags), *questions[1:]], 1, FRACTIONS),
        (questions[:-1], 1, FRACTIONS),
        (questions, 2, FRACTIONS),
        (questions, 1, (0.7, 0.15, 0.15)),
    ]:
        fresh.save(path)
        tampered_test = tamper(path)
        recomputed = make_or_load_split(changed_questions, path, fractions, seed)
        assert recomputed.test.tolist() != tampered_test
        assert Split.load(path).data_hash == data_hash(changed_questions)

    path.write_text("{not json")
    assert np.array_equal(make_or_load_split(questions, path, seed=1).test, fresh.test)
