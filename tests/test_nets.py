"""The nine networks: shapes at several input sizes, and the original checkpoint loads as is."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from svhn_erase.model.nets import ARCHITECTURES, ConvNet, infer_architecture
from svhn_erase.model.weights import load_classifier, save_classifier

ORIGINAL = Path(__file__).resolve().parents[2] / "shared/reference/original-ConvNet48_Dropout3.pkl"
needs_original = pytest.mark.skipif(not ORIGINAL.is_file(), reason="original checkpoint absent")


@pytest.mark.parametrize("name", list(ARCHITECTURES))
@pytest.mark.parametrize("size", [32, 40, 48])
def test_every_net_at_every_size(name: str, size: int) -> None:
    torch.manual_seed(0)
    for classes in (10, 11):
        net = ConvNet(name, num_classes=classes, image_size=size).eval()
        x = torch.randn(2, 1, size, size)
        assert net(x).shape == (2, classes)
        channels = ARCHITECTURES[name][0][0]
        assert net.first_conv(x).shape == (2, channels, size, size)
        assert net.num_conv_outputs == 32 * (size // 8) ** 2


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_save_load_round_trip_keeps_name_and_output(name: str, tmp_path) -> None:
    torch.manual_seed(1)
    net = ConvNet(name, num_classes=11, image_size=32).eval()
    save_classifier(net, tmp_path / "m.safetensors")
    back = load_classifier(tmp_path / "m.safetensors")
    assert (back.name, back.num_classes, back.image_size) == (name, 11, 32)
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(back(x), net(x))
    guessed, classes = infer_architecture(net.state_dict())
    assert classes == 11
    assert ARCHITECTURES[guessed][:2] == ARCHITECTURES[name][:2]


def test_unknown_net_is_rejected() -> None:
    with pytest.raises(ValueError, match="ConvNet99"):
        ConvNet("ConvNet99")


@needs_original
def test_original_checkpoint_loads_unchanged() -> None:
    state = torch.load(ORIGINAL, map_location="cpu", weights_only=True)
    net = ConvNet("ConvNet48_Dropout3", num_classes=10, image_size=40)
    net.load_state_dict(state, strict=True)  # the same keys and shapes, no renaming
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, state[key])
    loaded = load_classifier(ORIGINAL)
    assert loaded.name == "ConvNet48_Dropout3" and not loaded.training
    x = torch.randn(4, 1, 40, 40)
    torch.testing.assert_close(loaded(x), net.eval()(x))
