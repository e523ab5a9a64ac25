import csv
import random

import pytest

# Each tag has words that give it away; questions mix one or two tags, so a model that
# learns anything at all separates them, and one that learns nothing does not.
TAG_WORDS = {
    "python": ["django", "pip", "list comprehension", "pandas dataframe", "virtualenv"],
    "java": ["jvm", "spring", "hashmap", "maven", "arraylist"],
    "javascript": ["dom", "node.js", "promise", "npm", "callback"],
    "c#": ["linq", "asp.net-mvc", ".net", "visual studio", "wpf"],
    "sql": ["select", "join", "index", "query", "postgres"],
}
FILLER = ["how to", "why does", "best way to", "error when", "cannot", "using", "with", "fast"]


def make_questions(n: int, seed: int = 0) -> list[tuple[str, list[str]]]:
    rng = random.Random(seed)
    tags = sorted(TAG_WORDS)
    rows = []
    for _ in range(n):
        chosen = rng.sample(tags, 2 if rng.random() < 0.3 else 1)
        words = [rng.choice(FILLER)] + [rng.choice(TAG_WORDS[tag]) for tag in chosen] + [rng.choice(FILLER)]
        rows.append((" ".join(words), chosen))
    return rows


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "tiny.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["title", "tags"])
        for title, tags in make_questions(400):
            writer.writerow([title, " ".join(tags)])
    return path


@pytest.fixture(scope="session")
def trained_models(tmp_path_factory, tiny_corpus):
    """A models/ folder holding a baseline trained through the CLI on the tiny corpus."""
    from ml.cli import main

    root = tmp_path_factory.mktemp("trained")
    status = main(
        [
            "--quiet",
            "train",
            "--model",
            "baseline",
            "--data",
            str(tiny_corpus),
            "--output",
            str(root / "models" / "baseline"),
            "--splits-dir",
            str(root / "splits"),
            "--min-df",
            "1",
            "--char-ngrams",
            "2-4",
            "--metrics-file",
            str(root / "metrics.json"),
        ]
    )
    assert status == 0
    return root
