"""The peer to beat, Annif, trained on our split and scored beside every tagsmith model.

The issue's setup: Annif 1.4 with omikuji and fastText over the tags with >= 10 training
questions, MLLM over the catalogue's tags with >= 1,000 Stack Overflow questions, and an
ensemble of the three, all trained on the train part of the open questions. Each Annif
project suggests its 10 best tags for the validation and test questions; a global threshold
is chosen on validation under tagsmith's serving rule (at most 5 tags, top-1 fallback) and
the test questions are scored over every real tag, exactly as ``bench/open_vocab.py`` scores
tagsmith's models, whose test metrics (same split, from their metadata) are printed beside.

Annif lives in its own environment (its dependencies are not tagsmith's):

    python3 -m venv .annif-venv && .annif-venv/bin/pip install "annif[omikuji,fasttext]==1.4.*"
    .venv/bin/python -m bench.annif_compare [--annif .annif-venv/bin/annif] [--work /tmp/annif-bench]

NLTK's ``punkt_tab`` data cannot be downloaded here; a ``punkt_tab/english`` folder of
empty files under ``NLTK_DATA`` lets Annif's analyzer run (the script makes one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, unquote

import numpy as np

from bench.harness import stamp
from ml.data.catalogue import load_catalogue
from ml.data.sources import Corpus, load_corpus
from ml.evaluate import format_table
from ml.paths import MODELS_DIR, PROJECT_ROOT
from ml.registry import model_names
from ml.training.open_corpus import gold_sets, score_part, texts, tune_threshold

URI = "http://tagsmith.local/tag/"
LEARNED_MIN = 10  # omikuji and fastText: tags with at least this many training questions
MLLM_MIN = 1000  # MLLM: catalogue tags with at least this many Stack Overflow questions
PROJECTS = """
[omikuji-so]
name=Omikuji Bonsai
language=en
backend=omikuji
analyzer=snowball(english)
vocab=so
limit=100
cluster_balanced=False
cluster_k=100
max_depth=3

[fasttext-so]
name=fastText
language=en
backend=fasttext
analyzer=snowball(english)
vocab=so
limit=100
dim=100
lr=0.25
epoch=5
loss=hs
chunksize=1

[mllm-so]
name=MLLM
language=en
backend=mllm
analyzer=snowball(english)
vocab=so

