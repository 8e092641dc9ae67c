"""Training: the run folder, determinism, resuming, the settings, the report's numbers and
the CLI."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from builders import make_split
from svhn_erase import cli
from svhn_erase.data import crops
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model import misreads, weights
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.train import TrainConfig, loop, report, runs, step, train_classifier

SMALL = TrainConfig(net="ConvNet48_333", batch=16, size=32)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("train")
    make_split(path, "train", count=24, seed=11)
    make_split(path, "test", count=8, seed=12)
    return path


def _train(root, runs_dir, progress=False, **settings):
    return train_classifier(root, dataclasses.replace(SMALL, **settings), runs=runs_dir,
                            progress=progress)


def test_run_folder_contents(root, tmp_path) -> None:
    run = train_classifier(root, dataclasses.replace(SMALL, epochs=1), runs=tmp_path,
                           run_id="a-", progress=False)
    assert run.parent == tmp_path and run.name.startswith("a-")
    for name in ("config.json", "metrics.csv", "model.safetensors", "report.txt",
                 "report.json", "confusion_matrix.png", "curves.png", "checkpoint.pt",
                 "misreads.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["net"] == "ConvNet48_333" and config["seed"] == 267 and config["lr"] == 0.005
    assert config["opt"] == "SGD" and config["momentum"] == 0.0 and config["id"] == "a-"
    assert config["data_fingerprint"]["train"] and config["versions"]["svhn_erase"]
    with open(run / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1"]
    assert set(rows[0]) == {"epoch", "train_loss", "train_acc", "val_acc", "seconds"}
    result = json.loads((run / "report.json").read_text())
    test_crops = crops.build_crop_cache(root / "test", size=32, progress=False)
    test_report = result["test_report"]
    assert test_report["average"]["support"] == len(test_crops) > 0
    assert sum(c["support"] for c in test_report["classes"].values()) == len(test_crops)
    matrix = np.array(test_report["confusion_matrix"])
    assert matrix.sum() == len(test_crops)
    assert result["test_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    text = (run / "report.txt").read_text()
    assert "precision" in text and "avg / total" in text
    assert f"on {len(test_crops)} crops" in text
    # the misreads picture holds every misread test digit (fewer than 64 here), 8 a row
    wrong = int(matrix.sum() - np.trace(matrix))
    assert 0 < wrong < 64
    columns, rows = min(wrong, misreads.COLUMNS), -(-wrong // misreads.COLUMNS)
    pitch_w, pitch_h = misreads.CELL + misreads.GAP, misreads.CELL + misreads.CAPTION + misreads.GAP
    assert Image.open(run / "misreads.png").size == (columns * pitch_w - misreads.GAP,
                                                     rows * pitch_h - misreads.GAP)


def test_deterministic_and_resume_continues(root, tmp_path) -> None:
    two = _train(root, tmp_path / "a", epochs=2, test_split=None)
    again = _train(root, tmp_path / "b", epochs=2, test_split=None)
    one = _train(root, tmp_path / "c", epochs=1, test_split=None)
    resumed = train_classifier(root, TrainConfig(epochs=2), resume=one, progress=False)
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


def test_config_json_round_trips_and_old_runs_resume(root, tmp_path) -> None:
    config = dataclasses.replace(SMALL, epochs=1, test_split=None, opt="Adam", lr=0.002,
                                 seed=5, limit=40, margin=0.1, precision="bf16")
    run = runs.create_run(tmp_path, "r-", str(root), config, "abc", torch.device("cpu"))
    saved = runs.read_run(run)
    assert saved.config == config and saved.data == str(root)
    assert saved.train_fingerprint == "abc"

    # a run folder written before TrainConfig: no "precision" or "cpu", an unknown key
    one = _train(root, tmp_path / "old", epochs=1, test_split=None)
    old = json.loads((one / "config.json").read_text())
    del old["precision"], old["cpu"]
    old["note"] = "from an older version"
    (one / "config.json").write_text(json.dumps(old))
    assert runs.read_run(one).config == dataclasses.replace(SMALL, epochs=1, test_split=None)
    resumed = train_classifier(root, TrainConfig(epochs=2), resume=one, progress=False)
    with open(resumed / "metrics.csv") as fh:
        assert [r["epoch"] for r in csv.DictReader(fh)] == ["1", "2"]
    with pytest.raises(SvhnEraseError, match="not a run folder"):
        train_classifier(root, resume=tmp_path)


def test_config_refuses_unknown_choices() -> None:
    for bad in ({"net": "ConvNet99"}, {"opt": "Lion"}, {"precision": "fp8"}, {"batch": 0},
                {"epochs": 0}):
        with pytest.raises(SvhnEraseError):
            TrainConfig(**bad)
    assert TrainConfig(epochs=None).epochs is None  # a resumed run keeps its total


def test_report_numbers_by_hand() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 0, 2])
    numbers = report.per_class_report(y_true, y_pred, 3)
    assert numbers["accuracy"] == pytest.approx(4 / 6)
    assert numbers["classes"]["0"]["precision"] == pytest.approx(1 / 2)
    assert numbers["classes"]["1"]["recall"] == pytest.approx(2 / 3)
    assert numbers["classes"]["1"]["f1"] == pytest.approx(2 / 3)
    assert numbers["classes"]["2"]["support"] == 1
    assert numbers["average"]["recall"] == pytest.approx(4 / 6)  # weighted recall = accuracy
    assert numbers["confusion_matrix"] == [[1, 1, 0], [1, 2, 0], [0, 0, 1]]
    lines = report.format_report(numbers).splitlines()
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert lines[2].split() == ["0", "0.50", "0.50", "0.50", "2"]
    assert lines[-1].split() == ["avg", "/", "total", "0.67", "0.67", "0.67", "6"]
    assert report.class_name(10) == "none"


def test_report_of_a_class_never_predicted_or_seen() -> None:
    numbers = report.per_class_report(np.array([0, 0, 1]), np.array([0, 0, 0]), 11)
    assert numbers["classes"]["1"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                       "support": 1}
    assert numbers["classes"]["none"]["support"] == 0
    assert numbers["classes"]["0"]["precision"] == pytest.approx(2 / 3)
    empty = report.per_class_report(np.array([], int), np.array([], int), 10)
    assert empty["accuracy"] == 0.0 and empty["average"]["support"] == 0


def test_validation_is_split_by_parent() -> None:
    parent = np.repeat(np.arange(20), 3)
    tr, va = loop.split_train_val(parent, 0.2, seed=5)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == 60
    assert len(np.intersect1d(parent[tr], parent[va])) == 0
    assert len(np.unique(parent[va])) == 4
    tr2, va2 = loop.split_train_val(parent, 0.2, seed=5)
    np.testing.assert_array_equal(va, va2)
    tr3, va3 = loop.split_train_val(parent, 0.2, seed=5, limit=30)
    assert len(tr3) + len(va3) == 30
    with pytest.raises(SvhnEraseError):
        loop.split_train_val(parent, 1.5, seed=5)


def test_cli_train_judge_with_limit(root, tmp_path, capsys) -> None:
    code = cli.main(["train", "--data", str(root), "--runs", str(tmp_path), "--epochs", "1",
                     "--net", "ConvNet32_753", "--classes", "11", "--limit", "30",
                     "--size", "32", "--batch", "8", "--cpu", "--id", "judge"])
    assert code == 0
    run = next(tmp_path.glob("judge*"))
    result = json.loads((run / "report.json").read_text())
    assert result["train_digits"] + result["val_digits"] == 30
    assert "none" in result["test_report"]["classes"]
    config = json.loads((run / "config.json").read_text())
    assert config["classes"] == 11 and config["limit"] == 30 and config["cpu"] is True
    assert str(run) in capsys.readouterr().out
    assert cli.main(["train", "--data", str(root), "--split", "nope", "--runs",
                     str(tmp_path)]) == 2


def test_bf16_precision_trains_a_loadable_model(root, tmp_path) -> None:
    run = _train(root, tmp_path, epochs=1, test_split=None, precision="bf16")
    assert json.loads((run / "config.json").read_text())["precision"] == "bf16"
    model = weights.load_classifier(run)
    state = load_file(run / "model.safetensors")
    assert all(v.is_contiguous() for v in state.values())
    assert all(v.dtype in (torch.float32, torch.int64) for v in state.values())  # fp32 weights
    logits = batched_logits(model, torch.zeros(2, 1, 32, 32))
    assert logits.shape == (2, 10) and torch.isfinite(logits).all()


def test_channels_last_training_saves_and_loads_same_predictions(tmp_path) -> None:
    torch.manual_seed(0)
    model = step.make_training_model("ConvNet48_333", 10, 32)
    optimizer = step.make_optimizer("SGD", model.parameters(), 0.05, 0.0)
    assert optimizer.defaults.get("fused")  # torch has fused SGD on the CPU
    train_step = step.TrainStep(model, optimizer)
    x, y = torch.randn(16, 1, 32, 32), torch.randint(0, 10, (16,))
    losses = [float(train_step(x, y)[0]) for _ in range(3)]
    assert losses[-1] < losses[0]
    assert model.layer1[0].weight.is_contiguous(memory_format=torch.channels_last)
    weights.save_classifier(model, tmp_path / "m.safetensors")
    assert all(v.is_contiguous() for v in load_file(tmp_path / "m.safetensors").values())
    loaded = weights.load_classifier(tmp_path / "m.safetensors")
    torch.testing.assert_close(batched_logits(loaded, x), batched_logits(model, x),
                               rtol=0, atol=1e-5)
    assert model.training  # the evaluation handed the model back as it was
    assert model.layer2[0].weight.is_contiguous(memory_format=torch.channels_last)


# --------------------------------------------------------------------------- real crops (issue 13)


def test_real_range_mixes_photos_and_validates_on_real(root, tmp_path) -> None:
    from svhn_erase.model.train import mixing, real

    config = dataclasses.replace(SMALL, epochs=1, real=str(root / "test"), real_range="1-5",
                                 real_val_range="6-8")
    generated = crops.build_crop_cache(root / "train", size=32, progress=False)
    first = real.real_crop_set(root / "test", "1-5", 32, 0.0, 10, progress=False)
    held = real.real_crop_set(root / "test", "6-8", 32, 0.0, 10, progress=False)
    assert {int(f.split(".")[0]) for f in first.files} <= set(range(1, 6))
    data, _ = mixing.training_data(root, config, torch.device("cpu"), progress=False)
    assert len(data.y_train) == len(generated) + len(first)  # the split whole, plus real
    assert torch.equal(data.y_val, torch.as_tensor(held.labels))
    alone, _ = mixing.training_data(root, dataclasses.replace(config, split=None, real_repeat=2),
                                    torch.device("cpu"), progress=False)
    assert len(alone.y_train) == 2 * len(first)
    with pytest.raises(SvhnEraseError):
        real.parse_range("5-1")



def test_real_none_crops_avoid_digits_and_join_a_judge_run(root) -> None:
    from svhn_erase.model.train import mixing, real

    none = real.real_none_crops(root / "test", "1-5", 2, 32, 0.25, seed=3, progress=False)
    again = real.real_none_crops(root / "test", "1-5", 2, 32, 0.25, seed=3, progress=False)
    assert 0 < len(none) <= 2 * 5 and (none.labels == crops.NO_DIGIT).all()
    assert np.array_equal(none.crops, again.crops) and none.crops.shape[1:] == (32, 32)
    config = dataclasses.replace(SMALL, epochs=1, classes=11, split=None,
                                 real=str(root / "test"), real_range="1-5", real_val_range="6-8",
                                 real_repeat=2)
    plain, _ = mixing.training_data(root, config, torch.device("cpu"), progress=False)
    extra, _ = mixing.training_data(root, dataclasses.replace(config, real_none=2),
                                    torch.device("cpu"), progress=False)
    assert len(extra.y_train) == len(plain.y_train) + 2 * len(none)
    with pytest.raises(SvhnEraseError):
        TrainConfig(real=str(root / "test"), real_none=1)  # 10 classes: nowhere to put them

def test_augmentation_is_seeded_and_keeps_shapes() -> None:
    from svhn_erase.model.train.augment import Augmenter, context_size

    x = torch.rand(6, 1, context_size(40), context_size(40)) * 2 - 1
    aug = Augmenter(40)
    a = aug(x, torch.Generator().manual_seed(3))
    b = aug(x, torch.Generator().manual_seed(3))
    c = aug(x, torch.Generator().manual_seed(4))
    assert a.shape == (6, 1, 40, 40) and torch.equal(a, b) and not torch.equal(a, c)
    assert float(a.min()) >= -1 and float(a.max()) <= 1


def test_real_options_round_trip_and_train(root, tmp_path) -> None:
    first = _train(root, tmp_path / "a", epochs=1)
    config = dataclasses.replace(
        SMALL, epochs=2, split=None, test_split=None, real=str(root / "train"),
        real_range="1-20", real_val_range="21-24", init=str(first / "model.safetensors"),
        augment=True, schedule="cosine", momentum=0.9, weight_decay=5e-4, label_smoothing=0.1)
    run = train_classifier(root, config, runs=tmp_path / "b", progress=False)
    saved = runs.read_run(run)
    assert saved.config == config
    assert loop.epoch_lr(config, 1) == config.lr and loop.epoch_lr(config, 2) < config.lr
    assert len((run / "metrics.csv").read_text().splitlines()) == 3
    with pytest.raises(SvhnEraseError):
        TrainConfig(split=None)
    with pytest.raises(SvhnEraseError):
        TrainConfig(real_range="1-3")
