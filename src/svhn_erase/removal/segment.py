"""The default method's key pixels: split each digit crop into digit and background.

Per pixel, the features are the colour and the mean and std over the classifier's first-layer
maps computed at the crop's native resolution (``first_layer.native_map_stats``), on the
box plus a context margin. k-means groups the pixels; a group is digit when it is clearly
more common in the box than on the context ring around it (the background prior: digits stay inside
their boxes, backgrounds run across; other digits' boxes are left out of the ring), and the
group most over-represented in the box is digit whenever it stands out at all. The digit
then grows into neighbouring pixels that sit between background and digit colours
(anti-aliased edges, outlines, shadows), and on by hysteresis through pixels that also stand
out from every background cluster by several times the ring's own noise: soft edges and
shadows join, while a crisp digit's mask stops at its rim (``extend_digit``); grown pixels
that do not stand out from the background by ``thin_noise`` noise units drop again (the
1-pixel rim the growth adds around a crisp digit is mostly background). Last, the mask of a
faint digit is mended: it grows into neighbouring clusters that are still clearly more
common in the box than around it, and the holes it encloses join it unless their colours
are common around the box (a counter shows the background). Each pixel's
position between background and digit is kept (``Segmented``): the fill trusts a key pixel
less the closer it sits to the digit's colours.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np

from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.first_layer import native_map_stats
from svhn_erase.removal.keypixels import dilate, fill_holes_like
from svhn_erase.removal.kmeans import kmeans, kmeans_centres, sq_dist
from svhn_erase.removal.median import median0


@dataclass
class Prepared:
    """One crop ready for clustering: features (h, w, d), the context ring the background
    prior compares with, and the box's centre (the box less its border band of ``band``
    pixels); ``inner`` and ``others`` give the ring and centre for another band (``masks``)."""

    features: np.ndarray
    ring: np.ndarray
    centre: np.ndarray
    band: int = 0
    inner: tuple[slice, slice] | None = None
    others: np.ndarray | None = None

    def clusterable(self, clusters: int) -> bool:
        """Enough pixels for ``clusters`` groups and a box centre to compare."""
        return self.ring.size >= clusters * 2 and bool(self.centre.any())

    def masks(self, band: int) -> tuple[np.ndarray, np.ndarray]:
        """The ring and the centre with a border band of ``band`` pixels."""
        if band == self.band or self.inner is None:
            return self.ring, self.centre
        return ring_and_centre(self.ring.shape, self.inner, self.others, band)


def ring_and_centre(shape: tuple[int, int], inner: tuple[slice, slice],
                    others: np.ndarray | None, band: int) -> tuple[np.ndarray, np.ndarray]:
    """The box less its border band of ``band`` pixels (the centre) and everything else but
    ``others`` (the ring the background prior compares with)."""
    rs, cs = inner
    centre = np.zeros(shape, bool)
    centre[rs.start + band:rs.stop - band, cs.start + band:cs.stop - band] = True
    ring = ~centre  # the context margin and the box's own border band
    if others is not None:
        ring &= ~others
    return ring, centre


def pixel_features(crop: np.ndarray, stats: np.ndarray, fmap_weight: float) -> np.ndarray:
    """Per pixel: the colour (0-1) and the feature-map mean and std, scaled to the colour's
    spread times ``fmap_weight``: (h, w, 5) float32."""
    color = crop.astype(np.float32) / 255.0
    fsum = np.moveaxis(stats, 0, -1)
    fsum = fsum / (fsum.reshape(-1, 2).std(0) + 1e-6)
    cstd = float(color.reshape(-1, 3).std(0).mean()) + 1e-3
    return np.concatenate([color, fsum * (fmap_weight * cstd)], -1)


def prepare(crop: np.ndarray, stats: np.ndarray, inner: tuple[slice, slice],
            others: np.ndarray | None, config: RemovalConfig) -> Prepared:
    """Features, ring and box centre of one context crop (``inner``: the box inside it;
    ``others``: pixels inside other digits' boxes, left out of the ring)."""
    band = config.border_band_px
    ring, centre = ring_and_centre(crop.shape[:2], inner, others, band)
    return Prepared(pixel_features(crop, stats, config.fmap_weight), ring, centre, band, inner,
                    others)


def cluster_shares(label: np.ndarray, ring: np.ndarray, box: np.ndarray,
                   clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster, its share of the box and how many times more common it is in the box
    than on the ring (``digit_clusters``' evidence)."""
    n_ring, n_box = max(int(ring.sum()), 1), max(int(box.sum()), 1)
    in_ring = np.bincount(label[ring], minlength=clusters) / n_ring
    in_box = np.bincount(label[box], minlength=clusters) / n_box
    return in_box, in_box / np.maximum(in_ring, 1e-3)


def digit_clusters(label: np.ndarray, ring: np.ndarray, box: np.ndarray,
                   config: RemovalConfig, distinct: np.ndarray | None = None,
                   shares: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Which clusters are digit (bool, one per cluster), by the background prior; all False
    when no cluster qualifies. When the digit clusters cover less than
    ``config.min_digit_share`` of the box, the next most over-represented clusters (still
    ``config.min_share_ratio`` times more common in the box than around it, and
    ``distinct`` from the ring's own colours, when given) join until they do: a digit whose
    colour also shows on the ring (a plate's white border, a neighbour's stroke) is not left
    whole. ``shares``: ``cluster_shares`` when already found."""
    in_box, ratio = shares or cluster_shares(label, ring, box, config.clusters)
    big = in_box > config.min_cluster_share
    is_digit = (ratio > config.over) & big
    best = int(np.argmax(np.where(big, ratio, 0)))
    if ratio[best] > config.best_min and big[best]:  # the digit's main colour
        is_digit[best] = True
    if in_box[is_digit].sum() < config.min_digit_share:
        for c in np.argsort(-np.where(big, ratio, 0), kind="stable"):
            if in_box[is_digit].sum() >= config.min_digit_share \
                    or ratio[c] <= config.min_share_ratio or not big[c]:
                break
            if distinct is None or distinct[c]:
                is_digit[c] = True
    return is_digit


def grow_digit(digit: np.ndarray, position: np.ndarray, config: RemovalConfig) -> np.ndarray:
    """The digit grown through neighbouring pixels placed past ``config.share`` of the way
    from background to digit (soft edges, outlines, shadows), ``config.grow_steps`` times."""
    return extend_digit(digit, position > config.share, config.grow_steps)


@dataclass
class Segmented:
    """One crop split into digit and background: the digit mask (h, w) bool, the clusters'
    digit mask before any growth (``core``) and each pixel's position between the nearest
    background and digit clusters (0 background .. 1 digit; all 0 when no digit)."""

    digit: np.ndarray
    core: np.ndarray
    position: np.ndarray
    could_grow: bool = False  # a second look (``config.ghost_digit_share``) adds clusters

    @classmethod
    def empty(cls, shape: tuple[int, int], could_grow: bool = False) -> Segmented:
        """No digit found."""
        return cls(np.zeros(shape, bool), np.zeros(shape, bool), np.zeros(shape, np.float32),
                   could_grow)


def extend_digit(digit: np.ndarray, soft: np.ndarray, steps: int) -> np.ndarray:
    """``digit`` grown (8-neighbourhood) through the ``soft`` pixels, at most ``steps`` times."""
    for _ in range(steps):
        grown = digit | (dilate(digit) & soft)
        if (grown == digit).all():
            break
        digit = grown
    return digit


def ring_noise(dist: np.ndarray, ring: np.ndarray) -> float:
    """The ring's noise: the median distance of its pixels to their own centre (``dist``
    (n, k): squared distances to the k-means centres; ``ring`` (n,) bool)."""
    return float(median0(np.sqrt(dist[ring].min(1)))) if ring.any() else 0.0


def distinct_clusters(label: np.ndarray, ring: np.ndarray, centres: np.ndarray, noise: float,
                      config: RemovalConfig) -> np.ndarray | None:
    """Per cluster, whether its centre lies more than ``config.min_share_distinct`` times the
    ring's ``noise`` from the ring's most common cluster: a colour of its own, not the
    background split by noise. None when the minimum digit share is off."""
    if config.min_digit_share <= 0 or not ring.any():
        return None
    major = int(np.argmax(np.bincount(label[ring], minlength=len(centres))))
    gap = np.sqrt(((centres - centres[major]) ** 2).sum(1))
    return gap > config.min_share_distinct * (noise + 1e-6)


def cluster_masks(features: np.ndarray, ring: np.ndarray, box: np.ndarray,
                  config: RemovalConfig, centres: np.ndarray | None = None) -> Segmented:
    """Digit mask, core and positions (``Segmented``) from per-pixel ``features`` (h, w, d) by
    k-means with the background prior (``digit_clusters``), growth (``grow_digit``) and the
    noise-aware extension (``config.extend_*``) and thinning (``config.thin_noise``).
    ``centres``: the k-means centres when already found (``kmeans.kmeans_centres``)."""
    h, w, d = features.shape
    flat = features.reshape(-1, d).astype(np.float64)
    if len(flat) < config.clusters * 2 or not box.any():
        return Segmented.empty((h, w))
    if centres is None:
        label, centres = kmeans(flat, config.clusters, config.kmeans_iterations,
                                config.kmeans_sample)
        dist = np.maximum(sq_dist(flat, centres), 0.0)
    else:
        label, dist = assign(flat, centres)
    return split_assigned((h, w), label, dist, centres, ring, box, config)


def assign(flat: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's nearest centre and its squared distances to all (clipped at 0)."""
    dist = sq_dist(flat, centres)
    label = dist.argmin(1)
    np.maximum(dist, 0.0, out=dist)
    return label, dist


def split_assigned(shape: tuple[int, int], label: np.ndarray, dist: np.ndarray,
                   centres: np.ndarray, ring: np.ndarray, box: np.ndarray,
                   config: RemovalConfig,
                   again: tuple[np.ndarray, np.ndarray] | None = None) -> Segmented:
    """``cluster_masks`` from the pixels' nearest centres ``label`` (n,) and squared
    distances ``dist`` (n, k) to the ``centres``; ``again``: the ring and box the second
    look compares (by default ``ring`` and ``box``)."""
    h, w = shape
    same = again is None or again[0] is ring
    ring, box = ring.ravel(), box.ravel()
    noise = ring_noise(dist, ring)
    distinct = distinct_clusters(label, ring, centres, noise, config)
    shares = cluster_shares(label, ring, box, config.clusters)
    is_digit = digit_clusters(label, ring, box, config, distinct, shares)
    if same:
        could_grow = second_look_grows(label, ring, box, centres, noise, config, is_digit,
                                       distinct, shares)
    else:  # another border band: its own evidence
        ring2, box2 = again[0].ravel(), again[1].ravel()
        could_grow = second_look_grows(label, ring2, box2, centres, ring_noise(dist, ring2),
                                       config, is_digit)
    if not is_digit.any() or is_digit.all():
        return Segmented.empty((h, w), could_grow)
    d_bg = np.sqrt(dist[:, ~is_digit].min(1))
    d_fg = np.sqrt(dist[:, is_digit].min(1))
    position = (d_bg / np.maximum(d_bg + d_fg, 1e-12)).reshape(h, w)
    core = is_digit[label].reshape(h, w)
    digit = grow_digit(core, position, config)
    if config.extend_steps > 0 or config.thin_noise > 0:
        out = (d_bg / (noise + 1e-6)).reshape(h, w)  # standing out from the background
        soft = (position > config.extend_share) & (out > config.extend_noise)
        digit = extend_digit(digit, soft, config.extend_steps)
        digit &= core | (out > config.thin_noise)
    ratio = shares[1][label].reshape(h, w)  # per pixel, its cluster's box-to-ring ratio
    if config.grow_ratio > 0 and config.ratio_steps > 0:
        digit = extend_digit(digit, ratio > config.grow_ratio, config.ratio_steps)
    if config.hole_ratio > 0:  # a "hole" larger than the box's centre runs around the box
        digit = fill_holes_like(digit, ratio > config.hole_ratio, box.sum())
    return Segmented(digit, core, position.astype(np.float32), could_grow)


@lru_cache(maxsize=8)
def second_look_config(config: RemovalConfig) -> RemovalConfig:
    """``config`` with the second look's minimum digit share and border band (made once per
    config: a dataclass ``replace`` per crop cost 2 % of the method's time)."""
    return replace(config, min_digit_share=config.ghost_digit_share,
                   border_band_px=config.ghost_band_px)


def second_look_grows(label: np.ndarray, ring: np.ndarray, box: np.ndarray,
                      centres: np.ndarray, noise: float, config: RemovalConfig,
                      is_digit: np.ndarray, distinct: np.ndarray | None = None,
                      shares: tuple[np.ndarray, np.ndarray] | None = None) -> bool:
    """Whether the second look's minimum digit share (``config.ghost_digit_share``, when
    ``config.ghost_prob`` is on) makes more clusters digit than ``is_digit``. ``distinct``
    and ``shares``: what the first split found (``distinct_clusters`` under ``config``,
    ``cluster_shares``), reused where the second look's settings give the same."""
    if config.ghost_prob <= 0 or config.ghost_digit_share <= config.min_digit_share:
        return False
    again = second_look_config(config)
    if distinct is None or config.min_digit_share <= 0:  # none under config: find them
        distinct = distinct_clusters(label, ring, centres, noise, again)
    more = digit_clusters(label, ring, box, again, distinct, shares)
    return bool((more & ~is_digit).any())


def cluster_digit(features: np.ndarray, ring: np.ndarray, box: np.ndarray,
                  config: RemovalConfig, centres: np.ndarray | None = None) -> np.ndarray:
    """The digit mask (h, w) of ``cluster_masks``."""
    return cluster_masks(features, ring, box, config, centres).digit


@dataclass
class Clustered:
    """One crop ready to be split: its ``Prepared`` features and its k-means centres (None:
    too few pixels to cluster). Splitting again with other settings reuses both, and the
    pixels' nearest centres and distances (``assigned``, found at the first split)."""

    prepared: Prepared
    centres: np.ndarray | None
    flat: np.ndarray | None = None  # the features as (h * w, d) float64, when clustered
    _assigned: tuple[np.ndarray, np.ndarray] | None = None

    def assigned(self) -> tuple[np.ndarray, np.ndarray]:
        """``assign`` of the pixels to the centres, found once."""
        if self._assigned is None:
            self._assigned = assign(self.flat, self.centres)
        return self._assigned


def cluster_crops(model: ConvNet, crops: list[np.ndarray], inner: list[tuple[slice, slice]],
                  others: list[np.ndarray] | None, config: RemovalConfig) -> list[Clustered]:
    """Features and k-means centres of crops taken with a margin around each box (see
    ``default_background``); k-means runs for all crops at once."""
    stats = native_map_stats(model, crops)
    others = others if others is not None else [None] * len(crops)
    prepared = [prepare(c, s, box, o, config)
                for c, s, box, o in zip(crops, stats, inner, others, strict=True)]
    todo = [n for n, p in enumerate(prepared) if p.clusterable(config.clusters)]
    flats = {n: prepared[n].features.reshape(-1, prepared[n].features.shape[-1])
             .astype(np.float64) for n in todo}
    found = kmeans_centres(list(flats.values()), config.clusters, config.kmeans_iterations,
                           config.kmeans_sample)
    centres = dict(zip(todo, found, strict=True))
    return [Clustered(p, centres.get(n), flats.get(n)) for n, p in enumerate(prepared)]


def split_clustered(crop: Clustered, config: RemovalConfig) -> Segmented:
    """``cluster_masks`` of one clustered crop; the digit mask dilated by
    ``config.digit_dilation``."""
    p = crop.prepared
    ring, centre = p.masks(config.border_band_px)
    if crop.centres is None:
        seg = cluster_masks(p.features, ring, centre, config)
    else:
        again = p.masks(second_look_config(config).border_band_px)
        seg = split_assigned(p.ring.shape, *crop.assigned(), crop.centres, ring, centre,
                             config, again)
    if config.digit_dilation > 0:
        seg.digit = dilate(seg.digit, iterations=config.digit_dilation, cross=True)
    return seg


def default_segments(model: ConvNet, crops: list[np.ndarray], inner: list[tuple[slice, slice]],
                     others: list[np.ndarray] | None, config: RemovalConfig
                     ) -> list[Segmented]:
    """``Segmented`` masks of crops taken with a margin around each box (see
    ``default_background``); the digit mask is dilated by ``config.digit_dilation``."""
    return [split_clustered(c, config)
            for c in cluster_crops(model, crops, inner, others, config)]


def default_background(model: ConvNet, crops: list[np.ndarray], inner: list[tuple[slice, slice]],
                       others: list[np.ndarray] | None, config: RemovalConfig
                       ) -> list[np.ndarray]:
    """Background masks (True = background) of crops taken with a margin around each box.

    ``crops[i]`` is the box with some context around it, ``inner[i]`` the box inside it and
    ``others[i]`` (optional) marks pixels of the crop inside other digits' boxes. k-means
    runs for all crops at once.
    """
    return [~seg.digit for seg in default_segments(model, crops, inner, others, config)]