[ensemble-so]
name=Ensemble
language=en
backend=ensemble
vocab=so
sources=omikuji-so,fasttext-so,mllm-so
"""


def one_line(text: str) -> str:
    return " ".join(text.split())


def write_training(path: Path, corpus: Corpus, rows: np.ndarray, vocabulary: set[str]) -> int:
    written = 0
    with open(path, "w", encoding="utf-8") as handle:
        for text, tags in zip(texts(corpus, rows), (corpus.questions[i].tags for i in rows), strict=True):
            uris = " ".join(f"<{URI}{quote(tag)}>" for tag in tags if tag in vocabulary)
            if uris:
                handle.write(f"{one_line(text)}\t{uris}\n")
                written += 1
    return written


def write_documents(folder: Path, inputs: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for number, text in enumerate(inputs):
        (folder / f"{number:06d}.txt").write_text(text, encoding="utf-8")


def read_suggestions(folder: Path, n: int, labels: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(columns, scores) of each document's suggestions, best first (``ml.training.open_corpus``'s shape)."""
    columns = np.zeros((n, 10), dtype=np.int64)
    values = np.zeros((n, 10))
    for number in range(n):
        path = folder / f"{number:06d}.annif"
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for k, line in enumerate(lines[:10]):
            uri, _, score = line.split("\t")
            columns[number, k] = labels[unquote(uri.strip("<>")[len(URI) :])]
            values[number, k] = float(score)
    return columns, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annif", default=str(PROJECT_ROOT / ".annif-venv" / "bin" / "annif"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/annif-bench"))
    args = parser.parse_args()
    print(stamp(), flush=True)
    work = args.work.resolve()
    punkt = work / "nltk_data" / "tokenizers" / "punkt_tab" / "english"
    punkt.mkdir(parents=True, exist_ok=True)
    for name in ("collocations.tab", "sent_starters.txt", "abbrev_types.txt", "ortho_context.tab"):
        (punkt / name).touch()  # empty: no abbreviations or collocations known, which titles barely need
    (work / "projects.cfg").write_text(PROJECTS)
    environment = dict(os.environ, ANNIF_PROJECTS=str(work / "projects.cfg"), NLTK_DATA=str(work / "nltk_data"))

    def annif(*command: str) -> float:
        started = time.perf_counter()
        subprocess.run([args.annif, *command], cwd=work, env=environment, check=True, capture_output=True)
        return time.perf_counter() - started

    corpus = load_corpus()
    catalogue = load_catalogue()
    train = corpus.complete("train")
    counts = corpus.tag_counts("train", scope="all")
    learned = {tag for tag, n in counts.items() if n >= LEARNED_MIN}
    matched = {tag for tag, n in catalogue.counts.items() if n >= MLLM_MIN}
    vocabulary = sorted(learned | matched)
    labels = {tag: j for j, tag in enumerate(vocabulary)}
    (work / "subjects.tsv").write_text("".join(f"<{URI}{quote(t)}>\t{t.replace('-', ' ')}\n" for t in vocabulary))
    print(f"vocabulary: {len(vocabulary)} tags ({len(learned)} learned, {len(matched)} matched)", file=sys.stderr)
    write_training(work / "train-learned.tsv", corpus, train, learned)
    write_training(work / "train-matched.tsv", corpus, train, matched)
    annif("load-vocab", "so", str(work / "subjects.tsv"), "--language", "en", "--force")
    timings = {
        "omikuji-so": annif("train", "omikuji-so", str(work / "train-learned.tsv")),
        "fasttext-so": annif("train", "fasttext-so", str(work / "train-learned.tsv")),
        "mllm-so": annif("train", "mllm-so", str(work / "train-matched.tsv")),
    }
    print(f"trained: {json.dumps({k: round(v) for k, v in timings.items()})} s", file=sys.stderr)

    parts = {part: corpus.complete(part) for part in ("validation", "test")}
    for part, rows in parts.items():
        write_documents(work / part, texts(corpus, rows))
    table = []
    for project in ("omikuji-so", "fasttext-so", "mllm-so", "ensemble-so"):
        tops = {}
        for part, rows in parts.items():
            seconds = annif("index", project, str(work / part), "--limit", "10", "--threshold", "0", "--force")
            tops[part] = read_suggestions(work / part, len(rows), labels)
            if part == "test":
                per_question = seconds / len(rows) * 1000
        threshold, _ = tune_threshold(tops["validation"], vocabulary, gold_sets(corpus, parts["validation"]))
        metrics = score_part(tops["test"], vocabulary, threshold, corpus, parts["test"])
        table.append(row_of(f"Annif {project}", metrics, f"{per_question:.1f} (batch, CLI)"))
    for name in model_names():
        metadata_path = MODELS_DIR / name / "metadata.json"
        if metadata_path.exists():
            test = json.loads(metadata_path.read_text()).get("metrics", {}).get("test", {})
            if "all" in test:
                table.append(row_of(f"tagsmith {name}", test, "see bench/open_vocab.py"))
    print(f"test part of the open questions ({len(parts['test'])}), every real tag counted")
    print(format_table(table, list(table[0])))


def row_of(name: str, metrics: dict, latency: str) -> dict:
    row: dict = {"model": name}
    for part in ("all", "titles", "bodies"):
        row[f"{part} F1"] = metrics[part]["micro_f1"]
        row[f"{part} P@1"] = metrics[part]["precision_at_1"]
    row["ms/question"] = latency
    return row


if __name__ == "__main__":
    main()
