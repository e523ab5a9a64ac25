"""Tests of the site through the Flask test client, on SQLite and PostgreSQL."""
