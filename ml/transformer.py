"""The fine-tuned MiniLM tagger as served: an int8 ONNX graph run by onnxruntime.

Serving needs only onnxruntime and the ``tokenizers`` library; torch is a training-time
dependency (``ml.finetune``). The artifact folder holds ``model.onnx``, ``tokenizer.json``
and ``metadata.json`` (labels, thresholds, max length, metrics, the command that built it).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .artifacts import ArtifactError, load_metadata, verify_artifact
from .predictor import Predictor

MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
REBUILD = "make train-transformer"
# Questions are scored in chunks so a 32-question batch with long bodies stays small in memory.
CHUNK = 32


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


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))


def new_session(model_path: Path, threads: int | None = None):
    import onnxruntime as ort

    options = ort.SessionOptions()
    # One question at a time is latency-bound: all cores on one request by default.
    options.intra_op_num_threads = threads or int(os.environ.get("TAGSMITH_ORT_THREADS") or 0)
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])


class OnnxTagger(Predictor):
    name = "transformer"

    def __init__(self, session, tokenizer, labels: Sequence[str], thresholds, metadata: dict | None = None):
        self.session = session
        self.tokenizer = tokenizer
        self.labels = list(labels)
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.metadata = metadata or {}

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        chunks = []
        for start in range(0, len(texts), CHUNK):
            (logits,) = self.session.run(None, encode(self.tokenizer, texts[start : start + CHUNK]))
            chunks.append(sigmoid(logits))
        return np.vstack(chunks)

    @classmethod
    def load(cls, folder: Path, threads: int | None = None) -> OnnxTagger:
        folder = Path(folder)
        metadata = load_metadata(folder, REBUILD)
        if metadata.get("model") != "transformer":
            raise ArtifactError(f"{folder} holds a {metadata.get('model')!r} model, not a transformer")
        # ONNX graphs are portable across onnxruntime versions, so only the files are checked.
        verify_artifact(folder, metadata, {}, REBUILD)
        try:
            session = new_session(folder / MODEL_FILE, threads)
            tokenizer = load_tokenizer(folder / TOKENIZER_FILE, metadata["max_length"])
        except Exception as error:  # onnxruntime and tokenizers raise their own types
            raise ArtifactError(f"{folder} could not be loaded ({error}). Rebuild it with: {REBUILD}") from error
        labels = metadata["labels"]
        thresholds = metadata["thresholds"]["per_tag"]
        outputs = session.get_outputs()[0].shape
        if len(thresholds) != len(labels) or outputs[-1] != len(labels):
            raise ArtifactError(f"{folder} is inconsistent: the graph, labels and thresholds disagree in size")
        return cls(session, tokenizer, labels, thresholds, metadata)
