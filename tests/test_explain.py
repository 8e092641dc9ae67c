"""The explain command writes the original's figures for one image."""

from __future__ import annotations

from pathlib import Path

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
