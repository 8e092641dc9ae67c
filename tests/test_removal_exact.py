"""The default method's shortcuts give what the generic calls they replace give, to the bit:
medians, quantiles, distance transforms, the classifier's crops, the second look's paste;
and the second look skips the classes it is told to (``RemovalConfig.ghost_skip``)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from svhn_erase.data.crops import crop_digit
from svhn_erase.removal import fill
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.keypixels import whole_crop_digit
from svhn_erase.removal.kmeans import quantiles
from svhn_erase.removal.median import median0
from svhn_erase.removal.methods import Scene, default
from svhn_erase.removal.methods.default import DefaultMethod


def test_median0_is_numpys_median() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 10, 11, 300, 301):
        for dtype in (np.float32, np.float64):
            values = (rng.random((n, 3)) * 255).astype(dtype)
            values[: n // 3] = values[0]  # ties
            for x in (values, values[:, 0]):
                assert median0(x).tobytes() == np.asarray(np.median(x, axis=0)).tobytes()


def test_quantiles_are_numpys() -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 5, 13, 299, 300):
        for k in (2, 12):
            values = rng.normal(size=n)
            values[: n // 4] = values[-1]  # ties
            q = np.linspace(0, 1, k + 1)
            np.testing.assert_array_equal(quantiles(values, q), np.quantile(values, q))


def test_distances_are_scipys() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        h, w = rng.integers(3, 40, 2)
        mask = ndimage.binary_dilation(rng.random((h, w)) < 0.1, iterations=2)
        if not mask.any():
            continue
        for radius in (1.0, 1.5, 2.0, 2.9):
            np.testing.assert_array_equal(fill.within(mask, radius),
                                          ndimage.distance_transform_edt(~mask) <= radius)
        np.testing.assert_array_equal(fill.inside_distance(mask),
                                      ndimage.distance_transform_edt(mask))
    full = np.ones((4, 5), bool)  # no pixel to measure from: scipy's answer
    np.testing.assert_array_equal(fill.inside_distance(full),
                                  ndimage.distance_transform_edt(full))


def test_whole_crop_digit_is_crop_digit() -> None:
    rng = np.random.default_rng(3)
    parent = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    for top, left, h, w in ((0, 0, 60, 80), (5, 7, 23, 11), (30, 2, 9, 70), (1, 1, 1, 1)):
        crop = parent[top:top + h, left:left + w]  # a view, as the records give
        np.testing.assert_array_equal(whole_crop_digit(crop),
                                      crop_digit(crop, np.array([0, 0, w, h]), size=40))


def _scenes() -> list[Scene]:
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(90, 3, (40, 80, 3)), 0, 255).astype(np.uint8)
    image[10:30, 24:33] = 240
    image[26:30, 34:39] = 160  # grey only the second look's larger share takes as digit
    image[6:8, 20:26] = 160
    image[12:28, 44:48] = 230  # a neighbour whose context overlaps the first box's
    other = np.clip(rng.normal(120, 3, (40, 60, 3)), 0, 255).astype(np.uint8)
    other[12:28, 22:26] = 20
    return [Scene(image, np.array([[20, 8, 20, 24], [41, 8, 10, 24]])),
            Scene(other, np.array([[18, 8, 14, 24]]))]


@pytest.mark.parametrize("ghost_prob", [1e-9, 0.25])
def test_second_look_repastes_only_its_scenes_with_the_same_result(model, monkeypatch,
                                                                    ghost_prob) -> None:
    method = DefaultMethod(RemovalConfig(ghost_prob=ghost_prob))
    scenes = _scenes()
    fast = method.erase(scenes, model)
    repasted: list[set[int] | None] = []
    whole = default.Fills.paste

    def paste_all(self, scenes, again=None):  # the old way: every scene pasted anew
        repasted.append(again)
        return whole(self, scenes)

    monkeypatch.setattr(default.Fills, "paste", paste_all)
    slow = method.erase(scenes, model)
    if ghost_prob < 1e-6:
        assert repasted[1:] == [{0}]  # the first scene can grow, the second cannot
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.replaced, b.replaced)
        np.testing.assert_array_equal(a.mask, b.mask)
        for x, y in zip(a.keypix, b.keypix, strict=True):
            np.testing.assert_array_equal(x, y)


def test_skipped_classes_get_no_second_look(model) -> None:
    scenes = _scenes()[:1]
    always = DefaultMethod(RemovalConfig(ghost_prob=1e-9, ghost_skip=()))
    digits, _, _ = always.erase_records(scenes, model)
    read = tuple({d.pred for d in digits})  # every class the classifier read here
    skipped = DefaultMethod(RemovalConfig(ghost_prob=1e-9, ghost_skip=read)).erase(scenes, model)
    plain = DefaultMethod(RemovalConfig(ghost_prob=0)).erase(scenes, model)
    looked = always.erase(scenes, model)
    np.testing.assert_array_equal(skipped[0].image, plain[0].image)
    assert not np.array_equal(looked[0].image, plain[0].image)  # the look does change it


def test_prepared_masks_for_another_border_band() -> None:
    from svhn_erase.removal.segment import prepare

    crop = np.zeros((14, 12, 3), np.uint8)
    inner = (slice(2, 12), slice(2, 10))
    others = np.zeros((14, 12), bool)
    others[:, :1] = True
    p = prepare(crop, np.zeros((2, 14, 12), np.float32), inner, others,
                RemovalConfig(border_band_px=1))
    assert p.masks(1)[0] is p.ring
    ring, centre = p.masks(0)
    assert centre.sum() == 10 * 8 and not (ring & centre).any()
    assert not ring[:, 0].any() and ring.sum() == 14 * 12 - 80 - 14
    assert p.centre.sum() == 8 * 6
