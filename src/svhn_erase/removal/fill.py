"""The default method's fill: regenerate the digit pixels from the key pixels around them.

Per crop: the key pixels touching the hole are the GRNN's nodes; sigma follows the hole's
mean depth (or is picked by validation, ``RemovalConfig.sigma_rule``); W solves the
regularised linear system ``(A + ridge I) W = (1 + ridge) Y``; the hole is filled ring by
ring from the outside in (onion peel, Alilou and Yaghmaee; each ring the known pixels'
weighted mean or, ``peel_linear``, a local plane through them: ``linear_peel``) or all at
once. The GRNN's sums over nodes are Gaussian blurs (normalized convolution), so the cost
grows with pixels, not pixels x nodes. Only the hole is predicted.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from scipy import ndimage

from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.keypixels import dilate
from svhn_erase.removal.linear_peel import peel_linear
from svhn_erase.removal.median import median0
from svhn_erase.removal.regions import region_labels
from svhn_erase.removal.rings import blur_at, rings


def scatter_blur(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray,
                 sigma: float, canvas: np.ndarray | None = None) -> np.ndarray:
    """``values`` (n, c) placed at pixels ``rc`` of a zero (h, w, c) image, Gaussian blurred:
    ``sum_i W_i k_i(X)`` at every pixel. ``canvas``: that float32 image, reused by calls
    with the same ``rc`` (its other pixels stay zero); None: a new one."""
    num = np.zeros((*shape, values.shape[1]), np.float32) if canvas is None else canvas
    num[rc[:, 0], rc[:, 1]] = values
    return cv2.GaussianBlur(num, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_CONSTANT)


def gaussian_sums(shape: tuple[int, int], rc: np.ndarray, weights: np.ndarray,
                  sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The GRNN's two sums over nodes at every pixel, ``(sum_i W_i k_i(X), sum_i k_i(X))`` as
    (h, w, 3) and (h, w): exact up to the blur's truncation at 4 sigma."""
    den = np.zeros(shape, np.float32)
    den[rc[:, 0], rc[:, 1]] = 1.0
    den = cv2.GaussianBlur(den, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_CONSTANT)
    return scatter_blur(shape, rc, weights, sigma), den


def solve_local(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, sigma: float,
                ridge: float, iterations: int, tol: float) -> np.ndarray:
    """W with (A + ridge I) W = (1 + ridge) Y by the contraction W <- ((1+ridge) Y - A W) / ridge
    (A row-stochastic, so it converges for ridge > 1), A W evaluated by blurring (the
    normalizer, the blurred node indicator, does not change between steps)."""
    w = values.copy()
    num, den = gaussian_sums(shape, rc, w, sigma)
    den_nodes = np.maximum(den[rc[:, 0], rc[:, 1]], 1e-12)[:, None]
    target = (1.0 + ridge) * values
    canvas = np.zeros((*shape, values.shape[1]), np.float32)  # reused by every step
    for step in range(iterations):
        if step:
            num = scatter_blur(shape, rc, w, sigma, canvas)
        aw = num[rc[:, 0], rc[:, 1]] / den_nodes
        new = (target - aw) / ridge
        done = float(np.abs(new - w).max()) < tol
        w = new
        if done:
            break
    return w


def predict_local(shape: tuple[int, int], rc: np.ndarray, w: np.ndarray, sigma: float,
                  query: np.ndarray) -> np.ndarray:
    """GRNN output at ``query`` pixels; where no node lies within reach of the blur, a wider
    sigma (x2, x4, ...) answers instead."""
    out = np.zeros((len(query), 3), np.float32)
    todo = np.ones(len(query), bool)
    s = sigma
    for _ in range(6):
        num, den = gaussian_sums(shape, rc, w, s)
        d = den[query[:, 0], query[:, 1]]
        ok = todo & (d > 1e-6)
        out[ok] = num[query[ok, 0], query[ok, 1]] / d[ok, None]
        todo &= ~ok
        if not todo.any():
            break
        s *= 2.0
    if todo.any():
        out[todo] = w.mean(0)
    return out


