"""The settings of the two key-pixel removal methods, as frozen dataclasses.

``RemovalConfig`` shapes this project's ``default`` method (key pixels by clustering with a
border prior, exact GRNN, seam paste); ``SeedConfig`` the original 2018 pipeline (SPEC §2).
A method is created with its config and writes it into the outputs it shaped
(``timing.json``, the benchmark's ``summary.json``); nothing else holds a setting.
"""

from __future__ import annotations

from dataclasses import dataclass

SIGMA_RULES = ("depth", "validation")


@dataclass(frozen=True)
class RemovalConfig:
    """Settings of the ``default`` method, stage by stage."""

    # digits and classifier
    context_margin: int = 2  # pixels of context around each box for the background prior
    classify_batch: int = 96  # CPU: ~100 40 x 40 crops stay in cache (512 ran 1.4x slower)
    # key pixels: per-pixel features, k-means, the border prior
    fmap_weight: float = 0.5  # weight of the feature-map mean and std beside the colour
    clusters: int = 12
    kmeans_sample: int = 300  # k-means is fitted on at most this many evenly spaced pixels
    kmeans_iterations: int = 15
    border_band_px: int = 1  # the box's own outer ring of this width counts as context
    over: float = 2.7  # a cluster this many times more common in the box than around is digit
    best_min: float = 1.3  # the most over-represented cluster is digit from this ratio on
    min_cluster_share: float = 0.02  # a cluster under this share of the box is never digit
    min_digit_share: float = 0.35  # fewer digit pixels in the box: the next clusters join ...
    min_share_ratio: float = 1.0  # ... those this many times more common in the box than around
    min_share_distinct: float = 3.0  # ... and this many noise units from the ring's main colour
    share: float = 0.15  # a pixel this far from background towards digit joins the digit ...
    grow_steps: int = 1  # ... in this many steps of growth from the digit
    digit_dilation: int = 0  # then the digit mask is dilated (cross) this many pixels
    # ... then it goes on growing (hysteresis) through pixels past ``extend_share`` of the way
    # whose features also stand out from every background cluster by ``extend_noise`` times
    # the ring's own spread (the background prior's noise): soft edges and shadows join, noise
    # not
    extend_steps: int = 4
    extend_noise: float = 2.0
    extend_share: float = 0.1
    thin_noise: float = 1.0  # grown pixels within this many noise units of the background drop
    # a tighter mask gains on the generated tuning splits but leaves ghosts on real photos:
    # thin_noise 1.5 + over 3.2 + extend_steps 2 + ghost_prob 0 gives tune / tune2 +0.13 /
    # +0.10 dB, while on photos 1-1600 the still read over the floor's digits goes 20.85 ->
    # 22.67 % (erased digits other than 1 read back 1.33 -> 3.92 %); thin_noise 1.5 alone
    # +0.04 / +0.02 dB, 21.69 %; over 3.6 +0.05 / +0.03 dB, 21.09 %; extend_steps 2 +0.02 /
    # +0.03 dB, 20.90 % (issue 14, session 8)
    # then the digit grows ``ratio_steps`` times through neighbouring pixels whose cluster is
    # more than ``grow_ratio`` times as common in the box as around it (a faint digit's
    # clusters that fall short of ``over``), and the holes it encloses (background groups not
    # touching the crop's edge) join it when most of their pixels' clusters are more than
    # ``hole_ratio`` times as common in the box as around it: on real photos a faint digit's
    # mask is torn and holed, and the fill copies the pixels left (a ghost the reader reads),
    # while background seen through a digit's counter (common around the box) stays. With
    # ``over`` 2.5 -> 2.7, on photos 1-1600 erased digits other than 1 are read back 1.61 ->
    # 1.33 % of the time, on the generated tuning splits +0.04 and +0.01 dB (0: off)
    grow_ratio: float = 2.0
    ratio_steps: int = 1
    hole_ratio: float = 1.0
    # second look: a digit the classifier still reads (its class at more than ``ghost_prob``
    # probability) in the erased box is split again with ``ghost_digit_share`` as the minimum
    # digit share, and filled again (0: no second look); boxes read as one of ``ghost_skip``
    # get none: an empty box reads as a 1 (the packaged classifier reads 92 % of erased real
    # 1s as 1 at > 0.25; the real-SVHN reader reads a one-colour 1 box as 1 every time), so
    # its reading says nothing about a ghost
    ghost_prob: float = 0.1
    ghost_digit_share: float = 0.55
    ghost_skip: tuple[int, ...] = (1,)
    # the second look's ``border_band_px``: 0 helps real photos, whose tight boxes put the
    # digit's strokes into the band (photos 1-1600 still read 20.34 -> 20.06 %), but costs the
    # generated tuning split 0.06 dB, so it stays as the first look's
    ghost_band_px: int = 1
    # GRNN fill
    certainty_share: float = 0.5  # a node's weight falls to 0 at this position towards the digit
    certainty_min: float = 0.02  # ... and is at least this
    node_outlier: float = 80.0  # nodes this far (0-255) from the nodes' median colour weigh 1/e
    node_spread: float = 6.0  # ... or this many times the nodes' median distance, if farther
    # edge-aware fill (regions.py): key pixels split by steps over region_edge levels per px
    region_edge: float = 0.0  # 0: one region (off: on the tuning split any threshold cost PSNR)
    region_merge: float = 20.0  # groups whose median colours are this close are one region
    region_min_px: int = 4  # smaller groups join their nearest region
    node_radius: float = 1.5  # key pixels within this distance of the hole are the nodes
    ridge: float = 3.0  # (A + ridge I) W = (1 + ridge) Y; ridge <= 1: W = Y, no solve
    solve_iterations: int = 30
    solve_tol: float = 1e-4
    # sigma per crop, "depth": sigma_per_depth x the hole's mean depth, within sigma_range;
    # "validation": the one of sigma_candidates with which the outer nodes best predict the
    # nodes next to the hole
    sigma_rule: str = "depth"
    sigma_per_depth: float = 1.5
    sigma_range: tuple[float, float] = (1.5, 8.0)
    sigma_candidates: tuple[float, ...] = (1.0, 1.6, 2.5)
    onion_peel: bool = True  # fill ring by ring from the outside in (else all at once)
    # ... rings this many pixels deep (2 with the plain mean; 6 with the plane, which
    # carries a ramp across deeper rings: fewer rings, less error built up)
    peel_step: int = 6
    # each ring from a local plane through the known pixels (linear_peel.py) instead of
    # their weighted mean, the plane's slope regularised by ``peel_slope_ridge`` x sigma^2.
    # Session 8, on the tuning data: tune 33.657 -> 33.954 dB, tune2 34.457 -> 34.758
    # (gradients +0.5 dB); photos 1-1600: still read over the floor's digits 20.85 ->
    # 20.44 %, decoy 27.17 -> 27.76 dB; x0.977 of the speed (CPU time, same run)
    peel_linear: bool = True
    peel_slope_ridge: float = 0.25
    # texture-aware detail (texture.py): on crops whose surroundings carry this much detail
    texture_min_energy: float = 60.0  # mean squared high-pass, 0-255 units (0: every crop)
    texture_k: int = 0  # best-matching translations averaged (0: no detail; 6 when on)
    texture_sigma: float = 1.5  # the high-pass is the image less its blur by this sigma
    texture_ring: int = 3  # px around the hole that the matches must agree on
    texture_window: float = 1.0  # search window: the crop grown by this x its larger side
    # grain (grain.py): white luma noise in the hole at ``grain`` x the robust spread of the
    # key pixels' high-pass (luma less its blur by ``grain_sigma``) within ``grain_ring`` px
    # of the hole; 0: off. It trades PSNR for realism (benchmarks/grain_tradeoff.py, with the
    # local-plane fill): on photos 1-1600 the still read over the floor's digits goes 20.44 ->
    # 20.30 / 20.30 / 20.11 % (floor 19.83) at grain 0.3 / 0.5 / 1.0, the generated tuning
    # splits lose 0.05 / 0.15 / 0.53 dB, and at 1.0 the erased digits other than 1 are read
    # back more (1.51 -> 2.17 %)
    grain: float = 0.0
    grain_sigma: float = 1.0
    grain_ring: int = 3
    # paste
    seam_alphas: tuple[float, ...] = (0.9,)  # blend weight per step outside the hole

    def __post_init__(self) -> None:
        if self.sigma_rule not in SIGMA_RULES:
            raise ValueError(f"sigma_rule must be one of {SIGMA_RULES}, not {self.sigma_rule!r}")


@dataclass(frozen=True)
class SeedConfig:
    """Settings of the ``seed`` method, the original pipeline (SPEC §2)."""

    classify_batch: int = 96
    buckets: int = 35  # histogram buckets of the first-layer maps' mean - std
    grid: int = 3  # spacing of the GRNN pattern pixels (and of the grid it grows over)
    grad_band: float = 0.08  # the first try's background band of the input gradient
    sigma: float = 1.8
    lr: float = 0.1  # Adagrad, from weights 1 at every training
    batch_nodes: int = 1000  # nodes per Adagrad step
    epochs: int = 2000  # at most, per training
    tol: float = 5e-5  # a training stops once its loss over all nodes is under this
    rounds: int = 30  # at most this many rounds of growing the nodes over the grid
