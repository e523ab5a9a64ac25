"""An int8 ONNX encoder and its tokenizer, loaded and fed: shared by serving
(``ml.backends.transformer.serving``) and fine-tuning (``ml.backends.transformer.finetune``),
which imports no serving code."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"


def load_tokenizer(path: Path, max_length: int, pad: bool = True):
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.enable_truncation(max_length=max_length)
    if pad:
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    else:
        tokenizer.no_padding()
    return tokenizer


def encode(tokenizer, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """input_ids and attention_mask (int64), padded to the longest text of the batch."""
    encodings = tokenizer.encode_batch(list(texts))
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
    }


def new_session(model_path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One question at a time is latency-bound: all cores on one request by default (0).
    options.intra_op_num_threads = threads or 0
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
