"""Fixed box-jitter views of a digit and the class probabilities averaged over them.

Real SVHN boxes are loose and uneven, so a classifier reads a digit more reliably when it
looks at it through a few slightly moved and rescaled boxes and averages its answers
(test-time augmentation). ``VIEWS`` are those boxes: three scales (0.9, 1, 1.1 of the box)
times the box and four shifts of 5 % of its size (left, right, up, down), 15 in all. Each
view is cut out of the context crop that ``augment`` trains on (the box with
``augment.CONTEXT_MARGIN`` of context per side), with the same bilinear ``grid_sample``, so
the network sees what augmented training showed it.

``view_probs`` is the one place that does it: ``classify --tta`` reports it (apart from the
plain figure, which reads each box once), and the distillation teacher of a training run
(``TrainConfig.teacher``) gives its averaged probabilities as soft labels.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from tqdm import tqdm

from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.train.augment import box_fraction

SCALES = (0.9, 1.0, 1.1)
SHIFTS = ((0.0, 0.0), (-0.05, 0.0), (0.05, 0.0), (0.0, -0.05), (0.0, 0.05))
VIEWS: tuple[tuple[float, float, float], ...] = tuple(
    (scale, dx, dy) for scale, (dx, dy) in itertools.product(SCALES, SHIFTS))


def view_crops(context: torch.Tensor, view: tuple[float, float, float], size: int,
               margin: float = 0.0) -> torch.Tensor:
    """One view ``(scale, dx, dy)`` (shifts as fractions of the box) of normalized context
    crops ``(N, 1, S, S)`` cut with ``augment.context_margin(margin)``: ``(N, 1, size,
    size)``. The view (1, 0, 0) is the box grown by ``margin``."""
    scale, dx, dy = view
    frac = box_fraction(margin)
    n = context.shape[0]
    theta = torch.tensor([[scale * frac, 0.0, 2 * frac * dx],
                          [0.0, scale * frac, 2 * frac * dy]]).expand(n, 2, 3)
    grid = F.affine_grid(theta.to(context.device), [n, 1, size, size], align_corners=False)
    return F.grid_sample(context.float(), grid, mode="bilinear", padding_mode="border",
                         align_corners=False)


def plain_probs(models: list[ConvNet], crops: torch.Tensor,
                temperature: float = 1.0) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` of normalized plain crops, averaged over
    ``models`` (CPU float32); the logits are divided by ``temperature`` first."""
    return sum((batched_logits(m, crops) / temperature).softmax(1)
               for m in models) / len(models)


@torch.no_grad()
def view_probs(models: list[ConvNet], context: torch.Tensor, size: int, margin: float = 0.0,
               views: tuple[tuple[float, float, float], ...] = VIEWS, batch: int = 2048,
               progress: bool = False, fast: bool = True,
               temperature: float = 1.0) -> torch.Tensor:
    """Softmax probabilities ``(N, classes)`` averaged over ``views`` and ``models`` of
    normalized context crops, ``batch`` crops at a time (CPU float32). ``fast``: the
    removal pipeline's forward (``inference.class_scores``: the same classes, less than half
    the time on a CPU); off, the plain forward, equal up to float rounding. The logits are
    divided by ``temperature`` before the softmax (distillation's soft labels)."""
    out = []
    for start in tqdm(range(0, len(context), batch), desc="teacher views", unit="batch",
                      leave=False, disable=None if progress else True):
        chunk = context[start:start + batch]
        total = None
        for view in views:
            x = view_crops(chunk, view, size, margin)
            for model in models:
                logits = batched_logits(model, x, batch=len(x), fast=fast)
                p = (logits / temperature).softmax(1)
                total = p if total is None else total + p
        out.append(total / (len(views) * len(models)))
    if not out:
        return torch.zeros((0, models[0].num_classes))
    return torch.cat(out)
