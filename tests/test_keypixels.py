"""Key pixels: the original's two methods follow SPEC §2; the default finds a drawn digit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from svhn_erase.model.nets import ConvNet
from svhn_erase.removal import first_layer, keypixels, kmeans, segment
from svhn_erase.removal.config import RemovalConfig


def _digit_crop(h: int = 30, w: int = 20, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A '7'-like stroke on a noisy flat background: (crop RGB uint8, true digit mask)."""
    rng = np.random.default_rng(seed)
    bg = np.clip(rng.normal(90, 6, (h, w, 3)), 0, 255).astype(np.uint8)
    layer = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(layer)
    draw.line([(4, 5), (w - 5, 5), (8, h - 4)], fill=255, width=3)
    alpha = np.asarray(layer, np.float32)[..., None] / 255.0
    crop = (bg * (1 - alpha) + np.array([240, 230, 40]) * alpha).round().astype(np.uint8)
    return crop, alpha[..., 0] > 0


def test_quiet_bucket_takes_the_most_populated_bucket() -> None:
    values = np.linspace(0, 1, 1600).reshape(40, 40)
    values[:20] = 0.61  # half the pixels in one bucket
    quiet = keypixels.quiet_bucket(values, 35)
    assert quiet[:20].all()
    assert quiet.sum() < 1600 * 0.6


def test_quiet_bucket_is_strictly_inside_the_bucket_edges() -> None:
    # the original's rule: a pixel on an edge of np.histogram's most populated bucket is not
    # quiet, not even on the histogram's lower edge (the minimum)
    values = np.zeros((40, 40))
    values[20:] = np.linspace(0, 1, 800).reshape(20, 40)
    quiet = keypixels.quiet_bucket(values, 35)
    assert not quiet[:20].any()
    inside = (values[20:] > 0) & (values[20:] < 1 / 35)
    assert inside.sum() > 10
    np.testing.assert_array_equal(quiet[20:], inside)


def test_grid_pattern_spacing_3_and_corners() -> None:
    background = np.zeros((17, 11), bool)
    background[5:, :] = True
    pattern = keypixels.grid_pattern(background, 3)
    rows, cols = np.nonzero(pattern)
    corners = {(0, 0), (0, 10), (16, 0), (16, 10)}
    assert corners <= set(zip(rows.tolist(), cols.tolist(), strict=True))
    for r, c in zip(rows, cols, strict=True):
        if (r, c) not in corners:
            assert r % 3 == 0 and c % 3 == 0 and background[r, c]
    assert pattern[6, 3] and pattern[15, 9] and not pattern[3, 3]


@pytest.mark.parametrize("size", [(30, 20), (9, 7), (64, 41)])
def test_seed_methods_give_masks_at_the_crop_size(model: ConvNet, size: tuple[int, int]) -> None:
    crop, _ = _digit_crop(*size) if min(size) > 12 else (np.full((*size, 3), 80, np.uint8), None)
    x40 = keypixels.classifier_input([crop])
    assert x40.shape == (1, 1, 40, 40) and float(x40.min()) >= -1 and float(x40.max()) <= 1
    for method, setting in ((keypixels.seed_fmap, 35), (keypixels.seed_grad, 0.08)):
        (kp,) = method(model, x40, [size], setting, 3)
        assert kp.background.shape == size and kp.background.dtype == bool
        assert kp.pattern.shape == size
        h, w = size
        assert kp.pattern[0, 0] and kp.pattern[0, w - 1] and kp.pattern[h - 1, 0]
        assert kp.pattern[h - 1, w - 1]


