"""``python -m ml``: train, suggest, eval, optimize, experiment.

The vocabulary follows Annif: ``train`` builds a model folder, ``suggest`` tags new
questions, ``eval`` scores a model against gold tags, ``optimize`` searches the decision
settings on the validation split, ``experiment`` repeats training for several label-set
sizes. Every command prints a readable summary; ``--metrics-file`` writes JSON.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal, TextIO

import numpy as np

from ml import __version__
from ml.artifacts import training_lock, versioned_saves
from ml.backends.baseline import TfidfBaseline, add_profile_arguments
from ml.cli_types import positive_int, probability, top_k
from ml.data import reviews
from ml.data.catalogue import load_catalogue
from ml.data.readers import FORMATS, read_questions
from ml.data.records import Question, ReadReport
from ml.data.sources import DEFAULT_SOURCES, Corpus, Source, load_corpus
from ml.data.split import label_matrix
from ml.errors import TagsmithError, UsageError
from ml.evaluate import all_tag_metrics, format_all_tag_report, format_report, format_table, write_metrics
from ml.paths import DEFAULT_DATA, SPLITS_DIR, display_path
from ml.predictor import DEFAULT_TOP_K, MAX_TOP_K, Predictor, TrainOptions
from ml.registry import get_kind, kinds, load_predictor, model_dir, model_names
from ml.text import question_text
from ml.training.from_file import Dataset, evaluate_scores, fit_and_evaluate, load_dataset, model_dataset
from ml.training.open_corpus import chosen_and_ranked, evaluate_model, model_corpus, top_of

BATCH_SIZE = 256


def _add_data_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="training data: a file or a StackSample folder (default: the bundled corpus, %(default)s)",
    )
    group.add_argument(
        "--format",
        default="auto",
        choices=FORMATS,
        help="data format; 'auto' guesses from the name (default: %(default)s)",
    )
    group.add_argument("--top-n", type=positive_int, help="keep only the N most frequent tags")
    group.add_argument(
        "--min-count",
        type=positive_int,
        default=1,
        help="drop tags seen fewer than this many times (default: %(default)s)",
    )
    group.add_argument(
        "--top-combinations",
        type=positive_int,
        metavar="M",
        help="StackSample-study protocol: keep only questions whose whole tag set is among the M most frequent "
        "tag sets",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="seed of the train/validation/test split (default: %(default)s)"
    )
    _add_splits_dir(group)


def _add_splits_dir(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    parser.add_argument(
        "--splits-dir",
        type=Path,
        default=SPLITS_DIR,
        help="where splits are saved and reused, keyed by data hash (default: data/splits)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=model_names(include_unserved=True), help="which model")
    parser.add_argument("--models-dir", type=Path, help="folder holding the model folders (default: models/)")


def _add_own_split_options(parser: argparse.ArgumentParser) -> None:
    """The split a model was trained on is rebuilt from its metadata, never from options."""
    parser.add_argument(
        "--data",
        type=Path,
        help="where the model's training data lives now, if it moved (default: the source its metadata records)",
    )
    _add_splits_dir(parser)


def _add_decision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top-k",
        type=top_k,
        default=DEFAULT_TOP_K,
        help=f"at most K tags per question (1..{MAX_TOP_K}, default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=probability,
        help="one score cut-off for every tag (default: the thresholds tuned on validation)",
    )
    parser.add_argument(
        "--no-fallback",
        dest="ensure_one",
        action="store_false",
        help="allow questions with no tag (default: the best tag when none passes its threshold)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ml", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"tagsmith ml {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    # --quiet also works after the command; SUPPRESS keeps a subcommand from resetting it.
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser(
        "train",
        parents=[quiet],
        help="train a model and save it with its metrics",
        description="Train on the train split, tune thresholds on the validation split, report test metrics, "
        "save the model folder.",
    )
    train.add_argument(
        "--model",
        required=True,
        choices=model_names(include_unserved=True),
        help="which model to train; "
        + "; ".join(
            f"{kind.name}: {kind.label.lower()}, rebuilt with `{kind.rebuild}`" for kind in kinds(include_unserved=True)
        ),
    )
    train.add_argument("--output", type=Path, help="model folder to write (default: models/<model>)")
    train.add_argument("--metrics-file", type=Path, help="also write the test metrics as JSON here")
    train.add_argument(
        "--with-reviews",
        metavar="DATABASE_URL",
        help="also train on the questions reviewed on the site whose database this is (right tags = accepted + "
        "added, complete labels, train part only); the model is written as a new version",
    )
    train.add_argument(
        "--new-version",
        action="store_true",
        help="write the model as a new version (models/.versions/<model>/<version>) and switch models/<model> to it "
        "atomically, so a running site reloads it between requests (implied by --with-reviews)",
    )
    _add_data_options(train)
    for kind in kinds(include_unserved=True):
        kind.predictor_class().add_train_arguments(train.add_argument_group(f"{kind.name} options"))

    suggest = commands.add_parser(
        "suggest",
        parents=[quiet],
        help="suggest tags for questions in a JSONL file",
        description='Each input line {"title": ..., "body": ...} (body optional) gives one output line '
        '{"tags": [{"tag": ..., "score": ...}, ...]} in the same order. A line that cannot be read gives '
        '{"error": ...} in its place.',
    )
    _add_model_options(suggest)
    suggest.add_argument("--input", required=True, help="JSONL file of questions, or - for standard input")
    suggest.add_argument("--output", required=True, help="JSONL file to write, or - for standard output")
    _add_decision_options(suggest)

    evaluate = commands.add_parser(
        "eval",
        parents=[quiet],
        help="score a model against gold tags",
        description='Gold lines are {"title": ..., "body": ..., "tags": [...]}; any format train reads works with '
        "--format. Gold tags outside the model's vocabulary are ignored for scoring and counted in the report.",
    )
    _add_model_options(evaluate)
    gold = evaluate.add_mutually_exclusive_group(required=True)
    gold.add_argument("--input", type=Path, help="gold file (JSONL by default)")
    gold.add_argument(
        "--split",
        choices=("validation", "test"),
        help="score on this part of the split the model was trained with (rebuilt from its metadata)",
    )
    _add_own_split_options(evaluate)
    evaluate.add_argument("--format", default="auto", choices=FORMATS, help="gold file format (default: %(default)s)")
    evaluate.add_argument("--metrics-file", type=Path, help="write the metrics as JSON here")
    _add_decision_options(evaluate)

    optimize = commands.add_parser(
        "optimize",
        parents=[quiet],
        help="search threshold and top-k on the validation split",
        description="Scores every (threshold, top-k) pair on the validation split the model was trained with "
        "and prints the best; the test split is never used.",
    )
    _add_model_options(optimize)
    _add_own_split_options(optimize)
    optimize.add_argument("--metrics-file", type=Path, help="write the grid as JSON here")

    experiment = commands.add_parser(
        "experiment",
        parents=[quiet],
        help="train the baseline for several label-set sizes",
        description="For each N, keep the top-N tags, split, train, and report questions, tags, test metrics and "
        "training time in one table (the shape of the StackSample study's table).",
    )
    _add_data_options(experiment)
    experiment.add_argument("--sizes", default="10,20,50,100", help="comma-separated tag counts (default: %(default)s)")
    experiment.add_argument("--metrics-file", type=Path, help="write the table as JSON here")
    add_profile_arguments(experiment.add_argument_group("baseline options"))
    return parser


# -- commands ---------------------------------------------------------------------------


def _load_dataset(args: argparse.Namespace) -> Dataset:
    return load_dataset(
        args.data,
        fmt=args.format,
        top_n=args.top_n,
        min_count=args.min_count,
        top_combinations=args.top_combinations,
        seed=args.seed,
        splits_dir=args.splits_dir,
        progress=not args.quiet,
    )


def _summary_line(metrics: dict[str, Any]) -> str:
    return (
        f"micro-F1 {metrics['micro_f1']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"P@1 {metrics.get('precision_at_1', float('nan')):.4f}  hamming {metrics['hamming_loss']:.4f}"
    )


def cmd_train(args: argparse.Namespace) -> int:
    output = Path(args.output or model_dir(args.model))
    with training_lock(output):  # before the data is read: a second training is refused at once
        return _train(args, output)


def _train(args: argparse.Namespace, output: Path) -> int:
    model_class = get_kind(args.model).predictor_class()
    reviewed = _reviewed_questions(args)
    dataset: Dataset | Corpus
    if model_class.training_data == "corpus":
        # Another file stands for one source whose questions carry their complete tag sets.
        sources = (
            DEFAULT_SOURCES
            if args.data == DEFAULT_DATA
            else (Source("data", display_path(Path(args.data).resolve()), args.format, "all", "hash"),)
        )
        if reviewed is not None:
            # First: where a title is in two training sources, the corpus keeps the first one's copy.
            sources = (reviews.snapshot(reviewed, Path(args.splits_dir) / "reviews"), *sources)
        dataset = load_corpus(sources, seed=args.seed, splits_dir=args.splits_dir)
        parts = dataset.describe()["parts"]
        print(f"{len(dataset.questions)} questions from {len(parts)} sources; split {parts}", file=sys.stderr)
    else:
        dataset = _load_dataset(args)
        print(dataset.report.summary(), file=sys.stderr)
        if reviewed is not None:
            print(f"reviewed questions: {reviews.add_to_dataset(dataset, reviewed)}", file=sys.stderr)
        split = dataset.describe()["split"]
        print(f"{len(dataset.questions)} questions, {len(dataset.labels)} tags; split {split}", file=sys.stderr)
    options = TrainOptions(
        output=output,
        seed=args.seed,
        progress=not args.quiet,
        command="python -m ml " + shlex.join(_recorded_argv(args.argv)),
        params=vars(args),
    )
    with versioned_saves() if reviewed is not None or args.new_version else nullcontext():
        metadata = model_class.train(dataset, options)
    report_training(model_class, metadata, output, args.metrics_file)
    return 0


def _reviewed_questions(args: argparse.Namespace) -> list[Question] | None:
    if args.with_reviews is None:
        return None
    found = reviews.reviewed_questions(args.with_reviews)
    shown = reviews.hidden_password(args.with_reviews)
    if not found:
        raise UsageError(f"{shown} holds no reviewed question with a right tag: nothing to add to the training data")
    print(f"{len(found)} reviewed questions from {shown}", file=sys.stderr)
    return found


def _recorded_argv(argv: list[str]) -> list[str]:
    """The command line as metadata records it: a database password is not written down."""
    recorded = list(argv)
    for i, arg in enumerate(recorded):
        if arg == "--with-reviews" and i + 1 < len(recorded):
            recorded[i + 1] = reviews.hidden_password(recorded[i + 1])
        elif arg.startswith("--with-reviews="):
            recorded[i] = "--with-reviews=" + reviews.hidden_password(arg.partition("=")[2])
    return recorded


def report_training(model_class: type[Predictor], metadata: dict[str, Any], folder: Path, metrics_file: Path | None):
    """What every training run ends with: metrics files, the report, and one summary line."""
    test = metadata["metrics"]["test"]
    write_metrics(test, folder / "metrics.json")
    if metrics_file:
        write_metrics(test, metrics_file)
    notes = "; ".join(model_class.training_notes(metadata))
    if "all" in test:  # an open-vocabulary model: scored over every real tag
        print(format_all_tag_report(test))
        summary = _all_tag_summary(test["all"])
    else:
        print(format_report(test))
        summary = _summary_line(test)
    print(f"\nsaved {folder}{f' ({notes})' if notes else ''}; test: {summary}")


def _all_tag_summary(metrics: dict[str, Any]) -> str:
    f1, p_at_1, r_at_5 = metrics["micro_f1"], metrics["precision_at_1"], metrics["recall_at_5"]
    return f"all-tag micro-F1 {f1:.4f}  P@1 {p_at_1:.4f}  R@5 {r_at_5:.4f}"


def _read_jsonl(handle: TextIO) -> Iterator[tuple[int, dict | str]]:
    """(line number, question dict) or (line number, error text) for each non-blank line."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as error:
            yield number, f"invalid JSON ({error.msg})"
            continue
        if not isinstance(item, dict):
            yield number, "each line must be a JSON object"
        elif not isinstance(item.get("title"), str) or not item["title"].strip():
            yield number, "missing or empty 'title'"
        elif not isinstance(item.get("body", ""), str):
            yield number, "'body' must be a string"
        else:
            yield number, item


