"""The seed fill's exact shortcuts (``seed_kernels``, ``grnn.EpochPlan``) against the plain
formulas, and the whole fill's pixels bit for bit against a plain one-crop rendition of the
original's algorithm (float32 torch, exponentials, unpadded products, no flushing).

The plain rendition's weights agree with the batched fill's to the last bits only (its
products run over the crop's padded node count); that the weights themselves did not move
is what ``benchmarks/bench_seed_speed.py`` checks against an older copy of the code."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from svhn_erase.removal import grnn, seed_kernels
from svhn_erase.removal.config import SeedConfig


def _plain_gaussians(a: np.ndarray, b: np.ndarray, sigma: float) -> torch.Tensor:
    xa, xb = torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32))
    return torch.exp((xa[:, None, :] - xb[None, :, :]).square().sum(-1) / (-2.0 * sigma**2))


@pytest.mark.parametrize("flush", [False, True])
@pytest.mark.parametrize("sigma", [0.9, 1.8, 3.0])
def test_node_gaussians_equal_the_exponentials(flush: bool, sigma: float) -> None:
    rng = np.random.default_rng(5)
    rc = np.concatenate([rng.integers(0, 60, (150, 2)), [[0, 0], [300, 2], [2, 290]]])
    with seed_kernels.flush_denormals("cpu") if flush else torch.no_grad():
        got = seed_kernels.node_gaussians(rc, len(rc) + 2, sigma, "cpu")
        want = _plain_gaussians(rc, rc, sigma)
    assert torch.equal(got[:len(rc), :len(rc)], want)
    assert not got[len(rc):].any() and not got[:, len(rc):].any()
    assert (want == 0).any() and (want > 0).sum() > len(rc)  # near and far pairs both


def _plain_render(rc: np.ndarray, weights: torch.Tensor, shape: tuple[int, int],
                  sigma: float) -> tuple[np.ndarray, int]:
    """The render as first written, and how many pixels took the far-from-every-node path."""
    query = np.argwhere(np.ones(shape, bool))
    out, far_pixels = [], 0
    for s in range(0, len(query), 4096):
        d2 = (torch.from_numpy(query[s:s + 4096].astype(np.float32))[:, None, :]
              - torch.from_numpy(rc.astype(np.float32))[None]).square().sum(-1)
        k = torch.exp(d2 / (-2.0 * sigma**2))
        far = k.sum(1) < 1e-30
        far_pixels += int(far.sum())
        if bool(far.any()):
            k[far] = torch.exp((d2[far] - d2[far].amin(1, keepdim=True)) / (-2.0 * sigma**2))
        out.append((k / k.sum(1, keepdim=True)) @ weights)
    pred = torch.cat(out).numpy().reshape(*shape, 3)
    return np.clip((pred * np.float32(255.0)).astype(np.int64), 0, 255).astype(np.uint8), \
        far_pixels


def test_render_equals_the_plain_formula() -> None:
    # 90 x 70 (three chunks of pixels, the second starting mid-row), nodes in two corners
    # only: the far corner's pixels lie over 26 pixels from every node
    rng = np.random.default_rng(2)
    rc = np.concatenate([np.argwhere(np.ones((12, 9), bool)) * 3, [[89, 69], [89, 0]]])
    weights = torch.from_numpy(rng.uniform(-0.1, 1.1, (len(rc), 3)).astype(np.float32))
    got = seed_kernels.render(rc, weights, (90, 70), 1.8)
    want, far = _plain_render(rc, weights, (90, 70), 1.8)
    assert far > 100
    np.testing.assert_array_equal(got, want)


def test_flush_denormals_restores_the_state() -> None:
    assert not seed_kernels.denormals_flushed()
    with seed_kernels.flush_denormals("cpu"):
        assert seed_kernels.denormals_flushed()
        assert float(torch.tensor([1.0e-20]) * torch.tensor([1.0e-20])) == 0.0
    assert not seed_kernels.denormals_flushed()
    assert float(torch.tensor([1.0e-20]) * torch.tensor([1.0e-20])) > 0.0


def test_epoch_plan_holds_the_steps_scales() -> None:
    # crops of 3 and 5 nodes, 2 nodes per step: rows per step (2, 1, 0) and (2, 2, 1)
    plan = grnn._plan(torch.tensor([3, 5]), 2)
    assert plan.m == 5 and [lo for lo, _ in plan.steps] == [0, 2, 4]
    assert plan.valid[:, :, 0].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    scales = torch.stack([s.view(-1) for _, s in plan.steps]) * 3
    torch.testing.assert_close(scales, torch.tensor([[1.0, 1.0], [2.0, 1.0], [2.0, 2.0]]))
    assert plan.cells.tolist() == [9.0, 15.0]


def _plain_train(k: torch.Tensor, targets: torch.Tensor, config: SeedConfig) -> torch.Tensor:
    """Adagrad from weights 1 on the MSE over the nodes, as the original."""
    w, acc = torch.ones_like(targets), torch.zeros_like(targets)
    for _ in range(config.epochs):
        for s in range(0, len(k), config.batch_nodes):
            kb = k[s:s + config.batch_nodes]
            r = kb @ w - targets[s:s + config.batch_nodes]
            grad = (kb.T @ r) * (2.0 / r.numel())
            acc += grad * grad
            w -= config.lr * (grad / (acc.sqrt() + 1e-10))
        if float((k @ w - targets).square().sum() / targets.numel()) < config.tol:
            break
    return w


def _plain_fill(crop: np.ndarray, pattern: np.ndarray, config: SeedConfig) -> np.ndarray:
    """One crop's original fill, written plainly (the node order of ``growth_order``)."""
    rc, counts = grnn.growth_order(pattern, config.grid, config.rounds)
    targets = torch.from_numpy(crop[rc[:counts[0], 0], rc[:counts[0], 1]]
                               .astype(np.float32) / np.float32(255.0))
    g = _plain_gaussians(rc, rc, config.sigma)
    w = torch.ones(0, 3)
    for i, n in enumerate(counts):
        if i:
            rows = g[counts[i - 1]:n, :counts[i - 1]]  # the joining nodes, by the last net
            targets = torch.cat([targets, (rows / rows.sum(1, keepdim=True)) @ w])
        k = g[:n, :n]
        w = _plain_train(k / k.sum(1, keepdim=True), targets, config)
    return _plain_render(rc, w, crop.shape[:2], config.sigma)[0]


