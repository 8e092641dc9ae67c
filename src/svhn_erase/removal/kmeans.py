"""Deterministic k-means for the default key pixels: one crop's pixels, or many crops at once.

Both forms start from the same labels (quantiles along the sample's main axis) and fit on at
most ``sample`` evenly spaced pixels, so ``kmeans_centres`` over a batch of crops finds the
centres ``kmeans`` finds for each crop alone.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_CHUNK = 64  # crops whose Lloyd iterations run together (the distance arrays stay in cache)


def sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Squared distances (n, k) of ``points`` (n, d) to ``centres`` (k, d)."""
    return ((points**2).sum(1)[:, None] - 2.0 * points @ centres.T
            + (centres**2).sum(1)[None, :])


def kmeans_start(flat: np.ndarray, k: int, sample: int) -> tuple[np.ndarray, np.ndarray]:
    """The sample (at most ``sample`` evenly spaced rows of ``flat``) and its starting labels
    (quantiles along the sample's main axis)."""
    picked = flat[:: max(1, -(-len(flat) // sample))]  # ceil: at most ``sample`` rows
    centred = picked - picked.mean(0)
    try:
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    except np.linalg.LinAlgError:
        axis = np.ones(flat.shape[1]) / np.sqrt(flat.shape[1])
    proj = centred @ axis
    edges = quantiles(proj, _even(k))
    return picked, np.clip(np.searchsorted(edges[1:-1], proj), 0, k - 1)


@lru_cache(maxsize=8)
def _even(k: int) -> np.ndarray:
    """``np.linspace(0, 1, k + 1)``, made once per k."""
    q = np.linspace(0, 1, k + 1)
    q.flags.writeable = False
    return q


def quantiles(values: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(values, q)`` (method "linear") of a 1-D float64 array: the same values
    (numpy's own steps: index ``(n - 1) q``, its floor and fraction, its two-sided lerp; only
    a zero's sign may differ where values tie at zero) without its generic machinery, which
    cost more than the sort on a crop's sample."""
    s = np.sort(values)
    n = len(s)
    virtual = (n - 1) * q
    below = np.floor(virtual)
    gamma = virtual - below
    below = below.astype(np.intp)
    above = below + 1
    top = virtual >= n - 1  # numpy takes the last value there (and its gamma is moot)
    below[top] = above[top] = n - 1
    a, b = s[below], s[above]
    diff = b - a
    out = a + diff * gamma
    upper = gamma >= 0.5
    out[upper] = (b - diff * (1 - gamma))[upper]
    return out


def kmeans(flat: np.ndarray, k: int, iterations: int, sample: int
           ) -> tuple[np.ndarray, np.ndarray]:
    """k-means of the rows of ``flat`` (n, d): every row's label and the centres (k, d)."""
    picked, label = kmeans_start(flat, k, sample)
    centres = np.zeros((k, flat.shape[1]))
    for _ in range(iterations + 1):
        onehot = np.zeros((len(picked), k))
        onehot[np.arange(len(picked)), label] = 1.0
        counts = onehot.sum(0)
        sums = onehot.T @ picked
        centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None],
                           picked.mean(0))
        new = sq_dist(picked, centres).argmin(1)
        if (new == label).all():
            break
        label = new
    return sq_dist(flat, centres).argmin(1), centres


def kmeans_centres(flats: list[np.ndarray], k: int, iterations: int,
                   sample: int) -> list[np.ndarray]:
    """The centres (k, d) that ``kmeans`` finds for each of ``flats`` (each (n_i, d)), with
    the Lloyd iterations of a chunk of crops run at once on samples padded to one length."""
    out: list[np.ndarray] = []
    for s in range(0, len(flats), _CHUNK):
        starts = [kmeans_start(f, k, sample) for f in flats[s:s + _CHUNK]]
        out += _lloyd_batch(*_padded(starts), k, iterations)
    return out


def _padded(starts: list[tuple[np.ndarray, np.ndarray]]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (sample, labels) pairs of a few crops padded to one length: samples (b, n, d),
    labels (b, n) and which entries are real (b, n)."""
    b, d = len(starts), starts[0][0].shape[1]
    n = max(len(smp) for smp, _ in starts)
    sample = np.zeros((b, n, d))
    label = np.zeros((b, n), np.int64)
    valid = np.zeros((b, n), bool)
    for i, (smp, lab) in enumerate(starts):
        sample[i, : len(smp)], label[i, : len(smp)], valid[i, : len(smp)] = smp, lab, True
    return sample, label, valid


def _lloyd_batch(sample: np.ndarray, label: np.ndarray, valid: np.ndarray, k: int,
                 iterations: int) -> list[np.ndarray]:
    """Lloyd iterations for a padded batch of crops; a crop whose labels stop changing keeps
    its centres while the others go on."""
    b, _, d = sample.shape
    means = sample.sum(1) / valid.sum(1)[:, None]
    sq = (sample**2).sum(2)
    centres = np.zeros((b, k, d))
    active = np.arange(b)
    for _ in range(iterations + 1):
        if len(active) < b:
            smp, lab, ok, sq_a = sample[active], label[active], valid[active], sq[active]
        else:
            smp, lab, ok, sq_a = sample, label, valid, sq
        slot = ((np.arange(len(active)) * k)[:, None] + lab)[ok]  # (crop, cluster) per pixel
        counts = np.bincount(slot, minlength=len(active) * k).reshape(-1, k)
        sums = np.stack([np.bincount(slot, smp[..., j][ok], len(active) * k)
                         for j in range(d)], -1).reshape(-1, k, d)
        cen = np.where(counts[..., None] > 0, sums / np.maximum(counts, 1)[..., None],
                       means[active][:, None, :])
        centres[active] = cen
        dist = smp @ cen.transpose(0, 2, 1)  # squared distances, as sq_dist, in place:
        dist *= -2.0
        dist += sq_a[..., None]
        dist += (cen**2).sum(2)[:, None, :]
        new = dist.argmin(2)
        changed = ((new != lab) & ok).any(1)
        label[active[changed]] = new[changed]
        active = active[changed]
        if not len(active):
            break
    return list(centres)
