"""Digit crops: the single-crop function against PIL's own pipeline, and the crop cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from builders import make_split
from svhn_erase.data import crops, split


@pytest.fixture(scope="module")
def split_path(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("crops"), "train", count=12, seed=3, corrupt=1)


def _rgb(h: int = 30, w: int = 50, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_crop_digit_is_crop_gray_resize_as_pil() -> None:
    image = _rgb()
    out = crops.crop_digit(image, (5, 4, 17, 21), size=40)
    expected = np.asarray(Image.fromarray(image).crop((5, 4, 22, 25)).convert("L")
                          .resize((40, 40), Image.BILINEAR))
    assert out.dtype == np.uint8 and out.shape == (40, 40)
    np.testing.assert_array_equal(out, expected)


def test_gray_is_itu_601_luma() -> None:
    image = np.zeros((4, 4, 3), np.uint8)
    image[..., 0], image[..., 1], image[..., 2] = 200, 100, 50
    out = crops.crop_digit(image, (0, 0, 4, 4), size=4)
    assert abs(int(out[0, 0]) - round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 1


def test_rgb_crop_and_margin_and_border_clipping() -> None:
    image = _rgb()
    assert crops.crop_digit(image, (5, 4, 10, 10), size=32, gray=False).shape == (32, 32, 3)
    assert crops.crop_box((10, 10, 10, 20), image.shape, margin=0.1) == (9, 8, 21, 30)
    # a box reaching past the border is clipped to the image, never empty
    assert crops.crop_box((-5, -3, 20, 100), image.shape) == (0, 0, 15, 30)
    assert crops.crop_box((60, 40, 5, 5), image.shape) == (49, 29, 50, 30)
    assert crops.crop_digit(image, (-5, -3, 20, 100), size=40).shape == (40, 40)


def test_normalize_shapes_and_range() -> None:
    batch = np.array([[[0, 255]], [[128, 64]]], dtype=np.uint8)  # (2, 1, 2)
    x = crops.normalize(batch)
    assert x.shape == (2, 1, 1, 2) and x.dtype.is_floating_point
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    assert crops.normalize(np.zeros((5, 5), np.uint8)).shape == (1, 5, 5)
    assert crops.normalize(np.zeros((5, 5, 3), np.uint8), gray=False).shape == (3, 5, 5)
    with pytest.raises(ValueError):
        crops.normalize(np.zeros((2, 2), np.float32))


def test_cache_holds_every_decodable_digit_and_is_reused(split_path, capsys,
                                                        monkeypatch) -> None:
    table = crops.load_split_table(split_path)
    cache = crops.build_crop_cache(split_path, progress=False)
    assert "12.png" in capsys.readouterr().err  # the corrupt parent is reported, not fatal
    expected = table[table["file"] != "12.png"]
    assert len(cache) == len(expected)
    np.testing.assert_array_equal(cache.labels, expected["label"].to_numpy())
    assert cache.crops.shape == (len(expected), 40, 40) and cache.crops.dtype == np.uint8
    # each cached crop is exactly what crop_digit makes
    row = expected.iloc[3]
    parent = np.asarray(Image.open(split_path / row["file"]).convert("RGB"))
    box = row[["left", "top", "width", "height"]].to_numpy(dtype=float).round().astype(int)
    np.testing.assert_array_equal(cache.crops[3], crops.crop_digit(parent, box))
    files = sorted((split_path / crops.CACHE_DIR).glob("*.npy"))
    stamp = [f.stat().st_mtime_ns for f in files]

    def no_decoding(*args, **kwargs):
        raise AssertionError("a PNG was decoded although the cache exists")

    monkeypatch.setattr(split, "iter_parents", no_decoding)
    again = crops.build_crop_cache(split_path, progress=False)
    np.testing.assert_array_equal(again.crops, cache.crops)
    assert [f.stat().st_mtime_ns for f in files] == stamp
    monkeypatch.undo()
    other = crops.build_crop_cache(split_path, size=32, progress=False)
    assert other.crops.shape[1:] == (32, 32)
    assert len(list((split_path / crops.CACHE_DIR).glob("*.npy"))) == len(files) + 1


def test_no_digit_class(split_path, tmp_path) -> None:
    cache = crops.build_crop_cache(split_path, classes=11, progress=False)
    digits = crops.build_crop_cache(split_path, classes=10, progress=False)
    is_bg = cache.labels == crops.NO_DIGIT
    assert 1 <= is_bg.sum() <= len(digits) // 10 + 1
    assert np.all(cache.table_row[is_bg] == -1)
    np.testing.assert_array_equal(cache.crops[~is_bg], digits.crops)
    # deterministic: a copy of the split elsewhere gives the same crops
    copy = make_split(tmp_path, "train", count=12, seed=3, corrupt=1)
    np.testing.assert_array_equal(
        crops.build_crop_cache(copy, classes=11, progress=False).crops, cache.crops)
    with pytest.raises(crops.SvhnEraseError):
        crops.build_crop_cache(split_path, classes=12)


@settings(max_examples=40, deadline=None)
@given(st.integers(20, 120), st.integers(20, 120),
       st.lists(st.tuples(st.integers(-5, 100), st.integers(-5, 100), st.integers(1, 40),
                          st.integers(1, 40)), min_size=1, max_size=4),
       st.integers(0, 2**31))
def test_background_boxes_touch_no_digit(h, w, boxes, seed) -> None:
    boxes = np.asarray(boxes)
    sizes = boxes[:, 2:4].astype(float)
    found = crops.background_boxes((h, w, 3), boxes, sizes, 3, np.random.default_rng(seed))
    assert len(found) <= 3
    for x0, y0, bw, bh in found:
        assert x0 >= 0 and y0 >= 0 and x0 + bw <= w and y0 + bh <= h
        assert not crops._overlaps(x0, y0, bw, bh, boxes)
