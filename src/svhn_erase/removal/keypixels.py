"""Key pixels: which pixels inside a digit box show the background, found from the classifier.

Three methods, all unsupervised and all built on by-products of the digit classifier:

- ``seed_fmap`` — the original's method (SPEC §2): the first conv layer's 48 maps of the
  40 x 40 input, reduced per pixel to mean - std, histogrammed into 35 buckets; the most
  populated bucket is "quiet" (background), resized back to the crop (nearest); the GRNN's
  pattern pixels are the quiet pixels on a spacing-3 grid plus the 4 corners.
- ``seed_grad`` — the original's first try: the gradient of the predicted class score with
  respect to the 40 x 40 input, min-max normalized absolute value, the 0-8 % band is
  background.
- ``default_background`` — this project's method: per pixel, the colour and the mean and
  std over the first layer's maps computed at the crop's native resolution (a convolution
  does not care about the size; ``native_map_stats`` gets both reductions without building
  the 48 maps), on the box plus a context margin. k-means (12 clusters) groups the pixels;
  a group is digit when it is clearly more common in the box than on the context ring
  around it (the background prior: digits stay inside their boxes, backgrounds run across;
  other digits' boxes are left out of the ring), and the group most over-represented in the
  box is always digit. The digit then grows into neighbouring pixels that sit between
  background and digit colours (anti-aliased edges, outlines, shadows).

Every method returns boolean masks at the crop's own resolution (True = background).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from svhn_erase.data.crops import crop_digit, normalize
from svhn_erase.model.nets import ConvNet

INPUT_SIZE = 40
SEED_BUCKETS = 35
SEED_GRID = 3
SEED_GRAD_BAND = 0.08
DEFAULT_GROW = 0
BORDER_BAND = 0.0
CLUSTERS = 12
KMEANS_SAMPLE = 500
KMEANS_ITERATIONS = 15
_KMEANS_CHUNK = 64
OVER = 2.5
BEST_MIN = 1.3
GROW_STEPS = 1
DEFAULT_SHARE = 0.15
DEFAULT_FMAP_WEIGHT = 0.5


@dataclass
class KeyPixels:
    """Key pixels of one crop: the background mask and the GRNN pattern pixels, both (h, w)."""

    background: np.ndarray  # bool: pixels judged background
    pattern: np.ndarray  # bool: the pixels used as GRNN pattern nodes (a subset)



_SQUARE = np.ones((3, 3), np.uint8)
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def dilate(mask: np.ndarray, iterations: int = 1, cross: bool = False) -> np.ndarray:
    """Binary dilation by a 3 x 3 square (or cross), as scipy.ndimage.binary_dilation with
    zero borders, but through OpenCV: this runs once per digit, where scipy's overhead
    dominates."""
    out = cv2.dilate(mask.astype(np.uint8), _CROSS if cross else _SQUARE, iterations=iterations)
    return out.astype(bool)

def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma of an (h, w, 3) uint8 image as float32 in 0..255 (the PIL "L" weights)."""
    rgb = rgb.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def classifier_input(crops: list[np.ndarray]) -> torch.Tensor:
    """Digit crops (each (h, w, 3) uint8) as the classifier's (n, 1, 40, 40) input in [-1, 1]:
    the training preprocessing (``crops.crop_digit`` of the whole crop, ``crops.normalize``)."""
    if not crops:
        return torch.zeros(0, 1, INPUT_SIZE, INPUT_SIZE)
    return normalize(np.stack([crop_digit(c, np.array([0, 0, c.shape[1], c.shape[0]]),
                                          size=INPUT_SIZE) for c in crops]))


