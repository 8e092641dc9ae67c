"""Crop for crop: the package's ``seed`` method against the plain reference of the original.

Usage::

    python benchmarks/seed_fidelity.py [--data ../ref/data] [--split eval] [--weights W]
        [--limit N] [--workers 2]

Every digit box of the split's first ``--limit`` images (default: all) is erased on its own
(one scene per box, so that overlapping boxes do not paste over each other) by the package's
``seed`` method, batched as ``svhn-erase erase`` runs it, and by ``tests/seed_reference.py``
(one crop at a time, in a pool of ``--workers`` processes). The table counts the crops whose
key pixels (the quiet mask) differ and those whose filled crop differs by more than one grey
level anywhere, and gives the mean PSNR of the filled box against the ground truth
(``groundtruth/N_clean.png``, where the split has it) for both, and their times (the
reference is the baseline of the ratio). ``--weights`` defaults to the original checkpoint
``shared/reference/original-ConvNet48_Dropout3.pkl`` when it is at hand.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import torch

from svhn_erase.boxes import clip_boxes
from svhn_erase.data import split
from svhn_erase.evaluation.metrics import psnr_over_boxes
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods import Scene, create

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import seed_reference  # noqa: E402

ORIGINAL = ROOT.parent / "shared/reference/original-ConvNet48_Dropout3.pkl"
CHUNK = 64  # scenes per call of the method, as ``svhn-erase erase`` batches images

_CONV: torch.nn.Conv2d | None = None


def _init_worker(weights: str) -> None:
    global _CONV
    torch.set_num_threads(1)
    _CONV = load_classifier(weights).layer1[0]


def _reference(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The reference's (quiet mask, pattern, filled crop, CPU seconds) of one crop."""
    start = time.process_time()
    quiet, pattern = seed_reference.reference_key_pixels(_CONV, crop)
    filled = seed_reference.reference_fill(crop, pattern)
    return quiet, pattern, filled, time.process_time() - start


def _crops(path: Path, limit: int | None) -> list[tuple[Scene, np.ndarray | None]]:
    """One single-box scene per digit box, with its clean crop (None without ground truth)."""
    out = []
    for parent in split.iter_parents(path, limit=limit):
        clean = None
        if (path / "groundtruth").is_dir():
            clean, _ = split.read_groundtruth(path, parent.file)
        for box, rect in zip(parent.boxes, clip_boxes(parent.boxes, parent.image.shape),
                             strict=True):
            if rect is not None:
                out.append((Scene(parent.image, box[None]),
                            None if clean is None else clean[rect.slices]))
    return out


def _package(scenes: list[Scene], weights: Path) -> tuple[list, list, float, float]:
    """The seed method's (quiet masks, filled crops, wall and CPU seconds) for single-box
    scenes."""
    model = load_classifier(weights)
    method = create("seed")
    quiet, filled, seconds, cpu = [], [], 0.0, 0.0
    for s in range(0, len(scenes), CHUNK):
        chunk = scenes[s:s + CHUNK]
        start, start_cpu = time.perf_counter(), time.process_time()
        results = method.erase(chunk, model)
        seconds += time.perf_counter() - start
        cpu += time.process_time() - start_cpu
        for scene, result in zip(chunk, results, strict=True):
            (rect,) = clip_boxes(scene.boxes, scene.image.shape)
            quiet.append(result.keypix[0])
            filled.append(result.image[rect.slices])
    return quiet, filled, seconds, cpu


def _psnr(filled: np.ndarray, clean: np.ndarray | None) -> float:
    if clean is None:
        return float("nan")
    h, w = filled.shape[:2]
    return float(psnr_over_boxes(filled, clean, np.array([[0, 0, w, h]])))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "ref/data")
    p.add_argument("--split", default="eval")
    p.add_argument("--weights", type=Path, default=ORIGINAL if ORIGINAL.is_file() else None)
    p.add_argument("--limit", type=int, default=None, help="the first N images only")
    p.add_argument("--workers", type=int, default=2, help="processes for the reference")
    args = p.parse_args()
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    weights = resolve_weights(args.weights)
    items = _crops(split.split_dir(args.data, args.split), args.limit)
    scenes = [s for s, _ in items]
    quiet, filled, t_pkg, cpu_pkg = _package(scenes, weights)
    crops = [s.image[clip_boxes(s.boxes, s.image.shape)[0].slices] for s in scenes]
    start = time.perf_counter()
    with Pool(args.workers, initializer=_init_worker, initargs=(str(weights),)) as pool:
        ref = pool.map(_reference, crops, chunksize=4)
    t_ref = time.perf_counter() - start
    cpu_ref = sum(r[3] for r in ref)
    key_diff = sum(not np.array_equal(q, r[0]) for q, r in zip(quiet, ref, strict=True))
    diffs = [int(np.abs(f.astype(int) - r[2].astype(int)).max())
             for f, r in zip(filled, ref, strict=True)]
    white = [bool((c[r[1]] == 255).any()) for c, r in zip(crops, ref, strict=True)]
    psnr_pkg = np.nanmean([_psnr(f, c) for f, (_, c) in zip(filled, items, strict=True)])
    psnr_ref = np.nanmean([_psnr(r[2], c) for r, (_, c) in zip(ref, items, strict=True)])
    print(f"split {args.data / args.split}, {args.limit or 'all'} images, weights {weights}")
    print(f"{'crops':>6} {'key px differ':>14} {'fill > 1 grey':>14} {'max diff':>9} "
          f"{'PSNR pkg':>9} {'PSNR ref':>9} {'pkg s':>7} {'ref s':>7} {'pkg cpu':>8} "
          f"{'ref cpu':>8} {'cpu x':>6}")
    print(f"{len(crops):>6} {key_diff:>14} {sum(d > 1 for d in diffs):>14} {max(diffs):>9} "
          f"{psnr_pkg:>9.2f} {psnr_ref:>9.2f} {t_pkg:>7.1f} {t_ref:>7.1f} {cpu_pkg:>8.1f} "
          f"{cpu_ref:>8.1f} {cpu_ref / max(cpu_pkg, 1e-9):>6.2f}")
    print("(s: wall seconds; cpu: CPU seconds, the reference's summed over its workers; "
          "cpu x: reference CPU / package CPU)")
    print(f"crops with a 255 channel at a key pixel: {sum(white)} (where the original's first "
          "Adagrad steps follow float rounding)")
    worst = np.argsort(diffs)[::-1][:5]
    print("largest differences (crop index: grey levels, 255 at a key pixel): "
          + ", ".join(f"{i}: {diffs[i]} {'yes' if white[i] else 'no'}" for i in worst))


if __name__ == "__main__":
    main()
