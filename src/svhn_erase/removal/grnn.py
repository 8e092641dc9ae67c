"""The GRNN (Alilou 2015) on batches of crops, and the original pipeline's fill (SPEC §2).

One small network per crop: input a pixel coordinate, one pattern node per key pixel,
output per channel ``y_c(X) = sum_i W_ci k_i(X) / sum_i k_i(X)`` with the Gaussian
``k_i(X) = exp(-|X - P_i|^2 / 2 sigma^2)``. Node sets of many crops are padded into one
batch (``NodeBatch``). W comes either from the exact linear system (``solve_exact``) or, as
the original did, from Adagrad on the key pixels' squared error (``train_adagrad``).

``fill_seed`` re-creates the original fill (SPEC §2, issue 20): W initialised to 1 and
trained with Adagrad (batches of nodes, stopping on the loss over all nodes), then rounds in
which the grid points nearest to the nodes (``growth_order``) are predicted, added as nodes
with those predictions as targets, and the net trained again from scratch; finally every
pixel of the crop is predicted, times 255 truncated. The crops train together
(``Growing``: in lockstep, one epoch at a time, each at its own round), grouped by size.
Its Gaussians, render and CPU settings are in ``seed_kernels``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from svhn_erase.removal.config import SeedConfig
from svhn_erase.removal.seed_kernels import flush_denormals, node_gaussians, one_thread, render

_CHUNK = 48  # crops per kernel matrix in ``predict`` (bounds the memory)
_FAR = 1.0e4  # where padding nodes sit: their Gaussian weight underflows to 0
_GROUP_BUDGET = 4_000_000  # kernel entries (B x N x N) of one group of the original's fill


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


# --------------------------------------------------------------------------- the original's fill


def _nearest_sq(points: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Each integer point's exact squared distance to its nearest node."""
    out = np.empty(len(points), np.int64)
    for s in range(0, len(points), 512):
        out[s:s + 512] = ((points[s:s + 512, None, :] - nodes[None]) ** 2).sum(-1).min(1)
    return out


def growth_order(pattern: np.ndarray, spacing: int, rounds: int) -> tuple[np.ndarray, list[int]]:
    """How the original grows one crop's nodes, which the geometry alone decides.

    Each round adds the grid points (``spacing`` apart) that are not nodes yet and whose
    squared distance to their nearest node equals the smallest such distance over all of
    them. Returns the nodes (N, 2) int (row, col) in the order they join (the pattern's
    pixels row by row, then each round's, row by row) and the node count of each training
    (the pattern's, then one per round: at most ``rounds + 1``).
    """
    nodes = np.argwhere(pattern)
    grid = np.zeros(pattern.shape, bool)
    grid[::spacing, ::spacing] = True
    cand = np.argwhere(grid & ~pattern)
    d2 = _nearest_sq(cand, nodes)
    parts, counts = [nodes], [len(nodes)]
    for _ in range(rounds):
        if not len(cand):
            break
        pick = d2 == d2.min()
        new, cand, d2 = cand[pick], cand[~pick], d2[~pick]
        d2 = np.minimum(d2, _nearest_sq(cand, new))
        parts.append(new)
        counts.append(counts[-1] + len(new))
    return np.concatenate(parts), counts


def _first(n: torch.Tensor, size: int) -> torch.Tensor:
    """(B, size) bool: the first ``n[b]`` entries of each row."""
    return torch.arange(size, device=n.device)[None, :] < n[:, None]


