"""Exact shortcuts for the original's fill (``grnn.fill_seed``): its Gaussians, its render
and the CPU settings it runs under, each computing the very numbers of the plain formulas.

The node and pixel coordinates are integers, so every squared distance is an integer and
its Gaussian comes from a table (``gauss_table``) instead of an exponential per pair; the
exponential itself skips the underflowing range (``gauss``), where the CPU's exp is some 10
times slower; and the fill runs on one thread with subnormal floats flushed to 0
(``flush_denormals``), which leaves its sums unchanged and its kernel products 3 times
faster. ``benchmarks/bench_seed_speed.py`` checks the trained weights and the pixels
against an older copy of the code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

RENDER_CHUNK = 4096  # pixels per kernel matrix in ``render``
EXP_ZERO = -104.0  # float32 exp(x) is 0 below this (e^-104 < half the least subnormal)


def node_gaussians(rc: np.ndarray, size: int, sigma: float, device: torch.device | str
                   ) -> torch.Tensor:
    """Unnormalized Gaussians (size, size) between the nodes ``rc``, zero-padded."""
    nodes = torch.from_numpy(rc.astype(np.int64)).to(device)
    table, last = gauss_table(sigma, nodes.device)
    dy2, dx2 = ((nodes[:, None, i] - nodes[None, :, i]).square_().clamp_max_(last)
                for i in (0, 1))
    out = torch.zeros(size, size, device=device)
    out[:len(rc), :len(rc)] = table.take(dy2.add_(dx2))
    return out


def gauss_table(sigma: float, device: torch.device) -> tuple[torch.Tensor, int]:
    """``gauss`` of the integer squared distances 0, 1, ..., 2 ``last`` and ``last``, a
    squared distance from which on it is 0 (the exponent under ``EXP_ZERO``).

    The GRNN's distances are between integer points, so their Gaussians can be looked up
    here, value for value as ``gauss`` of the float32 distances. A lookup with each axis's
    squared difference clamped to ``last`` is exact: clamping only touches distances past
    ``last``, whose value is 0.
    """
    last = int(-EXP_ZERO * 2.0 * sigma**2) + 2
    return gauss(torch.arange(2 * last + 1, dtype=torch.float32, device=device), sigma), last


def gauss(d2: torch.Tensor, sigma: float) -> torch.Tensor:
    """``exp(d2 / (-2 sigma^2))``, value for value.

    Where the exponent is under ``EXP_ZERO`` the float32 exponential is 0 whether or not
    subnormals are flushed; there it is set to 0 instead of computed, as the CPU's exp
    takes a path some 10 times slower for results that underflow (most of a large crop's
    node pairs and pixel-node pairs lie that far apart).
    """
    x = d2 / (-2.0 * sigma**2)
    under = x < EXP_ZERO
    return x.masked_fill_(under, 0.0).exp_().masked_fill_(under, 0.0)


def render(rc: np.ndarray, weights: torch.Tensor, shape: tuple[int, int], sigma: float
           ) -> np.ndarray:
    """Every pixel of a crop predicted by its GRNN, times 255 truncated: (h, w, 3) uint8.

    Where every Gaussian underflows (a pixel some 26 pixels from every node) the distances
    are taken relative to the nearest node, which leaves the normalized weights unchanged.
    The pixels go 4096 at a time, row by row; each one's squared distances to the nodes are
    its row's plus its column's (``gauss_table``).
    """
    h, w = shape
    nodes = torch.from_numpy(rc.astype(np.int64)).to(weights.device)
    table, last = gauss_table(sigma, nodes.device)
    dy2, dx2 = ((torch.arange(size, device=nodes.device)[:, None] - nodes[None, :, i])
                .square_().clamp_max_(last) for i, size in ((0, h), (1, w)))
    out = []
    for start in range(0, h * w, RENDER_CHUNK):
        stop = min(start + RENDER_CHUNK, h * w)
        top = start // w
        d2 = (dy2[top:(stop - 1) // w + 1, None, :] + dx2[None]).view(-1, len(rc))
        k = table.take(d2[start - top * w:stop - top * w])
        far = k.sum(1) < 1e-30
        if bool(far.any()):
            k[far] = relative_gauss(start + far.nonzero()[:, 0], w, nodes, sigma)
        out.append((k / k.sum(1, keepdim=True)) @ weights)
    pred = torch.cat(out).cpu().numpy().reshape(*shape, 3)
    return np.clip((pred * np.float32(255.0)).astype(np.int64), 0, 255).astype(np.uint8)


def relative_gauss(pixels: torch.Tensor, width: int, nodes: torch.Tensor, sigma: float
                   ) -> torch.Tensor:
    """The Gaussians of the pixels numbered ``pixels`` (row by row, ``width`` a row) to the
    nodes, with the distances taken relative to each pixel's nearest node."""
    q = torch.stack([pixels // width, pixels % width], 1).float()
    d2 = (q[:, None, :] - nodes[None, :, :].float()).square().sum(-1)
    return torch.exp((d2 - d2.amin(1, keepdim=True)) / (-2.0 * sigma**2))


@contextmanager
def one_thread(device: torch.device | str) -> Iterator[None]:
    """One CPU thread for torch inside the block: the fill's thousands of small batched
    products ran 20 times slower on 2 threads than on 1 on a busy 2-core machine."""
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def flush_denormals(device: torch.device | str) -> Iterator[None]:
    """Subnormal floats read and written as 0 by this thread's CPU arithmetic inside the
    block. The node kernels hold Gaussians of nodes 24 to 26 pixels apart in the subnormal
    range (2% of the entries), and every product with one cost the CPU a slow assist: the
    kernel products ran 3 times slower. Next to the row's own weight (at least ~0.1) such an
    entry is far below half an ulp, so the sums, the trainings and the pixels come out the
    same (checked by ``benchmarks/bench_seed_speed.py``); only the render's test for pixels
    far from every node sees its sum (under 1e-30 either way) as 0."""
    if torch.device(device).type != "cpu":
        yield
        return
    before = denormals_flushed()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(before)


def denormals_flushed() -> bool:
    """Whether this thread's CPU arithmetic flushes subnormal floats to 0."""
    tiny = torch.tensor([1.0e-39], dtype=torch.float32)  # subnormal, or already 0 if flushed
    return bool((tiny * 1.0 == 0).item())
