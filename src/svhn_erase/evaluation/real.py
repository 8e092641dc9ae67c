"""The benchmark's real-photo mode: removal measured on photos without a digit-free version.

``bench.run_bench`` hands a split without ``groundtruth/`` (real SVHN photos) to ``run_real``,
which runs every chosen method that needs no ground truth on each photo's boxes and measures
what real photos allow:

- **still read**: the share of erased boxes the reader (``reader``: an independent classifier)
  still reads as the true digit, and its mean probability of the true digit. On the untouched
  photos this is exactly ``svhn-erase classify``'s accuracy with the same reader;
- **floor**: the same reader on digit-free boxes of the same photos (the number's boxes moved
  beside it, ``decoys``): what "still read" comes to when no digit is there at all. Photos
  without room for decoys have no floor, so the floor covers fewer digits than a method; each
  method's still read is also given over the floor's own digits (``still_read_floor_digits``:
  the photos with decoys, the digits their decoys were moved from), to compare like with like,
  and over those digits other than 1s (``still_read_not_1``, the floor's too): readers tend
  to call a blank narrow box "1" (the original real-SVHN network reads a uniform gray box as
  "1" with probability 0.5-0.9), so a clean erasure of a 1 is still "read" whatever is left;
- **decoy fidelity**: each method erases those moved boxes as if they held digits; PSNR
  against the untouched photo over them shows what it does to real texture.

Photos without room for decoys count for "still read" only; they are counted in the settings.
Outputs: ``summary.json`` (``methods``, ``floor``, ``settings``), ``results.csv`` (one row per
photo and method, and the floor's), ``digits.csv`` (one row per digit and method: the
reader's class and probability of the true digit) and ``report.html`` (``real_report``, with
galleries: per method its best, median and worst photo by still-read probability, made by
erasing those photos again; every method is deterministic). Nothing is written into the split.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.boxes import clip_boxes, union_mask
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import bench, real_report
from svhn_erase.evaluation.background_kind import KINDS, kind_of
from svhn_erase.evaluation.decoys import GAP, decoy_boxes
from svhn_erase.evaluation.metrics import psnr_over_boxes
from svhn_erase.evaluation.reader import load_reader, read_sets, reader_crops
from svhn_erase.evaluation.selection import chunks
from svhn_erase.evaluation.thumbnails import real_thumbnails
from svhn_erase.model.inference import model_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.paths import make_folder
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene

log = logging.getLogger(__name__)

FLOOR = "floor"  # results.csv / digits.csv rows of the reader on the untouched decoy boxes
IMAGE_COLUMNS = ("file", "method", "n_digits", "still_read", "still_read_prob", "decoy_psnr",
                 "seconds")
DIGIT_COLUMNS = ("file", "digit_index", "label", "method", "pred", "read", "prob", "background")


@dataclass
class Photo:
    """One real photo: its boxes as the split gives them, their labels (0-9) and digitStruct
    positions, and its decoys (None: no room) with the boxes they were moved from."""

    file: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray
    digit_index: np.ndarray
    decoys: np.ndarray | None
    decoy_index: np.ndarray | None  # per decoy, the box (row of ``boxes``) it was moved from

    def kinds(self, decoys: bool = False) -> list[str | None]:
        """Per box (or per decoy), its background kind, classified from the photo outside
        every box and decoy (``background_kind``)."""
        boxes = [b for b in (self.boxes, self.decoys) if b is not None]
        occupied = union_mask(np.concatenate(boxes), self.image.shape)
        rects = clip_boxes(self.decoys if decoys else self.boxes, self.image.shape)
        return [None if r is None else kind_of(self.image, r, occupied) for r in rects]


@dataclass
class RealScores:
    """Per-photo rows (``IMAGE_COLUMNS``) and per-digit rows (``DIGIT_COLUMNS``)."""

    images: list[dict] = field(default_factory=list)
    digits: list[dict] = field(default_factory=list)


def _photos(path: Path, table: pd.DataFrame, files: Sequence[str],
            skipped: list[str]) -> Iterator[Photo]:
    """The photos in table order with their decoys; undecodable ones listed in ``skipped``."""
    seen = set()
    order = {f: g["digit_index"].to_numpy(int) for f, g in table.groupby("file", sort=False)}
    for parent in split_mod.iter_parents(path, table):
        seen.add(parent.file)
        moved = decoy_boxes(parent.boxes, parent.image.shape) or (None, None)
        yield Photo(parent.file, parent.image, parent.boxes, parent.labels,
                    order.get(parent.file, np.arange(len(parent.boxes))), *moved)
    skipped.extend(f"{f}: image does not decode or is missing" for f in files if f not in seen)


# --------------------------------------------------------------------------- erasing


def _erase_decoys(methods: Sequence[RemovalMethod], chunk: list[Photo], model: ConvNet | None,
                  counts: dict[str, int]) -> list[dict[str, Erased]]:
    """Every method on the decoy boxes of the photos it runs on (the first ``counts[name]``
    of ``chunk``), as if they held digits; untimed."""
    with_room = [i for i, p in enumerate(chunk) if p.decoys is not None]
    scenes = [Scene(chunk[i].image, chunk[i].decoys) for i in with_room]
    decoy_counts = {name: sum(i < n for i in with_room) for name, n in counts.items()}
    results, _ = bench.erase_scenes(methods, scenes, [len(chunk[i].decoys) for i in with_room],
                                    model, decoy_counts)
    out: list[dict[str, Erased]] = [{} for _ in chunk]
    for j, i in enumerate(with_room):
        out[i] = results[j]
    return out


def _erase(methods: Sequence[RemovalMethod], chunk: list[Photo], model: ConvNet | None,
           counts: dict[str, int]):
    """Per photo: each method's result on its boxes (timed), on its decoys, and seconds."""
    scenes = [Scene(p.image, p.boxes) for p in chunk]
    erased, seconds = bench.erase_scenes(methods, scenes, [len(p.boxes) for p in chunk], model,
                                         counts)
    return erased, _erase_decoys(methods, chunk, model, counts), seconds


