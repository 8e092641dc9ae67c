"""The student fill's flat-background step (``student.fill.flat_hole``) and the flood-fill
``keypixels.fill_holes`` the method's masks go through."""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from svhn_erase.removal import keypixels
from svhn_erase.removal.student.fill import Filled, FillSettings, flat_ring, grnn_fill


def test_fill_holes_matches_scipy_on_random_masks():
    rng = np.random.default_rng(0)
    for i in range(300):
        h, w = rng.integers(1, 30, 2)
        mask = rng.random((h, w)) < rng.random()
        if i % 2 and mask.any():
            mask = ndimage.binary_opening(mask)
        assert np.array_equal(keypixels.fill_holes(mask), ndimage.binary_fill_holes(mask))


def _crop(noise: float, seed: int = 0) -> list[torch.Tensor]:
    """A 16 x 16 crop, box rows / columns 2-13, background 100 plus ``noise`` (uniform
    +-noise): a ring digit (200) at rows / columns 5-10 round a background counter (6-9), a
    faint rim (130) on its left the mask missed; the mask is the ring filled in."""
    rng = np.random.default_rng(seed)
    pixels = 100.0 + rng.uniform(-noise, noise, (1, 3, 16, 16))
    pixels[..., 5:11, 5:11] = 200.0
    pixels[..., 6:10, 6:10] = 100.0  # the counter, background coloured
    pixels[..., 5:11, 4] = 120.0  # a faint rim
    digit = np.zeros((1, 1, 16, 16))
    digit[..., 5:11, 5:11] = 1.0
    in_box = np.zeros((1, 1, 16, 16))
    in_box[..., 2:14, 2:14] = 1.0
    return [torch.from_numpy(a).float() for a in (pixels, digit, in_box, np.ones_like(digit))]


def test_a_flat_crop_takes_the_faint_rim_and_leaves_the_counter():
    pixels, digit, in_box, valid = _crop(noise=2.0)
    _, hole, _ = grnn_fill(pixels, digit, in_box, valid, FillSettings())
    h = hole[0, 0].numpy() > 0
    assert h[5:11, 4].all()  # the rim joined the hole
    assert not h[7:9, 7:9].any()  # the counter's inside (2 px from the stroke) left it
    assert h[5:11, 5].all() and h[5, 5:11].all()  # the stroke stays
    _, plain, _ = grnn_fill(pixels, digit, in_box, valid, FillSettings(flat_noise=0))
    p = plain[0, 0].numpy() > 0  # the step off: the mask as given
    assert not p[5:11, 4].any() and p[7:9, 7:9].all()


def test_a_busy_crop_is_left_alone():
    pixels, digit, in_box, valid = _crop(noise=40.0)
    _, flat = flat_ring(pixels, valid * (1 - in_box) * (1 - digit), in_box, FillSettings())
    assert flat.sum() == 0
    on = grnn_fill(pixels, digit, in_box, valid, FillSettings())
    off = grnn_fill(pixels, digit, in_box, valid, FillSettings(flat_noise=0))
    for a, b in zip(on, off, strict=True):
        assert torch.equal(a, b)


def test_key_pixels_are_the_box_pixels_the_paste_leaves_alone():
    pixels, digit, in_box, valid = _crop(noise=2.0)
    digit[..., 5:11, 11:14] = 1.0  # a mask spilling onto the background, which flat_hole frees
    fill, hole, seam = grnn_fill(pixels, digit, in_box, valid, FillSettings())
    filled = Filled.of(fill, hole, seam, in_box, 0.8)
    box = in_box[0, 0].numpy() > 0
    untouched = box & (filled.alpha[0] == 0)
    assert np.array_equal(filled.key[0], untouched)
    assert (untouched & (digit[0, 0].numpy() > 0)).any()  # freed pixels are reported kept