def _kernel_over(g: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
    """The rows of ``g`` normalized over each crop's first ``n`` nodes (other columns 0),
    computed in place: ``g`` is a copy (``Growing.g[rows]``) that becomes the result."""
    k = g.mul_(_first(n, g.shape[-1])[:, None, :])
    return k.div_(k.sum(-1, keepdim=True).clamp_min(1e-30))


@dataclass(frozen=True)
class EpochPlan:
    """What the epochs of a ``Growing`` share while its node counts stay: ``m``, the most
    nodes of any crop; ``valid`` (B, m, 1) 1.0 on each crop's nodes, else 0.0; per Adagrad
    step, its first node and its gradient's factor ``2 / (rows * 3)`` (B, 1, 1); ``cells``
    (B,) each crop's node count times 3 (as float32, as the division converted it), the
    loss's divisor. ``torch.bmm`` rather than ``@``: the same kernel, without ``matmul``'s
    reshaping around it."""

    m: int
    valid: torch.Tensor
    steps: list[tuple[int, torch.Tensor]]
    cells: torch.Tensor


def _plan(n: torch.Tensor, step: int) -> EpochPlan:
    """The ``EpochPlan`` of crops with ``n`` nodes and ``step`` nodes per Adagrad step."""
    m = int(n.max())
    valid = _first(n, m)[..., None]
    steps = [(lo, (2.0 / (valid[:, lo:lo + step, 0].sum(1).clamp_min(1) * 3)).view(-1, 1, 1))
             for lo in range(0, m, step)]
    return EpochPlan(m, valid.to(torch.float32), steps, (n * 3).to(torch.float32))


@dataclass
class Growing:
    """The original's GRNNs of a group of crops, trained in lockstep one epoch at a time,
    each crop at its own round.

    Row b is crop ``ids[b]``; ``counts[b]`` its node count per training, ``stage[b]`` the
    training under way. ``g``: Gaussians between all the nodes the crop will have (B, N, N);
    ``a``: the current net's normalized kernel (rows and columns past ``n[b]`` zero), ``at``
    its transpose stored contiguously (the gradient's ``a.T @ r`` ran 4 times slower on a
    transposed view, with the same result); ``t``
    targets, ``w`` weights, ``acc`` Adagrad's sums of squared gradients, ``resid`` the last
    residual (B, N, 3); ``epoch``: epochs of the training under way; ``plan``: what every
    epoch needs until the node counts change (``_plan``).
    """

    ids: list[int]
    counts: list[list[int]]
    stage: list[int]
    g: torch.Tensor
    a: torch.Tensor
    at: torch.Tensor
    t: torch.Tensor
    w: torch.Tensor
    acc: torch.Tensor
    resid: torch.Tensor
    n: torch.Tensor
    epoch: torch.Tensor
    plan: EpochPlan | None = None

    def restart(self, rows: torch.Tensor, n: torch.Tensor) -> None:
        """Crops ``rows`` start a training from scratch on their first ``n`` nodes."""
        valid = _first(n, self.g.shape[-1])[..., None]
        a = _kernel_over(self.g[rows], n).mul_(valid)
        w = torch.ones_like(self.w[rows])
        self.n[rows], self.a[rows], self.at[rows], self.w[rows] = n, a, a.transpose(1, 2), w
        self.acc[rows], self.epoch[rows] = 0.0, 0
        self.resid[rows] = (a @ w - self.t[rows]) * valid
        self.plan = None

    def keep(self, rows: list[int]) -> None:
        """Keep crops ``rows`` only, trimmed to the most nodes any of them will have."""
        size = max(self.counts[b][-1] for b in rows)
        idx = torch.tensor(rows, device=self.g.device)
        self.ids = [self.ids[b] for b in rows]
        self.counts = [self.counts[b] for b in rows]
        self.stage = [self.stage[b] for b in rows]
        self.g, self.a, self.at = (x[idx, :size, :size].contiguous()
                                   for x in (self.g, self.a, self.at))
        self.t, self.w, self.acc, self.resid = (x[idx, :size].contiguous() for x in
                                                (self.t, self.w, self.acc, self.resid))
        self.n, self.epoch = self.n[idx], self.epoch[idx]
        self.plan = None


def _start(orders: list[tuple[np.ndarray, list[int]]], values: list[np.ndarray],
           sigma: float, device: torch.device | str) -> Growing:
    """A group's first training: every crop on its pattern pixels, targets their colours."""
    size = max(counts[-1] for _, counts in orders)
    b = len(orders)
    t = torch.zeros(b, size, 3, device=device)
    for i, v in enumerate(values):
        t[i, :len(v)] = torch.from_numpy(v).to(device)
    g = torch.stack([node_gaussians(rc, size, sigma, device) for rc, _ in orders])
    n = torch.tensor([counts[0] for _, counts in orders], device=device)
    net = Growing(list(range(b)), [counts for _, counts in orders], [0] * b, g,
                  torch.zeros_like(g), torch.zeros_like(g), t, torch.zeros_like(t),
                  torch.zeros_like(t), torch.zeros_like(t), n.clone(), torch.zeros_like(n))
    net.restart(torch.arange(b, device=device), n)
    return net


def _epoch(net: Growing, config: SeedConfig) -> torch.Tensor:
    """One epoch of Adagrad (lr ``config.lr``) on every crop, ``config.batch_nodes`` nodes
    per step; returns each crop's loss over all its nodes after the epoch (B,).

    The gradient of a batch's MSE is ``2 / (rows * 3) * a_b.T @ (a_b @ w - t_b)``; a crop
    with fewer nodes than a batch's first row gets a zero gradient, which Adagrad ignores.
    Only the first ``m`` nodes, the most any crop has now, take part (the rest is zero).
    The validity masks are 1.0 and 0.0 (a bool mask multiplied the same, converted to
    float first on every use); the ops are in place where that computes the same numbers.
    """
    step = config.batch_nodes
    if net.plan is None:
        net.plan = _plan(net.n, step)
    plan = net.plan
    m, valid = plan.m, plan.valid
    a, at, t = net.a[:, :m, :m], net.at[:, :m, :m], net.t[:, :m]
    w, acc = net.w[:, :m], net.acc[:, :m]
    for lo, scale in plan.steps:
        r = net.resid[:, :min(m, step)] if lo == 0 else \
            torch.bmm(a[:, lo:lo + step], w).sub_(t[:, lo:lo + step]).mul_(valid[:, lo:lo + step])
        grad = torch.bmm(at[:, :, lo:lo + step], r).mul_(scale)
        acc += grad * grad
        w -= grad.div_(acc.sqrt().add_(1e-10)).mul_(config.lr)
    resid = torch.bmm(a, w).sub_(t).mul_(valid)
    net.resid[:, :m] = resid
    net.epoch += 1
    return resid.square_().sum((1, 2)) / plan.cells


def _grow(net: Growing, rows: list[int]) -> None:
    """Crops ``rows`` take their next round's nodes, with the current net's (unclipped)
    predictions as targets, and start training again from scratch."""
    idx = torch.tensor(rows, device=net.g.device)
    for b in rows:
        net.stage[b] += 1
    n_old = net.n[idx]
    n_new = torch.tensor([net.counts[b][net.stage[b]] for b in rows], device=n_old.device)
    # the whole kernel, though only the joining nodes' rows are kept: the batched product
    # of fewer rows took other float roundings (the trained weights differed in the last bit)
    pred = _kernel_over(net.g[idx], n_old) @ net.w[idx]
    size = net.g.shape[-1]
    new = (_first(n_new, size) & ~_first(n_old, size))[..., None]
    net.t[idx] = torch.where(new, pred, net.t[idx])
    net.restart(idx, n_new)


def train_growing(orders: list[tuple[np.ndarray, list[int]]], values: list[np.ndarray],
                  config: SeedConfig, device: torch.device | str = "cpu",
                  progress: Callable[[int], object] | None = None) -> list[torch.Tensor]:
    """The original's trainings for a group of crops: on the pattern pixels (``values``),
    then once per round of ``growth_order``, each from weights 1 until the loss over the
    nodes is under ``config.tol`` or ``config.epochs`` epochs have run. Returns each crop's
    final weights (N_i, 3); ``progress``, if given, is called with the number of crops that
    finished whenever some did."""
    net = _start(orders, values, config.sigma, device)
    out: list[torch.Tensor | None] = [None] * len(orders)
    while net.ids:
        loss = _epoch(net, config)
        done = ((loss < config.tol) | (net.epoch >= config.epochs)).nonzero()[:, 0].tolist()
        if not done:
            continue
        grow = [b for b in done if net.stage[b] + 1 < len(net.counts[b])]
        finished = set(done) - set(grow)
        for b in finished:
            out[net.ids[b]] = net.w[b, :net.counts[b][-1]].clone()
        if finished and progress is not None:
            progress(len(finished))
        if grow:
            _grow(net, grow)
        if finished and len(finished) < len(net.ids):
            net.keep([b for b in range(len(net.ids)) if b not in finished])
        elif finished:
            net.ids = []
    return out


def train_adagrad(nodes: NodeBatch, config: SeedConfig) -> torch.Tensor:
    """The original's training of W (from ones, Adagrad on the MSE over the nodes) for the
    crops of ``nodes``, without growing; W (B, n, 3) with padding rows 1."""
    orders, values = [], []
    for xy, v, ok in zip(nodes.xy, nodes.values, nodes.valid, strict=True):
        orders.append((xy[ok].cpu().numpy(), [int(ok.sum())]))
        values.append(v[ok].cpu().numpy())
    out = torch.ones_like(nodes.values)
    for i, w in enumerate(train_growing(orders, values, config, nodes.xy.device)):
        out[i, :len(w)] = w
    return out


def _groups(sizes: list[int]) -> list[list[int]]:
    """Crops grouped by node count (sorted; a group's padded kernels stay within
    ``_GROUP_BUDGET`` entries and its largest crop within twice its smallest)."""
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    groups: list[list[int]] = []
    for i in order:
        g = groups[-1] if groups else None
        if g is None or sizes[i] > 2 * max(sizes[g[0]], 16) or \
                (len(g) + 1) * sizes[i] ** 2 > _GROUP_BUDGET:
            groups.append([i])
        else:
            g.append(i)
    return groups


def fill_seed(crops: list[np.ndarray], patterns: list[np.ndarray], config: SeedConfig,
              device: torch.device | str = "cpu",
              progress: Callable[[int], object] | None = None) -> list[np.ndarray]:
    """The original GRNN: train on the pattern pixels, grow over the grid round by round
    (``growth_order``), each round training again from scratch, then predict every pixel.

    Returns one generated (h, w, 3) uint8 crop per input crop. ``progress``, if given, is
    called with the number of crops whose trainings finished, as they finish (the trainings
    take nearly all the time; the results do not depend on it).
    """
    orders = [growth_order(p, config.grid, config.rounds) for p in patterns]
    values = [c[rc[:n[0], 0], rc[:n[0], 1]].astype(np.float32) / np.float32(255.0)
              for c, (rc, n) in zip(crops, orders, strict=True)]
    weights: list[torch.Tensor | None] = [None] * len(crops)
    with one_thread(device), flush_denormals(device):
        for group in _groups([n[-1] for _, n in orders]):
            trained = train_growing([orders[i] for i in group], [values[i] for i in group],
                                    config, device, progress)
            for i, w in zip(group, trained, strict=True):
                weights[i] = w
        return [render(rc, w, c.shape[:2], config.sigma)
                for c, (rc, _), w in zip(crops, orders, weights, strict=True)]
