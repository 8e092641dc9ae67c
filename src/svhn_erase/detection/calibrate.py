"""Calibrate a trained detector without retraining it: box widths, settings, other numbers.

The detector's boxes come out a little narrower than SVHN's official ones (whose widths are
drawn loosely around a digit): on a narrow digit a few pixels decide whether IoU reaches
0.5. ``width_scale`` measures the median ratio official width / found width of the boxes
matched at IoU >= 0.5 on the TRAINING photos; ``calibrate`` stores it in the detector's
settings (``DetectSettings.width_scale``, applied to every box after NMS), then tunes the
score threshold, zoom and NMS overlap again on the tuning photos (``train.tune_threshold``).
``tune_other`` then picks the score that the digits outside a photo's main number need
(``DetectSettings.other_min_score``, ``detect.main_number``; a Format 1 photo shows one
number). ``train-detector`` runs this after training; ``calibrate-detector``
(``run_calibration``) runs it on existing weights, on CUDA when present (``--cpu``: the CPU;
the record names the device).

Measured on the previous packaged single network (now the packaged ensemble's first member;
photos 1-1400 measure the scale, 1401-1600 tune): the
scale is 1.025 and F1 at IoU >= 0.5 on the tuning photos goes from 0.906 (P 0.893 / R
0.919) to 0.913 (P 0.900 / R 0.926); other numbers needing 0.6 then give 0.921 (P 0.916 /
R 0.926). Tried and not kept (no better on 1401-1600): a scale
per digit or per digit and box aspect (the same F1), the 11-class judge's "no digit"
probability as a filter or folded into the score (F1 +0.001 with lower precision, worse on
the training photos), the judge choosing each box's width among 0.6-1.75x (+0.000 to
+0.007, depending on the rule picked), dropping a box covering two others (+0.001).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from svhn_erase.detection.dataset import Photo
from svhn_erase.detection.detect import Detector, with_settings
from svhn_erase.errors import SvhnEraseError

OTHER_SCORES = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # 0: off; 1.0: the main number only


def width_scale(detector: Detector, photos: list[Photo]) -> tuple[float, int]:
    """The median official / found width of the detector's boxes (without any width scale)
    matched at IoU >= 0.5 to the official boxes of ``photos``, rounded to 0.001, and the
    number of matched pairs it comes from (1.0 when none matched)."""
    from svhn_erase.detection.evaluate import match

    plain = with_settings(detector, width_scale=1.0)
    found = plain.detect([p.image for p in photos], every_number=True)
    ratios: list[float] = []
    for photo, dets in zip(photos, found, strict=True):
        for i, j in match(dets, photo.boxes):
            ratios.append(float(photo.boxes[j][2]) / max(dets[i].box.width, 1e-9))
    return (round(float(np.median(ratios)), 3) if ratios else 1.0), len(ratios)


def tune_other(detector: Detector, photos: list[Photo], criterion: str = "f1"
               ) -> tuple[Detector, list[dict]]:
    """The detector with the ``other_min_score`` (``OTHER_SCORES``) best at IoU >= 0.5 on
    ``photos`` by ``criterion`` (``train.best_row``; ties: the lowest, which keeps the most),
    and the scores of each."""
    from svhn_erase.detection.evaluate import main_number_scores
    from svhn_erase.detection.train import best_row

    found = detector.detect([p.image for p in photos], every_number=True)
    rows = [{"other_min_score": other, **main_number_scores(found, photos, other)}
            for other in OTHER_SCORES]
    best = best_row(rows, criterion)
    return with_settings(detector, other_min_score=best["other_min_score"]), rows


def calibrate(detector: Detector, train: list[Photo], tune: list[Photo], criterion: str = "f1"
              ) -> tuple[Detector, dict]:
    """The detector with its width scale measured on ``train``, its threshold, zoom and
    NMS overlap tuned again on ``tune``, then its ``other_min_score`` (both best by
    ``criterion``, ``train.CRITERIA``); the record (with the device it ran on)."""
    from svhn_erase.detection.train import tune_threshold

    scale, pairs = width_scale(detector, train)
    detector, rows = tune_threshold(with_settings(detector, width_scale=scale), tune, criterion)
    detector, others = tune_other(detector, tune, criterion)
    s = detector.settings
    best = next(r for r in others if r["other_min_score"] == s.other_min_score)
    return detector, {"device": str(detector.device), "width_scale": scale,
                      "width_pairs": pairs,
                      "tune": {"criterion": criterion, "zoom": s.zoom, "nms_iou": s.nms_iou,
                               "min_score": s.min_score,
                               **{k: round(v, 4) for k, v in best.items()}},
                      "other_min_scores": [{k: round(v, 4) for k, v in r.items()}
                                           for r in others]}


def check_request(out: str | os.PathLike[str], real_files: str, tune_files: str) -> None:
    """Refuse, before any work, an output that is not a writable ``.safetensors`` path or
    tuning photos that overlap the training ones."""
    from svhn_erase.atomic_io import check_writable
    from svhn_erase.detection.train import check_tuning_split

    check_writable(out)
    if Path(out).suffix != ".safetensors":
        raise SvhnEraseError(f"{out}: detector weights are written as .safetensors")
    check_tuning_split(real_files, tune_files)


def calibrate_on(detector: Detector, real_dir: Path, real_files: str, tune_files: str,
                 criterion: str, progress: bool, tune_first: bool = False
                 ) -> tuple[Detector, dict]:
    """``calibrate`` on the photos ``real_files`` (width scale) and ``tune_files`` (settings)
    of ``real_dir``, after tuning the settings once on ``tune_files`` when ``tune_first`` (as
    ``train-detector`` does for new networks); the record names the photos."""
    from svhn_erase.detection.dataset import load_photos
    from svhn_erase.detection.train import tune_threshold

    train = load_photos(real_dir, real_files, progress)
    tune = load_photos(real_dir, tune_files, progress)
    if tune_first:
        detector, _ = tune_threshold(detector, tune, criterion)
    detector, record = calibrate(detector, train, tune, criterion)
    record.update({"width_files": real_files, "tune_files": tune_files})
    return detector, record


def run_calibration(weights: Path | None, real_dir: Path, real_files: str, tune_files: str,
                    out: str | os.PathLike[str], progress: bool = True,
                    criterion: str = "f1", device: str | torch.device | None = None) -> dict:
    """``calibrate-detector``: calibrate ``weights`` (None: the packaged detector) on
    ``device`` (default: CUDA when present) on the photos of ``real_dir`` (settings best by
    ``criterion``) and write them to ``out`` with their metadata updated."""
    from svhn_erase.detection.detect import PACKAGED, load_detector, read_metadata, save_detector

    check_request(out, real_files, tune_files)
    meta = read_metadata(weights if weights is not None else PACKAGED)
    detector = load_detector(weights, device=device)
    detector, record = calibrate_on(detector, real_dir, real_files, tune_files, criterion,
                                    progress)
    extra = {k: v for k, v in meta.items() if k not in ("kind", "net", "detect")}
    extra.update({"tune": record["tune"], "calibrate": record})
    save_detector(detector, out, extra)
    return record
