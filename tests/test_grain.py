"""The fill's grain (``removal/grain.py``): noise of the background's own level in the hole,
deterministic, off by default."""

from __future__ import annotations

import cv2
import numpy as np

from svhn_erase.removal import grain
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.default import DefaultMethod


def _noisy_crop(sigma: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A grey crop with white luma noise of ``sigma`` and a strong edge down its left side;
    the hole in the middle."""
    rng = np.random.default_rng(seed)
    gray = np.clip(120 + rng.normal(0, sigma, (40, 40)), 0, 255)
    gray[:, :8] += 100  # an edge: the level must not take it for grain
    crop = np.repeat(np.clip(gray, 0, 255).astype(np.uint8)[..., None], 3, -1)
    hole = np.zeros((40, 40), bool)
    hole[12:28, 14:26] = True
    return crop, hole


def _high_pass_std(values: np.ndarray, sigma: float) -> float:
    return float(np.std(values - cv2.GaussianBlur(values, (0, 0), sigma)))


def test_white_noise_high_pass_std_matches_the_formula() -> None:
    noise = np.random.default_rng(3).standard_normal((400, 400)).astype(np.float32)
    assert abs(_high_pass_std(noise, 1.0) - grain.white_high_pass_std(1.0)) < 0.02


def test_grain_has_the_backgrounds_level_only_in_the_hole_and_repeats() -> None:
    crop, hole = _noisy_crop(6.0)
    config = RemovalConfig(grain=1.0)
    added = grain.add_grain(crop, ~hole, hole, config)
    assert not added[~hole].any()
    assert np.array_equal(added[..., 0], added[..., 2])  # luma: the same in every channel
    known = ~hole
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=3) > 0
    level = grain.grain_level(crop, known, known & ring, 1.0)
    assert 4.0 < level < 7.0  # about the noise's own high-pass spread (0.87 x 6)
    wide = grain.grain_level(crop, known, known, 1.0)
    assert wide < 1.3 * level  # the edge barely moves the robust level
    assert abs(added[hole, 0].std() - level / grain.white_high_pass_std(1.0)) < 1.5
    np.testing.assert_array_equal(added, grain.add_grain(crop, ~hole, hole, config))
    half = grain.add_grain(crop, ~hole, hole, RemovalConfig(grain=0.5))
    np.testing.assert_allclose(half, added / 2, atol=1e-4)


def test_grain_is_off_by_default_and_zero_on_a_flat_crop() -> None:
    crop, hole = _noisy_crop(6.0)
    assert RemovalConfig().grain == 0
    assert not grain.add_grain(crop, ~hole, hole, RemovalConfig()).any()
    flat = np.full_like(crop, 90)
    assert not grain.add_grain(flat, ~hole, hole, RemovalConfig(grain=1.0)).any()


def test_default_with_grain_changes_only_the_pixels_it_writes(model) -> None:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(90, 5, (40, 60, 3)), 0, 255).astype(np.uint8)
    image[12:28, 22:26] = 240
    scene = Scene(image, np.array([[18, 8, 14, 24]]))
    plain = DefaultMethod().erase([scene], model)[0]
    method = DefaultMethod(RemovalConfig(grain=1.0))
    method.keep_stages = True
    digits, images, replaced = method.erase_records([scene], model)
    assert np.array_equal(replaced[0], plain.replaced)
    changed = (images[0] != plain.image).any(-1)
    assert changed.any() and not (changed & ~plain.replaced).any()
    assert digits[0].stages["grain"].any()
    np.testing.assert_array_equal(images[0], method.erase([scene], model)[0].image)