def _scene(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    crop = np.stack([40 + 5 * yy, 200 - 4 * xx, 90 + 3 * (xx + yy)], -1)
    crop = np.clip(crop + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)
    crop[h // 3:h // 3 + 3, 2:w - 2] = (255, 255, 255)  # a stroke: targets of exactly 1
    pattern = np.zeros((h, w), bool)
    pattern[::3, ::3] = rng.random(pattern[::3, ::3].shape) < 0.6
    pattern[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    return crop, pattern


@pytest.mark.parametrize("batch_nodes", [1000, 7])
def test_fill_seed_equals_the_plain_original_bit_for_bit(batch_nodes: int) -> None:
    # 34 x 31: nodes up to 33 pixels apart (Gaussians in the subnormal range, flushed by
    # the fill, not by the plain version); batch_nodes 7: several Adagrad steps an epoch
    config = SeedConfig(batch_nodes=batch_nodes, epochs=400)
    for h, w, seed in ((14, 11, 1), (34, 31, 4)):
        crop, pattern = _scene(h, w, seed)
        calls: list[int] = []
        (got,) = grnn.fill_seed([crop], [pattern], config, progress=calls.append)
        np.testing.assert_array_equal(got, _plain_fill(crop, pattern, config))
        assert calls == [1]


def test_fill_seed_reports_every_crop_once_and_the_same_crops() -> None:
    scenes = [_scene(h, w, s) for h, w, s in ((9, 7, 1), (12, 10, 2), (30, 8, 3), (9, 9, 4))]
    crops, patterns = [c for c, _ in scenes], [p for _, p in scenes]
    config = SeedConfig(epochs=150)
    calls: list[int] = []
    with_progress = grnn.fill_seed(crops, patterns, config, progress=calls.append)
    for a, b in zip(with_progress, grnn.fill_seed(crops, patterns, config), strict=True):
        np.testing.assert_array_equal(a, b)
    assert sum(calls) == len(crops) and all(c > 0 for c in calls)
