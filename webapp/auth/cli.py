"""``flask reviewer ...``: the accounts behind reviews. There is no sign-up page: whoever
runs the site decides who reviews."""

from __future__ import annotations

import re
import sys

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from webapp.auth.login import hash_password, new_token
from webapp.core.extensions import db
from webapp.core.tables import ApiToken, Review, Reviewer
from webapp.review.lessons import set_active

reviewer_cli = AppGroup("reviewer", help="Reviewer accounts (login for reviewing, exporting, deleting) and API tokens.")

NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MIN_PASSWORD = 8


def find_reviewer(name: str) -> Reviewer:
    reviewer = db.session.scalar(select(Reviewer).where(Reviewer.name == name))
    if reviewer is None:
        raise click.ClickException(f"There is no reviewer called {name!r}; `flask reviewer list` shows them.")
    return reviewer


def create_reviewer(name: str, password: str) -> Reviewer:
    """A new active reviewer (committed), or a ClickException saying why not."""
    if not NAME_RULE.fullmatch(name):
        raise click.ClickException(
            "A reviewer name is 1-64 letters, digits, dots, dashes or underscores, starting with a letter or digit."
        )
    if len(password) < MIN_PASSWORD:
        raise click.ClickException(f"The password must have at least {MIN_PASSWORD} characters.")
    if db.session.scalar(select(Reviewer.id).where(Reviewer.name == name)) is not None:
        raise click.ClickException(f"There is already a reviewer called {name!r}.")
    reviewer = Reviewer(name=name, password_hash=hash_password(password), active=True)
    db.session.add(reviewer)
    db.session.commit()
    return reviewer


@reviewer_cli.command("create")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create(name: str, password_stdin: bool) -> None:
    """Add a reviewer called NAME (the password is asked for, twice)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    create_reviewer(name, password)
    click.echo(f"Reviewer {name} created; they can log in at /login.")


@reviewer_cli.command("token")
@click.argument("name")
def token(name: str) -> None:
    """Print a new API token for NAME (shown once: only its hash is stored)."""
    reviewer = find_reviewer(name)
    if not reviewer.active:
        raise click.ClickException(f"{name} is deactivated; their tokens would not work.")
    click.echo(new_token(reviewer))


@reviewer_cli.command("list")
def list_reviewers() -> None:
    """Every reviewer: active or not, when added, tokens and reviews."""
    tokens = dict(db.session.execute(select(ApiToken.reviewer_id, func.count()).group_by(ApiToken.reviewer_id)).all())
    reviews = dict(db.session.execute(select(Review.reviewer_id, func.count()).group_by(Review.reviewer_id)).all())
    reviewers = db.session.scalars(select(Reviewer).order_by(Reviewer.name)).all()
    if not reviewers:
        click.echo("No reviewers yet: `flask --app webapp reviewer create NAME` adds one.")
    for reviewer in reviewers:
        state = "active" if reviewer.active else "deactivated"
        click.echo(
            f"{reviewer.name}\t{state}\tadded {reviewer.created_at:%Y-%m-%d}\t"
            f"{tokens.get(reviewer.id, 0)} tokens\t{reviews.get(reviewer.id, 0)} reviews"
        )


@reviewer_cli.command("deactivate")
@click.argument("name")
def deactivate(name: str) -> None:
    """Stop NAME logging in and using their tokens, and take back what their reviews taught
    the models; their reviews stay, with their name."""
    set_active(find_reviewer(name), False)
    click.echo(f"Reviewer {name} deactivated; the models no longer learn from their reviews.")


@reviewer_cli.command("activate")
@click.argument("name")
def activate(name: str) -> None:
    """Let NAME log in again; the models learn from their reviews again."""
    set_active(find_reviewer(name), True)
    click.echo(f"Reviewer {name} is active again.")