def _resize_nearest(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D array to (h, w)."""
    rows = np.minimum((np.arange(h) + 0.5) * mask.shape[0] / h, mask.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(w) + 0.5) * mask.shape[1] / w, mask.shape[1] - 1).astype(int)
    return mask[rows][:, cols]


def grid_pattern(background: np.ndarray, spacing: int = SEED_GRID) -> np.ndarray:
    """The background pixels on a ``spacing`` grid, plus the 4 corners (always)."""
    h, w = background.shape
    pattern = np.zeros_like(background, dtype=bool)
    pattern[::spacing, ::spacing] = background[::spacing, ::spacing]
    pattern[0, 0] = pattern[0, w - 1] = pattern[h - 1, 0] = pattern[h - 1, w - 1] = True
    return pattern


def quiet_bucket(values: np.ndarray, buckets: int = SEED_BUCKETS) -> np.ndarray:
    """Pixels of ``values`` in the most populated of ``buckets`` equal-width buckets."""
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        return np.ones(values.shape, bool)
    idx = np.clip(((values - lo) / (hi - lo) * buckets).astype(int), 0, buckets - 1)
    counts = np.bincount(idx.ravel(), minlength=buckets)
    return idx == int(counts.argmax())


def mean_minus_std(model: ConvNet, x: torch.Tensor) -> torch.Tensor:
    """First-layer feature maps of ``x`` reduced per pixel to mean - std over the maps."""
    with torch.no_grad():
        maps = model.first_conv(x)
    return maps.mean(1) - maps.std(1)


def seed_fmap(model: ConvNet, x40: torch.Tensor,
              sizes: list[tuple[int, int]]) -> list[KeyPixels]:
    """The original key-pixel method on a batch of 40 x 40 inputs; masks at each crop size."""
    reduced = mean_minus_std(model, x40.to(_device(model))).cpu().numpy()
    out = []
    for r, (h, w) in zip(reduced, sizes, strict=True):
        background = _resize_nearest(quiet_bucket(r), h, w)
        out.append(KeyPixels(background, grid_pattern(background)))
    return out


def input_gradient(model: ConvNet, x40: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(|d score_pred / d input|, predicted class)`` for a batch of 40 x 40 inputs."""
    x = x40.to(_device(model)).clone().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x)
        preds = scores.argmax(1)
        scores.gather(1, preds[:, None]).sum().backward()
    return x.grad.abs()[:, 0].cpu().numpy(), preds.cpu().numpy()


def seed_grad(model: ConvNet, x40: torch.Tensor,
              sizes: list[tuple[int, int]]) -> list[KeyPixels]:
    """The original's first try: the 0-8 % band of the min-max normalized input gradient."""
    grads, _ = input_gradient(model, x40)
    out = []
    for g, (h, w) in zip(grads, sizes, strict=True):
        span = g.max() - g.min()
        norm = (g - g.min()) / span if span > 0 else np.zeros_like(g)
        background = _resize_nearest(norm <= SEED_GRAD_BAND, h, w)
        out.append(KeyPixels(background, grid_pattern(background)))
    return out


# --------------------------------------------------------------------------- default


def native_feature_maps(model: ConvNet, crops: list[np.ndarray]) -> list[np.ndarray]:
    """First-layer feature maps of each crop at its own size: list of (48, h, w) float32.

    Crops are zero-padded (in normalized units, reflect) to one size and run in one batch.
    """
    if not crops:
        return []
    hmax = max(c.shape[0] for c in crops)
    wmax = max(c.shape[1] for c in crops)
    batch = np.zeros((len(crops), 1, hmax, wmax), np.float32)
    for i, c in enumerate(crops):
        g = (gray(c) / 255.0 - 0.5) / 0.5
        batch[i, 0] = np.pad(g, ((0, hmax - g.shape[0]), (0, wmax - g.shape[1])), mode="edge")
    conv = model.layer1[0]
    with torch.no_grad():
        x = torch.from_numpy(batch).to(conv.weight.device)
        pad = conv.kernel_size[0] // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        maps = F.conv2d(x, conv.weight, conv.bias).cpu().numpy()
    return [m[:, : c.shape[0], : c.shape[1]] for m, c in zip(maps, crops, strict=True)]


def native_map_stats(model: ConvNet, crops: list[np.ndarray]) -> list[np.ndarray]:
    """Per-pixel mean and std (ddof 1) over the first layer's maps at each crop's own size:
    list of (2, h, w) float32, equal to reducing ``native_feature_maps`` but far cheaper.

    With f_k = w_k . p + b_k (p the pixel's k x k patch), the mean is one filter and
    E[f^2] = p' M p + 2 v . p + mean(b^2) with M = sum_k w_k w_k' / K; M's eigenvectors
    turn the quadratic form into k*k filters instead of K maps.
    """
    conv = model.layer1[0]
    weight = conv.weight.detach().cpu().double().numpy()  # (K, 1, k, k)
    n_maps, _, ks, _ = weight.shape
    flat = weight.reshape(n_maps, -1)
    bias = (conv.bias.detach().cpu().double().numpy() if conv.bias is not None
            else np.zeros(n_maps))
    m = flat.T @ flat / n_maps
    v = flat.T @ bias / n_maps
    eigval, eigvec = np.linalg.eigh(m)
    keep = eigval > eigval.max() * 1e-9
    filters = [(float(lam), vec.reshape(ks, ks).astype(np.float32))
               for lam, vec in zip(eigval[keep], eigvec.T[keep], strict=True)]
    mean_filter = flat.mean(0).reshape(ks, ks).astype(np.float32)
    v_filter = v.reshape(ks, ks).astype(np.float32)
    b_mean, b_sq = float(bias.mean()), float((bias**2).mean())
    border = cv2.BORDER_REPLICATE
    out = []
    for c in crops:
        g = ((gray(c) / 255.0 - 0.5) / 0.5).astype(np.float32)
        mean = cv2.filter2D(g, -1, mean_filter, borderType=border) + b_mean
        sq = 2.0 * cv2.filter2D(g, -1, v_filter, borderType=border) + b_sq
        for lam, f in filters:
            sq += lam * cv2.filter2D(g, -1, f, borderType=border) ** 2
        var = np.maximum(sq - mean**2, 0.0) * (n_maps / max(n_maps - 1, 1))
        out.append(np.stack([mean, np.sqrt(var)]).astype(np.float32))
    return out


