"""Per-crop input standardization (``ConvNet.input_norm``): "global" is the original network
unchanged, "crop" ignores a crop's brightness and contrast, the weights and a run record it,
and the removal's first-layer maps standardize each crop too."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet, standardize_crops
from svhn_erase.model.train import TrainConfig
from svhn_erase.model.weights import load_classifier, save_classifier
from svhn_erase.removal.first_layer import native_feature_maps, native_map_stats

pytestmark = pytest.mark.usefixtures("cli_logging")


def _net(seed: int = 3) -> ConvNet:
    torch.manual_seed(seed)
    return ConvNet("ConvNet32", num_classes=10, image_size=32).eval()


def _inputs(n: int = 6, size: int = 32) -> torch.Tensor:
    return torch.rand(n, 1, size, size, generator=torch.Generator().manual_seed(7)) - 0.5


def test_global_is_the_original_forward_byte_for_byte() -> None:
    net, x = _net(), _inputs()
    assert net.input_norm == "global"
    with torch.no_grad():
        want = net.head(net.layer3(net.layer2(net.layer1(x))).flatten(1))
        assert torch.equal(net(x), want)
        assert torch.equal(net.first_conv(x), net.layer1[0](x))
        assert torch.equal(net.prepare(x), x)


def test_crop_norm_ignores_brightness_and_contrast() -> None:
    net, x = _net(), _inputs()
    net.input_norm = "crop"
    changed = x.clone()
    changed[0] = 0.3 * x[0] - 0.4  # darker, flatter
    changed[1] = 1.7 * x[1] + 0.2  # brighter, more contrast
    with torch.no_grad():
        torch.testing.assert_close(net(changed), net(x), atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(net.first_conv(changed), net.first_conv(x), atol=1e-5,
                                   rtol=1e-4)
        # the removal's fast path standardizes too
        torch.testing.assert_close(batched_logits(net, changed, fast=True),
                                   batched_logits(net, x), atol=1e-4, rtol=1e-4)
        assert not torch.allclose(net(x), _net()(x))  # it is not the global network
    out = standardize_crops(x)
    torch.testing.assert_close(out.mean(dim=(1, 2, 3)), torch.zeros(len(x)), atol=1e-6,
                               rtol=0)
    torch.testing.assert_close(out.std(dim=(1, 2, 3), unbiased=False),
                               torch.full((len(x),), 0.5))
    # a flat crop stays flat (its std is floored, nothing is divided by zero)
    torch.testing.assert_close(standardize_crops(torch.full((1, 1, 4, 4), 0.3)),
                               torch.zeros(1, 1, 4, 4), atol=1e-5, rtol=0)


def test_a_loaded_crop_network_reads_as_the_saved_one(tmp_path) -> None:
    net = _net()  # the metadata round trip itself: tests/test_weights_metadata.py
    net.input_norm = "crop"
    save_classifier(net, tmp_path / "crop.safetensors")
    loaded = load_classifier(tmp_path / "crop.safetensors")
    x = _inputs()
    assert loaded.input_norm == "crop"
    torch.testing.assert_close(loaded(x), net(x))


def test_native_first_layer_maps_standardize_each_crop_at_its_own_size() -> None:
    net = ConvNet("ConvNet48_Dropout5").eval()
    rng = np.random.default_rng(5)
    crop = rng.integers(40, 200, (23, 17, 3)).astype(np.uint8)
    other = rng.integers(0, 256, (30, 26, 3)).astype(np.uint8)
    flat = (0.5 * crop + 60).astype(np.uint8)  # lower contrast, brighter
    global_maps = native_feature_maps(net, [crop])[0]
    net.input_norm = "crop"
    maps, maps_flat, _ = native_feature_maps(net, [crop, flat, other])
    assert not np.allclose(maps, global_maps, atol=1e-3)
    np.testing.assert_allclose(maps, maps_flat, atol=0.03)  # uint8 rounding of ``flat``
    # the closed-form statistics agree with the maps themselves, per crop
    for c in (crop, other):
        stats = native_map_stats(net, [c])[0]
        m = native_feature_maps(net, [c])[0]
        np.testing.assert_allclose(stats[0], m.mean(0), atol=1e-4)
        np.testing.assert_allclose(stats[1], m.std(0, ddof=1), atol=1e-3)


def test_train_input_norm_reaches_config_and_weights(tmp_path) -> None:
    make_split(tmp_path / "data", "train", count=8, seed=61)
    args = ["train", "--data", str(tmp_path / "data"), "--net", "ConvNet32", "--size", "32",
            "--test-split", "none", "--epochs", "1", "--cpu", "--limit", "12"]
    assert cli.main([*args, "--input-norm", "crop", "--runs", str(tmp_path / "cn")]) in (0, None)
    run = next((tmp_path / "cn").glob("*/"))
    saved = json.loads((run / "config.json").read_text())
    assert saved["input_norm"] == "crop"
    assert load_classifier(run).input_norm == "crop"
    # --init from a crop file does not carry it over: the flag decides
    assert cli.main([*args, "--init", str(run), "--runs", str(tmp_path / "gl")]) in (0, None)
    back = next((tmp_path / "gl").glob("*/"))
    back_saved = json.loads((back / "config.json").read_text())
    assert back_saved["input_norm"] == "global"
    # the same crops, but the crop-normalized run's fingerprint is its own
    assert back_saved["data_fingerprint"] != saved["data_fingerprint"]
    assert load_classifier(back).input_norm == "global"
    with pytest.raises(SvhnEraseError, match="input normalization"):
        TrainConfig(input_norm="local")
    with pytest.raises(SvhnEraseError, match="only for the original networks"):
        TrainConfig(net="DeepNet5_128", input_norm="crop")


def test_whole_photo_and_averaging_consumers_refuse_what_they_cannot_do(tmp_path) -> None:
    from svhn_erase.detection.pyramid import PyramidDetector
    from svhn_erase.model.ensemble import average_weights

    judge = ConvNet("ConvNet32_753", num_classes=11).eval()
    PyramidDetector(judge)  # a global judge slides over whole photos
    judge.input_norm = "crop"
    with pytest.raises(ValueError, match="input_norm 'global'"):
        PyramidDetector(judge)
    net = _net()
    save_classifier(net, tmp_path / "global.safetensors")
    net.input_norm = "crop"
    save_classifier(net, tmp_path / "crop.safetensors")
    assert average_weights([tmp_path / "crop.safetensors"] * 2).input_norm == "crop"
    with pytest.raises(SvhnEraseError, match="input normalizations"):
        average_weights([tmp_path / "global.safetensors", tmp_path / "crop.safetensors"])
