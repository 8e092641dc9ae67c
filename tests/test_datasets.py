"""Torchvision-style datasets: whole parents with targets, and normalized digit crops."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from builders import make_split
from svhn_erase.data import crops
from svhn_erase.data.datasets import SVHNDigits, SVHNFull
from svhn_erase.errors import SvhnEraseError


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("datasets")
    make_split(path, "train", count=8, seed=1)
    return path


def test_full_items(root) -> None:
    ds = SVHNFull(root, "train")
    table = crops.load_split_table(root / "train")
    assert len(ds) == 8
    image, target = ds[2]
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    rows = table[table["file"] == "3.png"]
    assert target["boxes"].shape == (len(rows), 4)
    np.testing.assert_array_equal(target["labels"].numpy(), rows["label"].to_numpy())
    def to_chw(a):
        return torch.from_numpy(np.array(a)).permute(2, 0, 1)

    as_tensor = SVHNFull(root, "train", transform=to_chw)
    assert as_tensor[2][0].shape == (3, *image.shape[:2])


def test_digit_items_and_dataloader(root) -> None:
    ds = SVHNDigits(root, "train")
    table = crops.load_split_table(root / "train")
    assert len(ds) == len(table)
    x, y = ds[0]
    assert x.shape == (1, 40, 40) and x.dtype == torch.float32
    assert float(x.min()) >= -1.0 and float(x.max()) <= 1.0
    assert y == int(table["label"].iloc[0])
    xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=False)))
    assert xb.shape == (4, 1, 40, 40) and yb.tolist() == table["label"].iloc[:4].tolist()
    xs, ys = ds.tensors()
    torch.testing.assert_close(xs[:4], xb)
    flipped = SVHNDigits(root, "train", transform=lambda t: t.flip(-1), indices=[1, 0])
    torch.testing.assert_close(flipped[0][0], ds[1][0].flip(-1))
    assert len(SVHNDigits(root, "train", size=32, classes=11)) > len(ds)


def test_square_digit_items_are_the_square_windows_about_the_boxes(root) -> None:
    square = SVHNDigits(root, "train", crop_shape="square")
    table = crops.load_split_table(root / "train")
    row = table.iloc[0]
    image = np.asarray(Image.open(root / "train" / row["file"]).convert("RGB"))
    box = (row["left"], row["top"], row["width"], row["height"])
    expected = crops.normalize(crops.crop_digit(image, box, shape="square"), gray=True)
    torch.testing.assert_close(square[0][0], expected)
    assert not torch.equal(square[0][0], SVHNDigits(root, "train")[0][0])
    with pytest.raises(SvhnEraseError, match="round"):
        SVHNDigits(root, "train", crop_shape="round")


def test_missing_split_is_a_clear_error(root) -> None:
    with pytest.raises(SvhnEraseError, match="nope"):
        SVHNDigits(root, "nope")