# --------------------------------------------------------------------------- scoring


def _readings(reader: ConvNet, chunk: list[Photo], erased: list[dict[str, Erased]]) -> dict:
    """The reader on every method's result at the boxes, and on the untouched decoys (the
    floor), in one run: ``{(photo, method or FLOOR): (pred, read, prob)}``."""
    keys, crop_sets, label_sets = [], [], []
    size = reader.image_size
    for i, p in enumerate(chunk):
        for name, e in erased[i].items():
            keys.append((i, name))
            crop_sets.append(reader_crops(e.image, p.boxes, size))
            label_sets.append(p.labels)
        if p.decoys is not None:
            keys.append((i, FLOOR))
            crop_sets.append(reader_crops(p.image, p.decoys, size))
            label_sets.append(p.labels[p.decoy_index])
    return dict(zip(keys, read_sets(reader, crop_sets, label_sets), strict=True))


def _rows(scores: RealScores, p: Photo, method: str, reading, digit_index: np.ndarray,
          labels: np.ndarray, decoy_psnr: float | None, seconds: float | None,
          kinds: list[str | None]) -> None:
    pred, ok, prob = reading
    scores.images.append({"file": p.file, "method": method, "n_digits": len(labels),
                          "still_read": float(ok.mean()), "still_read_prob": float(prob.mean()),
                          "decoy_psnr": decoy_psnr, "seconds": seconds})
    scores.digits.extend({"file": p.file, "digit_index": int(j), "label": int(lb),
                          "method": method, "pred": int(pr), "read": bool(r), "prob": float(pb),
                          "background": kind}
                         for j, lb, pr, r, pb, kind in zip(digit_index, labels, pred, ok, prob,
                                                           kinds, strict=True))


def _score_chunk(scores: RealScores, chunk: list[Photo], erased, on_decoys, seconds,
                 reader: ConvNet) -> None:
    readings = _readings(reader, chunk, erased)
    for i, p in enumerate(chunk):
        kinds = p.kinds()
        for name in erased[i]:
            decoy = on_decoys[i].get(name)
            psnr = None if decoy is None else psnr_over_boxes(decoy.image, p.image, p.decoys)
            _rows(scores, p, name, readings[(i, name)], p.digit_index, p.labels, psnr,
                  seconds[i][name], kinds)
        if p.decoys is not None:
            _rows(scores, p, FLOOR, readings[(i, FLOOR)], p.digit_index[p.decoy_index],
                  p.labels[p.decoy_index], None, None, p.kinds(decoys=True))


