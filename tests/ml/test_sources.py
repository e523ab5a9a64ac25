import json

import numpy as np

from ml.data.catalogue import TagCatalogue
from ml.data.sources import Source, load_corpus, normalised_title, title_part


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def corpus_from(tmp_path):
    catalogue = TagCatalogue({"python": 10, "docker": 5, "java": 8, "svn": 3, "kubernetes": 4}, {"k8s": "kubernetes"})
    open_records = [
        {"title": f"open question {i}", "tags": ["python", "docker"] if i % 2 else ["k8s"]} for i in range(40)
    ]
    open_records.append({"title": "Shared   Title!", "tags": ["python", "docker"]})
    write_jsonl(tmp_path / "open.jsonl", open_records)
    (tmp_path / "hundred.csv").write_text(
        "title,tags\n"
        + "".join(f"hundred question {i},{'java' if i % 2 else 'python'}\n" for i in range(30))
        + "shared title,python\n"
    )
    write_jsonl(tmp_path / "twenty.jsonl", [{"title": f"twenty {i}", "tags": ["svn"]} for i in range(5)])
    sources = (
        Source("open", str(tmp_path / "open.jsonl"), "jsonl", "all", "hash"),
        Source("titles100", str(tmp_path / "hundred.csv"), "corpus", "listed", "keep"),
        Source("titles20", str(tmp_path / "twenty.jsonl"), "jsonl", "own", "train"),
    )
    return load_corpus(sources, catalogue=catalogue, splits_dir=tmp_path / "splits")


def test_each_source_labels_only_its_own_tags(tmp_path):
    corpus = corpus_from(tmp_path)
    labels = ["python", "docker", "java", "svn", "kubernetes"]
    rows = corpus.indices("train")
    targets, known = corpus.label_matrices(rows, labels)
    targets, known = targets.toarray(), known.toarray()
    for r, i in enumerate(rows):
        source = corpus.sources[corpus.source[i]].name
        if source == "open":  # complete tag sets: every absent tag is a real negative
            assert known[r].all()
        elif source == "titles100":  # its listed tags only: docker is unknown, not negative
            assert known[r].tolist() == [1, 0, 1, 0, 0]
        else:  # one known tag: a positive for svn, nothing about the others
            assert known[r].tolist() == [0, 0, 0, 1, 0] and targets[r].tolist() == [0, 0, 0, 1, 0]
    assert not (targets & ~known.astype(bool)).any()  # a positive is always a known label


def test_tags_are_canonical_and_duplicates_keep_the_best_copy(tmp_path):
    corpus = corpus_from(tmp_path)
    assert "k8s" not in corpus.tag_counts("train") and corpus.tag_counts("train", scope="all")["kubernetes"] > 0
    shared = [i for i, q in enumerate(corpus.questions) if normalised_title(q.title) == "shared title"]
    assert len(shared) == 1 and corpus.duplicates_dropped == 1
    assert corpus.sources[corpus.source[shared[0]]].name == "open"  # the complete-label copy wins
    assert corpus.describe()["parts"]["titles20"] == {"train": 5, "validation": 0, "test": 0}


def test_title_split_is_stable_and_order_free():
    parts = [title_part(f"question number {i}") for i in range(2000)]
    assert parts == [title_part(f"question number {i}") for i in range(2000)]
    shares = {part: parts.count(part) / len(parts) for part in ("train", "validation", "test")}
    assert 0.75 < shares["train"] < 0.85 and 0.07 < shares["test"] < 0.13
    assert title_part("How do I X?") == title_part("how do i x")
    assert np.unique(parts).tolist() == ["test", "train", "validation"]
