"""Weight averaging, distillation from a box-jitter teacher and test-time augmentation
(issue 13): ``train.ema``, ``train.views``, ``TrainConfig.teacher`` and ``classify --tta``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from builders import make_split
from svhn_erase import cli
from svhn_erase.data import crops
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model import classify
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.train import (
    TrainConfig,
    augment,
    loop,
    mixing,
    real,
    step,
    train_classifier,
    views,
)
from svhn_erase.model.train.degrade import degrade
from svhn_erase.model.train.ema import WeightEma
from svhn_erase.model.weights import load_classifier

SMALL = TrainConfig(net="ConvNet48_333", batch=16, size=32, test_split=None)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("distill")
    make_split(path, "train", count=16, seed=31)
    return path


@pytest.fixture(scope="module")
def teacher(root, tmp_path_factory):
    run = train_classifier(root, dataclasses.replace(SMALL, epochs=1),
                           runs=tmp_path_factory.mktemp("teacher"), progress=False)
    return run / "model.safetensors"


def test_ema_warms_up_moves_towards_the_model_and_round_trips() -> None:
    torch.manual_seed(0)
    model = ConvNet("ConvNet48_333", image_size=32)
    ema = WeightEma(model, decay=0.9)
    before = ema.state["fc1.weight"].clone()
    with torch.no_grad():
        model.fc1.weight.add_(1.0)
    ema.update(model)  # warm-up: decay min(0.9, 2 / 11)
    torch.testing.assert_close(ema.state["fc1.weight"], before + 9 / 11)
    twin = WeightEma(model, decay=0.9)
    twin.load_state_dict(ema.state_dict())
    assert twin.updates == 1 and torch.equal(twin.state["fc1.weight"], ema.state["fc1.weight"])
    assert torch.equal(ema.averaged(model).fc1.weight, ema.state["fc1.weight"])


def test_the_centre_view_is_the_box_and_probabilities_sum_to_one(root) -> None:
    path = root / "train"
    plain = crops.build_crop_cache(path, size=32, progress=False)
    context = crops.build_crop_cache(path, size=augment.context_size(32),
                                     margin=augment.context_margin(0.0), progress=False)
    centre = views.view_crops(crops.normalize(context.crops), (1.0, 0.0, 0.0), 32)
    assert centre.shape == (len(plain), 1, 32, 32) and len(views.VIEWS) == 15
    diff = (centre - crops.normalize(plain.crops)).abs()[:, :, 4:-4, 4:-4]  # off the border
    assert float(diff.mean()) < 0.1
    model = ConvNet("ConvNet48_333", image_size=32).eval()
    probs = views.view_probs([model], crops.normalize(context.crops[:5]), 32, batch=2)
    torch.testing.assert_close(probs.sum(1), torch.ones(5))


def test_distillation_loss_with_one_hot_soft_labels_is_the_cross_entropy() -> None:
    torch.manual_seed(1)
    model = ConvNet("ConvNet48_333", image_size=32)
    x, y = torch.randn(4, 1, 32, 32), torch.tensor([1, 2, 3, 4])
    run = step.TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0), distill=1.0)
    logits = torch.randn(4, 10)
    soft = torch.nn.functional.one_hot(y, 10).float()
    torch.testing.assert_close(run._loss(logits, torch.zeros(4, dtype=torch.long), soft),
                               torch.nn.functional.cross_entropy(logits, y))
    loss, _ = run(x, y, soft)
    assert torch.isfinite(loss)


def test_teacher_soft_labels_follow_the_training_crops(root, teacher) -> None:
    config = dataclasses.replace(SMALL, epochs=1, augment=True, teacher=str(teacher),
                                 distill=0.5, real=str(root / "train"), real_range="1-8",
                                 real_repeat=2)
    data, print_with = mixing.training_data(root, config, torch.device("cpu"), progress=False)
    assert data.soft.shape == (len(data.y_train), 10)
    torch.testing.assert_close(data.soft.sum(1), torch.ones(len(data.y_train)))
    n_real = len(real.real_crop_set(root / "train", "1-8", augment.context_size(32),
                                    augment.context_margin(0.0), 10, progress=False))
    first, second = data.soft[-2 * n_real:-n_real], data.soft[-n_real:]
    assert n_real > 0 and torch.equal(first, second)  # each real crop's labels, read once
    _, print_without = mixing.training_data(
        root, dataclasses.replace(config, teacher=None, distill=0.0), torch.device("cpu"),
        progress=False)
    assert print_with != print_without


def test_ema_and_distillation_run_resumes_exactly(root, teacher, tmp_path) -> None:
    config = dataclasses.replace(SMALL, epochs=2, augment=True, ema=0.9,
                                 teacher=str(teacher), distill=0.5, init=str(teacher))
    whole = train_classifier(root, config, runs=tmp_path / "a", progress=False)
    one = train_classifier(root, dataclasses.replace(config, epochs=1), runs=tmp_path / "b",
                           progress=False)
    resumed = train_classifier(root, TrainConfig(epochs=2), resume=one, progress=False)
    ref, other = load_file(whole / "model.safetensors"), load_file(resumed / "model.safetensors")
    for key, value in ref.items():
        torch.testing.assert_close(other[key], value, rtol=0, atol=0)
    assert "ema" in torch.load(whole / "checkpoint.pt", weights_only=True)


def test_settings_refused() -> None:
    with pytest.raises(SvhnEraseError, match="--teacher and --distill"):
        TrainConfig(teacher="t.safetensors")
    with pytest.raises(SvhnEraseError, match="--teacher and --distill"):
        TrainConfig(distill=0.5)
    with pytest.raises(SvhnEraseError, match="--ema"):
        TrainConfig(ema=1.0)


def test_classify_tta_reads_every_digit(root, teacher, tmp_path, capsys) -> None:
    plain = classify.classify_split(root, "train", teacher, progress=False)
    tta = classify.classify_split(root, "train", teacher, progress=False, tta=True)
    assert list(tta["file"]) == list(plain["file"]) and np.array_equal(tta["label"],
                                                                      plain["label"])
    assert ((tta["prob"] > 0) & (tta["prob"] <= 1)).all()
    out = tmp_path / "tta.csv"
    cli.main(["classify", "--data", str(root), "--split", "train", "--weights", str(teacher),
              "--out", str(out), "--tta", "--cpu"])
    assert "accuracy" in capsys.readouterr().out and out.is_file()


def test_temperature_softens_the_soft_labels_and_scales_the_loss(root, teacher) -> None:
    model = ConvNet("ConvNet48_333", image_size=32).eval()
    x = crops.normalize(crops.build_crop_cache(root / "train", size=32, progress=False).crops)
    plain, warm = views.plain_probs([model], x), views.plain_probs([model], x, 3.0)
    torch.testing.assert_close(warm, (model(x) / 3.0).softmax(1))
    assert bool((warm.max(1).values <= plain.max(1).values + 1e-6).all())
    run = step.TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0), distill=1.0,
                         temperature=2.0)
    logits, soft = torch.randn(4, 10), torch.randn(4, 10).softmax(1)
    want = 4.0 * -(soft * (logits / 2.0).log_softmax(1)).sum(1).mean()
    torch.testing.assert_close(run._loss(logits, torch.zeros(4, dtype=torch.long), soft), want)


def test_temperature_reaches_the_soft_labels_and_the_run_record(root, teacher, tmp_path) -> None:
    config = dataclasses.replace(SMALL, epochs=1, teacher=(str(teacher), str(teacher)),
                                 distill=0.7, distill_temperature=2.0)
    data, print_warm = mixing.training_data(root, config, torch.device("cpu"), progress=False)
    cold, print_cold = mixing.training_data(
        root, dataclasses.replace(config, distill_temperature=1.0), torch.device("cpu"),
        progress=False)
    assert print_warm != print_cold
    assert float(data.soft.max(1).values.mean()) < float(cold.soft.max(1).values.mean())
    out = tmp_path / "runs"
    cli.main(["train", "--data", str(root), "--test-split", "none", "--net", "ConvNet48_333",
              "--size", "32", "--batch", "16", "--epochs", "1", "--runs", str(out),
              "--teacher", str(teacher), "--teacher", str(teacher), "--distill", "0.7",
              "--distill-temperature", "2", "--cpu"])
    run = next(out.iterdir())
    saved = TrainConfig.from_json(json.loads((run / "config.json").read_text()))
    assert saved.distill_temperature == 2.0 and len(saved.teachers) == 2


def test_temperature_refused_without_a_teacher_or_below_zero(teacher) -> None:
    with pytest.raises(SvhnEraseError, match="--distill-temperature needs --teacher"):
        TrainConfig(distill_temperature=2.0)
    with pytest.raises(SvhnEraseError, match="positive"):
        TrainConfig(teacher=str(teacher), distill=0.5, distill_temperature=0.0)


def test_mixup_blends_inputs_soft_labels_and_the_hard_term(root) -> None:
    torch.manual_seed(2)
    model = ConvNet("ConvNet48_333", image_size=32)
    run = step.TrainStep(model, torch.optim.SGD(model.parameters(), lr=0.0))
    logits, y = torch.randn(4, 10), torch.tensor([1, 2, 3, 4])
    mix = step.Mix(torch.tensor([3, 2, 1, 0]), 0.25)
    want = 0.25 * torch.nn.functional.cross_entropy(logits, y) + \
        0.75 * torch.nn.functional.cross_entropy(logits, y[mix.perm])
    torch.testing.assert_close(run._loss(logits, y, None, mix), want)
    x = torch.randn(6, 1, 32, 32)
    data = loop.TrainData(x, torch.arange(6), x[:0], torch.arange(0),
                          soft=torch.eye(10)[:6])
    config = dataclasses.replace(SMALL, mixup=0.4)
    idx = torch.arange(6)
    xb, soft, got = loop._batch(data, config, idx, torch.Generator().manual_seed(0),
                                np.random.default_rng(0))
    torch.testing.assert_close(xb, got.lam * x + (1 - got.lam) * x[got.perm])
    torch.testing.assert_close(soft, got.lam * torch.eye(10)[:6] +
                               (1 - got.lam) * torch.eye(10)[got.perm])
    plain, soft, none = loop._batch(data, SMALL, idx, torch.Generator(),
                                    np.random.default_rng(0))
    assert none is None and torch.equal(plain, x)


def test_online_teachers_read_each_batch_as_trained(root, teacher, tmp_path) -> None:
    config = dataclasses.replace(SMALL, epochs=1, augment=True, mixup=0.4, distill=0.5,
                                 teacher=str(teacher), teacher_online=True,
                                 distill_temperature=2.0)
    data, print_online = mixing.training_data(root, config, torch.device("cpu"),
                                              progress=False)
    assert data.soft is None and data.teacher is not None
    x = data.x_train[:5, :, :32, :32]
    torch.testing.assert_close(data.teacher(x), views.plain_probs(
        [load_classifier(teacher)], x, 2.0))
    _, print_fixed = mixing.training_data(
        root, dataclasses.replace(config, teacher_online=False), torch.device("cpu"),
        progress=False)
    assert print_online != print_fixed
    run = train_classifier(root, config, runs=tmp_path, progress=False)
    assert (run / "model.safetensors").is_file()
    with pytest.raises(SvhnEraseError, match="--teacher-online"):
        TrainConfig(teacher_online=True)
    with pytest.raises(SvhnEraseError, match="--mixup"):
        TrainConfig(mixup=-1.0)


def test_degrade_changes_the_chosen_share_only_and_is_seeded() -> None:
    x = torch.rand(64, 1, 40, 40) * 2 - 1
    assert degrade(x, torch.Generator().manual_seed(0), 0.0) is x
    one = degrade(x, torch.Generator().manual_seed(1), 0.5)
    two = degrade(x, torch.Generator().manual_seed(1), 0.5)
    assert torch.equal(one, two) and one.shape == x.shape
    changed = (one != x).flatten(1).any(1)
    assert 10 < int(changed.sum()) < 54  # about half of 64
    assert float(one.abs().max()) <= 1.0 + 1e-6  # averages of [-1, 1] values
    assert float(one[changed].std()) < float(x[changed].std())  # smoother
    with pytest.raises(SvhnEraseError, match="--degrade"):
        TrainConfig(degrade=1.5)
