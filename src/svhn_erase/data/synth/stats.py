"""Photo statistics to compare generated parents with real SVHN ones (the generator's yardstick).

Each function measures one thing a camera, a sign maker or an annotator shapes, the same way
on any parent with its boxes, generated or real:

- ``colourfulness``: Hasler and Suesstrunk's (2003) metric, ``sigma_rgyb + 0.3 mu_rgyb``;
- ``laplacian_variance``: the variance of the 4-neighbour Laplacian (sharpness);
- ``noise_sigma``: the noise level from the diagonal Haar detail (as ``estimate_sigma``,
  with a trimmed mean for its median), over the 2 x 2 blocks that lie in a ``keep`` mask;
- ``blockiness``: mean absolute step across 8-pixel block edges over that inside blocks
  (about 1 without JPEG blocking);
- ``digit_contrast``: the box's "ink" (the Otsu class of the box farther from the ring's
  median) against a ring of background around the box that lies outside every box.

``image_records`` applies them to one parent; ``summarize`` turns the records of a set of
parents into the figures ``benchmarks/generated_vs_real.py`` prints side by side.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.boxes import Box
from svhn_erase.data.crops import luma

# E[|X| ; |X| <= q] for X ~ N(0, 1) and q its |X| 90 % quantile: sqrt(2/pi) (1 - exp(-q^2/2))
_Q90 = 1.6448536269514722
_TRIMMED_ABS_MEAN = float(np.sqrt(2 / np.pi) * (1 - np.exp(-_Q90 ** 2 / 2)))


def colourfulness(rgb: np.ndarray) -> float:
    """Hasler-Suesstrunk colourfulness of RGB pixels (any shape ending in 3), 0..255 units."""
    px = np.asarray(rgb, np.float64).reshape(-1, 3)
    rg = px[:, 0] - px[:, 1]
    yb = 0.5 * (px[:, 0] + px[:, 1]) - px[:, 2]
    sigma = np.hypot(rg.std(), yb.std())
    mu = np.hypot(rg.mean(), yb.mean())
    return float(sigma + 0.3 * mu)


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a gray image (edges replicated)."""
    lap = cv2.Laplacian(np.asarray(gray, np.float64), cv2.CV_64F, ksize=1,
                        borderType=cv2.BORDER_REPLICATE)
    return float(lap.var())


