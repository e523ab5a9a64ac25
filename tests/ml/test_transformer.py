"""The real fine-tuning, export, quantization and serving code, on a 2-layer BERT small
enough for CI, built here with the real MiniLM tokenizer."""

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training extras (requirements-train.txt) not installed")
pytestmark = pytest.mark.slow  # real fine-tuning

from ml.backends.transformer import finetune  # noqa: E402
from ml.backends.transformer.serving import OnnxTagger, new_session  # noqa: E402
from ml.cli import main  # noqa: E402
from ml.data.catalogue import TagCatalogue  # noqa: E402
from ml.registry import load_predictor  # noqa: E402


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertModel(config).save_pretrained(folder)
    for name in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copyfile(finetune.pretrained_dir() / name, folder / name)
    return folder


TRAIN_ARGS = ["--epochs", "3", "--batch-size", "16", "--lr", "2e-3"]


@pytest.fixture(scope="module")
def trained_transformer(tmp_path_factory, tiny_encoder, tiny_corpus):
    root = tmp_path_factory.mktemp("transformer")
    status = main(
        [
            "--quiet",
            "train",
            "--model",
            "transformer",
            "--data",
            str(tiny_corpus),
            "--init",
            str(tiny_encoder),
            "--output",
            str(root / "models" / "transformer"),
            "--checkpoint-dir",
            str(root / "checkpoints"),
            "--splits-dir",
            str(root / "splits"),
            "--device",
            "cpu",
            *TRAIN_ARGS,
        ]
    )
    assert status == 0
    return root


def test_artifact_holds_graph_tokenizer_and_honest_metadata(trained_transformer):
    folder = trained_transformer / "models" / "transformer"
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "metrics.json", "model.onnx", "tokenizer.json"]
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["model"] == "transformer" and meta["onnx"]["opset"] == 17
    assert len(meta["labels"]) == len(meta["thresholds"]["per_tag"]) == 5
    assert [h["epoch"] for h in meta["training"]["history"]] == [1, 2, 3]
    q = meta["quantization"]
    assert q["int8_megabytes"] < q["fp32_megabytes"]
    assert q["micro_f1_drop_points"] == pytest.approx(
        100 * (q["fp32_test_micro_f1"] - q["int8_test_micro_f1"]), abs=0.01
    )
    assert "--model transformer" in meta["rebuild_command"]
    # scored like every open-vocabulary model: over every real tag of the held-out questions
    assert meta["corpus"]["sources"][0]["scope"] == "all"
    assert 0 < meta["metrics"]["test"]["all"]["micro_f1"] <= 1
    assert meta["thresholds"]["per_tag"] == [meta["thresholds"]["global"]] * 5
    assert {"fp32_validation_micro_f1", "int8_validation_micro_f1"} <= set(q)


def test_int8_graph_keeps_the_head_in_fp32(trained_transformer):
    import onnx

    graph = onnx.load(str(trained_transformer / "models" / "transformer" / "model.onnx")).graph
    head = [node.op_type for node in graph.node if node.name.startswith("/head/")]
    assert "MatMul" in head and "MatMulInteger" not in head
    assert sum(node.op_type == "MatMulInteger" for node in graph.node) >= 12  # the encoder is int8


def test_unknown_targets_teach_nothing():
    """A title from a file that kept only its own tag must not learn "not docker"."""
    logits = torch.zeros((2, 3), requires_grad=True)
    target = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    known = torch.tensor([[1, 0, 0], [1, 1, 1]], dtype=torch.int8)
    losses = torch.nn.BCEWithLogitsLoss(reduction="none")(logits, target)
    loss = finetune.known_label_loss(losses, known)
    loss.backward()
    assert loss.item() == pytest.approx(losses[known.bool()].mean().item())
    assert logits.grad[0, 1].item() == 0 and logits.grad[0, 2].item() == 0
    assert logits.grad[1, 2].item() > 0  # a known negative is pushed down
    assert finetune.known_label_loss(losses, None).item() == pytest.approx(losses.mean().item())


def test_graph_has_dynamic_batch_and_sequence_axes(trained_transformer):
    session = new_session(trained_transformer / "models" / "transformer" / "model.onnx")
    inputs = {i.name: i.shape for i in session.get_inputs()}
    assert set(inputs) == {"input_ids", "attention_mask"}
    assert all(isinstance(dim, str) for dim in inputs["input_ids"])  # symbolic, not fixed
    for batch, length in ((1, 5), (7, 40)):
        ids = np.ones((batch, length), dtype=np.int64)
        assert session.run(None, {"input_ids": ids, "attention_mask": ids})[0].shape == (batch, 5)


def test_served_model_learned_the_tags(trained_transformer):
    tagger = load_predictor("transformer", trained_transformer / "models")
    assert isinstance(tagger, OnnxTagger)
    out = tagger.predict(["why does my django virtualenv fail with pip", "slow postgres join query on index"], top_k=1)
    assert [row[0][0] for row in out] == ["python", "sql"]
    # a pasted body longer than the serving length is truncated, not an error
    long = tagger.predict_scores(["maven spring " + "hashmap " * 400])
    assert long.shape == (1, 5) and np.all((long >= 0) & (long <= 1))


