import pytest

from ml.data.labels import select_labels
from ml.data.records import Question


def q(*tags):
    return Question("t " + " ".join(tags), tuple(tags))


QUESTIONS = [
    q("python"),
    q("python", "pandas"),
    q("python", "pandas"),
    q("java"),
    q("java", "spring"),
    q("c#"),
    q("rare"),
]


def test_top_n_keeps_most_frequent_and_drops_questions_left_empty():
    sel = select_labels(QUESTIONS, top_n=2)
    assert sel.labels == ["python", "java"]
    assert [x.tags for x in sel.questions] == [("python",), ("python",), ("python",), ("java",), ("java",)]
    assert sel.stats["questions_in"] == 7 and sel.stats["questions_kept"] == 5


def test_min_count_and_deterministic_tie_order():
    sel = select_labels(QUESTIONS, min_count=2)
    assert sel.labels == ["python", "java", "pandas"]
    assert select_labels(QUESTIONS).labels[-3:] == ["c#", "rare", "spring"]


def test_top_combinations_keeps_only_whole_frequent_tag_sets():
    sel = select_labels(QUESTIONS, top_combinations=1)
    # {python, pandas} is the only set seen twice
    assert [x.tags for x in sel.questions] == [("python", "pandas"), ("python", "pandas")]
    assert sel.labels == ["pandas", "python"]
    # tags_in counts the input's tags, before the tag-set filter (it used to count after it)
    assert sel.stats["tags_in"] == len({tag for q in QUESTIONS for tag in q.tags}) > sel.stats["tags_kept"] == 2


@pytest.mark.parametrize("kwargs", [{"top_n": 0}, {"min_count": 0}, {"top_combinations": 0}])
def test_invalid_settings(kwargs):
    with pytest.raises(ValueError):
        select_labels(QUESTIONS, **kwargs)
