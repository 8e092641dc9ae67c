"""GRNN infill (``grnn``, ``fill``): the exact solve reproduces key pixels, the blur form
equals the direct sums, the original's Adagrad training fits, and filling rebuilds a smooth
background (with either sigma rule, ring by ring or at once)."""

from __future__ import annotations

import numpy as np
import torch

from svhn_erase.removal import fill, grnn
from svhn_erase.removal.config import RemovalConfig, SeedConfig


def _nodes(seed: int = 0, n: int = 30, size: int = 20):
    rng = np.random.default_rng(seed)
    flat = rng.choice(size * size, n, replace=False)
    rc = np.stack([flat // size, flat % size], 1)
    values = rng.uniform(0, 1, (n, 3)).astype(np.float32)
    return rc, values


def test_exact_solve_reproduces_key_pixels() -> None:
    rc, values = _nodes()
    nodes = grnn.pack_nodes([rc.astype(np.float32), rc[:10].astype(np.float32)],
                              [values, values[:10]])
    sigma = torch.tensor([1.8, 1.8])
    weights = grnn.solve_exact(nodes, sigma, ridge=0.0)
    pred = grnn.predict(nodes.xy, nodes, weights, sigma)
    np.testing.assert_allclose(pred[0].numpy(), values, atol=1e-3)
    np.testing.assert_allclose(pred[1, :10].numpy(), values[:10], atol=1e-3)


def test_ridge_solution_fits_its_system() -> None:
    rc, values = _nodes(1)
    nodes = grnn.pack_nodes([rc.astype(np.float32)], [values])
    sigma = torch.tensor([1.6])
    w = grnn.solve_exact(nodes, sigma, ridge=3.0)
    a = grnn.kernel(nodes.xy, nodes, sigma)
    lhs = a[0] @ w[0] + 3.0 * w[0]
    np.testing.assert_allclose(lhs.numpy(), 4.0 * values, atol=1e-4)
    # the blur-based solve of fill_default reaches the same weights
    w_blur = fill.solve_local((20, 20), rc, values, 1.6, 3.0, iterations=60, tol=1e-7)
    np.testing.assert_allclose(w_blur, w[0].numpy(), atol=2e-3)


def test_gaussian_sums_equal_the_direct_grnn() -> None:
    rc, values = _nodes(2, n=60)
    nodes = grnn.pack_nodes([rc.astype(np.float32)], [values])
    sigma = 1.5
    query = np.argwhere(np.ones((20, 20), bool))
    direct = grnn.predict(torch.from_numpy(query.astype(np.float32))[None], nodes,
                            nodes.values, torch.tensor([sigma]))[0].numpy()
    blurred = fill.predict_local((20, 20), rc, values, sigma, query)
    np.testing.assert_allclose(blurred, direct, atol=2e-2)


def test_adagrad_training_lowers_the_loss() -> None:
    rc, values = _nodes(3)
    nodes = grnn.pack_nodes([rc.astype(np.float32)], [values])
    sig = torch.tensor([SeedConfig().sigma])

    def loss(w: torch.Tensor) -> float:
        return float((grnn.predict(nodes.xy, nodes, w, sig) - nodes.values).square().mean())

    start = loss(torch.ones_like(nodes.values))
    trained = grnn.train_adagrad(nodes, SeedConfig(epochs=300))
    assert loss(trained) < start / 5


def test_growth_adds_only_the_nearest_grid_points() -> None:
    # corners only, 11 x 11: the grid points (0, 9) and (9, 0) lie 1 pixel from a corner,
    # every other grid point further, so the first round adds just those two
    pattern = np.zeros((11, 11), bool)
    pattern[[0, 0, 10, 10], [0, 10, 0, 10]] = True
    nodes, counts = grnn.growth_order(pattern, 3, 30)
    assert nodes[4:6].tolist() == [[0, 9], [9, 0]]
    assert counts[:2] == [4, 6] and counts[-1] == 4 + 16 - 1  # the grid holds (0, 0)
    assert len({tuple(n) for n in nodes}) == len(nodes)
    # 10 x 10: the edge points first (3 from a corner), then the inner ones
    pattern = np.zeros((10, 10), bool)
    pattern[[0, 0, 9, 9], [0, 9, 0, 9]] = True
    nodes, counts = grnn.growth_order(pattern, 3, 30)
    assert counts == [4, 12, 16]
    assert nodes[12:].tolist() == [[3, 3], [3, 6], [6, 3], [6, 6]]
    assert grnn.growth_order(pattern, 3, 1)[1] == [4, 12]


def test_fill_seed_regenerates_a_flat_crop() -> None:
    crop = np.full((10, 8, 3), (30, 120, 200), np.uint8)
    pattern = np.zeros((10, 8), bool)
    pattern[::3, ::3] = True
    (out,) = grnn.fill_seed([crop], [pattern], SeedConfig(epochs=200))
    assert out.shape == crop.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - crop).max() <= 3


def test_fill_default_rebuilds_a_gradient_hole() -> None:
    yy, xx = np.mgrid[0:24, 0:18]
    crop = np.stack([yy * 8, xx * 10, 100 + 0 * xx], -1).astype(np.uint8)
    damaged = crop.copy()
    hole = np.zeros((24, 18), bool)
    hole[8:16, 6:12] = True
    damaged[hole] = (255, 0, 255)
    for config in (RemovalConfig(), RemovalConfig(onion_peel=False, sigma_rule="validation")):
        (filled,) = fill.fill_default([damaged], [~hole], [hole], config)
        err = np.abs(filled[hole] - crop[hole].astype(np.float32)).mean()
        assert err < 12
        np.testing.assert_array_equal(filled[~hole], damaged[~hole].astype(np.float32))