def test_tags_renamed_since_training_come_under_their_new_names(trained_transformer):
    folder = trained_transformer / "models" / "transformer"
    texts = ["why does my django virtualenv fail with pip", "slow postgres join query on index"]
    tagger = OnnxTagger.load(folder)
    before, labels, thresholds = tagger.predict_scores(texts), list(tagger.labels), tagger.thresholds.copy()
    first, second = labels[:2]
    # The second tag was merged into the first, and the first renamed: one tag, the best of both.
    tagger.rename(TagCatalogue({"today": 1}, {first: "today", second: "today"}).canonical)
    assert tagger.labels == ["today", *labels[2:]]
    after = tagger.predict_scores(texts)
    np.testing.assert_allclose(after[:, 0], before[:, :2].max(axis=1))
    np.testing.assert_allclose(after[:, 1:], before[:, 2:])
    assert list(tagger.thresholds) == [thresholds[0], *thresholds[2:]]
    assert tagger.predict(texts, top_k=1)[0][0][0] in tagger.labels
    tagger.rename(lambda tag: tag)  # another catalogue: from the graph's own names again
    assert tagger.labels == labels and list(tagger.thresholds) == list(thresholds)
    np.testing.assert_allclose(tagger.predict_scores(texts), before)


def test_onnx_fp32_matches_torch(trained_transformer, tiny_encoder):
    config = finetune.FineTuneConfig(init=str(tiny_encoder))
    model = finetune.new_model(config, 5)
    model.load_state_dict(torch.load(trained_transformer / "checkpoints" / finetune.BEST_FILE))
    model.eval()
    tokenizer = finetune.load_tokenizer(tiny_encoder / "tokenizer.json", 128)
    texts = ["npm promise callback", "linq to sql in visual studio with a long title"]
    fp32 = OnnxTagger(
        new_session(trained_transformer / "checkpoints" / "model.fp32.onnx"), tokenizer, list("abcde"), np.full(5, 0.5)
    )
    from ml.backends.transformer.serving import encode

    batch = encode(tokenizer, texts)
    with torch.no_grad():
        expected = torch.sigmoid(
            model(torch.from_numpy(batch["input_ids"]), torch.from_numpy(batch["attention_mask"]))
        ).numpy()
    np.testing.assert_allclose(fp32.predict_scores(texts), expected, atol=1e-5)


def test_interrupted_training_resumes_to_the_same_weights(tmp_path, tiny_encoder, tiny_corpus, monkeypatch):
    from ml.training.from_file import load_dataset

    dataset = load_dataset(tiny_corpus, splits_dir=tmp_path)
    config = finetune.FineTuneConfig(init=str(tiny_encoder), epochs=2, batch_size=32, lr=2e-3, checkpoint_every=5)
    args = (
        dataset.texts("train"),
        dataset.targets("train"),
        dataset.texts("validation"),
        dataset.targets("validation"),
        dataset.labels,
        lambda y, s: float(s.mean()),
    )
    straight, _ = finetune.FineTuner(config, tmp_path / "a", progress=False).fit(*args)

    real_save, saves = finetune.FineTuner._save, []

    def save_then_die(self, *a):
        real_save(self, *a)
        saves.append(1)
        if len(saves) == 2:  # killed just after the second checkpoint (step 10 of epoch 1)
            raise KeyboardInterrupt

    monkeypatch.setattr(finetune.FineTuner, "_save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        finetune.FineTuner(config, tmp_path / "b", progress=False).fit(*args)
    monkeypatch.setattr(finetune.FineTuner, "_save", real_save)
    resumed, history = finetune.FineTuner(config, tmp_path / "b", progress=False).fit(*args)
    assert [h["epoch"] for h in history["history"]] == [1, 2]
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_batches_group_similar_lengths_and_cover_everything():
    lengths = list(np.random.RandomState(0).randint(3, 40, size=1000))
    batches = finetune.length_bucketed_batches(lengths, 32, seed=1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    spread = np.mean([np.ptp([lengths[i] for i in b]) for b in batches])
    assert spread < 5  # random batches of 32 would span ~35 tokens
    assert all(
        (a == b).all() for a, b in zip(batches, finetune.length_bucketed_batches(lengths, 32, seed=1), strict=True)
    )


def test_positive_weights_favour_rare_tags_or_stay_plain():
    from scipy import sparse

    y = sparse.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [1, 0], [0, 0]]))
    weights = finetune.positive_weights(y, "sqrt")
    assert weights[0].item() == pytest.approx(1.0)  # 4 positives, 1 negative: clipped up to 1
    assert weights[1].item() == pytest.approx(2.0)  # 1 positive, 4 negatives
    assert finetune.positive_weights(y, "none") is None
    with pytest.raises(ValueError, match="pos_weight"):
        finetune.positive_weights(y, "focal")


def test_missing_transformer_artifact_says_how_to_build_it(tmp_path):
    from ml.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="make train-transformer"):
        load_predictor("transformer", tmp_path)
