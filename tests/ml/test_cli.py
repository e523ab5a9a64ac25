import json
import subprocess
import sys

import pytest

from ml.cli import main


def models_dir(trained):
    return str(trained / "models")


def baseline_command(command, trained, *rest):
    return ["--quiet", command, "--model", "baseline", "--models-dir", models_dir(trained), *rest]


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def test_train_writes_artifact_and_metrics(trained_models):
    meta = json.loads((trained_models / "models" / "baseline" / "metadata.json").read_text())
    metrics = json.loads((trained_models / "metrics.json").read_text())
    assert meta["model"] == "baseline" and sorted(meta["labels"]) == ["c#", "java", "javascript", "python", "sql"]
    assert meta["metrics"]["test"]["micro_f1"] == metrics["micro_f1"] > 0.8
    assert meta["dataset"]["split"]["test"] > 0 and len(meta["dataset"]["data_hash"]) == 64
    assert meta["rebuild_command"].startswith("python -m ml --quiet train --model baseline")
    assert len(meta["thresholds"]["per_tag"]) == 5
    assert list((trained_models / "splits").glob("tiny-*-seed0.json"))


def test_suggest_keeps_order_and_marks_bad_lines(trained_models, tmp_path, capsys):
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [
            {"title": "django virtualenv with pip"},
            "{broken json",
            {
                "title": "select with join",
                "body": "<p>My <code>query</code> is slow</p><pre>SELECT * FROM a JOIN b</pre>",
            },
            {"body": "no title"},
            {"title": "spring maven hashmap"},
        ],
    )
    out = tmp_path / "out.jsonl"
    status = main(
        baseline_command("suggest", trained_models, "--input", str(source), "--output", str(out), "--top-k", "2")
    )
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert status == 1  # some lines failed
    assert len(lines) == 5
    assert (
        lines[0]["tags"][0]["tag"] == "python"
        and lines[2]["tags"][0]["tag"] == "sql"
        and lines[4]["tags"][0]["tag"] == "java"
    )
    assert "invalid JSON" in lines[1]["error"] and "title" in lines[3]["error"]
    assert all(
        len(line["tags"]) <= 2 and all(0 <= t["score"] <= 1 for t in line["tags"]) for line in lines if "tags" in line
    )
    assert "2 line(s) could not be read" in capsys.readouterr().err


def test_threshold_one_keeps_the_top_tag_unless_no_fallback(trained_models, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", [{"title": "npm promise callback"}])
    out = tmp_path / "out.jsonl"
    argv = ["--quiet", "suggest", "--model", "baseline", "--models-dir", models_dir(trained_models)]
    argv += ["--input", str(source), "--output", str(out), "--threshold", "1.0"]
    assert main(argv) == 0
    assert [t["tag"] for t in json.loads(out.read_text())["tags"]] == ["javascript"]
    assert main([*argv, "--no-fallback"]) == 0
    assert json.loads(out.read_text()) == {"tags": []}


def test_eval_ignores_and_counts_unknown_gold_tags(trained_models, tmp_path, capsys):
    gold = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"title": "django pip virtualenv", "tags": ["python", "rust"]},
            {"title": "linq wpf visual studio", "tags": ["c#"]},
            {"title": "something about haskell", "tags": ["haskell"]},
        ],
    )
    metrics_file = tmp_path / "m.json"
    assert (
        main(baseline_command("eval", trained_models, "--input", str(gold), "--metrics-file", str(metrics_file))) == 0
    )
    metrics = json.loads(metrics_file.read_text())
    assert metrics["unknown_gold_tags"] == 2 and metrics["questions_without_known_tags"] == 1
    assert metrics["n_samples"] == 2 and metrics["precision_at_1"] == 1.0
    assert "micro_f1" in capsys.readouterr().out


def test_eval_on_the_test_split_matches_the_metrics_saved_at_training(trained_models, tiny_corpus, tmp_path):
    metrics_file = tmp_path / "m.json"
    assert (
        main(
            baseline_command(
                "eval",
                trained_models,
                "--split",
                "test",
                "--data",
                str(tiny_corpus),
                "--splits-dir",
                str(trained_models / "splits"),
                "--metrics-file",
                str(metrics_file),
            )
        )
        == 0
    )
    saved = json.loads((trained_models / "metrics.json").read_text())
    rerun = json.loads(metrics_file.read_text())
    assert (
        rerun["n_samples"] == saved["n_samples"]
        and rerun["micro_f1"] == saved["micro_f1"]
        and rerun["macro_f1"] == saved["macro_f1"]
    )


def test_eval_with_no_known_tags_scores_every_tag_as_a_miss(trained_models, tmp_path, capsys):
    gold = write_jsonl(tmp_path / "gold.jsonl", [{"title": "x y z", "tags": ["haskell"]}])
    metrics_file = tmp_path / "metrics.json"
    command = ["eval", "--model", "baseline", "--models-dir", models_dir(trained_models), "--input", str(gold)]
    assert main([*command, "--metrics-file", str(metrics_file)]) == 0
    assert "0 questions scored in the vocabulary; 1 had no known tag" in capsys.readouterr().out
    metrics = json.loads(metrics_file.read_text())
    assert metrics["all_tags"]["micro_recall"] == 0.0 and metrics["all_tags"]["gold_tags"] == 1
    assert "micro_f1" not in metrics  # no in-vocabulary score without an in-vocabulary tag


