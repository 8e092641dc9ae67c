"""The onion peel's rings estimated by local-linear normalized convolution.

The plain peel (``fill._peel_one_region``) predicts each ring pixel as the Gaussian-weighted
mean of the known pixels around it (a Nadaraya-Watson estimate). At a hole's edge those
pixels all lie on one side, so on a gradient the mean lags behind the ramp, and the lag
builds up ring after ring: the fill flattens towards the hole's rim colour. Here each ring
pixel is instead the value at that pixel of a plane fitted to the same weighted pixels
(first-order kernel regression, Fan and Gijbels 1996; normalized convolution of order one,
Knutsson and Westin 1993), which follows a ramp into the hole.

All weighted sums come from one Gaussian blur of 15 channels per ring: the certainty ``c``,
``c x``, ``c y``, ``c x^2``, ``c x y``, ``c y^2`` and, per colour, ``c v``, ``c v x``,
``c v y``. The slope is ridge-regularised by ``slope_ridge x sigma^2`` (in squared pixels)
on the weighted covariance of the positions: where the known pixels give little leverage on
the slope (few or bunched together) the estimate falls back towards the weighted mean.
"""

from __future__ import annotations

import numpy as np

from svhn_erase.removal.rings import blur_at, rings

_SUMS = 15  # blurred channels: 6 of position moments, 9 of colour moments


def _set_moments(sums: np.ndarray, ys: np.ndarray, xs: np.ndarray, c: np.ndarray,
                 cv: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Write the 15 moments of the pixels ``(ys, xs)`` (certainty ``c`` (n,), colours times
    certainty ``cv`` (n, 3), centred positions ``x``, ``y`` (n,)) into ``sums`` (h, w, 15)."""
    cx, cy = c * x, c * y
    rows = np.empty((len(c), _SUMS), np.float32)
    rows[:, 0], rows[:, 1], rows[:, 2] = c, cx, cy
    rows[:, 3], rows[:, 4], rows[:, 5] = cx * x, cx * y, cy * y
    rows[:, 6:9], rows[:, 9:12], rows[:, 12:15] = cv, cv * x[:, None], cv * y[:, None]
    sums[ys, xs] = rows


def plane_at(sums: np.ndarray, xq: np.ndarray, yq: np.ndarray, ridge: float
             ) -> tuple[np.ndarray, np.ndarray]:
    """The weighted plane fit's value at each query pixel ``(xq, yq)`` from its blurred
    ``sums`` (n, 15): ``(values (n, 3), ok (n,))``, ``ok`` where any known pixel reaches."""
    ok = sums[:, 0] > 1e-6
    m = sums / np.maximum(sums[:, :1], 1e-6)  # weighted means of every moment
    mx, my, mean = m[:, 1], m[:, 2], m[:, 6:9]  # mean position and colour
    cxx = m[:, 3] - mx * mx + ridge
    cxy = m[:, 4] - mx * my
    cyy = m[:, 5] - my * my + ridge
    cxv = m[:, 9:12] - mx[:, None] * mean
    cyv = m[:, 12:15] - my[:, None] * mean
    det = cxx * cyy - cxy * cxy  # at least ridge^2: the covariance is positive semidefinite
    if ridge < 1e-3:  # no leverage on the slope (one pixel, or all in a line): the mean alone
        det = np.where(det > 1e-6, det, np.inf).astype(np.float32)
    dx, dy = (xq - mx) / det, (yq - my) / det
    # mean + slope . (q - mean position), the slope solving the 2 x 2 covariance system
    return mean + ((cyy * dx - cxy * dy)[:, None] * cxv + (cxx * dy - cxy * dx)[:, None] * cyv), ok


def peel_linear(stacked: np.ndarray, labels: np.ndarray, hole: np.ndarray, step: int,
                blur: dict, fallback: np.ndarray, slope_ridge: float) -> None:
    """``fill._peel_one_region`` with local-linear ring estimates, in place on ``stacked``
    (h, w, 4) and ``labels``: ring by ring, ``step`` pixels deep, each ring's pixels set to
    the local plane's value and joining the known pixels with certainty 1."""
    h, w = hole.shape
    sums = np.zeros((h, w, _SUMS), np.float32)
    ys, xs = np.nonzero(stacked[..., 3])
    # positions centred on the crop, so the squared moments stay small
    cx, cy = np.float32(w / 2.0), np.float32(h / 2.0)
    _set_moments(sums, ys, xs, stacked[ys, xs, 3], stacked[ys, xs, :3],
                 xs.astype(np.float32) - cx, ys.astype(np.float32) - cy)
    ridge = np.float32(slope_ridge * blur["sigmaX"] ** 2)
    for ys, xs, more in rings(labels > 0, hole, step):
        at = blur_at(sums, ys, xs, blur)
        xq, yq = xs.astype(np.float32) - cx, ys.astype(np.float32) - cy
        values, ok = plane_at(at, xq, yq, ridge)
        if not ok.all():  # no known pixel within the blur's reach: the nodes' mean
            values[~ok] = fallback
        stacked[ys, xs, :3] = values  # (its certainty channel is no longer read)
        labels[ys, xs] = 1
        if more:  # the ring joins the known pixels for the next one
            _set_moments(sums, ys, xs, np.ones(len(ys), np.float32), values, xq, yq)
