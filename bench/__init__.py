"""Benchmark scripts, each run from the repository root as ``python -m bench.NAME``: each prints
its figures as a table headed by the date, the machine and the commit (``bench.harness``)."""