_TRUNCATE = 3.0  # the peel's Gaussian is cut at this many sigmas (OpenCV's own: 4)


def _kernel_size(sigma: float, shape: tuple[int, int], truncate: float) -> tuple[int, int]:
    """An odd Gaussian kernel size reaching ``truncate`` sigmas, at most twice the crop's
    side plus one (a wider kernel adds only zeros from the constant border)."""
    side = 2 * int(np.ceil(truncate * sigma)) + 1
    return (min(side, 2 * shape[1] + 1), min(side, 2 * shape[0] + 1))


def onion_peel(filled: np.ndarray, rc: np.ndarray, w: np.ndarray, hole: np.ndarray,
               sigma: float, certainty: np.ndarray | None = None,
               region: np.ndarray | None = None, step: int = 1,
               slope_ridge: float | None = None) -> np.ndarray:
    """Fill ``hole`` in ``filled`` (0..255, in place) ring by ring from the outside in, each
    ring ``step`` pixels deep: each ring is predicted by the GRNN over the nodes and the
    rings before it, which then join the nodes with their predicted values as weights.
    Returns the region of every pixel (h, w) int32 (0: neither node nor hole).

    Per region, ``stacked`` holds the weights of its known pixels (0 elsewhere) and, as a
    fourth channel, the known-pixel indicator, so one blur gives both GRNN sums.
    ``certainty`` (n,) in 0..1 scales each node's kernel (normalized convolution with
    certainty: a node that may be a digit's rim counts less); predicted pixels count fully.
    ``region`` (n,) 1..R: the nodes' regions (``regions.region_labels``); a ring pixel joins
    the region whose known pixels weigh most around it and is predicted from them alone.
    ``slope_ridge``: with one region, each ring pixel is the value of a local plane fitted to
    those pixels (``linear_peel``, its slope regularised by this times sigma squared) instead
    of their mean; None: the mean.
    """
    shape = hole.shape
    region = np.ones(len(rc), np.int32) if region is None else region
    c = np.ones(len(rc), np.float32) if certainty is None else certainty.astype(np.float32)
    n_regions = int(region.max(initial=1))
    stacked = np.zeros((n_regions, *shape, 4), np.float32)
    stacked[region - 1, rc[:, 0], rc[:, 1], :3] = w * c[:, None]
    stacked[region - 1, rc[:, 0], rc[:, 1], 3] = c
    labels = np.zeros(shape, np.int32)
    labels[rc[:, 0], rc[:, 1]] = region
    remaining = hole.copy()
    fallback = w.mean(0)
    blur = {"ksize": _kernel_size(sigma, hole.shape, _TRUNCATE), "sigmaX": float(sigma),
            "borderType": cv2.BORDER_CONSTANT}
    if n_regions == 1:
        if slope_ridge is None:
            _peel_one_region(stacked[0], labels, hole, step, blur, fallback)
        else:
            peel_linear(stacked[0], labels, hole, step, blur, fallback, slope_ridge)
        filled[hole] = np.clip(stacked[0][hole, :3], 0.0, 1.0) * 255.0
        return labels
    known = labels > 0
    while remaining.any():
        layer = remaining & dilate(known, step)
        if not layer.any():
            layer = remaining
        ys, xs = np.nonzero(layer)
        at = np.stack([cv2.GaussianBlur(stacked[r], **blur)[ys, xs] for r in range(n_regions)])
        best = at[..., 3].argmax(0)
        at = at[best, np.arange(len(ys))]
        d = at[:, 3]
        ok = d > 1e-6
        stacked[best, ys, xs, :3] = np.where(
            ok[:, None], at[:, :3] / np.maximum(d, 1e-6)[:, None], fallback)
        stacked[best, ys, xs, 3] = 1.0
        labels[ys, xs] = best + 1
        known |= layer
        remaining &= ~layer
    filled[hole] = np.clip(stacked.sum(0)[hole, :3], 0.0, 1.0) * 255.0
    return labels


