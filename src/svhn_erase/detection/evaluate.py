"""How well a detector finds digits: precision and recall at IoU >= 0.5, per number, speed.

``match`` pairs detections with true boxes greedily, best score first, each true box taken
at most once, a pair counting when its IoU is at least 0.5 (whatever the labels).
``score_detections`` sums that over photos: per-digit precision, recall and F1; per-number
recall (photos whose every true digit was found; a Format 1 photo shows one number); the
share of found digits whose label is right; and the share of photos read exactly (every
digit found with its right label, nothing else found). ``evaluate`` times a detector on
photos (images per second, reading excluded) and scores it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from svhn_erase.detection.dataset import Photo
from svhn_erase.detection.detect import Detection, iou

IOU_MIN = 0.5


def match(found: Sequence[Detection], truth: np.ndarray, iou_min: float = IOU_MIN
          ) -> list[tuple[int, int]]:
    """(detection index, true box index) pairs: greedy by score, IoU >= ``iou_min``."""
    truth = np.asarray(truth, float).reshape(-1, 4)
    if not found or not len(truth):
        return []
    overlap = iou(np.array([[d.box.left, d.box.top, d.box.width, d.box.height] for d in found]),
                  truth)
    taken: set[int] = set()
    pairs = []
    for i in sorted(range(len(found)), key=lambda i: -found[i].score):
        for j in np.argsort(-overlap[i], kind="stable"):
            if overlap[i, j] < iou_min:
                break
            if int(j) not in taken:
                taken.add(int(j))
                pairs.append((i, int(j)))
                break
    return pairs


def score_detections(found: Sequence[Sequence[Detection]], truth: Sequence[np.ndarray],
                     labels: Sequence[np.ndarray] | None = None) -> dict:
    """Per-digit and per-number scores of the detections of several photos (see module)."""
    tp = n_found = n_true = whole = right = exact = 0
    for i, (dets, boxes) in enumerate(zip(found, truth, strict=True)):
        pairs = match(dets, boxes)
        k = len(np.asarray(boxes).reshape(-1, 4))
        tp, n_found, n_true = tp + len(pairs), n_found + len(dets), n_true + k
        whole += len(pairs) == k
        if labels is not None:
            ok = sum(dets[a].label == int(labels[i][b]) for a, b in pairs)
            right += ok
            exact += ok == k == len(dets)
    precision = tp / n_found if n_found else 1.0
    recall = tp / n_true if n_true else 1.0
    out = {"photos": len(truth), "digits": n_true, "found": n_found, "matched": tp,
           "precision": precision, "recall": recall,
           "f1": 2 * precision * recall / (precision + recall) if tp else 0.0,
           "number_recall": whole / len(truth) if len(truth) else 1.0}
    if labels is not None:
        out["label_accuracy"] = right / tp if tp else 0.0
        out["exact_read"] = exact / len(truth) if len(truth) else 1.0
    return out


def main_number_scores(found: Sequence[Sequence[Detection]], photos: list[Photo],
                       other_min_score: float) -> dict:
    """Precision, recall and F1 of detections once ``detect.main_number`` has kept the main
    number's and the other numbers' digits scoring at least ``other_min_score``."""
    from svhn_erase.detection.detect import main_number

    kept = [main_number(list(d), other_min_score) if other_min_score > 0 else d for d in found]
    s = score_detections(kept, [p.boxes for p in photos])
    return {k: s[k] for k in ("precision", "recall", "f1")}


def evaluate(detect: Callable[[list[np.ndarray]], list[list[Detection]]],
             photos: list[Photo], batch: int = 32) -> tuple[dict, list[list[Detection]]]:
    """Score ``detect`` (photos -> detections) on ``photos``, with its images per second
    (the detector's work alone, in batches of ``batch``); also returns the detections."""
    found: list[list[Detection]] = []
    start = time.perf_counter()
    for i in range(0, len(photos), batch):
        found.extend(detect([p.image for p in photos[i:i + batch]]))
    seconds = time.perf_counter() - start
    scores = score_detections(found, [p.boxes for p in photos], [p.labels for p in photos])
    scores["seconds"] = seconds
    scores["images_per_s"] = len(photos) / seconds if seconds else 0.0
    return scores, found
