"""The GRNN (Alilou 2015) on batches of crops, and the original pipeline's fill (SPEC §2).

One small network per crop: input a pixel coordinate, one pattern node per key pixel,
output per channel ``y_c(X) = sum_i W_ci k_i(X) / sum_i k_i(X)`` with the Gaussian
``k_i(X) = exp(-|X - P_i|^2 / 2 sigma^2)``. Node sets of many crops are padded into one
batch (``NodeBatch``). W comes either from the exact linear system (``solve_exact``) or, as
the original did, from Adagrad on the key pixels' squared error (``train_adagrad``).

``fill_seed`` re-creates the original fill: W initialised to 1 and trained with Adagrad,
then rounds in which the grid points next to the current nodes are predicted, added as
nodes and the net retrained; finally every pixel of the crop is predicted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from svhn_erase.removal.config import SeedConfig

_CHUNK = 48  # crops per kernel matrix in ``predict`` (bounds the memory)
_FAR = 1.0e4  # where padding nodes sit: their Gaussian weight underflows to 0


@dataclass
class NodeBatch:
    """Padded GRNN node sets for B crops: coordinates, values and a validity mask."""

    xy: torch.Tensor  # (B, n, 2) float (row, col)
    values: torch.Tensor  # (B, n, 3) float in [0, 1]
    valid: torch.Tensor  # (B, n) bool

    def crops(self, start: int, stop: int) -> NodeBatch:
        """The node sets of crops ``start:stop``."""
        return NodeBatch(self.xy[start:stop], self.values[start:stop], self.valid[start:stop])


def pack_nodes(coords: list[np.ndarray], values: list[np.ndarray],
               device: torch.device | str = "cpu") -> NodeBatch:
    """Pad per-crop node lists (``coords[i]`` (n_i, 2), ``values[i]`` (n_i, 3)) into a batch."""
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
        out.append(kernel(query[s:s + _CHUNK], nodes.crops(s, s + _CHUNK), sigma[s:s + _CHUNK])
                   @ weights[s:s + _CHUNK])
    return torch.cat(out) if out else weights.new_zeros(0, query.shape[1], 3)


def solve_exact(nodes: NodeBatch, sigma: torch.Tensor, ridge: float) -> torch.Tensor:
    """The GRNN weights W (B, n, 3) solving (A + ridge I) W = (1 + ridge) Y.

    A is the normalized node kernel. With ridge 0 the network reproduces every key pixel
    exactly (the linear system the original approached by gradient descent); as ridge grows W
    tends to Y, the plain kernel smoother (W = the key pixels' values). Padding nodes get an
    identity row (W = 0, no influence). ``fill.solve_local`` solves the same system by
    blurring.
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


def train_adagrad(nodes: NodeBatch, config: SeedConfig, weights: torch.Tensor | None = None
                  ) -> torch.Tensor:
    """Fit W by Adagrad on the MSE over the key pixels, as the original did, for all crops.

    Each crop stops once its loss is under ``config.tol``. ``weights`` warm-starts (default:
    ones).
    """
    sig = torch.full((nodes.xy.shape[0],), config.sigma, device=nodes.xy.device)
    a = kernel(nodes.xy, nodes, sig) * nodes.valid[..., None]
    at = a.transpose(1, 2)
    target = nodes.values
    mask = nodes.valid[..., None].to(a.dtype)
    count = (mask.sum((1, 2)) * 3).clamp_min(1)
    w = torch.ones_like(target) if weights is None else weights.clone()
    state = torch.zeros_like(w)
    active = torch.ones(w.shape[0], dtype=torch.bool, device=w.device)
    for _ in range(config.epochs):
        resid = (a @ w - target) * mask
        loss = resid.square().sum((1, 2)) / count
        active &= loss >= config.tol
        if not bool(active.any()):
            break
        grad = (2.0 / count).view(-1, 1, 1) * (at @ resid)
        grad = grad * active.view(-1, 1, 1)
        state += grad.square()
        w -= config.lr * grad / (state.sqrt() + 1e-10)
    return w


def grid_neighbours(pattern: np.ndarray, spacing: int) -> np.ndarray:
    """Spacing-``spacing`` grid points that are not nodes and lie next to a current node."""
    h, w = pattern.shape
    grid = np.zeros((h, w), bool)
    grid[::spacing, ::spacing] = True
    near = ndimage.binary_dilation(pattern, structure=np.ones((2 * spacing + 1,) * 2, bool))
    return grid & near & ~pattern


@dataclass
class SeedNet:
    """The original's GRNNs of a batch of crops while they grow: node coordinates and values
    per crop, which pixels are nodes, the packed nodes and their trained weights."""

    coords: list[np.ndarray]
    values: list[np.ndarray]
    patterns: list[np.ndarray]
    nodes: NodeBatch
    weights: torch.Tensor


def _grow(net: SeedNet, config: SeedConfig, device: torch.device | str) -> bool:
    """One round: predict the grid points next to the nodes, add them as nodes (their
    predictions as values and as starting weights) and retrain. False when none is left."""
    new = [grid_neighbours(p, config.grid) for p in net.patterns]
    if not any(n.any() for n in new):
        return False
    new_xy = [np.argwhere(n).astype(np.float32) for n in new]
    query = pack_nodes(new_xy, [np.zeros((len(q), 3), np.float32) for q in new_xy], device)
    sig = torch.full((len(new),), config.sigma, device=net.nodes.xy.device)
    pred = predict(query.xy, net.nodes, net.weights, sig).clamp(0, 1).cpu().numpy()
    w_old = net.weights.cpu().numpy()
    w_init = []
    for i, q in enumerate(new_xy):
        k = int(net.nodes.valid[i].sum())
        w_init.append(np.concatenate([w_old[i, :k], pred[i, : len(q)]]))
        net.coords[i] = np.concatenate([net.coords[i], q])
        net.values[i] = np.concatenate([net.values[i], pred[i, : len(q)]])
        net.patterns[i] |= new[i]
    net.nodes = pack_nodes(net.coords, net.values, device)
    w0 = pack_nodes(net.coords, w_init, device).values
    net.weights = train_adagrad(net.nodes, config, weights=w0)
    return True


def _render(net: SeedNet, i: int, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Every pixel of crop ``i`` predicted by its GRNN: (h, w, 3) uint8."""
    h, w = shape
    q = torch.from_numpy(np.argwhere(np.ones((h, w), bool)).astype(np.float32))
    sig = torch.full((1,), sigma, device=net.nodes.xy.device)
    pred = predict(q[None].to(net.nodes.xy.device), net.nodes.crops(i, i + 1),
                   net.weights[i:i + 1], sig)
    return (pred[0].clamp(0, 1).cpu().numpy().reshape(h, w, 3) * 255).round().astype(np.uint8)


def fill_seed(crops: list[np.ndarray], patterns: list[np.ndarray], config: SeedConfig,
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
    net = SeedNet(coords, values, patterns, nodes, train_adagrad(nodes, config))
    for _ in range(config.rounds):
        if not _grow(net, config, device):
            break
    return [_render(net, i, c.shape[:2], config.sigma) for i, c in enumerate(crops)]