def _peel_one_region(stacked: np.ndarray, labels: np.ndarray, hole: np.ndarray, step: int,
                     blur: dict, fallback: np.ndarray) -> None:
    """``onion_peel``'s rings for a single region, in place on its ``stacked`` (h, w, 4) and
    ``labels``: the same steps, each ring's blur read at its own pixels (``rings``)."""
    for ys, xs, _ in rings(labels > 0, hole, step):
        at = blur_at(stacked, ys, xs, blur)
        d = at[:, 3]
        ok = d > 1e-6
        stacked[ys, xs, :3] = np.where(ok[:, None], at[:, :3] / np.maximum(d, 1e-6)[:, None],
                                       fallback)
        stacked[ys, xs, 3] = 1.0
        labels[ys, xs] = 1


def fill_at_once(filled: np.ndarray, rc: np.ndarray, w: np.ndarray, hole: np.ndarray,
                 sigma: float) -> None:
    """Fill ``hole`` in ``filled`` (0..255, in place) from the nodes alone, every pixel at
    once (the alternative to ``onion_peel``)."""
    query = np.argwhere(hole)
    pred = predict_local(hole.shape, rc, w, sigma, query)
    filled[query[:, 0], query[:, 1]] = np.clip(pred, 0.0, 1.0) * 255.0


