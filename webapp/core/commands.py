"""``flask --app webapp tagsmith ...``: the site's own jobs, on the database and models
folder the site is configured with (``DATABASE_URL``, ``TAGSMITH_MODELS_DIR``).

- ``init-db``: create the database or bring it to the newest migration (what each worker
  does at start, and ``flask --app webapp db upgrade``), and say which revision it is at;
- ``export --format csv|jsonl -o FILE``: the reviewed questions, as /history/export.* gives them;
- ``catalogue import PATH``: merge a newer tag catalogue (a data dump's Tags.xml or a saved
  API /tags response) into the site's, as a new version every worker uses at once;
- ``lessons [--reviewer NAME]``: what the learning models learned from whom;
- ``forget --reviewer NAME``: take back what a reviewer's reviews taught the models so far;
- ``retrain --model NAME``: ``python -m ml train --with-reviews`` on this site's database,
  published as a new version that running workers load between requests. The ensemble
  accepts only the member versions it was built on, so retraining one of its members
  rebuilds it too.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ml.artifacts import METADATA_FILE
from ml.paths import MODELS_DIR
from ml.registry import model_names
from webapp.auth.cli import find_reviewer
from webapp.core.database import current_revision, upgrade_schema
from webapp.core.extensions import db
from webapp.core.streaming import CONTENT_TYPES
from webapp.history.pages import export_lines
from webapp.review.lessons import forget, lessons, tag_counts

tagsmith_cli = AppGroup("tagsmith", help="The site's own jobs: database, export, catalogue, retraining.")
catalogue_cli = AppGroup("catalogue", help="The site's tag catalogue: the bundled one and newer imports.")
tagsmith_cli.add_command(catalogue_cli)


@catalogue_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalogue_import(path: Path) -> None:
    """Merge PATH (Tags.xml from a data dump, or a saved API /tags response: JSON or JSON Lines)
    into the site's catalogue: names, counts and synonyms, as a new version."""
    from ml.data.tag_files import TagFileError
    from webapp.core.catalogue import import_catalogue

    try:
        report = import_catalogue(path)
    except TagFileError as error:
        raise click.ClickException(f"{error}; nothing was imported") from None
    click.echo(report.summary())
    for label, names in (("added", report.added), ("updated", report.updated)):
        if names:
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            click.echo(f"{label}: {shown}")
    for old, new in report.renamed[:20]:
        click.echo(f"renamed: {old} -> {new}")


@tagsmith_cli.command("init-db")
def init_db() -> None:
    """Create the database's tables, or upgrade them to the newest migration (keeps every row)."""
    upgrade_schema()
    shown = db.engine.url.render_as_string(hide_password=True)
    click.echo(f"{shown} is at revision {current_revision()}")


@tagsmith_cli.command("export")
@click.option("--format", "kind", type=click.Choice(sorted(CONTENT_TYPES)), default="jsonl", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True, path_type=Path), required=True)
def export(kind: str, output: Path) -> None:
    """Write the reviewed questions (id, title, body, right tags), as python -m ml train --data reads them."""
    written = 0
    with open(output, "w", encoding="utf-8", newline="") as handle:
        for piece in export_lines(kind):
            handle.write(piece)
            written += piece.count("\n")
    questions = written - 1 if kind == "csv" else written
    click.echo(f"wrote {questions} reviewed question{'' if questions == 1 else 's'} to {output}")


@tagsmith_cli.command("lessons")
@click.option("--reviewer", "name", help="only this reviewer's, question by question")
def show_lessons(name: str | None) -> None:
    """What the learning models learned from whom: per reviewer, the reviewed questions that
    teach them and the tags they teach most."""
    reviewer = find_reviewer(name) if name else None
    found = lessons(reviewer)
    if not found:
        click.echo(f"{name} has no review that counts." if name else "Nothing reviewed yet.")
    for who, taught in found.items():
        counting = sum(lesson.counts for lesson in taught)
        top = ", ".join(f"{tag} ({n})" for tag, n in tag_counts(taught).most_common(10)) or "none"
        label = who or "(before reviewer accounts)"
        click.echo(f"{label}\t{counting} of {len(taught)} reviewed questions teach the models\ttags: {top}")
        if reviewer is not None:
            for lesson in taught:
                state = "" if lesson.counts else "\t(not learned)"
                click.echo(f"  #{lesson.question}\t{lesson.title[:80]}\t{' '.join(lesson.tags)}{state}")


@tagsmith_cli.command("forget")
@click.option("--reviewer", "name", required=True, help="the reviewer whose lessons are taken back")
def forget_reviewer(name: str) -> None:
    """Take back everything a reviewer's reviews taught the models so far, in every worker.
    Their reviews stay as they are; their later reviews teach as usual."""
    taken = forget(find_reviewer(name))
    click.echo(
        f"The models no longer learn from {name}'s {taken} reviewed question{'' if taken == 1 else 's'}; "
        "every worker forgets them before its next suggestion."
    )


@tagsmith_cli.command("retrain", context_settings={"ignore_unknown_options": True})
@click.option(
    "--model",
    "name",
    type=click.Choice(model_names(include_unserved=True)),
    required=True,
    help="the model to retrain",
)
@click.option("--quiet", is_flag=True, help="no progress bars")
@click.argument("train_options", nargs=-1, type=click.UNPROCESSED)
def retrain(name: str, quiet: bool, train_options: tuple[str, ...]) -> None:
    """Retrain a model with the questions reviewed on this site and switch the site to it.

    TRAIN_OPTIONS go to python -m ml train as they are (--data, --splits-dir, the kind's own options).
    """
    from ml.cli import main

    models_dir = Path(current_app.config.get("MODELS_DIR") or MODELS_DIR)
    url = db.engine.url.render_as_string(hide_password=False)
    common = ["--quiet"] if quiet else []
    status = main(
        [*common, "train", "--model", name, "--output", str(models_dir / name), "--with-reviews", url, *train_options]
    )
    if status != 0:
        raise SystemExit(status)
    members = _ensemble_members(models_dir)
    if name != "ensemble" and name in members:
        click.echo(f"rebuilding the ensemble on the new {name} model", err=True)
        ensemble = ["train", "--model", "ensemble", "--output", str(models_dir / "ensemble"), "--with-reviews", url]
        status = main([*common, *ensemble, *_ensemble_options(models_dir), *train_options])
        if status != 0:
            raise SystemExit(status)


def _ensemble_metadata(models_dir: Path) -> dict:
    try:
        return json.loads((models_dir / "ensemble" / METADATA_FILE).read_text())
    except (OSError, ValueError):
        return {}


def _ensemble_members(models_dir: Path) -> list[str]:
    return list(_ensemble_metadata(models_dir).get("member_versions", {}))


def _ensemble_options(models_dir: Path) -> list[str]:
    """Rebuild the ensemble as it was built: the same members, the same title-only ones."""
    metadata = _ensemble_metadata(models_dir)
    return [
        "--members",
        ",".join(metadata.get("member_versions", {})),
        "--title-only",
        ",".join(metadata.get("title_only", [])),
    ]