def _open(name: str, mode: Literal["r", "w"]) -> TextIO:
    if name == "-":
        return sys.stdin if "r" in mode else sys.stdout
    try:
        return open(name, mode, encoding="utf-8")  # noqa: SIM115  (closed by the caller, like stdin/stdout)
    except OSError as error:
        raise UsageError(f"{name}: {error.strerror}") from None


def cmd_suggest(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model, args.models_dir)
    errors = 0
    source = _open(args.input, "r")
    sink = _open(args.output, "w")
    try:
        batch: list[tuple[int, dict | str]] = []

        def flush() -> None:
            texts = [question_text(item["title"], item.get("body", "")) for _, item in batch if isinstance(item, dict)]
            suggestions = iter(
                predictor.predict(texts, top_k=args.top_k, threshold=args.threshold, ensure_one=args.ensure_one)
            )
            for _, item in batch:
                if isinstance(item, dict):
                    line: dict[str, Any] = {"tags": [{"tag": tag, "score": score} for tag, score in next(suggestions)]}
                else:
                    line = {"error": item}
                sink.write(json.dumps(line) + "\n")
            batch.clear()

        for number, item in _read_jsonl(source):
            if isinstance(item, str):
                errors += 1
                print(f"{args.input}:{number}: {item}", file=sys.stderr)
                item = f"line {number}: {item}"
            batch.append((number, item))
            if len(batch) >= BATCH_SIZE:
                flush()
        flush()
    finally:
        for handle in (source, sink):
            if handle not in (sys.stdin, sys.stdout):
                handle.close()
    if errors:
        print(f"{errors} line(s) could not be read; their output lines hold an error", file=sys.stderr)
    return 1 if errors else 0


