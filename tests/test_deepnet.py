"""The deeper network (issue 13): ``DeepNet`` shapes, saving and loading, the removal's fast
forward, and a DeepNet teacher distilled into an original ConvNet (``train --teacher``)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.deepnet import DEEP_ARCHITECTURES, DeepNet
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import NETWORKS, build_network, infer_architecture
from svhn_erase.model.train import TrainConfig, mixing, train_classifier
from svhn_erase.model.weights import load_classifier, save_classifier

DEEP = "DeepNet5_128"


@pytest.mark.parametrize("size", [32, 40])
def test_shapes_first_layer_and_fast_forward(size: int) -> None:
    torch.manual_seed(0)
    net = build_network(DEEP, num_classes=11, image_size=size).eval()
    assert isinstance(net, DeepNet) and DEEP in NETWORKS
    x = torch.randn(3, 1, size, size)
    assert net(x).shape == (3, 11)
    assert net.first_conv(x).shape == (3, DEEP_ARCHITECTURES[DEEP][0][1], size, size)
    assert net.num_conv_outputs == 128 * (size // 8) ** 2
    torch.testing.assert_close(batched_logits(net, x, fast=True), net(x))


def test_save_load_round_trip_and_shapes_name_it(tmp_path) -> None:
    torch.manual_seed(1)
    net = DeepNet(DEEP, num_classes=10, image_size=32).eval()
    assert infer_architecture(net.state_dict()) == (DEEP, 10)
    save_classifier(net, tmp_path / "m.safetensors")
    back = load_classifier(tmp_path / "m.safetensors")
    assert (back.name, back.num_classes, back.image_size) == (DEEP, 10, 32)
    x = torch.randn(2, 1, 32, 32)
    torch.testing.assert_close(back(x), net(x))
    with pytest.raises(ValueError, match="DeepNet0"):
        DeepNet("DeepNet0")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("deep")
    make_split(path, "train", count=12, seed=33)
    return path


def test_a_deep_teacher_distils_into_an_original_network(root, tmp_path) -> None:
    small = TrainConfig(net=DEEP, batch=16, size=32, test_split=None, epochs=1)
    teacher = train_classifier(root, small, runs=tmp_path / "t", progress=False)
    assert load_classifier(teacher).name == DEEP
    student = dataclasses.replace(small, net="ConvNet48_333", teacher=str(teacher),
                                  distill=0.5)
    data, _ = mixing.training_data(root, student, torch.device("cpu"), progress=False)
    torch.testing.assert_close(data.soft.sum(1), torch.ones(len(data.y_train)))
    run = train_classifier(root, student, runs=tmp_path / "s", progress=False)
    assert load_classifier(run).name == "ConvNet48_333"


def test_train_command_takes_the_deep_network(root, tmp_path, capsys) -> None:
    cli.main(["train", "--data", str(root), "--split", "train", "--test-split", "none",
              "--net", DEEP, "--size", "32", "--epochs", "1", "--batch", "16", "--cpu",
              "--runs", str(tmp_path), "--id", "deep-"])
    (run,) = tmp_path.glob("deep-*")
    assert load_classifier(run).name == DEEP


def test_an_ensemble_read_through_views_teaches_plain_training(root, tmp_path) -> None:
    small = TrainConfig(net="ConvNet48_333", batch=16, size=32, test_split=None, epochs=1)
    one = train_classifier(root, small, runs=tmp_path / "a", progress=False)
    two = train_classifier(root, dataclasses.replace(small, net=DEEP), runs=tmp_path / "b",
                           progress=False)
    config = dataclasses.replace(small, teacher=[str(one), str(two)], teacher_views=True,
                                 distill=0.5)
    assert config.teachers == (str(one), str(two))  # a list (config.json) becomes a tuple
    data, print_views = mixing.training_data(root, config, torch.device("cpu"), progress=False)
    assert data.augment is None and data.soft.shape == (len(data.y_train), 10)
    torch.testing.assert_close(data.soft.sum(1), torch.ones(len(data.y_train)))
    plain, print_plain = mixing.training_data(
        root, dataclasses.replace(config, teacher_views=False), torch.device("cpu"),
        progress=False)
    assert print_views != print_plain and not torch.allclose(data.soft, plain.soft)
    with pytest.raises(SvhnEraseError, match="--teacher-views"):
        TrainConfig(teacher_views=True)
