"""Argument types shared by the CLI and the model kinds' own training options."""

from __future__ import annotations

import argparse

from ml.predictor import MAX_TOP_K


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def top_k(text: str) -> int:
    value = positive_int(text)
    if value > MAX_TOP_K:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_TOP_K}")
    return value


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def ngram_range(text: str) -> tuple[int, int] | str | None:
    if text in ("auto", "off"):
        return None if text == "off" else text
    try:
        low, high = (int(part) for part in text.split("-"))
    except ValueError:
        raise argparse.ArgumentTypeError("use LOW-HIGH (e.g. 2-5), 'auto' or 'off'") from None
    if not 1 <= low <= high:
        raise argparse.ArgumentTypeError("need 1 <= LOW <= HIGH")
    return (low, high)
