import pytest

from ml.data.catalogue import TagCatalogue, load_catalogue
from ml.data.tag_files import TagRecord
from ml.data.tag_names import normalise_tag, tag_problem


@pytest.fixture
def small():
    counts = {"kubernetes": 500, "k8s-cronjobber": 3, "go": 900, "python-3.x": 800, "python": 2000, "reactjs": 700}
    synonyms = {"k8s": "kubernetes", "golang": "go", "python-3": "python3", "python3": "python-3.x", "react": "reactjs"}
    return TagCatalogue(counts, synonyms, {"kubernetes": "Container orchestration."})


def test_canonical_names_follow_stack_overflow(small):
    assert small.canonical("K8s") == "kubernetes"
    assert small.canonical(" Golang ") == "go"
    assert small.canonical("python 3") == "python-3.x"  # spaces become hyphens, then a chain of synonyms
    assert small.canonical("brand-new-tag") == "brand-new-tag"  # unknown names are kept, never refused
    assert small.canonical_tags(["react", "reactjs", "", "Go"]) == ("reactjs", "go")
    assert "k8s" in small and "brand-new-tag" not in small


def test_every_name_of_a_tag(small):
    assert small.names_of("python-3.x") == ("python-3.x", "python-3", "python3")  # the chain's ends too
    assert small.names_of("Golang") == ("go", "golang")
    assert small.names_of("brand-new-tag") == ("brand-new-tag",)
    merged = small.merged({"kubernetes": 900}, {"k8s-cronjobber": "kubernetes"})
    assert merged.names_of("kubernetes") == ("kubernetes", "k8s", "k8s-cronjobber")


def test_prefix_search_ranks_by_use_and_reaches_synonyms(small):
    found = small.search("k8", limit=5)
    assert [info.name for info in found] == ["kubernetes", "k8s-cronjobber"]
    assert found[0].matched == "k8s" and found[0].description == "Container orchestration."
    assert [info.name for info in small.search("py")] == ["python", "python-3.x"]
    assert small.search("") == [] and small.search("zz") == []
    assert small.info("golang").to_dict() == {"tag": "go", "count": 900, "description": "", "synonym": "golang"}


def test_tag_names_are_checked():
    assert normalise_tag("  Ruby On   Rails ") == "ruby-on-rails"
    assert tag_problem("c#") is None and tag_problem("node.js") is None
    assert "35" in tag_problem("x" * 36)
    assert tag_problem("bad!tag") is not None and tag_problem("") == "is empty"
    for punctuation in ("...", "+++", "###", ".-+#"):  # a reviewer's "tag" of no letter or digit
        assert "letter or digit" in tag_problem(punctuation)
    assert tag_problem("c++") is None and tag_problem(".net") is None and tag_problem("f#") is None


def test_newer_records_rename_merge_and_count(small):
    records = [
        TagRecord("kubernetes", 900, ("k8s-cronjobber",)),  # a 2021 tag merged into another
        TagRecord("go", 900, ()),
        TagRecord("python3", 50, ()),  # a synonym that became a tag of its own
        TagRecord("langchain", 40, ()),
    ]
    found = small.changes(records)
    assert found.added == ["langchain"] and found.updated == ["kubernetes"]
    assert found.renamed == [("k8s-cronjobber", "kubernetes")]
    merged = small.merged(found.counts, found.synonyms)
    assert merged.canonical("k8s-cronjobber") == "kubernetes" and "k8s-cronjobber" not in merged.counts
    assert merged.canonical("python3") == "python3" and "python3" in merged.counts
    assert merged.count("kubernetes") == 900 and merged.count("langchain") == 40
    assert merged.description("k8s") == "Container orchestration."


def test_the_bundled_catalogue():
    catalogue = load_catalogue()
    assert 60_000 < len(catalogue) < 61668  # 2021's tags, less the names that are synonyms
    assert catalogue.canonical("postgres") == "postgresql" and catalogue.canonical("nextjs") == "next.js"
    assert catalogue.count("python") > 1_000_000
    assert "data analysis" in catalogue.description("pandas").lower()
    # Today's names (the 2024 save): tags merged since 2021, and the 2021 synonyms of them.
    assert catalogue.canonical("tsql") == "t-sql" and catalogue.canonical("unity5") == "unity-game-engine"
    assert "unity3d" not in catalogue.counts and "unity3d" in catalogue.aliases["unity-game-engine"]
    assert catalogue.canonical("selenium") == "selenium"  # a tag of its own in 2024 as well
    assert catalogue.count("vite") > 6000  # 193 in 2021
