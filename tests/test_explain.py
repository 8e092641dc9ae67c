"""The explain command writes the original's figures for one image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from builders import make_split
from svhn_erase import cli
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier


def test_explain_writes_one_png_per_figure(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_classifier(ConvNet("ConvNet48_Dropout3").eval(), weights)
    make_split(tmp_path, "tiny", count=2, seed=5)
    out = tmp_path / "figs"
    assert cli.main(["explain", "--data", str(tmp_path), "--split", "tiny", "--index", "1",
                     "--weights", str(weights), "--out", str(out)]) == 0
    names = sorted(p.name for p in out.glob("*.png"))
    assert "parent.png" in names
    for kind in ("feature_maps", "reductions", "key_pixels", "filled", "stages"):
        assert f"1_{kind}.png" in names
    for name in names:
        with Image.open(out / name) as im:
            assert im.size[0] > 100 and im.size[1] > 50


def test_explain_unknown_index_is_a_user_error(tmp_path: Path, capsys) -> None:
    make_split(tmp_path, "tiny", count=1, seed=5)
    code = cli.main(["explain", "--data", str(tmp_path), "--split", "tiny", "--index", "9",
                     "--weights", str(tmp_path / "missing.safetensors"), "--out",
                     str(tmp_path / "f")])
    assert code == 2 and "9.png" in capsys.readouterr().err


def test_feature_maps_show_the_crop_a_square_classifier_reads() -> None:
    from svhn_erase.apps.explain import _own_view_maps
    from svhn_erase.boxes import clip_boxes
    from svhn_erase.data.crops import square_window
    from svhn_erase.data.split import Parent
    from svhn_erase.removal import keypixels

    torch.manual_seed(0)
    model = ConvNet("ConvNet48_Dropout3").eval()
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    boxes = np.array([[30.0, 10.0, 10.0, 40.0]])  # tall: its square window is 40 x 40
    (rect,) = clip_boxes(boxes, image.shape)
    parent = Parent("1.png", image, boxes, np.array([3]))
    with torch.no_grad():
        stretched = model.first_conv(keypixels.classifier_input([image[rect.slices]]))[0].numpy()
        square = model.first_conv(keypixels.classifier_input(
            [square_window(image, rect.as_box())]))[0].numpy()
    assert _own_view_maps(model, parent, rect, stretched) is stretched
    model.crop_shape = "square"
    shown = _own_view_maps(model, parent, rect, stretched)
    np.testing.assert_allclose(shown, square, atol=1e-6)
    assert not np.allclose(shown, stretched, atol=1e-3)
