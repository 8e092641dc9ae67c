"""GRNN infill: regenerate a digit crop from its background key pixels (SPEC §2, Alilou 2015).

One small network per crop: input a pixel coordinate, one pattern node per key pixel,
output per channel ``y_c(X) = sum_i W_ci k_i(X) / sum_i k_i(X)`` with the Gaussian
``k_i(X) = exp(-|X - P_i|^2 / 2 sigma^2)``. Everything is batched over many crops at once
(padded node sets with a validity mask).

- ``fill_seed`` re-creates the original: W initialised to 1 and trained with Adagrad
  (lr 0.1, up to 2000 epochs, stop under loss 5e-5), then up to 30 rounds in which the
  spacing-3 grid points next to the current nodes are predicted, added as nodes and the net
  retrained; finally every pixel of the crop is predicted.
- ``fill_default`` takes the key pixels touching the hole as nodes, solves for W exactly
  (the regularised linear system ``(A + ridge I) W = (1 + ridge) Y``), sets sigma per crop
  from the hole's mean depth (``SIGMA_PER_DEPTH``; the alternative, ``_pick_sigma``, scores
  candidates by how well outer nodes predict the nodes at the hole), and fills the hole ring
  by ring from the outside in (onion peel, Alilou and Yaghmaee). The sums over nodes are
  Gaussian blurs (normalized convolution), so the cost grows with pixels, not pixels x
  nodes. Only the hole is predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from scipy import ndimage

from svhn_erase.removal.keypixels import dilate

SEED_SIGMA = 1.8
SEED_LR = 0.1
SEED_EPOCHS = 2000
SEED_TOL = 5e-5
SEED_ROUNDS = 30
SEED_GRID = 3

DEFAULT_SIGMAS = (1.0, 1.6, 2.5)
DEFAULT_RIDGE = 3.0
SIGMA_PER_DEPTH = 1.5
ONION_PEEL = True
SIGMA_RANGE = (1.5, 8.0)
DEFAULT_RADIUS = 1.5
_CHUNK = 48
_FAR = 1.0e4


@dataclass
class NodeBatch:
    """Padded GRNN node sets for B crops: coordinates, values and a validity mask."""

    xy: torch.Tensor  # (B, n, 2) float (row, col)
    values: torch.Tensor  # (B, n, 3) float in [0, 1]
    valid: torch.Tensor  # (B, n) bool


def pack_nodes(coords: list[np.ndarray], values: list[np.ndarray],
               device: torch.device | str = "cpu") -> NodeBatch:
    """Pad per-crop node lists (``coords[i]`` (n_i, 2), ``values[i]`` (n_i, 3)) into a batch.

    Padding nodes sit far away (``_FAR``), so that their Gaussian weight underflows to 0.
    """
    n = max(1, max((len(c) for c in coords), default=1))
    b = len(coords)
    xy = np.full((b, n, 2), _FAR, np.float32)
    val = np.zeros((b, n, 3), np.float32)
    ok = np.zeros((b, n), bool)
    for i, (c, v) in enumerate(zip(coords, values, strict=True)):
        xy[i, : len(c)] = c
        val[i, : len(c)] = v
        ok[i, : len(c)] = True
    return NodeBatch(torch.from_numpy(xy).to(device), torch.from_numpy(val).to(device),
                     torch.from_numpy(ok).to(device))


def kernel(query: torch.Tensor, nodes: NodeBatch, sigma: torch.Tensor) -> torch.Tensor:
    """Row-normalized Gaussian weights (B, m, n) of ``query`` (B, m, 2) to the valid nodes.

    Distances are taken relative to each query's nearest node before the exponential, which
    leaves the normalized weights unchanged and never divides 0 by 0 far from every node.
    """
    d2 = torch.cdist(query, nodes.xy).square_()
    d2 -= d2.amin(-1, keepdim=True)
    k = d2.mul_(-0.5 / sigma.view(-1, 1, 1) ** 2).exp_()
    return k.div_(k.sum(-1, keepdim=True).clamp_min(1e-30))


def predict(query: torch.Tensor, nodes: NodeBatch, weights: torch.Tensor,
            sigma: torch.Tensor) -> torch.Tensor:
    """GRNN output (B, m, 3) at ``query`` (B, m, 2), in chunks of crops."""
    out = []
    for s in range(0, query.shape[0], _CHUNK):
        sub = NodeBatch(nodes.xy[s:s + _CHUNK], nodes.values[s:s + _CHUNK],
                        nodes.valid[s:s + _CHUNK])
        out.append(kernel(query[s:s + _CHUNK], sub, sigma[s:s + _CHUNK]) @ weights[s:s + _CHUNK])
    return torch.cat(out) if out else weights.new_zeros(0, query.shape[1], 3)


def solve_exact(nodes: NodeBatch, sigma: torch.Tensor, ridge: float = DEFAULT_RIDGE
                ) -> torch.Tensor:
    """The GRNN weights W (B, n, 3) solving (A + ridge I) W = (1 + ridge) Y.

    A is the normalized node kernel. With ridge 0 the network reproduces every key pixel
    exactly (the linear system the original approached by gradient descent); as ridge grows W
    tends to Y, the plain kernel smoother (W = the key pixels' values). Padding nodes get an
    identity row (W = 0, no influence).
    """
    a = kernel(nodes.xy, nodes, sigma)
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    pad = (~nodes.valid).to(a.dtype)
    a = a * nodes.valid[..., None]
    rhs = nodes.values * nodes.valid[..., None] * (1.0 + ridge)
    if ridge > 1.0:
        # A is row-stochastic, so W <- (rhs - A W) / ridge contracts by 1 / ridge per step:
        # the same solution as a direct solve, with batched matrix products only.
        w = rhs / (1.0 + ridge)
        for _ in range(200):
            new = (rhs - a @ w) / ridge
            done = bool((new - w).abs().max() < 1e-5)
            w = new
            if done:
                break
        return w
    a = a + eye * (pad[..., None] + ridge)
    return batched_solve(a, rhs)


def batched_solve(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve a batch of linear systems ``a x = b``.

    On the CPU this goes through NumPy's LAPACK: torch 2.13's CPU batched LU (MKL) fails
    with "Parameter 6 was incorrect on entry to SLASWP" after ``torch.set_num_threads(2)``.
    """
    if a.device.type == "cpu":
        return torch.from_numpy(np.linalg.solve(a.numpy(), b.numpy()))
    return torch.linalg.solve(a, b)


# --------------------------------------------------------------------------- seed (original)


def train_adagrad(nodes: NodeBatch, sigma: float = SEED_SIGMA, weights: torch.Tensor | None = None,
                  lr: float = SEED_LR, epochs: int = SEED_EPOCHS, tol: float = SEED_TOL
                  ) -> torch.Tensor:
    """Fit W by Adagrad on the MSE over the key pixels, as the original did, for all crops.

    Each crop stops once its loss is under ``tol``. ``weights`` warm-starts (default: ones).
    """
    sig = torch.full((nodes.xy.shape[0],), sigma, device=nodes.xy.device)
    a = kernel(nodes.xy, nodes, sig) * nodes.valid[..., None]
    at = a.transpose(1, 2)
    target = nodes.values
    mask = nodes.valid[..., None].to(a.dtype)
    count = (mask.sum((1, 2)) * 3).clamp_min(1)
    w = torch.ones_like(target) if weights is None else weights.clone()
    state = torch.zeros_like(w)
    active = torch.ones(w.shape[0], dtype=torch.bool, device=w.device)
    for _ in range(epochs):
        resid = (a @ w - target) * mask
        loss = resid.square().sum((1, 2)) / count
        active &= loss >= tol
        if not bool(active.any()):
            break
        grad = (2.0 / count).view(-1, 1, 1) * (at @ resid)
        grad = grad * active.view(-1, 1, 1)
        state += grad.square()
        w -= lr * grad / (state.sqrt() + 1e-10)
    return w


def _grid_neighbours(pattern: np.ndarray, spacing: int) -> np.ndarray:
    """Spacing-``spacing`` grid points that are not nodes and lie next to a current node."""
    h, w = pattern.shape
    grid = np.zeros((h, w), bool)
    grid[::spacing, ::spacing] = True
    near = ndimage.binary_dilation(pattern, structure=np.ones((2 * spacing + 1,) * 2, bool))
    return grid & near & ~pattern


def fill_seed(crops: list[np.ndarray], patterns: list[np.ndarray], sigma: float = SEED_SIGMA,
              rounds: int = SEED_ROUNDS, epochs: int = SEED_EPOCHS,
              device: torch.device | str = "cpu") -> list[np.ndarray]:
    """The original GRNN: train on the pattern pixels, grow over the grid, predict every pixel.

    Returns one generated (h, w, 3) uint8 crop per input crop.
    """
    if not crops:
        return []
    patterns = [p.copy() for p in patterns]
    values = [c.astype(np.float32)[p] / 255.0 for c, p in zip(crops, patterns, strict=True)]
    coords = [np.argwhere(p).astype(np.float32) for p in patterns]
    nodes = pack_nodes(coords, values, device)
    weights = train_adagrad(nodes, sigma, epochs=epochs)
    sig = torch.full((len(crops),), sigma, device=nodes.xy.device)
    for _ in range(rounds):
        new = [_grid_neighbours(p, SEED_GRID) for p in patterns]
        if not any(n.any() for n in new):
            break
        new_xy = [np.argwhere(n).astype(np.float32) for n in new]
        query = pack_nodes(new_xy, [np.zeros((len(q), 3), np.float32) for q in new_xy], device)
        pred = predict(query.xy, nodes, weights, sig).clamp(0, 1).cpu().numpy()
        w_old = weights.cpu().numpy()
        coords2, values2, w_init = [], [], []
        for i, q in enumerate(new_xy):
            k = int(nodes.valid[i].sum())
            coords2.append(np.concatenate([coords[i], q]))
            values2.append(np.concatenate([values[i], pred[i, : len(q)]]))
            w_init.append(np.concatenate([w_old[i, :k], pred[i, : len(q)]]))
            patterns[i] |= new[i]
        coords, values = coords2, values2
        nodes = pack_nodes(coords, values, device)
        w0 = pack_nodes(coords, w_init, device).values
        weights = train_adagrad(nodes, sigma, weights=w0, epochs=epochs)
    out = []
    for i, c in enumerate(crops):
        h, w = c.shape[:2]
        q = torch.from_numpy(np.argwhere(np.ones((h, w), bool)).astype(np.float32))
        one = NodeBatch(nodes.xy[i:i + 1], nodes.values[i:i + 1], nodes.valid[i:i + 1])
        pred = predict(q[None].to(nodes.xy.device), one, weights[i:i + 1], sig[i:i + 1])
        out.append((pred[0].clamp(0, 1).cpu().numpy().reshape(h, w, 3) * 255).round()
                   .astype(np.uint8))
    return out


# --------------------------------------------------------------------------- default


def gaussian_sums(shape: tuple[int, int], rc: np.ndarray, weights: np.ndarray,
                  sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The GRNN's two sums over nodes at every pixel, by Gaussian blurring (normalized
    convolution): ``(sum_i W_i k_i(X), sum_i k_i(X))`` as (h, w, 3) and (h, w).

    Exact up to the blur's truncation at 4 sigma; O(pixels * sigma) instead of
    O(pixels * nodes).
    """
    den = np.zeros(shape, np.float32)
    den[rc[:, 0], rc[:, 1]] = 1.0
    den = cv2.GaussianBlur(den, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_CONSTANT)
    return _scatter_blur(shape, rc, weights, sigma), den


def _scatter_blur(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray,
                  sigma: float) -> np.ndarray:
    """``values`` (n, c) placed at pixels ``rc`` of a zero (h, w, c) image, Gaussian blurred:
    the first of ``gaussian_sums``' two sums (``_solve_local`` needs it alone)."""
    num = np.zeros((*shape, values.shape[1]), np.float32)
    num[rc[:, 0], rc[:, 1]] = values
    return cv2.GaussianBlur(num, (0, 0), sigmaX=float(sigma), borderType=cv2.BORDER_CONSTANT)


def _solve_local(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, sigma: float,
                 ridge: float, iterations: int = 30, tol: float = 1e-4) -> np.ndarray:
    """W with (A + ridge I) W = (1 + ridge) Y by the contraction W <- ((1+ridge) Y - A W) / ridge
    (A row-stochastic, so it converges for ridge > 1), A W evaluated by blurring (the
    normalizer, the blurred node indicator, does not change between steps)."""
    w = values.copy()
    num, den = gaussian_sums(shape, rc, w, sigma)
    den_nodes = np.maximum(den[rc[:, 0], rc[:, 1]], 1e-12)[:, None]
    for step in range(iterations):
        if step:
            num = _scatter_blur(shape, rc, w, sigma)
        aw = num[rc[:, 0], rc[:, 1]] / den_nodes
        new = ((1.0 + ridge) * values - aw) / ridge
        done = float(np.abs(new - w).max()) < tol
        w = new
        if done:
            break
    return w


def _predict_local(shape: tuple[int, int], rc: np.ndarray, w: np.ndarray, sigma: float,
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


def _onion_peel(filled: np.ndarray, rc: np.ndarray, w: np.ndarray, hole: np.ndarray,
                sigma: float) -> None:
    """Fill ``hole`` in ``filled`` (0..255, in place) ring by ring from the outside in (Alilou
    and Yaghmaee): each ring is predicted by the GRNN over the nodes and the rings before it,
    which then join the nodes with their predicted values as weights.

    ``stacked`` holds the weights of the known pixels (0 elsewhere) and, as a fourth channel,
    the known-pixel indicator, so one blur gives both GRNN sums.
    """
    shape = hole.shape
    stacked = np.zeros((*shape, 4), np.float32)
    stacked[rc[:, 0], rc[:, 1], :3] = w
    stacked[rc[:, 0], rc[:, 1], 3] = 1.0
    known = np.zeros(shape, bool)
    known[rc[:, 0], rc[:, 1]] = True
    remaining = hole.copy()
    fallback = w.mean(0)
    blur = {"sigmaX": float(sigma), "borderType": cv2.BORDER_CONSTANT}
    while remaining.any():
        layer = remaining & dilate(known)
        if not layer.any():
            layer = remaining
        blurred = cv2.GaussianBlur(stacked, (0, 0), **blur)
        ys, xs = np.nonzero(layer)
        at = blurred[ys, xs]
        d = at[:, 3]
        ok = d > 1e-6
        stacked[ys, xs, :3] = np.where(ok[:, None], at[:, :3] / np.maximum(d, 1e-6)[:, None],
                                       fallback)
        stacked[ys, xs, 3] = 1.0
        known |= layer
        remaining &= ~layer
    filled[hole] = np.clip(stacked[hole, :3], 0.0, 1.0) * 255.0


def _pick_sigma(shape: tuple[int, int], rc: np.ndarray, values: np.ndarray, hole: np.ndarray,
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
        pred = _predict_local(shape, rc[~inner], values[~inner], s, rc[inner])
        errors.append(float(((pred - values[inner]) ** 2).sum(1).mean()))
    return sigmas[int(np.argmin(errors))]


def fill_default(crops: list[np.ndarray], backgrounds: list[np.ndarray], holes: list[np.ndarray],
                 sigmas: tuple[float, ...] | None = None, ridge: float | None = None,
                 radius: float | None = None, device: torch.device | str = "cpu"
                 ) -> list[np.ndarray]:
    """Predict the hole pixels of every crop from the key pixels around them (exact GRNN).

    Nodes: the key pixels within ``radius`` of the hole. Sigma per crop from the hole's depth
    (or, with ``SIGMA_PER_DEPTH = 0``, picked from ``sigmas`` by validation); W from the
    regularised linear system; the hole filled ring by ring (``ONION_PEEL``). Returns
    per crop an (h, w, 3) float32 array in 0..255 holding the prediction on the hole (the
    other pixels are the crop's own).
    """
    sigmas = DEFAULT_SIGMAS if sigmas is None else sigmas
    ridge = DEFAULT_RIDGE if ridge is None else ridge
    radius = DEFAULT_RADIUS if radius is None else radius
    out = []
    for c, bg, hole in zip(crops, backgrounds, holes, strict=True):
        filled = c.astype(np.float32)
        if not hole.any():
            out.append(filled)
            continue
        dist = ndimage.distance_transform_edt(~hole)
        known = bg & ~hole
        nodes = known & (dist <= radius)
        if not nodes.any():
            nodes = known
        if not nodes.any():  # nothing known: the crop's outer ring stands in
            nodes = np.zeros_like(hole)
            nodes[[0, -1], :] = nodes[:, [0, -1]] = True
        rc = np.argwhere(nodes)
        values = filled[rc[:, 0], rc[:, 1]] / 255.0
        shape = hole.shape
        if SIGMA_PER_DEPTH:  # wide holes need a wide kernel to reach their middle
            depth = float(ndimage.distance_transform_edt(hole)[hole].mean())
            sigma = float(np.clip(SIGMA_PER_DEPTH * depth, SIGMA_RANGE[0], SIGMA_RANGE[1]))
        else:
            sigma = _pick_sigma(shape, rc, values, hole, sigmas)
        w = _solve_local(shape, rc, values, sigma, ridge) if ridge > 1.0 else values
        if ONION_PEEL:
            _onion_peel(filled, rc, w, hole, sigma)
        else:
            query = np.argwhere(hole)
            pred = _predict_local(shape, rc, w, sigma, query)
            filled[query[:, 0], query[:, 1]] = np.clip(pred, 0.0, 1.0) * 255.0
        out.append(filled)
    return out
