"""Edge-aware fill: split a crop's key pixels into regions separated by strong edges.

A plaque and the wall around it, or the two sides of a door frame, must not be averaged into
one colour. ``region_labels`` finds the strong edges among the key pixels (gradient of the
blurred luma over ``config.region_edge`` levels per pixel), takes the connected groups of key
pixels between them, merges groups whose median colours are close (``region_merge``: the
digit itself often cuts one background into pieces) and gives the edge pixels and the tiny
groups to the nearest group. The fill (``fill.onion_peel``) then grows each region into the
hole ring by ring: a hole pixel takes the region whose nodes weigh most around it and is
predicted from that region's nodes only, so the border between regions runs on through the
hole instead of blurring across it.
"""

from __future__ import annotations

import cv2
import numpy as np

from svhn_erase.removal.config import RemovalConfig

MAX_REGIONS = 4  # at most this many regions per crop (the largest ones; the rest merge)


def _luma(crop: np.ndarray) -> np.ndarray:
    rgb = crop.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def strong_edges(crop: np.ndarray, known: np.ndarray, threshold: float) -> np.ndarray:
    """Key pixels on a strong step: gradient magnitude of the luma blurred over the known
    pixels (sigma 1, normalized convolution) above ``threshold`` levels per pixel."""
    k = known.astype(np.float32)
    num = cv2.GaussianBlur(_luma(crop) * k, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    den = cv2.GaussianBlur(k, (0, 0), 1.0, borderType=cv2.BORDER_REPLICATE)
    smooth = num / np.maximum(den, 1e-3)
    gy, gx = np.gradient(smooth)
    return known & (np.hypot(gx, gy) > threshold)


def _merge(crop: np.ndarray, labels: np.ndarray, n: int, merge: float) -> np.ndarray:
    """Relabel groups 1..n so that groups within ``merge`` levels (median colour, max over
    channels) of a larger one join it; at most ``MAX_REGIONS`` remain. Returns the map from
    old label to new (index 0 unused)."""
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    order = [g for g in np.argsort(-sizes, kind="stable") + 1 if sizes[g - 1] > 0]
    medians = {g: np.median(crop[labels == g].astype(np.float32), 0) for g in order}
    kept: list[int] = []
    new = np.zeros(n + 1, np.int32)
    for g in order:
        near = [k for k in kept if np.abs(medians[g] - medians[k]).max() < merge]
        if near or len(kept) >= MAX_REGIONS:
            pool = near or kept
            new[g] = new[min(pool, key=lambda k: np.abs(medians[g] - medians[k]).max())]
        else:
            kept.append(g)
            new[g] = len(kept)
    return new


def region_labels(crop: np.ndarray, known: np.ndarray, config: RemovalConfig) -> np.ndarray:
    """(h, w) int32: the region (1..R) of every known pixel, 0 elsewhere; all known pixels in
    region 1 when the crop has no strong edge or a single region."""
    labels = known.astype(np.int32)
    if config.region_edge <= 0 or known.sum() < 8:
        return labels
    edges = strong_edges(crop, known, config.region_edge)
    if not edges.any():
        return labels
    n, groups = cv2.connectedComponents((known & ~edges).astype(np.uint8), connectivity=8)
    if n <= 2:
        return labels
    sizes = np.bincount(groups.ravel(), minlength=n)
    small = (sizes < config.region_min_px) & (np.arange(n) > 0)
    groups[small[groups]] = 0
    if not (groups > 0).any():
        return labels
    relabel = _merge(crop, groups, n - 1, config.region_merge)
    regions = relabel[groups]
    if regions.max() <= 1:
        return labels
    # the edge pixels and tiny groups join the nearest region
    _, nearest = cv2.distanceTransformWithLabels((regions == 0).astype(np.uint8), cv2.DIST_L2,
                                                 3, labelType=cv2.DIST_LABEL_PIXEL)
    seeds = regions[regions > 0]
    lookup = np.zeros(nearest.max() + 1, np.int32)
    lookup[1:len(seeds) + 1] = seeds
    filled = lookup[nearest]
    return np.where(known, np.where(regions > 0, regions, filled), 0).astype(np.int32)