def _run(photos: Iterator[Photo], methods: Sequence[RemovalMethod], model: ConvNet | None,
         reader: ConvNet, counts: dict[str, int], bar: tqdm) -> RealScores:
    scores = RealScores()
    for n, chunk in enumerate(chunks(photos, bench.CHUNK_IMAGES)):
        if n == 0:  # first calls pay one-time set-up: keep it out of the timing
            bench.erase_scenes(methods, [Scene(chunk[0].image, chunk[0].boxes)], [1], model,
                               counts)
        erased, on_decoys, seconds = _erase(methods, chunk, model, counts)
        counts = {name: max(0, c - len(chunk)) for name, c in counts.items()}
        _score_chunk(scores, chunk, erased, on_decoys, seconds, reader)
        bar.update(len(chunk))
    return scores


# --------------------------------------------------------------------------- summary


def _share_read(digits: pd.DataFrame) -> float | None:
    """The share of ``digits`` read as their true digit (None for none)."""
    return float(digits["read"].mean()) if len(digits) else None


def summarize(scores: RealScores, methods: Sequence[RemovalMethod]) -> tuple[dict, dict]:
    """``(per method, floor)``: still read and the mean probability of the true digit over
    digits, still read over the floor's digits only and over those other than 1s (None
    without a floor), decoy PSNR over the photos with decoys, digits per second (not for a
    reference method), photos and digits; the floor's still read over the decoy boxes (all,
    and other than 1s)."""
    images = pd.DataFrame(scores.images, columns=list(IMAGE_COLUMNS))
    digits = pd.DataFrame(scores.digits, columns=list(DIGIT_COLUMNS))
    images["decoy_psnr"] = images["decoy_psnr"].astype(float)
    floor = digits[digits["method"] == FLOOR]
    floor_keys = pd.MultiIndex.from_frame(floor[["file", "digit_index"]])
    summary = {}
    for method in methods:
        rows = images[images["method"] == method.name]
        read = digits[digits["method"] == method.name]
        if rows.empty:
            continue
        seconds = float(rows["seconds"].sum())
        decoy = rows["decoy_psnr"].dropna()
        like_floor = read[pd.MultiIndex.from_frame(read[["file", "digit_index"]])
                          .isin(floor_keys)]
        summary[method.name] = {
            "still_read": float(read["read"].mean()), "still_read_prob": float(read["prob"].mean()),
            "still_read_floor_digits": _share_read(like_floor),
            "still_read_not_1": _share_read(like_floor[like_floor["label"] != 1]),
            "decoy_psnr": float(decoy.mean()) if len(decoy) else None,
            "digits_per_s": float(len(read) / seconds) if seconds > 0 and not method.reference
            else None,
            "n_images": len(rows), "n_digits": len(read), "n_decoy_images": len(decoy),
            "n_floor_digits": len(like_floor)}
    return summary, {
        "still_read": _share_read(floor),
        "still_read_not_1": _share_read(floor[floor["label"] != 1]),
        "still_read_prob": float(floor["prob"].mean()) if len(floor) else None,
        "n_images": int(floor["file"].nunique()), "n_digits": len(floor)}


def summarize_by_kind(scores: RealScores, methods: Sequence[RemovalMethod]) -> dict[str, dict]:
    """Per method that ran (and the floor, on the decoys' own kinds), per background kind:
    still read, the mean probability of the true digit and the digit count."""
    digits = pd.DataFrame(scores.digits, columns=list(DIGIT_COLUMNS))
    out: dict[str, dict] = {}
    for name in [m.name for m in methods] + [FLOOR]:
        rows = digits[digits["method"] == name]
        kinds = {k: part for k in KINDS if not (part := rows[rows["background"] == k]).empty}
        if kinds:
            out[name] = {k: {"still_read": float(part["read"].mean()),
                             "still_read_prob": float(part["prob"].mean()),
                             "n_digits": len(part)} for k, part in kinds.items()}
    return out


# --------------------------------------------------------------------------- gallery


