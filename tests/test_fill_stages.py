"""The fill's new stages: node certainty, edge-aware regions, texture detail, kept stages."""

from __future__ import annotations

import numpy as np

from svhn_erase.boxes import Rect
from svhn_erase.removal import fill, regions, texture
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.default import DefaultMethod


def _two_sides(h: int = 24, w: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A dark left half and a bright right half; the hole straddles the border."""
    crop = np.full((h, w, 3), 40, np.uint8)
    crop[:, w // 2:] = 210
    hole = np.zeros((h, w), bool)
    hole[6:18, 6:18] = True
    return crop, hole


def test_uncertain_nodes_count_less() -> None:
    crop = np.full((20, 20, 3), 100, np.uint8)
    crop[:, 7] = 250  # a rim of the digit left among the key pixels, next to the hole
    hole = np.zeros((20, 20), bool)
    hole[5:15, 8:12] = True
    position = np.zeros((20, 20), np.float32)
    position[:, 7] = 0.9
    # certainty alone (the odd-node weights would also discount the bright rim)
    plain = fill.fill_one(crop, ~hole, hole, RemovalConfig(certainty_share=0, node_outlier=0))
    trusting = fill.fill_one(crop, ~hole, hole, RemovalConfig(node_outlier=0), position)
    assert np.abs(trusting[hole] - 100).mean() < 0.5 * np.abs(plain[hole] - 100).mean()
    assert fill.node_certainty(None, RemovalConfig()) is None


def test_regions_split_key_pixels_at_a_strong_edge() -> None:
    crop, hole = _two_sides()
    labels = regions.region_labels(crop, ~hole, RemovalConfig(region_edge=12))
    assert set(np.unique(labels[~hole])) == {1, 2}
    assert (labels[hole] == 0).all()
    assert len(np.unique(labels[:, :10][~hole[:, :10]])) == 1
    assert (regions.region_labels(crop, ~hole, RemovalConfig()) == (~hole)).all()  # off


def test_edge_aware_fill_keeps_the_border_sharp() -> None:
    crop, hole = _two_sides()
    stages: dict = {}
    sharp = fill.fill_one(crop, ~hole, hole, RemovalConfig(region_edge=12), stages=stages)
    blurred = fill.fill_one(crop, ~hole, hole, RemovalConfig())
    truth = crop.astype(np.float32)
    assert np.abs(sharp - truth)[hole].mean() < 0.5 * np.abs(blurred - truth)[hole].mean()
    assert set(np.unique(stages["regions"][hole])) == {1, 2}


def test_texture_detail_restores_repeating_stripes() -> None:
    yy = np.arange(60)[:, None, None]
    parent = np.broadcast_to(np.where(yy % 4 < 2, 90, 160), (60, 60, 3)).astype(np.uint8)
    context = Rect(20, 20, 40, 40)
    hole = np.zeros((20, 20), bool)
    hole[5:15, 5:15] = True
    occupied = np.zeros((60, 60), bool)
    occupied[22:38, 22:38] = True
    crop = parent[context.slices]
    smooth = fill.fill_one(crop, ~hole, hole, RemovalConfig())
    config = RemovalConfig(texture_k=6, texture_min_energy=0)
    detail = texture.add_detail(parent, context, hole, occupied, smooth, config)
    restored = smooth + detail.added
    truth = crop.astype(np.float32)
    assert detail.gain > 0.5 and detail.r2 > 0.5
    assert np.abs(restored - truth)[hole].mean() < 0.5 * np.abs(smooth - truth)[hole].mean()
    assert not detail.added[~hole].any()
    off = texture.add_detail(parent, context, hole, occupied, smooth, RemovalConfig())
    assert off.gain == 0 and not off.added.any()  # texture_k 0: the default


def test_default_keeps_its_stages_when_asked(model) -> None:
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(90, 4, (40, 60, 3)), 0, 255).astype(np.uint8)
    image[12:28, 22:26] = 240
    scene = Scene(image, np.array([[18, 8, 14, 24]]))
    method = DefaultMethod()
    digits, _, _ = method.erase_records([scene], model)
    assert digits[0].stages is None
    method.keep_stages = True
    digits, images, _ = method.erase_records([scene], model)
    stages = digits[0].stages
    assert {"core", "digit", "position", "hole", "seam", "regions", "low", "high",
            "gain"} <= set(stages)
    assert stages["hole"].shape == digits[0].context_crop.shape[:2]
    np.testing.assert_array_equal(images[0], method.erase([scene], model)[0].image)


def test_second_look_resplits_every_box_the_classifier_still_reads(model) -> None:
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(90, 3, (40, 60, 3)), 0, 255).astype(np.uint8)
    image[10:30, 24:33] = 240  # the digit: 0.375 of the box, past the first minimum share
    image[26:30, 34:39] = 160  # a grey patch in the box, and some on the ring: it joins
    image[6:8, 20:26] = 160  # the digit only under the second look's larger share
    scene = Scene(image, np.array([[20, 8, 20, 24]]))
    # a second look at every box that can grow (any class probability beats 1e-9) is the
    # split with the second look's share; never looking again is the plain split
    always = DefaultMethod(RemovalConfig(ghost_prob=1e-9)).erase([scene], model)[0]
    share = DefaultMethod(RemovalConfig(min_digit_share=RemovalConfig().ghost_digit_share,
                                        ghost_prob=0)).erase([scene], model)[0]
    never = DefaultMethod(RemovalConfig(ghost_prob=1.0)).erase([scene], model)[0]
    plain = DefaultMethod(RemovalConfig(ghost_prob=0)).erase([scene], model)[0]
    assert always.mask.sum() > plain.mask.sum()
    np.testing.assert_array_equal(always.mask, share.mask)
    np.testing.assert_array_equal(always.image, share.image)
    np.testing.assert_array_equal(never.image, plain.image)


def test_deeper_peel_rings_fill_the_whole_hole() -> None:
    crop, hole = _two_sides()
    crop[:, :] = 120
    for step in (1, 2, 3):
        filled = fill.fill_one(crop, ~hole, hole, RemovalConfig(peel_step=step))
        np.testing.assert_allclose(filled[hole], 120.0, atol=0.5)


def test_odd_nodes_barely_pull_the_fill() -> None:
    crop = np.full((20, 20, 3), (40, 60, 160), np.uint8)  # a blue plaque ...
    crop[:4, :4] = 230  # ... with the wall showing past its rounded corner
    hole = np.zeros((20, 20), bool)
    hole[4:16, 4:16] = True
    plain = fill.fill_one(crop, ~hole, hole, RemovalConfig(node_outlier=0, node_spread=0))
    robust = fill.fill_one(crop, ~hole, hole, RemovalConfig(node_outlier=80, node_spread=6))
    blue = np.array([40, 60, 160], np.float32)
    assert np.abs(robust[hole] - blue).max() < 0.2 * np.abs(plain[hole] - blue).max()
    weights = fill.outlier_weights(np.array([[0, 0, 0]] * 9 + [[200, 200, 200]], float), 80)
    assert weights[0] == 1.0 and weights[-1] < 0.05
