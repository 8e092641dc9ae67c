"""The baseline detector: the packaged 11-class judge run over an image pyramid.

The judge reads a 40 x 40 gray crop of a box (aspect not kept) as a digit or "no digit".
Its three conv blocks are translation-equivariant and its linear head over the 5 x 5 x 32
features is a 5 x 5 convolution, so one forward pass over a whole photo scores every
40 x 40 window on a grid of 8 pixels. For each assumed box height (a share of the photo's
height) and aspect (width / height), the photo is resized so that such a box becomes
40 x 40; every window scoring ``1 - P(no digit)`` becomes a box of that size. Boxes of all
scales go through one greedy non-maximum suppression and are grouped into numbers as the
trained detector's are. This is the classifier's own by-product as a detector, measured
against the trained head (``benchmarks/bench_detect.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from svhn_erase.boxes import Box
from svhn_erase.data.crops import NO_DIGIT, luma
from svhn_erase.detection.detect import Detection, group_numbers, nms
from svhn_erase.detection.targets import Peak
from svhn_erase.model.nets import ConvNet

HEIGHTS = (0.9, 0.75, 0.6, 0.5, 0.4, 0.3)  # box height as a share of the photo's height
ASPECTS = (0.45,)  # box width / height (SVHN's median is about 0.48)
CELL = 8  # the judge's three 2 x 2 poolings


class PyramidDetector:
    """``detect`` as ``Detector.detect``, from the 11-class judge over a pyramid."""

    def __init__(self, judge: ConvNet, min_score: float = 0.5, nms_iou: float = 0.3,
                 heights: Sequence[float] = HEIGHTS, aspects: Sequence[float] = ASPECTS) -> None:
        if judge.num_classes != NO_DIGIT + 1 or judge.fc1.in_features != 800:
            raise ValueError("the pyramid needs an 11-class judge with a linear head")
        if getattr(judge, "input_norm", "global") != "global":
            raise ValueError("the pyramid slides the judge over whole photos and cannot "
                             "standardize each window: it needs a judge with input_norm "
                             "'global'")
        self.judge = judge.eval()
        self.min_score, self.nms_iou = min_score, nms_iou
        self.heights, self.aspects = tuple(heights), tuple(aspects)
        size = judge.image_size // CELL
        self.kernel = judge.fc1.weight.detach().reshape(NO_DIGIT + 1, -1, size, size)
        self.bias = judge.fc1.bias.detach()

    @torch.no_grad()
    def _scores(self, gray: np.ndarray) -> torch.Tensor:
        """(11, rows, cols) class probabilities of the windows of a gray image."""
        x = torch.from_numpy(gray).float().div(127.5).sub(1.0)[None, None]
        for block in (self.judge.layer1, self.judge.layer2, self.judge.layer3):
            x = block(x)
        return torch.softmax(F.conv2d(x, self.kernel, self.bias), dim=1)[0]

    def _peaks(self, gray: np.ndarray, box_h: float, aspect: float) -> list[Peak]:
        h, w = gray.shape
        size = self.judge.image_size
        rx, ry = size / (aspect * box_h), size / box_h
        resized = cv2.resize(gray, (max(size, round(w * rx)), max(size, round(h * ry))),
                             interpolation=cv2.INTER_LINEAR)
        probs = self._scores(resized)
        score = 1.0 - probs[NO_DIGIT]
        label = probs[:NO_DIGIT].argmax(0)
        rows, cols = torch.nonzero(score >= min(self.min_score, 0.05), as_tuple=True)
        return [Peak((CELL * c / rx, CELL * r / ry, size / rx, size / ry), int(label[r, c]),
                     float(score[r, c]), float(probs[label[r, c], r, c]))
                for r, c in zip(rows.tolist(), cols.tolist(), strict=True)]

    def detect(self, images: Sequence[np.ndarray], min_score: float | None = None
               ) -> list[list[Detection]]:
        threshold = self.min_score if min_score is None else float(min_score)
        out = []
        for image in images:
            gray = luma(image)
            peaks = [p for f in self.heights for a in self.aspects
                     for p in self._peaks(gray, f * gray.shape[0], a) if p.score >= threshold]
            kept = nms(peaks, self.nms_iou)
            numbers = group_numbers(np.array([p.box for p in kept]))
            dets = [Detection(Box.of(p.box), p.label, p.score, int(n))
                    for p, n in zip(kept, numbers, strict=True)]
            out.append(sorted(dets, key=lambda d: (d.number, d.box.left)))
        return out
