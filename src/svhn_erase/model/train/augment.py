"""Augmentation of digit crops for training, on the fly, seeded: ``Augmenter``.

Real SVHN boxes are loose and uneven, real photos vary in contrast and sharpness. With
augmentation the training crops are cut with context around the box (``CONTEXT_MARGIN`` of
the box per side, at ``context_size(size)`` pixels); each batch then takes, per crop, a
randomly shifted, scaled and slightly rotated box out of that context (one affine
``grid_sample``, bilinear) at the network's ``size``, and jitters its contrast and brightness
and sometimes blurs it. Everything is drawn from a ``torch.Generator`` seeded per epoch, so
a run is reproducible. Without augmentation none of this runs and training sees the plain
crops of the original preprocessing.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

CONTEXT_MARGIN = 0.25  # context cut around each box, as a fraction of its size per side
SHIFT = 0.10  # box centre moves by up to this fraction of the box size
SCALE = 0.15  # box width and height scale independently by up to +-15 %
ROTATE = 8.0  # degrees
CONTRAST = 0.35  # contrast factor in 1 +- 0.35
BRIGHTNESS = 0.2  # added in the normalized [-1, 1] range
BLUR_P = 0.3  # share of crops blurred with a 3 x 3 Gaussian (sigma ~0.8)


def box_fraction(margin: float) -> float:
    """Share of a context crop's side taken by the crop the network sees (the box grown by
    ``margin``), when the context crop is cut with ``context_margin(margin)``."""
    return (1 + 2 * margin) / (1 + 2 * context_margin(margin))


def context_margin(margin: float) -> float:
    """The margin to cut context crops with: ``margin`` plus ``CONTEXT_MARGIN``."""
    return margin + CONTEXT_MARGIN


def context_size(size: int, margin: float = 0.0) -> int:
    """Pixels of the context crop that holds a ``size`` crop with its context."""
    return int(round(size / box_fraction(margin)))


class Augmenter:
    """Calls ``augmenter(x, generator)``: context crops ``(N, 1, S, S)`` (normalized, with
    ``context_margin(margin)``) to augmented ``(N, 1, size, size)`` crops on ``x``'s device."""

    def __init__(self, size: int, margin: float = 0.0) -> None:
        self.size = size
        self.box_fraction = box_fraction(margin)
        blur = torch.tensor([0.25, 0.5, 0.25])
        self.blur_kernel = (blur[:, None] * blur[None, :]).view(1, 1, 3, 3)

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        u = torch.rand(n, 7, generator=generator).mul_(2).sub_(1)  # uniform in [-1, 1]
        sx = self.box_fraction * (1 + SCALE * u[:, 0])
        sy = self.box_fraction * (1 + SCALE * u[:, 1])
        angle = u[:, 2] * math.radians(ROTATE)
        tx, ty = 2 * self.box_fraction * SHIFT * u[:, 3], 2 * self.box_fraction * SHIFT * u[:, 4]
        cos, sin = torch.cos(angle), torch.sin(angle)
        theta = torch.stack([torch.stack([sx * cos, -sy * sin, tx], 1),
                             torch.stack([sx * sin, sy * cos, ty], 1)], 1)
        blur = torch.rand(n, generator=generator) < BLUR_P
        theta, u, blur = theta.to(x.device), u.to(x.device), blur.to(x.device)
        grid = F.affine_grid(theta, [n, 1, self.size, self.size], align_corners=False)
        out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border",
                            align_corners=False)
        if bool(blur.any()):
            blurred = F.conv2d(F.pad(out, (1, 1, 1, 1), mode="replicate"),
                               self.blur_kernel.to(out.device))
            out = torch.where(blur.view(n, 1, 1, 1), blurred, out)
        contrast = (1 + CONTRAST * u[:, 5]).view(n, 1, 1, 1)
        bright = (BRIGHTNESS * u[:, 6]).view(n, 1, 1, 1)
        mean = out.mean(dim=(2, 3), keepdim=True)
        return ((out - mean) * contrast + mean + bright).clamp_(-1, 1)
