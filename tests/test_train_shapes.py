"""Real-shape composites (issue 13): ``train.shapes`` and ``train --real-shapes``."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.train import TrainConfig, mixing, real, shapes, warp

SMALL = TrainConfig(net="ConvNet48_333", batch=16, size=32, test_split=None)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("shapes")
    make_split(path, "train", count=10, seed=41)
    make_split(path, "photos", count=12, seed=42)
    return path


@pytest.fixture(scope="module")
def pieces(root):
    return shapes.cut_pieces(root / "photos", "1-8", 32, 0.0, progress=False)[0]


def test_pieces_separate_each_digit_from_its_erased_background(root, pieces) -> None:
    digits = real.real_crop_set(root / "photos", "1-8", 32, 0.0, 10, progress=False)
    assert 0 < len(pieces) <= len(digits)
    assert set(pieces.labels) <= set(digits.labels)
    change = np.abs(pieces.crop - pieces.background)
    inside, outside = pieces.mask > 0.9, pieces.mask < 0.01
    # the erased background differs from the photo on the digit, hardly anywhere else
    assert change[inside].mean() > 40 > 5 > change[outside].mean()


def test_a_composite_is_the_digit_on_a_new_background_with_a_new_contrast(pieces,
                                                                         monkeypatch) -> None:
    crops, labels = shapes.composites(pieces, 3, seed=5)
    again, _ = shapes.composites(pieces, 3, seed=5)
    other, _ = shapes.composites(pieces, 3, seed=6)
    assert crops.shape == (3 * len(pieces), 32, 32) and crops.dtype == np.uint8
    assert np.array_equal(labels, np.tile(pieces.labels, 3))
    assert np.array_equal(crops, again) and not np.array_equal(crops, other)
    # on its own background, at gain +-1, unshifted, unblurred, noiseless: the photo itself,
    # or its digit's polarity reversed around the erased background
    for name, value in (("OWN_BACKGROUND", 1.0), ("CONTRAST", (1.0, 1.0)), ("SHIFT", 0.0),
                        ("BLUR_P", 0.0), ("NOISE", 0.0)):
        monkeypatch.setattr(shapes, name, value)
    plain, _ = shapes.composites(pieces, 2, seed=7)
    same = np.clip(np.rint(pieces.crop), 0, 255)
    flipped = np.clip(np.rint(2 * pieces.background - pieces.crop), 0, 255)
    for i, crop in enumerate(plain.astype(float)):
        k = i % len(pieces)
        assert np.abs(crop - same[k]).max() <= 1 or np.abs(crop - flipped[k]).max() <= 1
    assert not np.array_equal(plain[:len(pieces)], same.astype(np.uint8))  # some flipped


def test_real_shapes_join_the_training_data_and_the_command_line(root, tmp_path) -> None:
    config = dataclasses.replace(SMALL, epochs=1, real=str(root / "photos"), real_range="1-8",
                                 real_val_range="9-12")
    base, base_print = mixing.training_data(root, config, "cpu", progress=False)
    more, more_print = mixing.training_data(root, dataclasses.replace(config, real_shapes=2),
                                            "cpu", progress=False)
    count = len(shapes.cut_pieces(root / "photos", "1-8", 32, 0.0, progress=False)[0])
    assert len(more.y_train) == len(base.y_train) + 2 * count and more_print != base_print
    with pytest.raises(SvhnEraseError, match="--real-shapes needs --real"):
        TrainConfig(real_shapes=1)
    with pytest.raises(SvhnEraseError, match="--real-shapes-student needs --real-shapes"):
        dataclasses.replace(config, real_shapes_student="student.safetensors")
    code = cli.main(["train", "--data", str(root), "--net", "ConvNet48_333", "--size", "32",
                     "--test-split", "none", "--real", str(root / "photos"), "--real-range",
                     "1-8", "--real-val-range", "9-12", "--real-shapes", "1", "--epochs", "1",
                     "--real-shapes-warp", "0.5", "--cpu", "--runs", str(tmp_path)])
    assert code in (0, None)
    saved = json.loads(next(tmp_path.glob("*/config.json")).read_text())
    assert saved["real_shapes"] == 1 and saved["real_shapes_warp"] == 0.5
    assert saved["real_shapes_elastic"] is True


def test_warped_composites_change_only_the_digits_shape(root, pieces) -> None:
    config = dataclasses.replace(SMALL, epochs=1, real=str(root / "photos"), real_range="1-8",
                                 real_shapes=1)
    prints = {mixing.training_data(root, dataclasses.replace(config, real_shapes_warp=w),
                                   "cpu", progress=False)[1] for w in (0.0, 1.0)}
    assert len(prints) == 2  # the warp is in the run's fingerprint
    plain, _ = shapes.composites(pieces, 2, seed=5)
    assert np.array_equal(plain, shapes.composites(pieces, 2, seed=5, warp=0.0)[0])
    warped, _ = shapes.composites(pieces, 2, seed=5, warp=1.0)
    assert np.array_equal(warped, shapes.composites(pieces, 2, seed=5, warp=1.0)[0])
    assert not np.array_equal(warped, plain)
    assert not np.array_equal(warped, shapes.composites(pieces, 2, seed=5, warp=1.0,
                                                        elastic=False)[0])
    # without a digit (crop = its background) the warp has nothing to move: the backgrounds,
    # contrasts, blurs and noise are drawn exactly as without it
    blank = dataclasses.replace(pieces, crop=pieces.background)
    assert np.array_equal(shapes.composites(blank, 2, seed=5, warp=2.0)[0],
                          shapes.composites(blank, 2, seed=5)[0])
    with pytest.raises(SvhnEraseError, match="--real-shapes-warp must be"):
        dataclasses.replace(config, real_shapes_warp=-1.0)
    with pytest.raises(SvhnEraseError, match="--real-shapes-warp needs --real-shapes"):
        dataclasses.replace(config, real_shapes=0, real_shapes_warp=1.0)
    with pytest.raises(SvhnEraseError, match="--real-shapes-no-elastic needs"):
        dataclasses.replace(config, real_shapes_elastic=False)


def test_a_warp_keeps_the_digit_in_the_crop_and_moves_its_mask_with_it() -> None:
    rows, cols = np.indices((40, 40)) - 19.5
    ring = np.abs(np.hypot(rows / 14, cols / 9) - 1) < 0.15  # an "0", inside the crop
    signal, mask = ring * 80.0, ring.astype(float)
    rng = np.random.default_rng(3)
    for strength in (1.0, 2.0):
        for _ in range(10):
            how = warp.draw(40, rng.uniform(-2, 2, 2), strength, rng)
            moved, moved_mask = warp.apply(how, signal, mask)
            assert moved.shape == signal.shape
            assert 0.6 < (moved ** 2).sum() / (signal ** 2).sum() < 1.5  # energy kept roughly
            assert moved_mask[moved != 0].min() > 0  # the same warp moved both
            centre = [(moved * axis).sum() / moved.sum() for axis in (rows, cols)]
            assert np.hypot(*centre) < 3 * strength + 1
    again = np.random.default_rng(3)
    first = warp.apply(warp.draw(40, np.zeros(2), 1.0, again), signal)[0]
    assert not np.allclose(first, signal)
    assert np.array_equal(first, warp.apply(warp.draw(40, np.zeros(2), 1.0,
                                                      np.random.default_rng(3)), signal)[0])
