"""Seeded degradation of training crops towards the worst real photos: ``degrade``.

Many of the real digits no network reads are small boxes blown up from a few pixels, or
smeared by motion. ``degrade(x, generator, share)`` turns a random ``share`` of a batch of
normalized crops ``(N, 1, S, S)`` into such crops: each chosen crop is shrunk to a side of
``LOW_RES`` of its own (area averaging) and blown up again (bilinear), and half of them are
also smeared along the rows or the columns by a box kernel of ``SMEAR`` pixels. It runs on
plain or augmented batches alike (``TrainConfig.degrade``), after augmentation and before
mixup; draws come from the epoch's generator, so runs stay reproducible.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOW_RES = (0.3, 0.4, 0.5, 0.6)  # shrunk side as a share of the crop's
SMEAR = (3, 5, 7)  # motion-blur lengths in pixels


def _low_res(x: torch.Tensor, side: int) -> torch.Tensor:
    size = x.shape[-1]
    small = F.interpolate(x, size=(side, side), mode="area")
    return F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)


def _smear(x: torch.Tensor, length: int, rows: bool) -> torch.Tensor:
    kernel = torch.full((1, 1, 1, length) if rows else (1, 1, length, 1), 1.0 / length,
                        device=x.device)
    half = length // 2
    pad = (half, half, 0, 0) if rows else (0, 0, half, half)
    return F.conv2d(F.pad(x, pad, mode="replicate"), kernel)


def degrade(x: torch.Tensor, generator: torch.Generator, share: float) -> torch.Tensor:
    """``x`` with a ``share`` of its crops made low-resolution (and half of those smeared);
    the other crops are returned untouched."""
    n, size = x.shape[0], x.shape[-1]
    draws = torch.rand(n, 4, generator=generator)
    chosen = draws[:, 0] < share
    if not bool(chosen.any()):
        return x
    out = x.clone()
    low = (draws[:, 1] * len(LOW_RES)).long().clamp_(max=len(LOW_RES) - 1)
    smear = (draws[:, 2] * 2 * len(SMEAR)).long().clamp_(max=2 * len(SMEAR) - 1)
    smeared = draws[:, 3] < 0.5
    for i, scale in enumerate(LOW_RES):
        pick = (chosen & (low == i)).nonzero().flatten().to(x.device)
        if len(pick):
            out[pick] = _low_res(out[pick], max(2, round(scale * size)))
    for j in range(2 * len(SMEAR)):
        pick = (chosen & smeared & (smear == j)).nonzero().flatten().to(x.device)
        if len(pick):
            out[pick] = _smear(out[pick], SMEAR[j // 2], rows=j % 2 == 0)
    return out
