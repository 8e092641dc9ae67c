"""Square ("box-aspect-preserving") crops: the geometry, the weights' record of it, and that
training, ``classify`` and the removal all cut a square classifier's crops that way."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from builders import make_split
from svhn_erase import cli
from svhn_erase.data import crops
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model import classify, inference
from svhn_erase.model.ensemble import average_weights, load_ensemble
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, save_classifier
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Scene
from svhn_erase.removal.methods.default import DefaultMethod

pytestmark = pytest.mark.usefixtures("cli_logging")


def _ramp(h: int = 60, w: int = 80) -> np.ndarray:
    """An RGB image whose grey value at (y, x) is distinct: x + 2 * y (mod 256)."""
    yy, xx = np.mgrid[:h, :w]
    value = ((xx + 2 * yy) % 256).astype(np.uint8)
    return np.repeat(value[..., None], 3, axis=2)


def test_a_tall_box_gives_a_square_window_centred_on_it() -> None:
    image = _ramp()
    # a 10 x 30 box at left 30, top 10: the square is 30 x 30 about (35, 25)
    window = crops.square_window(image, (30, 10, 10, 30))
    np.testing.assert_array_equal(window, image[10:40, 20:50])
    # a margin of 0.1 grows the square's side by 2 x 0.1 x 30 = 6 pixels
    np.testing.assert_array_equal(crops.square_window(image, (30, 10, 10, 30), 0.1),
                                  image[7:43, 17:53])
    # the crop is that window grayed and resized, whatever the box's aspect
    out = crops.crop_digit(image, (30, 10, 10, 30), size=40, shape="square")
    want = Image.fromarray(crops.luma(image[10:40, 20:50])).resize((40, 40), Image.BILINEAR)
    np.testing.assert_array_equal(out, np.asarray(want))


def test_the_square_repeats_the_edge_pixels_where_it_leaves_the_image() -> None:
    image = _ramp()
    # a 4 x 20 box at the left edge: the 20 x 20 square reaches 8 columns past the image
    window = crops.square_window(image, (0, 20, 4, 20))
    assert window.shape == (20, 20, 3)
    np.testing.assert_array_equal(window[:, 8:], image[20:40, 0:12])
    for column in range(8):  # the missing columns repeat the image's first column
        np.testing.assert_array_equal(window[:, column], image[20:40, 0])
    # a box wholly outside still gives edge pixels, never an error
    assert crops.crop_digit(image, (100, 70, 5, 9), size=16, shape="square").shape == (16, 16)


def test_stretch_is_unchanged_byte_for_byte_and_unknown_shapes_are_refused() -> None:
    image = np.random.default_rng(4).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    box = (12.4, 6.6, 9.2, 27.1)
    rect = crops.Box.of(box).crop_rect(image.shape)
    piece = Image.fromarray(image).crop((rect.left, rect.top, rect.right, rect.bottom))
    want = np.asarray(piece.convert("L").resize((40, 40), Image.BILINEAR))
    np.testing.assert_array_equal(crops.crop_digit(image, box), want)
    np.testing.assert_array_equal(crops.crop_digit(image, box, shape="stretch"), want)
    with pytest.raises(SvhnEraseError, match="unknown crop shape"):
        crops.crop_digit(image, box, shape="round")


def test_train_classify_and_removal_cut_square_crops_for_a_square_net(tmp_path, monkeypatch,
                                                                      capsys) -> None:
    real_inputs = records.classifier_inputs
    make_split(tmp_path / "data", "train", count=10, seed=51)
    make_split(tmp_path / "data", "test", count=6, seed=52)
    args = ["train", "--data", str(tmp_path / "data"), "--net", "ConvNet32", "--size", "32",
            "--test-split", "none", "--epochs", "1", "--cpu", "--augment"]
    assert cli.main([*args, "--crop-shape", "square", "--runs", str(tmp_path / "sq")]) in (0, None)
    run = next((tmp_path / "sq").glob("*/"))
    assert json.loads((run / "config.json").read_text())["crop_shape"] == "square"
    model = load_classifier(run)
    assert model.crop_shape == "square"
    # classify cuts the digits as squares: its predictions are those of the square crops
    result = classify.classify_split(tmp_path / "data", "test", run, progress=False)
    square = crops.build_crop_cache(tmp_path / "data" / "test", size=32, progress=False,
                                    shape="square")
    stretch = crops.build_crop_cache(tmp_path / "data" / "test", size=32, progress=False)
    assert not np.array_equal(square.crops, stretch.crops)
    np.testing.assert_array_equal(result["pred"].to_numpy(),
                                  inference.predict_crops(model, square.crops)[0])
    # the removal's classifier input: the square window of each box, from the parent
    image = _ramp()
    digits = records.digit_records([Scene(image, np.array([[30, 10, 10, 30]]))])
    want = crops.normalize(crops.crop_digit(image, (30, 10, 10, 30), 40, shape="square").copy())
    torch.testing.assert_close(records.classifier_inputs(digits, "square")[0], want)
    # the default removal asks for the classifier's own crop shape, in both of its looks
    asked = []
    monkeypatch.setattr(records, "classifier_inputs", lambda recs, shape="stretch", images=None:
                        asked.append(shape) or real_inputs(recs, shape, images))
    net = ConvNet("ConvNet48_Dropout5").eval()
    net.crop_shape = "square"
    scene = Scene(_ramp(), np.array([[30, 10, 10, 30], [45, 12, 9, 28]]))
    DefaultMethod(RemovalConfig(ghost_prob=0.0)).erase([scene], net)
    DefaultMethod(RemovalConfig(ghost_prob=1e-9)).erase([scene], net)
    assert len(asked) == 3 and set(asked) == {"square"}  # first look twice, second once
    # a stretch-trained teacher cannot label square crops, nor join a square net's ensemble
    stretch_net = tmp_path / "stretch.safetensors"
    save_classifier(ConvNet("ConvNet32", num_classes=10, image_size=32).eval(), stretch_net)
    assert cli.main([*args, "--crop-shape", "square", "--teacher", str(stretch_net),
                     "--distill", "0.5", "--runs", str(tmp_path / "kd")]) == 2
    assert "the teacher reads stretch crops" in capsys.readouterr().err
    with pytest.raises(SvhnEraseError, match="crop shape"):
        load_ensemble([run, stretch_net])
    with pytest.raises(SvhnEraseError, match="crop shapes"):
        average_weights([run, stretch_net])
    # --init from the square file does not carry its shape over: the flag decides
    assert cli.main([*args, "--init", str(run), "--runs", str(tmp_path / "st")]) in (0, None)
    assert load_classifier(next((tmp_path / "st").glob("*/"))).crop_shape == "stretch"
