"""Reviewers: logging in on the pages, bearer tokens for the API, and the ``flask reviewer``
commands that manage the accounts."""
