"""The student's fill and paste: the default method's GRNN, batched across crops.

The fill works at each box's own resolution on the box plus ``context`` pixels, as the
default's does (``removal.fill``), and makes the same prediction: the hole is the digit's
pixels inside the box and a one-pixel seam around them (inside the box too); the nodes are
the key pixels (not any box's digit) touching that hole (8-neighbourhood); every hole pixel
becomes the Gaussian-weighted mean of the nodes (Nadaraya-Watson: the GRNN with W = the
nodes' colours, sharpened by one step of the default's ridge solve) with sigma ``per_depth``
x the hole's mean depth, within ``sigma_range``. A node whose colour lies towards the
digit's counts less (``node_certainty``, as the default weighs its nodes by their place
between its colour clusters), and so does one far from the nodes' median colour
(``odd_node_weights``, the default's odd nodes). The default's onion peel added nothing on
the tuning split once sigma was retuned, so every hole pixel is predicted at once.

On a flat background (``flat_hole``: the context ring outside every box spreads under
``flat_noise`` levels) the hole is redrawn by colour before the fill: it grows into the
neighbouring box pixels that stand out from the ring's colour (a faint rim the mask missed),
and box pixels more than ``flat_carve`` pixels from any such pixel leave it (a counter the
mask filled). There the fill from the flat surroundings is nearly exact, so a slightly big
hole costs little and a ghost of the rim a lot (tuning splits: flat +0.20 / +0.24 dB, all
kinds +0.10).

Crops of similar shape are padded into one tensor (``buckets``); a Gaussian blur of a
padded crop is two matrix products ``G_h @ X @ G_w`` with that crop's own sigma, so a bucket
is a handful of batched matrix products (zero padding is OpenCV's constant border). The
depth is an octagonal distance (cross and square erosions in turn), close to the Euclidean
one the default takes.

``paste_context`` writes the hole (alpha 1) and blends the seam (``seam_alpha``) into the
image, as the default's paste does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from svhn_erase.boxes import Rect

TINY = 1e-20  # a blurred node weight under this: no node within reach (the nodes' mean)


@dataclass(frozen=True)
class FillSettings:
    """The fill's settings (``StudentConfig`` holds them for the method)."""

    per_depth: float = 2.0  # sigma = per_depth x the hole's mean depth ...
    sigma_range: tuple[float, float] = (1.5, 8.0)  # ... within this range
    ridge: float = 3.0  # the default's (A + ridge I) W = (1 + ridge) Y ...
    ridge_steps: int = 1  # ... by this many steps from W = Y (0: W = Y)
    certainty_share: float = 0.75  # a node's weight falls linearly with its colour's place
    certainty_min: float = 0.35  # between background and digit: this at ``certainty_share``
    certainty_noise: float = 4.0  # ... of a line at least this x the nodes' spread long
    node_outlier: float = 80.0  # nodes this far (0-255) from the nodes' median colour ...
    node_spread: float = 6.0  # ... or this x their median distance, if farther, weigh 1/e
    grow_steps: int = 1  # the hole grows this many pixels into the box's pixels ...
    grow_share: float = 0.5  # ... placed past this share of the way towards its colour
    flat_noise: float = 12.0  # a crop is flat when its ring's colours spread less (RMS,
    # 0-255) around their mean (0: none is; ``flat_ring``); there the hole grows ...
    flat_k: float = 1.5  # ... into box pixels farther than this x that spread ...
    flat_min: float = 4.0  # ... (at least this many levels) from the ring's colour ...
    flat_steps: int = 1  # ... by this many pixels, and drops pixels farther than
    flat_carve: int = 1  # ... this many from any such pixel (a counter's inside)