def pick_sigma(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, hole: np.ndarray,
               sigmas: tuple[float, ...]) -> float:
    """The sigma with which the outer nodes best predict the nodes touching the hole."""
    if len(sigmas) == 1:
        return sigmas[0]
    dist = ndimage.distance_transform_edt(~hole)[rc[:, 0], rc[:, 1]]
    inner = dist <= 1.5
    if inner.all() or not inner.any():
        return sigmas[len(sigmas) // 2]
    errors = []
    for s in sigmas:
        pred = predict_local(shape, rc[~inner], values[~inner], s, rc[inner])
        errors.append(float(((pred - values[inner]) ** 2).sum(1).mean()))
    return sigmas[int(np.argmin(errors))]


def within(mask: np.ndarray, radius: float) -> np.ndarray:
    """The pixels within Euclidean ``radius`` of ``mask`` (``distance_transform_edt(~mask) <=
    radius``, exactly): ``mask`` dilated by the disk of that radius."""
    return cv2.dilate(mask.astype(np.uint8), _disk(radius)).astype(bool)


@lru_cache(maxsize=8)
def _disk(radius: float) -> np.ndarray:
    """The offsets within Euclidean ``radius`` of the centre, as a uint8 kernel."""
    k = int(np.floor(radius))
    yy, xx = np.mgrid[-k:k + 1, -k:k + 1]
    return (np.sqrt((yy * yy + xx * xx).astype(np.float64)) <= radius).astype(np.uint8)


def inside_distance(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.distance_transform_edt(mask)`` to the last bit, through OpenCV's exact
    transform: its float32 distances are square roots of integers, recovered exactly and
    taken again in float64 (scipy when ``mask`` has no zero pixel to measure from)."""
    if mask.all():
        return ndimage.distance_transform_edt(mask)
    d = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return np.sqrt(np.rint(d.astype(np.float64) ** 2))


def node_pixels(background: np.ndarray, hole: np.ndarray, radius: float) -> np.ndarray:
    """(n, 2) row, column of the GRNN's nodes: the key pixels within ``radius`` of the hole
    (all key pixels when none is that close; the crop's outer ring when there are none)."""
    known = background & ~hole
    nodes = known & within(hole, radius)
    if not nodes.any():
        nodes = known
    if not nodes.any():
        nodes = np.zeros_like(hole)
        nodes[[0, -1], :] = nodes[:, [0, -1]] = True
    return np.argwhere(nodes)


def crop_sigma(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, hole: np.ndarray,
               config: RemovalConfig) -> float:
    """Sigma for one crop by ``config.sigma_rule``: wide holes need a wide kernel to reach
    their middle ("depth"), or the best candidate by validation ("validation")."""
    if config.sigma_rule == "depth":
        depth = float(inside_distance(hole)[hole].mean())
        low, high = config.sigma_range
        return float(np.clip(config.sigma_per_depth * depth, low, high))
    return pick_sigma(shape, rc, values, hole, config.sigma_candidates)


def node_certainty(position: np.ndarray | None, config: RemovalConfig) -> np.ndarray | None:
    """Per pixel, how far a key pixel is trusted as a node: 1 at the background's colours,
    falling linearly to ``certainty_min`` at ``certainty_share`` of the way to the digit's
    (``segment.Segmented.position``); None without positions."""
    if position is None or config.certainty_share <= 0:
        return None
    return np.clip(1.0 - position / config.certainty_share, config.certainty_min, 1.0)


def outlier_weights(values: np.ndarray, scale: float, spread: float = 0.0) -> np.ndarray:
    """Per node (``values`` (n, 3), 0..255), a weight that falls with its colour's distance d
    from the nodes' median colour: ``exp(-(d / s)^2)``, at least 0.02, with s the larger of
    ``scale`` and ``spread`` times the median d. A few nodes of another surface (a plaque's
    corner, the wall past its edge) then barely pull the fill."""
    d = np.sqrt(((values - median0(values)) ** 2).sum(1))
    s = max(scale, spread * float(median0(d)))
    return np.maximum(np.exp(-((d / s) ** 2)), 0.02).astype(np.float32)


def fill_one(crop: np.ndarray, background: np.ndarray, hole: np.ndarray,
             config: RemovalConfig, position: np.ndarray | None = None,
             stages: dict | None = None) -> np.ndarray:
    """One crop with its ``hole`` predicted from the key pixels ``background``: (h, w, 3)
    float32 in 0..255 (the other pixels are the crop's own). ``position``: each pixel's place
    between background and digit colours (``node_certainty``). ``stages``, if given, receives
    the regions (``"regions"``: (h, w) int32, 0 outside nodes and hole)."""
    filled = crop.astype(np.float32)
    if not hole.any():
        return filled
    rc = node_pixels(background, hole, config.node_radius)
    values = filled[rc[:, 0], rc[:, 1]] / 255.0
    sigma = crop_sigma(hole.shape, rc, values, hole, config)
    w = (solve_local(hole.shape, rc, values, sigma, config.ridge, config.solve_iterations,
                     config.solve_tol) if config.ridge > 1.0 else values)
    if config.onion_peel:
        certainty = node_certainty(position, config)
        certainty = None if certainty is None else certainty[rc[:, 0], rc[:, 1]]
        if config.node_outlier > 0:
            odd = outlier_weights(values * 255.0, config.node_outlier, config.node_spread)
            certainty = odd if certainty is None else certainty * odd
        labels = region_labels(crop, background & ~hole, config)
        regions = onion_peel(filled, rc, w, hole, sigma, certainty,
                             np.maximum(labels[rc[:, 0], rc[:, 1]], 1), config.peel_step,
                             config.peel_slope_ridge if config.peel_linear else None)
        if stages is not None:
            stages["regions"] = regions
    else:
        fill_at_once(filled, rc, w, hole, sigma)
    return filled


def fill_default(crops: list[np.ndarray], backgrounds: list[np.ndarray],
                 holes: list[np.ndarray], config: RemovalConfig,
                 positions: list[np.ndarray] | None = None,
                 stages: list[dict | None] | None = None) -> list[np.ndarray]:
    """``fill_one`` for every crop (``positions``: per crop, ``Segmented.position``;
    ``stages``: per crop, a dict for ``fill_one``'s stages, or None)."""
    positions = positions if positions is not None else [None] * len(crops)
    stages = stages if stages is not None else [None] * len(crops)
    return [fill_one(c, bg, hole, config, p, st)
            for c, bg, hole, p, st in zip(crops, backgrounds, holes, positions, stages,
                                          strict=True)]
