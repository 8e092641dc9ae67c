"""A plain, slow reference for the original 2018 removal (SPEC §2 and issue 20), one crop at a
time, written from the description of the original's rules (not from its code, and not
from this package's batched implementation), to check the seed mode crop for crop.

Rules:
- key pixels: the crop in gray (PIL "L"), bilinear resize to 40 x 40, normalized with mean
  and std 0.5; the first conv layer's 48 maps (before batch norm) reduced per pixel to
  mean - std (unbiased std); ``np.histogram`` into 35 buckets; the quiet pixels lie
  strictly inside the most populated bucket's edges; the quiet mask goes back to the
  crop's size with Pillow's nearest-neighbour resize; the pattern nodes are the quiet
  pixels on the spacing-3 grid plus the 4 corners;
- GRNN: sigma 1.8, weights reset to 1 before every training, Adagrad (lr 0.1) on the MSE
  over the nodes in batches of 1,000 nodes, at most 2,000 epochs, stopping once the loss
  over all nodes is under 5e-5 after an epoch;
- up to 30 rounds: the spacing-3 grid points that are not nodes and whose squared
  distance to their nearest node equals the smallest such distance over all of them are
  predicted (unclipped), join the nodes with those predictions as targets, and the net is
  trained again from scratch;
- output: every pixel predicted, times 255, truncated to an integer, clipped to 0..255.

Arithmetic in NumPy float32, as the original's torch; the gradient is written out in closed
form with the node kernel computed once per training (what autograd of the MSE gives).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

SIGMA = 1.8
LR = 0.1
EPOCHS = 2000
TOL = 5e-5
ROUNDS = 30
GRID = 3
BUCKETS = 35
BATCH = 1000


def reference_input(crop: np.ndarray) -> torch.Tensor:
    """(1, 1, 40, 40): the classifier's view of an RGB uint8 crop."""
    gray = Image.fromarray(crop).convert("L").resize((40, 40), Image.BILINEAR)
    x = np.asarray(gray, np.float32) / 255.0
    return torch.from_numpy((x - 0.5) / 0.5)[None, None]


def reference_key_pixels(conv: torch.nn.Conv2d, crop: np.ndarray) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """``(quiet mask at the crop's size, pattern mask)`` of one crop."""
    with torch.no_grad():
        maps = conv(reference_input(crop))[0]
    reduced = (maps.mean(0) - maps.std(0)).numpy()
    counts, edges = np.histogram(reduced, bins=BUCKETS)
    k = int(np.argmax(counts))
    quiet40 = (reduced > edges[k]) & (reduced < edges[k + 1])
    h, w = crop.shape[:2]
    small = Image.fromarray(quiet40.astype(np.uint8))
    quiet = np.asarray(small.resize((w, h), Image.NEAREST)) == 1
    pattern = np.zeros((h, w), bool)
    for y in range(0, h, GRID):
        for x in range(0, w, GRID):
            pattern[y, x] = quiet[y, x]
    for y, x in ((0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1)):
        pattern[y, x] = True
    return quiet, pattern


def _kernel(query: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """The normalized Gaussian weights (m, n) of ``query`` (m, 2) to ``nodes`` (n, 2)."""
    d2 = ((query[:, None, :] - nodes[None, :, :]) ** 2).sum(-1)
    k = np.exp(-d2 / np.float32(2 * SIGMA**2))
    return k / k.sum(1, keepdims=True)


def _train(nodes: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """GRNN weights (n, 3) from ones by Adagrad on the MSE over the nodes, batch by batch.

    The net's output at the nodes is ``k @ w`` with the node kernel ``k`` fixed for the
    round, so the gradient of a batch's MSE is ``2 / (rows * 3) * k_b.T @ (k_b @ w - t_b)``
    (what autograd gives); Adagrad as torch's: ``acc += g^2; w -= lr (g / (sqrt(acc) + 1e-10))``.
    """
    k = _kernel(nodes, nodes)
    weights = np.ones_like(targets)
    acc = np.zeros_like(targets)
    for _ in range(EPOCHS):
        for s in range(0, len(nodes), BATCH):
            kb = k[s:s + BATCH]
            resid = kb @ weights - targets[s:s + BATCH]
            grad = (kb.T @ resid) * np.float32(2.0 / resid.size)
            acc += grad * grad
            weights -= np.float32(LR) * (grad / (np.sqrt(acc) + np.float32(1e-10)))
        if float(np.mean((k @ weights - targets) ** 2)) < TOL:
            break
    return weights


def reference_fill(crop: np.ndarray, pattern: np.ndarray) -> np.ndarray:
    """The regenerated (h, w, 3) uint8 crop."""
    h, w = pattern.shape
    rc = np.argwhere(pattern)
    nodes = rc.astype(np.float32)
    targets = crop[rc[:, 0], rc[:, 1]].astype(np.float32) / np.float32(255.0)
    grid = np.zeros((h, w), bool)
    grid[::GRID, ::GRID] = True
    weights = _train(nodes, targets)
    for _ in range(ROUNDS):
        taken = np.zeros((h, w), bool)
        taken[rc[:, 0], rc[:, 1]] = True
        cand = np.argwhere(grid & ~taken)
        if not len(cand):
            break
        d2 = ((cand[:, None, :] - rc[None, :, :]) ** 2).sum(-1).min(1)
        new = cand[d2 == d2.min()]
        new_xy = new.astype(np.float32)
        predicted = _kernel(new_xy, nodes) @ weights
        rc = np.concatenate([rc, new])
        nodes = np.concatenate([nodes, new_xy])
        targets = np.concatenate([targets, predicted])
        weights = _train(nodes, targets)
    every = np.argwhere(np.ones((h, w), bool)).astype(np.float32)
    out = (_kernel(every, nodes) @ weights).reshape(h, w, 3)
    return np.clip((out * 255.0).astype(np.int64), 0, 255).astype(np.uint8)