@pytest.mark.parametrize("size", [(40, 40), (80, 60)])
def test_seed_fmap_keeps_the_flat_background(model: ConvNet, size: tuple[int, int]) -> None:
    # a flat crop with a bright square: every first-layer map is constant over the flat
    # part, so its mean - std is one value there, the most populated bucket by far
    h, w = size
    crop = np.full((h, w, 3), 100, np.uint8)
    square = (slice(h * 3 // 8, h * 5 // 8), slice(w * 3 // 8, w * 5 // 8))
    crop[square] = 250
    (kp,) = keypixels.seed_fmap(model, keypixels.classifier_input([crop]), [size], 35, 3)
    flat = np.zeros(size, bool)
    flat[h // 10:-(h // 10), w // 10:-(w // 10)] = True  # away from the zero-padded border
    flat[h // 4:h * 3 // 4, w // 4:w * 3 // 4] = False  # and from the square's edges
    assert kp.background[flat].all()
    assert not kp.background[square].any()
    corners = np.zeros(size, bool)
    corners[[0, 0, -1, -1], [0, -1, 0, -1]] = True
    assert not (kp.pattern & ~kp.background & ~corners).any()
    assert kp.pattern[flat].sum() == (kp.background & flat)[::3, ::3].sum()


def test_default_background_finds_a_drawn_digit(model: ConvNet) -> None:
    crop, digit = _digit_crop(34, 24)
    padded = np.pad(crop, ((4, 4), (4, 4), (0, 0)), mode="reflect")
    (bg,) = segment.default_background(model, [padded], [(slice(4, 38), slice(4, 28))], None,
                                       RemovalConfig())
    assert bg.shape == padded.shape[:2]
    inside = bg[4:38, 4:28]
    true_bg = ~digit
    precision = (inside & true_bg).sum() / inside.sum()
    recall = (inside & true_bg).sum() / true_bg.sum()
    # recall: 0.78 with k-means fitted on 300 pixels (0.83 on 500; on the tune split the
    # key-pixel recall is 0.280 against 0.276)
    assert precision > 0.97 and recall > 0.75
    assert not inside[digit].any() or inside[digit].mean() < 0.05


def test_native_feature_maps_keep_each_crop_size(model: ConvNet) -> None:
    crops = [np.zeros((12, 9, 3), np.uint8), np.full((30, 41, 3), 200, np.uint8)]
    maps = first_layer.native_feature_maps(model, crops)
    assert [m.shape for m in maps] == [(48, 12, 9), (48, 30, 41)]


@pytest.mark.parametrize("net", ["ConvNet48_Dropout3", "ConvNet48_Dropout5"])
def test_native_map_stats_equal_the_reduced_maps(net: str) -> None:
    torch.manual_seed(1)
    model = ConvNet(net).eval()
    crop, _ = _digit_crop(23, 17)
    (maps,) = first_layer.native_feature_maps(model, [crop])
    (stats,) = first_layer.native_map_stats(model, [crop])
    np.testing.assert_allclose(stats[0], maps.mean(0), atol=1e-4)
    np.testing.assert_allclose(stats[1], maps.std(0, ddof=1), atol=1e-3)


def test_batched_kmeans_finds_the_per_crop_centres() -> None:
    rng = np.random.default_rng(3)
    flats = []
    for n in (30, 260, 1200, 499, 800):  # below and above the k-means sample size
        blobs = rng.normal(0, 1, (4, 5)) * 3
        flats.append(blobs[rng.integers(0, 4, n)] + rng.normal(0, 0.4, (n, 5)))
    batched = kmeans.kmeans_centres(flats, 12, 15, 500)
    for flat, centres in zip(flats, batched, strict=True):
        _, single = kmeans.kmeans(flat, 12, 15, 500)
        np.testing.assert_allclose(centres, single, rtol=0, atol=1e-12)
    assert kmeans.kmeans_centres([], 12, 15, 500) == []


def test_extension_grows_into_a_soft_edge_but_not_into_noise() -> None:
    # a bright bar with a wide soft edge on a noisy flat wall: the clusters find the bar,
    # the noise-aware extension takes the soft edge and stops at the flat wall
    rng = np.random.default_rng(3)
    crop = np.clip(rng.normal(80, 3, (30, 30, 3)), 0, 255)
    crop[8:22, 12:18] = 230
    for step, level in enumerate((180, 140, 110), start=1):
        crop[8:22, 12 - step] = crop[8:22, 17 + step] = level
    crop = crop.astype(np.uint8)
    ring = np.ones((30, 30), bool)
    ring[3:27, 3:27] = False
    box = ~ring
    features = np.concatenate([crop / 255.0, np.zeros((30, 30, 2))], -1)
    off = segment.cluster_masks(features, ring, box, RemovalConfig(extend_steps=0))
    on = segment.cluster_masks(features, ring, box, RemovalConfig())
    assert on.digit.sum() > off.digit.sum()
    assert on.digit[8:22, 9:21].mean() > 0.95  # bar and soft edges
    assert not on.digit[:, :7].any() and not on.digit[:, 24:].any()  # not the wall
    assert on.core.sum() <= off.digit.sum() and on.position.shape == (30, 30)


def test_minimum_digit_share_adds_a_distinct_colour_seen_on_the_ring() -> None:
    # the digit's colour also shows on the ring (a plate's white border): by the ratio alone
    # it is background; the minimum share makes it digit, but never the wall split by noise
    label = np.zeros(100, int)
    ring = np.zeros(100, bool)
    ring[:40] = True
    label[:15], label[15:35], label[35:40] = 0, 1, 2  # ring: wall, white border, wall noise
    label[40:75], label[75:85], label[85:100] = 1, 0, 2  # box: white digit, wall, wall noise
    box = ~ring
    config = RemovalConfig(clusters=3, min_digit_share=0.45)
    plain = segment.digit_clusters(label, ring, box, RemovalConfig(clusters=3, min_digit_share=0))
    added = segment.digit_clusters(label, ring, box, config, np.array([False, True, False]))
    assert not plain[1] and added[1] and not added[0]
    alike = segment.digit_clusters(label, ring, box, config, np.zeros(3, bool))
    assert not alike[1]  # a colour that is not distinct from the wall never joins


def test_thinning_drops_grown_pixels_that_do_not_stand_out() -> None:
    rng = np.random.default_rng(4)
    crop = np.clip(rng.normal(80, 3, (30, 30, 3)), 0, 255)
    crop[8:22, 12:18] = 230
    crop = crop.astype(np.uint8)
    ring = np.ones((30, 30), bool)
    ring[3:27, 3:27] = False
    features = np.concatenate([crop / 255.0, np.zeros((30, 30, 2))], -1)
    loose = RemovalConfig(extend_steps=0, thin_noise=0, share=0.0)  # growth takes the wall
    thin = RemovalConfig(extend_steps=0, share=0.0)
    grown = segment.cluster_masks(features, ring, ~ring, loose)
    kept = segment.cluster_masks(features, ring, ~ring, thin)
    assert grown.digit.sum() > kept.digit.sum() >= kept.core.sum()
    assert kept.digit[8:22, 12:18].all()


def test_fill_holes_takes_enclosed_holes_of_like_pixels_only() -> None:
    mask = np.zeros((9, 9), bool)
    mask[1:8, 1:8] = True
    mask[3:6, 3:6] = False  # a hole
    mask[0:3, 6] = False  # a bay open to the edge
    like = np.ones((9, 9), bool)
    filled = keypixels.fill_holes_like(mask, like)
    assert filled[3:6, 3:6].all() and not filled[0:3, 6].any()
    unlike = np.zeros((9, 9), bool)
    unlike[3, 3] = True  # a minority of the hole's pixels: it stays
    np.testing.assert_array_equal(keypixels.fill_holes_like(mask, unlike), mask)


def _mended_crop() -> tuple[np.ndarray, np.ndarray]:
    """A bright bar with a counter of the wall's colour, a patch of a colour a little more
    common in the box than around it, and a stripe beside it of a colour twice as common."""
    crop = np.full((30, 30, 3), 80, np.uint8)
    crop[5:25, 7:23] = 230
    crop[12:18, 13:17] = 80  # counter: the wall seen through the digit
    crop[20:22, 12:15] = 160  # torn stroke: 6 px in the box, 2 on the ring
    crop[0, 0:2] = 160
    crop[10:20, 23:25] = 200  # faint edge: 20 px in the box, 5 on the ring
    crop[0, 10:15] = 200
    ring = np.ones((30, 30), bool)
    ring[3:27, 3:27] = False
    return np.concatenate([crop / 255.0, np.zeros((30, 30, 2))], -1), ring


def test_mending_fills_torn_strokes_and_grows_into_faint_edges_not_counters() -> None:
    features, ring = _mended_crop()
    base = RemovalConfig(kmeans_sample=1000)
    off = segment.cluster_masks(features, ring, ~ring, replace(base, grow_ratio=0,
                                                               hole_ratio=0)).digit
    on = segment.cluster_masks(features, ring, ~ring, base).digit
    assert not off[20:22, 12:15].any() and on[20:22, 12:15].all()  # the torn stroke
    assert not off[10:20, 23].any() and on[10:20, 23].all()  # one step into the faint edge
    assert not on[10:20, 24].any()
    assert not on[12:18, 13:17].any() and not off[12:18, 13:17].any()  # the counter stays
