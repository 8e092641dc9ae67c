"""Digit crops: what one crop holds, the grayscale, and the crop cache."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from builders import make_split
from svhn_erase.boxes import Box, Rect
from svhn_erase.data import crops, split

pytestmark = pytest.mark.usefixtures("cli_logging")  # log records on stderr, as the CLI shows


@pytest.fixture(scope="module")
def split_path(tmp_path_factory):
    return make_split(tmp_path_factory.mktemp("crops"), "train", count=12, seed=3, corrupt=1)


def _rgb(h: int = 30, w: int = 50, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(h, w, 3), dtype=np.uint8)


def test_crop_digit_takes_the_box_only_and_stretches_it_to_the_square() -> None:
    # a 10 x 30 box on noise: its top half red-ish, its bottom half black
    image = _rgb(60, 80)
    image[5:20, 20:30] = (200, 100, 50)
    image[20:35, 20:30] = 0
    out = crops.crop_digit(image, (20, 5, 10, 30), size=40)
    assert out.dtype == np.uint8 and out.shape == (40, 40)
    # no pixel of the noise around the box leaks in; the aspect ratio is not kept, so the
    # two halves fill the top and bottom 20 rows (bilinear mixes only next to the seam)
    assert np.all(out[:18] == 124)  # round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert np.all(out[22:] == 0)
    assert np.all(np.diff(out[:, 7].astype(int)) <= 0)  # one dark-going step at the seam
    # left and right are kept too: a box whose right half is white
    image[5:35, 25:30] = 255
    out = crops.crop_digit(image, (20, 5, 10, 30), size=40, gray=False)
    assert out.shape == (40, 40, 3)
    assert np.all(out[:, 22:] == 255) and np.all(out[:18, :18] == (200, 100, 50))


def test_luma_is_pils_itu_601_gray() -> None:
    image = np.zeros((2, 3, 3), np.uint8)
    image[0] = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    image[1] = [(200, 100, 50), (255, 255, 255), (1, 2, 3)]
    # PIL's integer luma: (R * 19595 + G * 38470 + B * 7471 + 0x8000) >> 16
    want = (image[..., 0].astype(int) * 19595 + image[..., 1].astype(int) * 38470
            + image[..., 2].astype(int) * 7471 + 0x8000) >> 16
    out = crops.luma(image)
    assert out.dtype == np.uint8 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, want)
    assert out[0].tolist() == [76, 150, 29] and out[1, 1] == 255


def test_gray_crop_is_the_luma_of_the_rgb_crop() -> None:
    # luma and the bilinear resize are both linear: graying before or after resizing
    # differs by rounding only
    for seed in range(5):
        image = _rgb(seed=seed)
        gray = crops.crop_digit(image, (5, 4, 17, 21), size=40)
        rgb = crops.crop_digit(image, (5, 4, 17, 21), size=40, gray=False)
        diff = np.abs(gray.astype(int) - crops.luma(rgb).astype(int))
        assert diff.max() <= 2 and diff.mean() < 0.5


def test_margin_and_border_clipping() -> None:
    image = _rgb()  # 30 x 50
    # the crop rectangle of a digit: grown by the margin, clipped, never empty
    assert Box(10, 10, 10, 20).crop_rect(image.shape, margin=0.1) == Rect(8, 9, 30, 21)
    assert Box(-5, -3, 20, 100).crop_rect(image.shape) == Rect(0, 0, 30, 15)
    assert Box(60, 40, 5, 5).crop_rect(image.shape) == Rect(29, 49, 30, 50)
    # a box reaching past the border crops what is inside: here the top-left 15 x 30
    flat = np.zeros_like(image)
    flat[:, :15] = 90
    out = crops.crop_digit(flat, (-5, -3, 20, 100), size=40)
    assert out.shape == (40, 40) and np.all(out == 90)


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
