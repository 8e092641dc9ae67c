"""Scoring the benchmark: every method's erased images against the ground truth, then per method.

``score_chunk`` scores a chunk of images into two tables: one row per image and method (PSNR
and SSIM over the boxes, seconds) and one row per digit and method (key-pixel precision and
recall, the judge's verdict). ``image_table`` joins them into the per-image table written as
``results.csv``; ``summarize`` reduces them to per-method figures: PSNR and SSIM are means over
images, key pixels and removal means over digits, speed is digits over seconds of the run;
``paired_psnr`` gives each method's PSNR against the first method's, image by image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.boxes import Rect, clip_boxes
from svhn_erase.evaluation import background_kind, metrics
from svhn_erase.evaluation import judge as judging
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods.base import Erased, RemovalMethod

CSV_COLUMNS = ("file", "method", "n_digits", "psnr_box", "ssim_box", "keypix_precision",
               "keypix_recall", "removal_rate", "seconds", "background")
DIGIT_COLUMNS = ("file", "method", "keypix_precision", "keypix_recall", "removed",
                 "background", "psnr_digit")


@dataclass
class Sample:
    """One image with its ground truth: boxes as given (left, top, width, height)."""

    file: str
    image: np.ndarray
    clean: np.ndarray
    digits: np.ndarray  # N_mask.png: value k on the pixels of the k-th digit, 0 elsewhere
    boxes: np.ndarray
    digit_index: np.ndarray  # (k,) position of each box in digitStruct order (mask value - 1)

    @cached_property
    def rects(self) -> list[Rect | None]:
        """Per box, its rectangle inside the image (None: wholly outside)."""
        return clip_boxes(self.boxes, self.image.shape)

    @property
    def n_digits(self) -> int:
        """Boxes with at least one pixel inside the image."""
        return sum(r is not None for r in self.rects)

    @cached_property
    def kinds(self) -> list[str | None]:
        """Per box, the background kind of its clean scene (``background_kind``); None for a
        box wholly outside the image."""
        return [None if r is None else background_kind.kind_of(self.clean, r)
                for r in self.rects]

    @property
    def true_mask(self) -> np.ndarray:
        """(H, W) bool: the true digit pixels inside the boxes."""
        return metrics.true_digit_mask(self.digits, self.boxes)


@dataclass
class Scores:
    """Everything scored so far: per-image rows, per-digit rows and the judge's calibration
    (its verdicts on the original digits and on the clean backgrounds under the boxes)."""

    images: list[dict] = field(default_factory=list)
    digits: list[dict] = field(default_factory=list)
    calibration: dict[str, list[bool]] = field(
        default_factory=lambda: {"original": [], "clean": []})


def _verdicts(judge: ConvNet, chunk: Sequence[Sample], erased: Sequence[dict[str, Erased]]
              ) -> dict[tuple[int, str], np.ndarray]:
    """The judge's "no digit" verdicts per (image, method), plus the ``original`` and
    ``clean`` images of each, in one run of the judge."""
    keys, crop_sets = [], []
    for i, s in enumerate(chunk):
        images = {"original": s.image, "clean": s.clean} | {n: e.image for n, e in
                                                            erased[i].items()}
        for name, image in images.items():
            keys.append((i, name))
            crop_sets.append(judging.judge_crops(image, s.boxes))
    return dict(zip(keys, judging.no_digit_per_set(judge, crop_sets), strict=True))


def _digit_rows(s: Sample, method: str, e: Erased, removed: np.ndarray | None) -> list[dict]:
    """One row per box inside the image: key-pixel scores (key-pixel methods), verdict,
    background kind and the box's own PSNR."""
    rows = []
    inside = [(j, rect) for j, rect in enumerate(s.rects) if rect is not None]
    for n, (j, rect) in enumerate(inside):  # n: the crop's place among the judge's crops
        precision = recall = None
        if e.keypix is not None:
            precision, recall = metrics.keypix_precision_recall(
                e.keypix[j], s.digits[rect.slices], int(s.digit_index[j]) + 1)
        rows.append({"file": s.file, "method": method, "keypix_precision": precision,
                     "keypix_recall": recall,
                     "removed": None if removed is None else bool(removed[n]),
                     "background": s.kinds[j],
                     "psnr_digit": metrics.psnr_over_boxes(e.image, s.clean, s.boxes[j:j + 1])})
    return rows


def score_chunk(scores: Scores, chunk: Sequence[Sample], erased: Sequence[dict[str, Erased]],
                seconds: Sequence[dict[str, float]], judge: ConvNet | None) -> None:
    """Score every method's output on every image of ``chunk`` into ``scores``."""
    verdicts = _verdicts(judge, chunk, erased) if judge is not None else {}
    for i, s in enumerate(chunk):
        for kind, calibration in scores.calibration.items():
            calibration.extend(verdicts.get((i, kind), np.zeros(0, bool)).tolist())
        for method, e in erased[i].items():
            scores.images.append({
                "file": s.file, "method": method, "n_digits": s.n_digits,
                "psnr_box": metrics.psnr_over_boxes(e.image, s.clean, s.boxes),
                "ssim_box": metrics.ssim_over_boxes(e.image, s.clean, s.boxes),
                "seconds": seconds[i][method]})
            scores.digits.extend(_digit_rows(s, method, e, verdicts.get((i, method))))


