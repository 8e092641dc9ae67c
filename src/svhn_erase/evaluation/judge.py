"""The judge: an independent 11-class classifier that says whether a digit is still there.

The removal rate (SPEC §3) is the share of erased digit crops the judge calls "no digit"
(class ``NO_DIGIT``). Crops are cut as in training (``crops.crop_digit``: the clipped box,
gray, 40 x 40, no margin) and run through ``inference.batched_logits``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from svhn_erase.boxes import clip_boxes
from svhn_erase.data.crops import NO_DIGIT, crop_digit, normalize
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet

JUDGE_SIZE = 40
JUDGE_BATCH = 512


def load_judge(path: str | os.PathLike[str], device) -> ConvNet:
    """The judge at ``path`` on ``device``; a user error unless it has 11 classes."""
    from svhn_erase.model.weights import load_classifier

    judge = load_classifier(path, device=device)
    if judge.num_classes != NO_DIGIT + 1:
        raise SvhnEraseError(f"{path}: a judge needs 11 classes (10 digits + 'no digit'), "
                             f"this one has {judge.num_classes}")
    return judge


def judge_crops(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(k', 40, 40) uint8 gray crops of the boxes inside the image, as the judge reads them;
    boxes outside are left out."""
    out = [crop_digit(image, (r.left, r.top, r.width, r.height), size=JUDGE_SIZE, gray=True)
           for r in clip_boxes(boxes, image.shape) if r is not None]
    return np.stack(out) if out else np.zeros((0, JUDGE_SIZE, JUDGE_SIZE), np.uint8)


def no_digit(judge: ConvNet, crops: np.ndarray, batch: int = JUDGE_BATCH) -> np.ndarray:
    """(N,) bool: the judge's arg-max is "no digit" for each uint8 gray crop (N, 40, 40)."""
    crops = np.asarray(crops, np.uint8)
    if len(crops) == 0:
        return np.zeros(0, bool)
    return batched_logits(judge, normalize(crops), batch).argmax(1).numpy() == NO_DIGIT


def no_digit_per_set(judge: ConvNet, crop_sets: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``no_digit`` of several sets of crops in one run of the judge, split back per set."""
    if not crop_sets:
        return []
    flat = no_digit(judge, np.concatenate(crop_sets))
    return np.split(flat, np.cumsum([len(c) for c in crop_sets])[:-1])

