"""The reader: an independent classifier asked whether an erased box still reads as its digit.

On real photos there is no clean scene to compare with, so removal is judged by reading:
a classifier of another lineage than the one driving removal (``--reader``; the original
real-SVHN checkpoint is a good one; default: the packaged 11-class judge) reads each box.
It reads a box exactly as ``svhn-erase classify`` does (``crops.crop_digit`` of the box as
the split gives it, gray, the reader's own ``image_size``, ``crops.normalize``, a forward
pass through ``inference.batched_logits``), so on untouched photos its verdicts are
``classify``'s. A box is *read* when the arg-max over all the reader's classes is the true
digit; an 11-class reader's "no digit" counts as not read, and probabilities are the softmax
over all its classes, as ``classify`` reports them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from svhn_erase.data.crops import NO_DIGIT, crop_digit, normalize
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet

READ_BATCH = 512


def load_reader(path: str | os.PathLike[str] | None, device) -> tuple[ConvNet, Path]:
    """The reader at ``path`` (a run folder, ``.safetensors`` or original ``.pkl``; None: the
    packaged judge) on ``device``, and its file; a user error unless it has 10 or 11 classes."""
    from svhn_erase.model.weights import load_classifier, resolve_weights

    weights = Path(resolve_weights(path, "judge") if path is None else path)
    reader = load_classifier(weights, device=device)
    if reader.num_classes not in (NO_DIGIT, NO_DIGIT + 1):
        raise SvhnEraseError(f"{weights}: a reader needs 10 or 11 classes, this one has "
                             f"{reader.num_classes}")
    return reader, weights


def reader_crops(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """(k, size, size) uint8 gray crops of ``boxes`` as ``classify`` cuts them."""
    crops = [crop_digit(image, box, size=size, margin=0.0, gray=True) for box in boxes]
    return np.stack(crops) if crops else np.zeros((0, size, size), np.uint8)


def read(reader: ConvNet, crops: np.ndarray, labels: np.ndarray,
         batch: int = READ_BATCH) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(pred, read, prob)`` per crop: the reader's arg-max class, whether it is the true
    digit ``labels`` (0-9), and the softmax probability of that digit."""
    crops, labels = np.asarray(crops, np.uint8), np.asarray(labels, np.int64)
    if len(crops) == 0:
        return np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, np.float64)
    probs = torch.softmax(batched_logits(reader, normalize(crops), batch), dim=1).numpy()
    pred = probs.argmax(1).astype(np.int64)
    return pred, pred == labels, probs[np.arange(len(labels)), labels].astype(np.float64)


def read_sets(reader: ConvNet, crop_sets: Sequence[np.ndarray],
              label_sets: Sequence[np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``read`` of several sets of crops in one run of the reader, split back per set."""
    if not crop_sets:
        return []
    size = reader.image_size
    flat = read(reader, np.concatenate([np.asarray(c).reshape(-1, size, size)
                                        for c in crop_sets]),
                np.concatenate([np.asarray(lb, np.int64) for lb in label_sets]))
    cuts = np.cumsum([len(c) for c in crop_sets])[:-1]
    return list(zip(*(np.split(part, cuts) for part in flat), strict=True))