def _digit_table(scores: Scores) -> pd.DataFrame:
    table = pd.DataFrame(scores.digits, columns=list(DIGIT_COLUMNS))
    return table.astype({"keypix_precision": float, "keypix_recall": float, "removed": float,
                         "psnr_digit": float})


def image_table(scores: Scores) -> pd.DataFrame:
    """One row per image and method (``CSV_COLUMNS``): key-pixel scores and removal rate are
    the means over the image's digits; NaN where there is nothing to measure; ``background``
    the most common background kind of its digits (the first in ``KINDS`` order on a tie)."""
    images = pd.DataFrame(scores.images).astype({"psnr_box": float, "ssim_box": float})
    digits = _digit_table(scores)
    per_image = (digits.groupby(["file", "method"], sort=False)
                 [["keypix_precision", "keypix_recall", "removed"]].mean()
                 .rename(columns={"removed": "removal_rate"}).reset_index())
    kinds = digits.groupby(["file", "method"], sort=False)["background"].agg(_main_kind)
    per_image = per_image.merge(kinds.reset_index(), on=["file", "method"], how="left")
    return images.merge(per_image, on=["file", "method"], how="left")[list(CSV_COLUMNS)]


def _main_kind(kinds: pd.Series) -> str | None:
    """The most common kind in ``kinds`` (``KINDS`` order breaks ties)."""
    counts = kinds.dropna().value_counts()
    if counts.empty:
        return None
    kinds_order = background_kind.KINDS
    return max(kinds_order, key=lambda k: (counts.get(k, 0), -kinds_order.index(k)))


def summarize_by_kind(scores: Scores, methods: Sequence[RemovalMethod]) -> dict[str, dict]:
    """Per method that ran, per background kind with digits: the mean over its digits of the
    box's own PSNR, key-pixel precision and recall, removal rate, and the digit count."""
    digits = _digit_table(scores)
    out: dict[str, dict] = {}
    for method in methods:
        rows = digits[digits["method"] == method.name]
        if rows.empty:
            continue
        out[method.name] = {}
        for kind in background_kind.KINDS:
            part = rows[rows["background"] == kind]
            if part.empty:
                continue
            out[method.name][kind] = {
                "psnr_box": _value(part["psnr_digit"].mean()),
                "keypix_precision": _value(part["keypix_precision"].mean()),
                "keypix_recall": _value(part["keypix_recall"].mean()),
                "removal_rate": _value(part["removed"].mean()), "n_digits": len(part)}
    return out


def _value(x) -> float | None:
    return None if pd.isna(x) else float(x)


def summarize(scores: Scores, methods: Sequence[RemovalMethod]) -> dict[str, dict]:
    """Per method that ran (in ``methods`` order): mean PSNR and SSIM over its images, mean
    key-pixel precision and recall and removal rate over its digits, digits per second (not
    for a reference method), images and digits."""
    images = pd.DataFrame(scores.images).astype({"psnr_box": float, "ssim_box": float})
    by_image = images.groupby("method").agg(
        psnr_box=("psnr_box", "mean"), ssim_box=("ssim_box", "mean"),
        n_images=("file", "size"), n_digits=("n_digits", "sum"), seconds=("seconds", "sum"))
    by_digit = _digit_table(scores).groupby("method").agg(
        keypix_precision=("keypix_precision", "mean"), keypix_recall=("keypix_recall", "mean"),
        removal_rate=("removed", "mean"))
    table = by_image.join(by_digit)
    paired = paired_psnr(images, [m.name for m in methods if m.name in table.index])
    summary = {}
    for method in (m for m in methods if m.name in table.index):
        row = table.loc[method.name]
        timed = not method.reference and row["seconds"] > 0
        summary[method.name] = {
            **{k: _value(row[k]) for k in ("psnr_box", "ssim_box", "keypix_precision",
                                           "keypix_recall", "removal_rate")},
            "digits_per_s": float(row["n_digits"] / row["seconds"]) if timed else None,
            "n_images": int(row["n_images"]), "n_digits": int(row["n_digits"]),
            **paired.get(method.name, {})}
    return summary


def paired_psnr(images: pd.DataFrame, names: Sequence[str]) -> dict[str, dict]:
    """Per method after the first of ``names``: its PSNR less the first's, image by image
    over the images both scored (``psnr_vs_first``), the standard error of that mean
    (``psnr_vs_first_se``) and the images paired (``n_paired``). Paired, so the images'
    own difficulty cancels: a lead of under about two standard errors may be chance."""
    if len(names) < 2:
        return {}
    wide = images.pivot_table(index="file", columns="method", values="psnr_box")
    out = {}
    for name in names[1:]:
        diff = (wide[name] - wide[names[0]]).dropna()
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else float("nan")
        out[name] = {"psnr_vs_first": _value(diff.mean()) if len(diff) else None,
                     "psnr_vs_first_se": _value(se), "n_paired": len(diff)}
    return out


def write_results_csv(path: Path, table: pd.DataFrame) -> None:
    """``results.csv``: the per-image table, floats to 6 significant digits, empty for NaN."""
    atomic_io.write_text(path, table.to_csv(index=False, float_format="%.6g",
                                            lineterminator="\n"))