def gallery_picks(table: pd.DataFrame, methods: Sequence[RemovalMethod]) -> dict[str, list]:
    """Per method that removes something: ``[(label, row)]`` of its best, median and worst
    photo by the mean probability of the true digit (lowest is best)."""
    picks = {}
    for method in (m for m in methods if not m.reference):
        rows = table[table["method"] == method.name]
        if rows.empty:
            continue
        ranked = rows.sort_values("still_read_prob", kind="stable")
        at = {"best": 0, "median": len(ranked) // 2, "worst": len(ranked) - 1}
        picks[method.name] = [(label, ranked.iloc[i]) for label, i in at.items()]
    return picks


def _gallery_thumbs(path: Path, table: pd.DataFrame, results: pd.DataFrame,
                    files: set[str], methods: Sequence[RemovalMethod],
                    model: ConvNet | None) -> dict[str, dict[str, bytes]]:
    """Thumbnails of ``files``: every method that ran on a photo erases it again."""
    thumbs = {}
    for photo in _photos(path, table[table["file"].isin(files)], sorted(files), []):
        ran = set(results.loc[results["file"] == photo.file, "method"])
        chosen = [m for m in methods if m.name in ran]
        once = {m.name: 1 for m in chosen}
        (erased,), on_decoys, _ = _erase(chosen, [photo], model, once)
        thumbs[photo.file] = real_thumbnails(photo.image, photo.boxes, photo.decoys, erased,
                                             on_decoys[0])
    return thumbs


# --------------------------------------------------------------------------- the run


def _settings(run: dict, model: ConvNet, weights: Path, reader: ConvNet, reader_path: Path,
              scores: RealScores, methods: Sequence[RemovalMethod]) -> dict:
    images = pd.DataFrame(scores.images, columns=list(IMAGE_COLUMNS))
    photos = images.loc[images["method"] != FLOOR, "file"].unique()
    with_room = set(images.loc[images["method"] == FLOOR, "file"])
    no_room = [f for f in photos if f not in with_room]
    return {**run, "mode": "real", "weights": str(weights), "net": model.name,
            "reader": str(reader_path), "reader_net": reader.name,
            "reader_classes": reader.num_classes,
            "reader_same_architecture": reader.name == model.name,
            "chunk_images": bench.CHUNK_IMAGES, "decoy_gap": GAP,
            "photos": len(photos), "photos_with_decoys": len(with_room),
            "photos_without_room": len(no_room), "no_room_files": no_room[:50],
            "methods": {m.name: m.settings() for m in methods},
            **bench.environment(model_device(model))}


def run_real(path: Path, table: pd.DataFrame, files: list[str],
             methods: Sequence[RemovalMethod], counts: dict[str, int], model: ConvNet,
             weights: Path, reader: str | os.PathLike[str] | None, out: Path, run: dict,
             progress: bool = True) -> dict:
    """The real-photo benchmark of ``files`` of the split at ``path`` (``table``: their
    digits); writes ``out/summary.json``, ``results.csv``, ``digits.csv`` and ``report.html``
    and returns what ``summary.json`` holds."""
    reader_model, reader_path = load_reader(reader, model_device(model))
    skipped = run["skipped"]
    photos = _photos(path, table, files, skipped)
    with tqdm(total=len(files), unit="img", desc=f"bench {path.name} (real photos)",
              disable=not progress) as bar:
        scores = _run(photos, methods, model, reader_model, counts, bar)
    if not scores.images:
        raise SvhnEraseError(f"{path}: no photo could be benchmarked")
    summary, floor = summarize(scores, methods)
    settings = _settings(run, model, weights, reader_model, reader_path, scores, methods)
    results = pd.DataFrame(scores.images, columns=list(IMAGE_COLUMNS))
    picks = gallery_picks(results, methods)
    picked = {row["file"] for cases in picks.values() for _, row in cases}
    thumbs = _gallery_thumbs(path, table, results, picked, methods, model)
    return _write(out, summary, floor, settings, scores, picks, thumbs,
                  summarize_by_kind(scores, methods))


def _write(out: Path, summary: dict, floor: dict, settings: dict, scores: RealScores,
           picks: dict, thumbs: dict, by_kind: dict) -> dict:
    make_folder(out)
    document = {"methods": bench.rounded(summary), "floor": bench.rounded(floor),
                "by_kind": bench.rounded(by_kind), "settings": bench.rounded(settings)}
    atomic_io.write_json(out / "summary.json", document)
    for name, rows, columns in (("results.csv", scores.images, IMAGE_COLUMNS),
                                ("digits.csv", scores.digits, DIGIT_COLUMNS)):
        table = pd.DataFrame(rows, columns=list(columns))
        atomic_io.write_text(out / name, table.to_csv(index=False, float_format="%.6g",
                                                      lineterminator="\n"))
    atomic_io.write_text(out / "report.html", real_report.render_real_report(
        summary, floor, settings, picks, thumbs, document["by_kind"]))
    return document