def noise_sigma(gray: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Gaussian noise level from the one-level Haar transform's diagonal detail ``HH`` (what
    scikit-image's ``estimate_sigma`` looks at), over the 2 x 2 blocks wholly inside ``keep``
    (default: all): the mean |HH| of the 90 % smallest (edges dropped) over its expectation
    for unit Gaussian noise. A mean, not ``estimate_sigma``'s median, so that integer images
    with sub-level noise (|HH| in steps of 0.5) still get a graded figure. NaN without blocks."""
    g = np.asarray(gray, np.float64)
    h, w = (g.shape[0] // 2) * 2, (g.shape[1] // 2) * 2
    g = g[:h, :w]
    hh = np.abs(g[0::2, 0::2] - g[0::2, 1::2] - g[1::2, 0::2] + g[1::2, 1::2]) / 2.0
    if keep is not None:
        k = np.asarray(keep, bool)[:h, :w]
        hh = hh[k[0::2, 0::2] & k[0::2, 1::2] & k[1::2, 0::2] & k[1::2, 1::2]]
    if hh.size == 0:
        return float("nan")
    cut = np.quantile(hh, 0.9)
    return float(hh[hh <= cut].sum() / hh.size / _TRIMMED_ABS_MEAN)


def blockiness(gray: np.ndarray, block: int = 8) -> float:
    """Mean |step| between neighbours across ``block``-pixel block edges over that between
    neighbours inside blocks (both directions); NaN for an image under two blocks wide and high."""
    g = np.asarray(gray, np.float64)
    steps = []
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        if d.shape[1] < 2 * block:
            continue
        edge = (np.arange(d.shape[1]) % block) == block - 1
        steps.append((d[:, edge].mean(), d[:, ~edge].mean()))
    if not steps:
        return float("nan")
    across, inside = np.mean(steps, axis=0)
    return float(across / inside) if inside > 0 else float("nan")


@dataclass(frozen=True)
class Contrast:
    """A digit against its background: luma units 0..255, saturations 0..1."""

    ink_minus_ring: float  # mean luma of the ink minus the ring's median (< 0: dark ink)
    std_ratio: float  # luma std in the box over that in the ring
    ink_saturation: float  # HSV saturation of the ink's mean colour
    ring_saturation: float  # of the ring's mean colour
    ink_share: float  # of the box's pixels (bold type and loose boxes differ)


def _saturation(rgb: np.ndarray) -> float:
    hi, lo = float(np.max(rgb)), float(np.min(rgb))
    return (hi - lo) / hi if hi > 0 else 0.0


def box_rects(boxes: np.ndarray, shape: tuple[int, ...]) -> list:
    """Each box (rows of ``left, top, width, height``) clipped to ``shape``: a ``Rect`` or None."""
    return [Box.of(b).clip(shape) for b in np.asarray(boxes, np.float64).reshape(-1, 4)]


def boxes_mask(boxes: np.ndarray, shape: tuple[int, ...], grow: int = 0) -> np.ndarray:
    """(H, W) bool: the pixels of every box grown by ``grow`` pixels per side."""
    mask = np.zeros(shape[:2], bool)
    for rect in box_rects(boxes, shape):
        if rect is not None:
            mask[rect.grown(grow, shape).slices] = True
    return mask


def digit_contrast(image: np.ndarray, boxes: np.ndarray, j: int,
                   ring: float = 0.25) -> Contrast | None:
    """Box ``j`` of ``boxes`` (rows of ``left, top, width, height``) against a ring around it
    ``ring`` x its height wide (at least 2 px) that lies outside every box; None when the
    box or the ring has fewer than 8 pixels."""
    shape = image.shape[:2]
    rect = box_rects(boxes, shape)[j]
    if rect is None or rect.height * rect.width < 8:
        return None
    gray = luma(image).astype(np.float64)
    width = max(2, int(round(ring * rect.height)))
    zone = np.zeros(shape, bool)
    zone[rect.grown(width, shape).slices] = True
    zone &= ~boxes_mask(boxes, shape)
    if zone.sum() < 8:
        return None
    ring_l = np.median(gray[zone])
    box_l = gray[rect.slices].ravel()
    box_rgb = image[rect.slices].reshape(-1, 3).astype(np.float64)
    t, _ = cv2.threshold(box_l.astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    high = box_l > t
    classes = [c for c in (high, ~high) if c.any()]
    ink = max(classes, key=lambda c: abs(box_l[c].mean() - ring_l))
    ring_std = gray[zone].std()
    return Contrast(ink_minus_ring=float(box_l[ink].mean() - ring_l),
                    std_ratio=float(box_l.std() / max(ring_std, 1.0)),
                    ink_saturation=_saturation(box_rgb[ink].mean(axis=0)),
                    ring_saturation=_saturation(image[zone].astype(np.float64).mean(axis=0)),
                    ink_share=float(ink.mean()))


def image_records(image: np.ndarray, boxes: np.ndarray) -> tuple[dict, list[dict]]:
    """One parent's figures (``image``: (H, W, 3) uint8 RGB; ``boxes``: (k, 4) ``left, top,
    width, height``): a dict for the image and one dict per digit."""
    shape = image.shape[:2]
    gray = luma(image)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    outside = ~boxes_mask(boxes, shape, grow=2)
    x0, y0 = boxes[:, 0].min(), boxes[:, 1].min()
    x1, y1 = (boxes[:, 0] + boxes[:, 2]).max(), (boxes[:, 1] + boxes[:, 3]).max()
    per_image = {"width": shape[1], "height": shape[0], "digits": len(boxes),
                 "number_h_share": (y1 - y0) / shape[0], "number_w_share": (x1 - x0) / shape[1],
                 "colourfulness": colourfulness(image), "noise": noise_sigma(gray, outside),
                 "blockiness": blockiness(gray)}
    order = np.argsort(boxes[:, 0], kind="stable")
    gaps = {int(a): (boxes[b, 0] - boxes[a, 0] - boxes[a, 2]) / boxes[a, 3]
            for a, b in zip(order[:-1], order[1:], strict=True)}
    digits = []
    for j, (_, _, bw, bh) in enumerate(boxes):
        rect = box_rects(boxes, shape)[j]
        row = {"box_h": bh, "aspect": bw / bh, "gap": gaps.get(j, np.nan)}
        crop = gray[rect.slices] if rect is not None else np.zeros((0, 0))
        if crop.size >= 9:
            row["sharpness"] = laplacian_variance(crop)
            row["sharpness_rel"] = row["sharpness"] / max(float(crop.astype(float).var()), 1.0)
        c = digit_contrast(image, boxes, j)
        if c is not None:
            row.update(contrast=abs(c.ink_minus_ring), dark_ink=float(c.ink_minus_ring < 0),
                       std_ratio=c.std_ratio, ink_sat=c.ink_saturation,
                       ring_sat=c.ring_saturation, ink_share=c.ink_share)
        digits.append(row)
    return per_image, digits


# (figure, per "image" or "digit", how it is summarized, format)
FIGURES = [
    ("box_h", "digit", "q", "{:.0f}"), ("aspect", "digit", "q", "{:.2f}"),
    ("gap", "digit", "q", "{:.2f}"), ("digits", "image", "hist", ""),
    ("width", "image", "q", "{:.0f}"), ("height", "image", "q", "{:.0f}"),
    ("number_h_share", "image", "q", "{:.2f}"), ("number_w_share", "image", "q", "{:.2f}"),
    ("contrast", "digit", "q", "{:.0f}"), ("dark_ink", "digit", "mean", "{:.2f}"),
    ("std_ratio", "digit", "q", "{:.2f}"), ("ink_share", "digit", "q", "{:.2f}"),
    ("ink_sat", "digit", "q", "{:.2f}"), ("ring_sat", "digit", "q", "{:.2f}"),
    ("colourfulness", "image", "q", "{:.0f}"),
    ("sharpness", "digit", "q", "{:.0f}"), ("sharpness_rel", "digit", "q", "{:.2f}"),
    ("noise", "image", "q", "{:.2f}"), ("blockiness", "image", "q", "{:.2f}"),
]
QUANTILES = (0.1, 0.5, 0.9)


def summarize(images: list[dict], digits: list[dict]) -> dict[str, str]:
    """One printable cell per figure of ``FIGURES``: 10/50/90 % quantiles ``a/b/c``, a mean,
    or the share of parents with 1, 2, 3, 4+ digits."""
    out = {}
    for name, level, how, fmt in FIGURES:
        rows = images if level == "image" else digits
        values = np.array([r[name] for r in rows if name in r], np.float64)
        values = values[np.isfinite(values)]
        if values.size == 0:
            out[name] = "-"
        elif how == "q":
            out[name] = "/".join(fmt.format(v) for v in np.quantile(values, QUANTILES))
        elif how == "mean":
            out[name] = fmt.format(values.mean())
        else:
            shares = [np.mean(values == k) for k in (1, 2, 3)] + [np.mean(values >= 4)]
            out[name] = "/".join(f"{100 * s:.0f}" for s in shares)
    return out
