"""End-to-end tests: a real gunicorn server, Debian's chromium, Docker."""
