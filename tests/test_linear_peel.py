"""The onion peel's local-plane rings (``removal/linear_peel.py``): a ramp is carried across
a hole, flat stays flat, and a pixel no known pixel reaches takes the fallback."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from svhn_erase.removal import fill
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.linear_peel import plane_at


def _ramp_and_hole() -> tuple[np.ndarray, np.ndarray]:
    """A 40 x 30 crop whose colours rise linearly left to right, and a hole in its middle."""
    xx = np.tile(np.arange(30, dtype=np.float32), (40, 1))
    crop = np.stack([60 + 4 * xx, 200 - 3 * xx, 100 + 0 * xx], -1).astype(np.uint8)
    hole = np.zeros((40, 30), bool)
    hole[10:30, 8:22] = True
    return crop, hole


def _fill_error(config: RemovalConfig) -> float:
    """The largest error of the fill in the hole of ``_ramp_and_hole``'s crop."""
    crop, hole = _ramp_and_hole()
    filled = fill.fill_one(crop, ~hole, hole, config)
    return float(np.abs(filled[hole] - crop[hole].astype(np.float32)).max())


def test_a_ramp_is_carried_across_the_hole_where_the_mean_flattens_it() -> None:
    # the nodes' own values (ridge 1: no GRNN solve) and no ridge on the slope: a plane
    # through a ramp is the ramp
    assert _fill_error(RemovalConfig(ridge=1.0, peel_slope_ridge=0.0)) < 0.01
    plane = _fill_error(RemovalConfig())
    mean = _fill_error(replace(RemovalConfig(), peel_linear=False, peel_step=2))
    assert plane < 0.6 * mean  # the default's ridges bend it a little; the mean lags more


def test_a_flat_crop_stays_flat() -> None:
    crop = np.full((24, 24, 3), 137, np.uint8)
    hole = np.zeros((24, 24), bool)
    hole[6:18, 9:15] = True
    filled = fill.fill_one(crop, ~hole, hole, RemovalConfig())
    np.testing.assert_allclose(filled[hole], 137.0, atol=0.01)


def test_plane_at_reads_a_plane_and_flags_pixels_out_of_reach() -> None:
    # the 15 sums of three known pixels (certainty 1) on the plane v = 10 + 2x + 3y
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], np.float32)
    v = 10 + 2 * pts[:, 0] + 3 * pts[:, 1]
    x, y = pts[:, 0], pts[:, 1]
    sums = np.array([3, x.sum(), y.sum(), (x * x).sum(), (x * y).sum(), (y * y).sum(),
                     *[v.sum()] * 3, *[(v * x).sum()] * 3, *[(v * y).sum()] * 3], np.float32)
    values, ok = plane_at(np.stack([sums, np.zeros(15, np.float32)]),
                          np.array([2.0, 0.0], np.float32), np.array([2.0, 0.0], np.float32),
                          np.float32(0.0))
    np.testing.assert_allclose(values[0], 20.0, atol=1e-3)  # 10 + 2*2 + 3*2
    assert ok.tolist() == [True, False]
    one = np.array([1, 2, 3, 4, 6, 9, *[50] * 3, *[100] * 3, *[150] * 3], np.float32)
    values, ok = plane_at(one[None], np.array([7.0], np.float32), np.array([7.0], np.float32),
                          np.float32(0.0))  # one pixel, at (2, 3): no slope, its value
    np.testing.assert_allclose(values, 50.0)
    assert ok.all()