def _max3(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Maximum over each pixel and its two neighbours along ``dim`` (nothing beyond the edge:
    the same as zero there for the non-negative masks it takes); written into shifted views
    of a copy (no padded tensor)."""
    out = x.clone()
    n = x.shape[dim]
    for a, b in ((1, 0), (0, 1)):
        view = out.narrow(dim, a, n - 1)
        torch.maximum(view, x.narrow(dim, b, n - 1), out=view)
    return out


def dilate(mask: torch.Tensor) -> torch.Tensor:
    """(n, 1, h, w) 0/1 float masks grown by one pixel (3 x 3 square); slices, not
    ``max_pool2d``, which is several times slower on the CPU."""
    return _max3(_max3(mask, -2), -1)


def _min3(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Bool ``x`` and-ed with its two neighbours along ``dim`` (the edge counts as inside)."""
    out = x.clone()
    n = x.shape[dim]
    out.narrow(dim, 1, n - 1).logical_and_(x.narrow(dim, 0, n - 1))
    out.narrow(dim, 0, n - 1).logical_and_(x.narrow(dim, 1, n - 1))
    return out


def _erode(mask: torch.Tensor, square: bool) -> torch.Tensor:
    """Bool ``mask`` shrunk by one pixel: 3 x 3 square, or cross (the edge counts as
    inside)."""
    if square:
        return _min3(_min3(mask, -2), -1)
    return _min3(mask, -2) & _min3(mask, -1)


def mean_depth(mask: torch.Tensor) -> torch.Tensor:
    """(n,) each mask's mean distance from its pixels to the nearest pixel outside it
    (octagonal: cross and square erosions in turn; 1 for a pixel on the rim). The erosions
    run on bool masks and count in integers (exact, as the float counts were)."""
    total = mask.sum((1, 2, 3))
    current = mask > 0
    depth = torch.zeros(len(mask), dtype=torch.int64, device=mask.device)
    step = 0
    while True:
        count = current.sum((1, 2, 3))
        if not bool(count.any()):
            break
        depth += count
        current = _erode(current, square=step % 2 == 1)
        step += 1
    return depth.to(total.dtype) / total.clamp_min(1.0)


def gaussian_matrices(size: int, sigma: torch.Tensor) -> torch.Tensor:
    """(n, 1, size, size): per crop, row i the Gaussian of that crop's sigma centred on i."""
    idx = torch.arange(size, dtype=sigma.dtype, device=sigma.device)
    d2 = (idx[:, None] - idx[None, :]) ** 2
    return torch.exp(-d2[None] / (2.0 * sigma[:, None, None] ** 2))[:, None]


def blur(x: torch.Tensor, g_rows: torch.Tensor, g_cols: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) blurred with each crop's separable Gaussian (``gaussian_matrices``)."""
    return g_rows @ x @ g_cols


def _gaussian_sums(pixels: torch.Tensor, nodes: torch.Tensor, g_rows: torch.Tensor,
                   g_cols: torch.Tensor, settings: FillSettings
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The GRNN's two sums over the nodes at every pixel: ``sum_i W_i k_i`` (n, 3, h, w) and
    ``sum_i k_i`` (n, 1, h, w), W after ``ridge_steps`` steps of
    W <- ((1 + ridge) Y - A W) / ridge from W = Y (``fill.solve_local``, batched)."""
    y = pixels * nodes
    sums = blur(torch.cat([y, nodes], 1), g_rows, g_cols)
    num, den = sums[:, :3], sums[:, 3:]
    r = settings.ridge
    for _ in range(settings.ridge_steps):
        w = ((1.0 + r) * y - num / den.clamp_min(TINY) * nodes) / r
        num = blur(w, g_rows, g_cols)
    return num, den


def colour_place(pixels: torch.Tensor, hole: torch.Tensor, nodes: torch.Tensor,
                 noise: float) -> torch.Tensor:
    """(n, 1, h, w): each pixel's colour's place t on the line from the nodes' mean colour
    (0) to the hole's (1). Where the hole's colour is within ``noise`` times the nodes' own
    spread of theirs (no digit to tell apart, e.g. a digit-free box), the line is stretched
    to that length, so t stays small."""
    def mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return ((x * mask).sum((2, 3)) / mask.sum((2, 3)).clamp_min(TINY))[..., None, None]

    back = mean(pixels, nodes)
    step = mean(pixels, hole) - back
    spread = mean(((pixels - back) ** 2).sum(1, keepdim=True), nodes)
    length = torch.maximum((step * step).sum(1, keepdim=True), noise ** 2 * spread)
    return ((pixels - back) * step).sum(1, keepdim=True) / length.clamp_min(1e-6)


def node_certainty(place: torch.Tensor, settings: FillSettings) -> torch.Tensor:
    """(n, 1, h, w): how far each pixel is trusted as a node by its ``colour_place`` t: 1 at
    t <= 0, falling linearly to ``certainty_min`` at ``certainty_share`` (a node on the
    digit's blurred rim counts less; the default weighs its nodes so, by their place between
    its colour clusters)."""
    return (1.0 - place / settings.certainty_share).clamp(settings.certainty_min, 1.0)


def _masked_median(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(n, c): per crop and channel, the median of ``x`` (n, c, h, w) over ``mask`` > 0 (0
    where the mask is empty)."""
    n, c, h, w = x.shape
    on = (mask > 0).reshape(n, 1, h * w)
    nan = torch.tensor(float("nan"), dtype=x.dtype, device=x.device)
    return torch.nan_to_num(torch.where(on, x.reshape(n, c, h * w), nan).nanmedian(-1).values)


def odd_node_weights(pixels: torch.Tensor, nodes: torch.Tensor, settings: FillSettings
                     ) -> torch.Tensor:
    """(n, 1, h, w): per pixel ``exp(-(d / s)^2)``, at least 0.02, with d its colour's
    distance from the nodes' median colour and s the larger of ``node_outlier`` and
    ``node_spread`` x the nodes' median d: a few nodes of another surface (a plaque's corner,
    the wall past its edge) barely pull the fill (the default's ``fill.outlier_weights``)."""
    if settings.node_outlier <= 0:
        return torch.ones_like(nodes)
    median = _masked_median(pixels, nodes)[..., None, None]
    d = ((pixels - median) ** 2).sum(1, keepdim=True).sqrt()
    s = (settings.node_spread * _masked_median(d, nodes)).clamp_min(settings.node_outlier)
    return torch.exp(-((d / s[..., None, None]) ** 2)).clamp_min(0.02)


def flat_ring(pixels: torch.Tensor, ring: torch.Tensor, in_box: torch.Tensor,
              settings: FillSettings) -> tuple[torch.Tensor, torch.Tensor]:
    """In flat crops, the box pixels that stand out from the background: ``(stand_out,
    flat)``, (n, 1, h, w) 0/1 and (n, 1, 1, 1) 0/1. The background is the ``ring`` (the
    context outside every box, no digit): its mean colour and RMS spread, taken twice, the
    second time without its pixels over 2.5 x the first spread (a stroke poking out of the
    box). A crop is flat when that spread is under ``flat_noise``; there a box pixel stands
    out when its colour is more than ``flat_k`` x the spread (at least ``flat_min``) from
    the mean."""
    keep = ring
    for _ in range(2):
        count = keep.sum((2, 3), keepdim=True).clamp_min(1.0)
        mean = (pixels * keep).sum((2, 3), keepdim=True) / count
        d2 = ((pixels - mean) ** 2).sum(1, keepdim=True)
        spread = ((d2 * keep).sum((2, 3), keepdim=True) / count).sqrt()
        keep = ring * (d2 <= (2.5 * spread) ** 2)
    flat = ((spread < settings.flat_noise) & (ring.sum((2, 3), keepdim=True) > 0)).to(
        pixels.dtype)
    far = (settings.flat_k * spread).clamp_min(settings.flat_min)
    return (d2 > far * far).to(pixels.dtype) * in_box * flat, flat


def flat_hole(hole: torch.Tensor, digit: torch.Tensor, pixels: torch.Tensor,
              in_box: torch.Tensor, valid: torch.Tensor, settings: FillSettings
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The hole and digit mask of flat crops (``flat_ring``) redrawn by colour: the hole
    grows ``flat_steps`` times into neighbouring box pixels that stand out, and the box's
    pixels farther than ``flat_carve`` from any that stands out leave it (and the digit).
    On a flat background a digit's faint rim still shows after the fill, while a pixel of
    background filled from its flat surroundings costs next to nothing; a counter left out
    of the hole is kept as it is. Tuning split +0.10 dB (flat +0.20), tune2 +0.10."""
    ring = valid * (1.0 - in_box) * (1.0 - digit)
    stand_out, flat = flat_ring(pixels, ring, in_box, settings)
    for _ in range(settings.flat_steps):
        hole = torch.maximum(hole, dilate(hole) * stand_out)
    if settings.flat_carve > 0:
        near = stand_out
        for _ in range(settings.flat_carve):
            near = dilate(near)
        away = flat * in_box * (1.0 - near)
        hole, digit = hole * (1.0 - away), digit * (1.0 - away)
    return hole, digit


def _regions(digit: torch.Tensor, in_box: torch.Tensor, valid: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The hole (digit in the box), the seam around it (in the box), both together, and the
    nodes (key pixels touching them; all key pixels where none does)."""
    hole = digit * in_box
    seam = dilate(hole) * in_box * (1.0 - hole)
    target = hole + seam
    known = (1.0 - digit) * (1.0 - target) * valid
    nodes = known * dilate(target)
    lonely = nodes.sum((1, 2, 3)) == 0
    return hole, seam, target, torch.where(lonely[:, None, None, None], known, nodes)


def grnn_fill(pixels: torch.Tensor, digit: torch.Tensor, in_box: torch.Tensor,
              valid: torch.Tensor, settings: FillSettings
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fill a bucket of padded crops. ``pixels`` (n, 3, h, w) 0..255; ``digit`` (n, 1, h, w)
    0/1: any box's digit pixels; ``in_box``: the crop's own box; ``valid``: the crop's pixels
    (0 on the padding). The hole first grows ``grow_steps`` times into neighbouring pixels of
    the box placed past ``grow_share`` towards its colour (the default's growth through soft
    edges). Returns the fill (n, 3, h, w), the hole and the seam (n, 1, h, w)."""
    hole, seam, target, nodes = _regions(digit, in_box, valid)
    place = colour_place(pixels, hole, nodes, settings.certainty_noise)
    if settings.grow_steps > 0:
        soft = (place > settings.grow_share).to(pixels.dtype) * in_box
        for _ in range(settings.grow_steps):
            hole = torch.maximum(hole, dilate(hole) * soft)
    if settings.flat_noise > 0:
        hole, digit = flat_hole(hole, digit, pixels, in_box, valid, settings)
    if settings.grow_steps > 0 or settings.flat_noise > 0:
        hole, seam, target, nodes = _regions(torch.maximum(digit, hole), in_box, valid)
    nodes = nodes * node_certainty(place, settings) * odd_node_weights(pixels, nodes, settings)
    low, high = settings.sigma_range
    sigma = (settings.per_depth * mean_depth(target)).clamp(low, high)
    num, den = _gaussian_sums(pixels, nodes, gaussian_matrices(pixels.shape[-2], sigma),
                              gaussian_matrices(pixels.shape[-1], sigma), settings)
    mean = (pixels * nodes).sum((2, 3)) / nodes.sum((2, 3)).clamp_min(TINY)
    fill = torch.where(den < TINY, mean[..., None, None], num / den.clamp_min(TINY))
    return fill.clamp(0.0, 255.0), hole, seam


def buckets(shapes: Sequence[tuple[int, int]], most: int) -> list[list[int]]:
    """Indices of crops grouped by shape (sorted by height, then width), at most ``most`` per
    group: each group is padded to its largest crop."""
    order = sorted(range(len(shapes)), key=lambda i: shapes[i])
    return [order[s:s + most] for s in range(0, len(order), most)]


@dataclass
class Bucket:
    """Padded crops of one bucket, as ``grnn_fill`` takes them (NumPy, float32)."""

    pixels: np.ndarray  # (n, 3, h, w)
    digit: np.ndarray  # (n, 1, h, w)
    in_box: np.ndarray
    valid: np.ndarray


def pad_bucket(images: Sequence[np.ndarray], digits: Sequence[np.ndarray],
               contexts: Sequence[Rect], boxes: Sequence[Rect]) -> Bucket:
    """Cut each context rectangle from its image and its scene's digit mask (both given per
    crop) into zero-padded arrays; ``boxes`` mark each crop's own box."""
    h = max(c.height for c in contexts)
    w = max(c.width for c in contexts)
    n = len(contexts)
    out = Bucket(np.zeros((n, h, w, 3), np.float32), np.zeros((n, 1, h, w), np.float32),
                 np.zeros((n, 1, h, w), np.float32), np.zeros((n, 1, h, w), np.float32))
    for i, (image, digit, ctx, box) in enumerate(zip(images, digits, contexts, boxes,
                                                     strict=True)):
        out.pixels[i, :ctx.height, :ctx.width] = image[ctx.slices]
        out.digit[i, 0, :ctx.height, :ctx.width] = digit[ctx.slices]
        out.valid[i, 0, :ctx.height, :ctx.width] = 1.0
        t, lft = box.top - ctx.top, box.left - ctx.left
        out.in_box[i, 0, t:t + box.height, lft:lft + box.width] = 1.0
    out.pixels = out.pixels.transpose(0, 3, 1, 2)
    return out


@dataclass
class Filled:
    """One bucket's results as NumPy arrays, padded: the fill (n, h, w, 3) float32 0..255,
    the paste weight ``alpha`` (n, h, w) float32 (1 on the hole, the seam's weight on the
    seam, 0 elsewhere), the hole (bool) and the key pixels (bool: the pixels of the crop's
    own box that are kept as they are, in neither the hole nor the seam)."""

    fill: np.ndarray
    alpha: np.ndarray
    hole: np.ndarray
    key: np.ndarray

    @classmethod
    def of(cls, fill: torch.Tensor, hole: torch.Tensor, seam: torch.Tensor,
           in_box: torch.Tensor, seam_alpha: float) -> Filled:
        """From ``grnn_fill``'s tensors and the crop's own box. Inside the box the hole
        holds every digit pixel that is replaced (any box's; ``flat_hole`` may have freed
        some the network marked, and those are kept, so they are key pixels)."""
        alpha = hole + seam_alpha * seam
        key = in_box * (1.0 - hole) * (1.0 - seam)
        return cls(fill.permute(0, 2, 3, 1).cpu().numpy(), alpha[:, 0].cpu().numpy(),
                   hole[:, 0].cpu().numpy() > 0, key[:, 0].cpu().numpy() > 0)


def paste_context(image: np.ndarray, ctx: Rect, fill: np.ndarray, alpha: np.ndarray
                  ) -> np.ndarray:
    """Blend one crop's ``fill`` (h, w, 3, 0..255; a padded crop is cut to ``ctx``) into
    ``image`` at ``ctx`` with weight ``alpha`` (h, w), in place. Returns the (h, w) bool mask
    of the pixels written (``alpha`` > 0); the others keep their value exactly."""
    h, w = ctx.height, ctx.width
    a = alpha[:h, :w, None]
    region = image[ctx.slices]
    region[...] = (region * (1.0 - a) + fill[:h, :w] * a + 0.5).astype(np.uint8)
    return a[..., 0] > 0
