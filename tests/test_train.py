"""Training: the run folder, determinism, resuming, the report's numbers and the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model import train, weights
from svhn_erase.model.classify import predict_logits

SMALL = {"net": "ConvNet48_333", "batch": 16, "size": 32, "progress": False}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("train")
    make_split(path, "train", count=24, seed=11)
    make_split(path, "test", count=8, seed=12)
    return path


def test_run_folder_contents(root, tmp_path) -> None:
    run = train.train_classifier(root, runs=tmp_path, epochs=1, run_id="a-", **SMALL)
    assert run.parent == tmp_path and run.name.startswith("a-")
    for name in ("config.json", "metrics.csv", "model.safetensors", "report.txt",
                 "report.json", "confusion_matrix.png", "curves.png", "checkpoint.pt"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["net"] == "ConvNet48_333" and config["seed"] == 267 and config["lr"] == 0.005
    assert config["opt"] == "SGD" and config["momentum"] == 0.0
    assert config["data_fingerprint"]["train"] and config["versions"]["svhn_erase"]
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1"]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_acc", "seconds"}
    report = json.loads((run / "report.json").read_text())
    assert report["test_report"]["average"]["support"] == report["test_report"]["average"][
        "support"] > 0
    assert 0 <= report["test_accuracy"] <= 1
    text = (run / "report.txt").read_text()
    assert "precision" in text and "avg / total" in text


def test_deterministic_and_resume_continues(root, tmp_path) -> None:
    two = train.train_classifier(root, runs=tmp_path / "a", epochs=2, test_split=None, **SMALL)
    again = train.train_classifier(root, runs=tmp_path / "b", epochs=2, test_split=None, **SMALL)
    one = train.train_classifier(root, runs=tmp_path / "c", epochs=1, test_split=None, **SMALL)
    resumed = train.train_classifier(root, epochs=2, resume=one, progress=False)
    assert resumed == one
    ref = load_file(two / "model.safetensors")
    for other in (again, resumed):
        state = load_file(other / "model.safetensors")
        for key, value in ref.items():
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)
    with open(resumed / "metrics.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2"]
    ckpt = torch.load(two / "checkpoint.pt", weights_only=True)
    assert ckpt["history"].shape == (2, 5)


def test_report_numbers_by_hand() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    report = train.per_class_report(y_true, y_pred, 3)
    assert report["accuracy"] == pytest.approx(4 / 6)
    assert report["classes"]["0"]["precision"] == pytest.approx(1 / 2)
    assert report["classes"]["1"]["recall"] == pytest.approx(2 / 3)
    assert report["classes"]["1"]["f1"] == pytest.approx(2 / 3)
    assert report["classes"]["2"]["support"] == 1
    assert report["average"]["recall"] == pytest.approx(4 / 6)  # weighted recall = accuracy
    assert report["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    lines = train.format_report(report).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["0", "0.50", "0.50", "0.50", "2"]
    assert lines[-1].split() == ["avg", "/", "total", "0.67", "0.67", "0.67", "6"]
    assert train.class_name(10) == "none"


def test_validation_is_split_by_parent() -> None:
    parent = np.repeat(np.arange(20), 3)
    tr, va = train.split_train_val(parent, 0.2, seed=5)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 60
    assert len(np.intersect1d(parent[tr], parent[va])) == 0
    assert len(np.unique(parent[va])) == 4
    tr2, va2 = train.split_train_val(parent, 0.2, seed=5)
    np.testing.assert_array_equal(va, va2)
    tr3, va3 = train.split_train_val(parent, 0.2, seed=5, limit=30)
    assert len(tr3) + len(va3) == 30
    with pytest.raises(SvhnEraseError):
        train.split_train_val(parent, 1.5, seed=5)


def test_cli_train_judge_with_limit(root, tmp_path, capsys) -> None:
    code = cli.main(["train", "--data", str(root), "--runs", str(tmp_path), "--epochs", "1",
                     "--net", "ConvNet32_753", "--classes", "11", "--limit", "30",
                     "--size", "32", "--batch", "8", "--cpu", "--id", "judge"])
    assert code == 0
    run = next(tmp_path.glob("judge*"))
    report = json.loads((run / "report.json").read_text())
    assert report["train_digits"] + report["val_digits"] == 30
    assert "none" in report["test_report"]["classes"]
    assert str(run) in capsys.readouterr().out
    assert cli.main(["train", "--data", str(root), "--split", "nope", "--runs",
                     str(tmp_path)]) == 2


def test_bf16_precision_trains_a_loadable_model(root, tmp_path) -> None:
    run = train.train_classifier(root, runs=tmp_path, epochs=1, test_split=None,
                                 precision="bf16", **SMALL)
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    model = weights.load_classifier(run)
    state = load_file(run / "model.safetensors")
    assert all(v.is_contiguous() for v in state.values())
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())  # fp32 weights
    logits = predict_logits(model, torch.zeros(2, 1, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()
    with pytest.raises(SvhnEraseError):
        train.train_classifier(root, runs=tmp_path, epochs=1, precision="fp8", **SMALL)


def test_channels_last_training_saves_and_loads_same_predictions(tmp_path) -> None:
    torch.manual_seed(0)
    model = train.make_training_model("ConvNet48_333", 10, 32)
    optimizer = train.make_optimizer("SGD", model.parameters(), 0.05, 0.0)
    assert optimizer.defaults.get("fused")  # torch has fused SGD on the CPU
    step = train.TrainStep(model, optimizer)
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    losses = [float(step(x, y)[0]) for _ in range(3)]
    assert losses[-1] < losses[0]
    assert model.layer1[0].weight.is_contiguous(memory_format=torch.channels_last)
    weights.save_classifier(model, tmp_path / "m.safetensors")
    assert all(v.is_contiguous() for v in load_file(tmp_path / "m.safetensors").values())
    loaded = weights.load_classifier(tmp_path / "m.safetensors")
    torch.testing.assert_close(predict_logits(loaded, x), predict_logits(model, x),
                               rtol=0, atol=1e-5)