def test_eval_with_no_question_is_a_usage_error(trained_models, tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text("")
    assert main(["eval", "--model", "baseline", "--models-dir", models_dir(trained_models), "--input", str(gold)]) == 2
    assert "no question to score" in capsys.readouterr().err


def test_optimize_and_experiment(trained_models, tiny_corpus, tmp_path, capsys):
    grid = tmp_path / "grid.json"
    assert (
        main(
            [
                "--quiet",
                "optimize",
                "--model",
                "baseline",
                "--models-dir",
                models_dir(trained_models),
                "--data",
                str(tiny_corpus),
                "--splits-dir",
                str(tmp_path),
                "--metrics-file",
                str(grid),
            ]
        )
        == 0
    )
    rows = json.loads(grid.read_text())["validation_grid"]
    assert {row["top_k"] for row in rows} == {1, 2, 3, 5} and any(row["threshold"] == "tuned" for row in rows)
    table = tmp_path / "experiment.json"
    assert (
        main(
            [
                "--quiet",
                "experiment",
                "--data",
                str(tiny_corpus),
                "--sizes",
                "2,5",
                "--splits-dir",
                str(tmp_path),
                "--char-ngrams",
                "off",
                "--metrics-file",
                str(table),
            ]
        )
        == 0
    )
    result = json.loads(table.read_text())["rows"]
    assert [row["tags"] for row in result] == [2, 5]
    assert result[0]["questions"] < result[1]["questions"] == 400
    assert "train_seconds" in capsys.readouterr().out


def test_missing_model_and_bad_data_are_one_line_errors(tmp_path, capsys):
    assert main(["suggest", "--model", "baseline", "--models-dir", str(tmp_path), "--input", "-", "--output", "-"]) == 2
    assert "not trained yet" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("name,score\nx,1\n")
    assert (
        main(["train", "--model", "baseline", "--data", str(tmp_path / "bad.csv"), "--splits-dir", str(tmp_path)]) == 2
    )
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "lacks title, tags" in last and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["suggest", "--model", "baseline", "--input", "a", "--output", "b", "--top-k", "0"], "at least 1"),
        (["suggest", "--model", "baseline", "--input", "a", "--output", "b", "--threshold", "2"], "between 0 and 1"),
        (["train", "--model", "baseline", "--char-ngrams", "5-2"], "LOW <= HIGH"),
        (["suggest", "--model", "gpt", "--input", "a", "--output", "b"], "invalid choice"),
    ],
)
def test_bad_options_are_rejected_by_the_parser(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_quiet_works_before_or_after_the_command():
    from ml.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["--quiet", "eval", "--model", "baseline", "--input", "x"]).quiet
    assert parser.parse_args(["eval", "--model", "baseline", "--input", "x", "--quiet"]).quiet
    assert not parser.parse_args(["eval", "--model", "baseline", "--input", "x"]).quiet


def test_help_explains_every_command():
    result = subprocess.run([sys.executable, "-m", "ml", "--help"], capture_output=True, text=True, check=True)
    for command in ("train", "suggest", "eval", "optimize", "experiment"):
        assert command in result.stdout
    sub = subprocess.run([sys.executable, "-m", "ml", "suggest", "--help"], capture_output=True, text=True, check=True)
    assert "--top-k" in sub.stdout and "--threshold" in sub.stdout and "same order" in sub.stdout


def test_eval_and_optimize_use_the_split_the_model_was_trained_with(tiny_corpus, tmp_path, capsys):
    """Regression: eval --split rebuilt the split from the command line's data options, so a
    model trained on the top 3 tags was scored on questions from its own training split."""
    models, splits = tmp_path / "models", tmp_path / "splits"
    argv = ["--quiet", "train", "--model", "baseline", "--data", str(tiny_corpus), "--top-n", "3", "--min-df", "1"]
    assert main([*argv, "--output", str(models / "baseline"), "--splits-dir", str(splits)]) == 0
    saved = json.loads((models / "baseline" / "metadata.json").read_text())
    assert saved["dataset"]["selection"]["top_n"] == 3 and len(saved["labels"]) == 3

    # No data options at all: the source, selection and seed come from the model's metadata.
    rerun = tmp_path / "rerun.json"
    argv = ["--quiet", "eval", "--model", "baseline", "--models-dir", str(models), "--split", "test"]
    assert main([*argv, "--splits-dir", str(tmp_path / "elsewhere"), "--metrics-file", str(rerun)]) == 0
    rerun_metrics, test_metrics = json.loads(rerun.read_text()), saved["metrics"]["test"]
    assert rerun_metrics["n_samples"] == test_metrics["n_samples"] == saved["dataset"]["split"]["test"]
    assert (
        rerun_metrics["micro_f1"] == test_metrics["micro_f1"] and rerun_metrics["macro_f1"] == test_metrics["macro_f1"]
    )
    assert (
        main(["--quiet", "optimize", "--model", "baseline", "--models-dir", str(models), "--splits-dir", str(splits)])
        == 0
    )

    # The data changed since training: refused with a clear message instead of scoring another split.
    changed = tmp_path / "changed.csv"
    changed.write_text(tiny_corpus.read_text().replace("django", "flask"))
    capsys.readouterr()
    assert main([*argv, "--data", str(changed), "--splits-dir", str(splits)]) == 2
    err = capsys.readouterr().err
    assert "no longer matches the data the baseline model was trained on" in err and "Traceback" not in err


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only tagsmith's own errors become one-line messages; anything else is a bug."""
    from ml import cli

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setitem(cli.COMMANDS, "experiment", broken)
    with pytest.raises(KeyError):
        main(["experiment"])