def _border(h: int, w: int, width: int) -> np.ndarray:
    ring = np.zeros((h, w), bool)
    ring[:width] = ring[-width:] = True
    ring[:, :width] = ring[:, -width:] = True
    return ring


def _sq_dist(points: np.ndarray, centres: np.ndarray) -> np.ndarray:
    return ((points**2).sum(1)[:, None] - 2.0 * points @ centres.T
            + (centres**2).sum(1)[None, :])


def _kmeans_start(flat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k-means sample (at most ``KMEANS_SAMPLE`` evenly spaced pixels of ``flat``) and its
    deterministic starting labels (quantiles along the sample's main axis)."""
    sample = flat[:: max(1, -(-len(flat) // KMEANS_SAMPLE))]  # ceil: at most KMEANS_SAMPLE
    centred = sample - sample.mean(0)
    try:
        axis = np.linalg.svd(centred, full_matrices=False)[2][0]
    except np.linalg.LinAlgError:
        axis = np.ones(flat.shape[1]) / np.sqrt(flat.shape[1])
    proj = centred @ axis
    edges = np.quantile(proj, np.linspace(0, 1, k + 1))
    return sample, np.clip(np.searchsorted(edges[1:-1], proj), 0, k - 1)


def kmeans_centres(flats: list[np.ndarray], k: int, iterations: int) -> list[np.ndarray]:
    """The centres (k, d) that ``_kmeans`` finds for each of ``flats`` (each (n_i, d)), with
    the Lloyd iterations of ``_KMEANS_CHUNK`` crops run at once on samples padded to one
    length (chunks keep the (crops, samples, k) distance arrays in cache)."""
    out: list[np.ndarray] = []
    for s in range(0, len(flats), _KMEANS_CHUNK):
        out += _kmeans_centres_chunk([_kmeans_start(f, k) for f in flats[s:s + _KMEANS_CHUNK]],
                                     k, iterations)
    return out


def _kmeans_centres_chunk(starts: list[tuple[np.ndarray, np.ndarray]], k: int,
                          iterations: int) -> list[np.ndarray]:
    """``kmeans_centres`` on the ``_kmeans_start`` (sample, labels) pairs of a few crops."""
    b, d = len(starts), starts[0][0].shape[1]
    n = max(len(smp) for smp, _ in starts)
    sample = np.zeros((b, n, d))
    label = np.zeros((b, n), np.int64)
    valid = np.zeros((b, n), bool)
    for i, (smp, lab) in enumerate(starts):
        sample[i, : len(smp)], label[i, : len(smp)], valid[i, : len(smp)] = smp, lab, True
    means = sample.sum(1) / valid.sum(1)[:, None]
    sq = (sample**2).sum(2)
    centres = np.zeros((b, k, d))
    active = np.arange(b)  # crops whose labels still change; the others keep their centres
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
        dist = smp @ cen.transpose(0, 2, 1)  # squared distances, as _sq_dist, in place:
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


def _kmeans(flat: np.ndarray, k: int, iterations: int) -> tuple[np.ndarray, np.ndarray]:
    """k-means with a deterministic start (quantiles along the main axis), fitted on at most
    ``KMEANS_SAMPLE`` evenly spaced pixels; returns every pixel's label and the centres."""
    sample, label = _kmeans_start(flat, k)
    centres = np.zeros((k, flat.shape[1]))
    for _ in range(iterations + 1):
        onehot = np.zeros((len(sample), k))
        onehot[np.arange(len(sample)), label] = 1.0
        counts = onehot.sum(0)
        sums = onehot.T @ sample
        centres = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None],
                           sample.mean(0))
        new = _sq_dist(sample, centres).argmin(1)
        if (new == label).all():
            break
        label = new
    return _sq_dist(flat, centres).argmin(1), centres


def cluster_digit(features: np.ndarray, ring: np.ndarray, box: np.ndarray,
                  clusters: int | None = None, share: float | None = None,
                  over: float | None = None, iterations: int = KMEANS_ITERATIONS,
                  centres: np.ndarray | None = None) -> np.ndarray:
    """Digit mask from per-pixel ``features`` (h, w, d) by clustering with a border prior.

    k-means into ``clusters`` groups; a group is digit when it is ``over`` times more common
    inside the ``box`` than on the context ``ring`` around it (the background prior: digits
    stay inside their boxes, backgrounds run across). Pixels next to the digit whose place
    between their nearest background centre and nearest digit centre is past ``share``
    (anti-aliased edges, mixtures of the two) join the digit. ``centres``: the k-means
    centres when already found (``kmeans_centres``).
    """
    clusters = CLUSTERS if clusters is None else clusters
    over = OVER if over is None else over
    share = DEFAULT_SHARE if share is None else share
    h, w, d = features.shape
    flat = features.reshape(-1, d).astype(np.float64)
    if len(flat) < clusters * 2 or not box.any():
        return np.zeros((h, w), bool)
    if centres is None:
        label, centres = _kmeans(flat, clusters, iterations)
        dist = np.maximum(_sq_dist(flat, centres), 0.0)
    else:
        dist = _sq_dist(flat, centres)
        label = dist.argmin(1)
        np.maximum(dist, 0.0, out=dist)
    ring_f, box_f = ring.ravel(), box.ravel()
    n_ring, n_box = max(int(ring_f.sum()), 1), max(int(box_f.sum()), 1)
    in_ring = np.bincount(label[ring_f], minlength=clusters) / n_ring
    in_box = np.bincount(label[box_f], minlength=clusters) / n_box
    ratio = in_box / np.maximum(in_ring, 1e-3)
    is_digit = (ratio > over) & (in_box > 0.02)
    best = int(np.argmax(np.where(in_box > 0.02, ratio, 0)))
    if ratio[best] > BEST_MIN and in_box[best] > 0.02:  # the digit's main colour, always
        is_digit[best] = True
    if not is_digit.any() or is_digit.all():
        return np.zeros((h, w), bool)
    d_bg = np.sqrt(dist[:, ~is_digit].min(1))
    d_fg = np.sqrt(dist[:, is_digit].min(1))
    position = (d_bg / np.maximum(d_bg + d_fg, 1e-12)).reshape(h, w)
    digit = is_digit[label].reshape(h, w)
    soft = position > share
    for _ in range(GROW_STEPS):  # grow through soft edges, outlines and shadows
        grown = digit | (dilate(digit) & soft)
        if (grown == digit).all():
            break
        digit = grown
    return digit


def default_background(model: ConvNet, crops: list[np.ndarray], inner: list[tuple[slice, slice]],
                       others: list[np.ndarray] | None = None, grow: int = DEFAULT_GROW,
                       share: float | None = None, fmap_weight: float = DEFAULT_FMAP_WEIGHT
                       ) -> list[np.ndarray]:
    """Background masks (True = background) of crops taken with a margin around each box.

    ``crops[i]`` is the box with some context around it, ``inner[i]`` the box inside it and
    ``others[i]`` (optional) marks pixels of the crop inside other digits' boxes, which are
    left out of the background prior. Features per pixel: the colour and the mean and std of
    the first-layer feature maps at native resolution (local brightness and edge energy).
    """
    stats = native_map_stats(model, crops)
    prepared = []
    for n, (crop, fm, (rs, cs)) in enumerate(zip(crops, stats, inner, strict=True)):
        h, w = crop.shape[:2]
        color = crop.astype(np.float32) / 255.0
        fsum = np.moveaxis(fm, 0, -1)
        fsum = fsum / (fsum.reshape(-1, 2).std(0) + 1e-6)
        cstd = float(color.reshape(-1, 3).std(0).mean()) + 1e-3
        feats = np.concatenate([color, fsum * (fmap_weight * cstd)], -1)
        box = np.zeros((h, w), bool)
        box[rs, cs] = True
        bh, bw = rs.stop - rs.start, cs.stop - cs.start
        band = max(1, round(BORDER_BAND * min(bh, bw)))
        centre = np.zeros((h, w), bool)
        centre[rs.start + band:rs.stop - band, cs.start + band:cs.stop - band] = True
        ring = ~centre  # the context margin and the box's own border band
        if others is not None:
            ring &= ~others[n]
        prepared.append((feats, ring, centre))
    # k-means for all crops at once (cluster_digit's own checks decide which need it)
    todo = [n for n, (f, _, c) in enumerate(prepared)
            if f.shape[0] * f.shape[1] >= CLUSTERS * 2 and c.any()]
    found = kmeans_centres([prepared[n][0].reshape(-1, prepared[n][0].shape[-1])
                            .astype(np.float64) for n in todo], CLUSTERS, KMEANS_ITERATIONS)
    centres = dict(zip(todo, found, strict=True))
    out = []
    for n, (feats, ring, centre) in enumerate(prepared):
        digit = cluster_digit(feats, ring, centre, share=share, centres=centres.get(n))
        if grow > 0:
            digit = dilate(digit, iterations=grow, cross=True)
        out.append(~digit)
    return out


def _device(model: ConvNet) -> torch.device:
    return next(model.parameters()).device