def _scores(predictor: Predictor, texts: list[str]) -> np.ndarray:
    return np.vstack([predictor.predict_scores(texts[i : i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)])


def cmd_eval(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model, args.models_dir)
    if args.split and "corpus" in predictor.metadata:
        return _eval_open_split(args, predictor)
    if args.split:
        dataset = model_dataset(predictor.metadata, args.data, args.splits_dir, progress=not args.quiet)
        report = dataset.report
        gold = [dataset.questions[i] for i in getattr(dataset.split, args.split)]
    else:
        report = ReadReport(source=str(args.input))
        fmt = args.format
        if fmt == "auto" and args.input.suffix not in (".csv", ".xml") and not args.input.is_dir():
            fmt = "jsonl"
        gold = list(read_questions(args.input, fmt=fmt, report=report))
    if not gold:
        raise UsageError(f"{args.input or args.split}: no question to score ({report.summary()})")
    # In-vocabulary metrics compare the model's own tag names; the all-tag ones compare
    # canonical names, as a user would (html5 is html today).
    vocabulary = set(predictor.labels)
    unknown = sum(1 for q in gold for tag in q.tags if tag not in vocabulary)
    all_scores = _scores(predictor, [question_text(q.title, q.body) for q in gold])
    thresholds = predictor.thresholds if args.threshold is None else args.threshold
    catalogue = load_catalogue()
    chosen, ranked = chosen_and_ranked(
        top_of(all_scores),
        [catalogue.canonical(tag) for tag in predictor.labels],
        thresholds,
        top_k=args.top_k,
        ensure_one=args.ensure_one,
    )
    all_tags = all_tag_metrics([set(catalogue.canonical_tags(q.tags)) for q in gold], chosen, ranked)
    known_rows = [i for i, q in enumerate(gold) if any(tag in vocabulary for tag in q.tags)]
    metrics: dict[str, Any] = {}
    if known_rows:
        y_true, _ = label_matrix([gold[i].tags for i in known_rows], predictor.labels)
        metrics = evaluate_scores(
            y_true,
            all_scores[known_rows],
            thresholds,
            predictor.labels,
            unknown_gold_tags=unknown,
            top_k=args.top_k,
            ensure_one=args.ensure_one,
        )
        print(format_report(metrics))
    metrics.update(
        model=args.model,
        model_version=predictor.version,
        questions_read=len(gold),
        questions_without_known_tags=len(gold) - len(known_rows),
        all_tags=all_tags,
        read=report.to_dict(),
    )
    print(report.summary(), file=sys.stderr)
    print("\n" + format_all_tag_report({"all": all_tags}))
    print(
        f"\n{len(known_rows)} questions scored in the vocabulary; {len(gold) - len(known_rows)} had no known tag; "
        f"{unknown} gold tags outside the vocabulary (misses in the all-tag scores, ignored in the others)"
    )
    if args.metrics_file:
        write_metrics(metrics, args.metrics_file)
    return 0


def _eval_open_split(args: argparse.Namespace, predictor: Predictor) -> int:
    """An open-vocabulary model on the held-out part of the corpus it was trained on."""
    corpus = model_corpus(predictor.metadata)
    thresholds = predictor.thresholds if args.threshold is None else args.threshold
    metrics = evaluate_model(predictor.predict_scores, predictor.labels, thresholds, corpus, args.split)
    metrics.update(model=args.model, model_version=predictor.version, split=args.split)
    print(format_all_tag_report(metrics))
    if args.metrics_file:
        write_metrics(metrics, args.metrics_file)
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    predictor = load_predictor(args.model, args.models_dir)
    dataset = model_dataset(predictor.metadata, args.data, args.splits_dir, progress=not args.quiet)
    scores = _scores(predictor, dataset.texts("validation"))
    y_true = dataset.targets("validation")
    rows = []
    candidates = [("tuned", None)] + [(f"{t:.2f}", t) for t in np.round(np.arange(0.1, 0.75, 0.05), 2)]
    columns = ["micro_f1", "macro_f1", "micro_precision", "micro_recall"]
    for k in (1, 2, 3, 5):
        for label, threshold in candidates:
            cut = predictor.thresholds if threshold is None else threshold
            metrics = evaluate_scores(y_true, scores, cut, predictor.labels, top_k=k)
            rows.append({"threshold": label, "top_k": k, **{column: metrics[column] for column in columns}})
    rows.sort(key=lambda row: -(row["micro_f1"] + row["macro_f1"]))
    print(format_table(rows[:15], ["threshold", "top_k", *columns]))
    best = rows[0]
    print(f"\nbest on validation ({y_true.shape[0]} questions): threshold {best['threshold']}, top-k {best['top_k']}")
    if args.metrics_file:
        write_metrics({"model": args.model, "validation_grid": rows}, args.metrics_file)
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        raise UsageError(f"--sizes must be comma-separated whole numbers, got {args.sizes!r}") from None
    rows = []
    for size in sizes:
        args.top_n = size
        dataset = _load_dataset(args)
        model = TfidfBaseline.from_options(vars(args), len(dataset.split.train), progress=not args.quiet)
        _, metadata = fit_and_evaluate(model, dataset, seed=args.seed)
        test = metadata["metrics"]["test"]
        rows.append(
            {
                "tags": len(dataset.labels),
                "questions": len(dataset.questions),
                "train": len(dataset.split.train),
                "test": len(dataset.split.test),
                **{key: test[key] for key in ("micro_f1", "macro_f1", "hamming_loss", "precision_at_1", "exact_match")},
                "train_seconds": metadata["train_seconds"],
            }
        )
        print(f"top {size}: {_summary_line(test)}", file=sys.stderr)
    print(format_table(rows, list(rows[0])))
    if args.metrics_file:
        write_metrics({"data": str(args.data), "rows": rows}, args.metrics_file)
    return 0


COMMANDS = {
    "train": cmd_train,
    "suggest": cmd_suggest,
    "eval": cmd_eval,
    "optimize": cmd_optimize,
    "experiment": cmd_experiment,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv
    started = time.perf_counter()
    try:
        status = COMMANDS[args.command](args)
    except TagsmithError as error:  # anything else is a bug and keeps its traceback
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"[{args.command} took {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return status
