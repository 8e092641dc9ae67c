"""Before / after picture of the images the default method did worst on before issue 14.

Usage::

    python benchmarks/worst_before_after.py --data /work/scratch/s3/data --split heldout \\
        --before-results BEFORE/results.csv --out docs/worst_before_after.png

``--before-results`` is the ``results.csv`` of a ``svhn-erase bench`` run made before the
change (without it, the "before" settings recomputed here rank the split's images); the
``--count`` images with the lowest ``default`` PSNR there are shown, worst first, one row
each: the photo (the number region: its boxes' bounding rectangle plus half its height),
the clean scene, the default method with the settings it had before issue 14
(``BEFORE``: no extension or thinning, no node certainty, no minimum digit share or second
look, seam 0.8, k-means on 500 pixels, 1-px peel of ring means, no odd-node weights) and the
default as it is now, both with the classifier packaged at run time (the old run's may have
been another, and the fill's kernel is now cut at 3 sigma: the recomputed "before" can differ
from the old run's figure). It prints, per image, the old run's PSNR, the PSNR of
the "before" column recomputed here and the PSNR now, and the mean of each.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from past_defaults import PRE_ISSUE
from svhn_erase import atomic_io
from svhn_erase.boxes import bounding_rect
from svhn_erase.data import split
from svhn_erase.evaluation.metrics import psnr_over_boxes
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.default import DefaultMethod

BEFORE = PRE_ISSUE  # the default before issue 14
CELL_W, CELL_H, GAP, HEAD = 170, 80, 4, 16
COLUMNS = ("photo", "clean scene", "default before", "default now")


def _cell(image: np.ndarray, caption: str) -> Image.Image:
    """``image`` fitted into a white cell, centred, with ``caption`` above it."""
    h, w = image.shape[:2]
    scale = min(CELL_W / w, (CELL_H - HEAD) / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    cell = Image.new("RGB", (CELL_W, CELL_H), "white")
    cell.paste(Image.fromarray(image).resize(size, Image.NEAREST),
               ((CELL_W - size[0]) // 2, HEAD + (CELL_H - HEAD - size[1]) // 2))
    ImageDraw.Draw(cell).text((4, 2), caption, fill="black")
    return cell


def _worst(results: Path, count: int) -> list[str]:
    table = pd.read_csv(results)
    rows = table[table["method"] == "default"].sort_values("psnr_box", kind="stable")
    return rows["file"].head(count).tolist(), dict(zip(rows["file"], rows["psnr_box"],
                                                       strict=True))


def _worst_now(path: Path, table: pd.DataFrame, before: DefaultMethod, model,
               count: int) -> tuple[list[str], dict[str, float]]:
    """The ``count`` images the "before" settings do worst on, recomputed on the split."""
    psnr = {}
    for p in split.iter_parents(path, table):
        clean, _ = split.read_groundtruth(path, p.file)
        erased = before.erase([Scene(p.image, p.boxes)], model)[0].image
        psnr[p.file] = psnr_over_boxes(erased, clean, p.boxes)
    files = sorted(psnr, key=lambda f: (psnr[f], f))[:count]
    return files, {f: float("nan") for f in files}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--before-results", type=Path, default=None)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    path = split.split_dir(args.data, args.split)
    table = split.load_table(path)
    model = load_classifier(resolve_weights(args.weights))
    before = DefaultMethod(replace(RemovalConfig(), **BEFORE))
    if args.before_results is not None:
        files, old_psnr = _worst(args.before_results, args.count)
    else:
        files, old_psnr = _worst_now(path, table, before, model, args.count)
    parents = {p.file: p for p in split.iter_parents(path, table[table["file"].isin(files)])}
    now = DefaultMethod(RemovalConfig())
    rows, lines = [], []
    for file in files:
        p = parents[file]
        clean, _ = split.read_groundtruth(path, file)
        scene = [Scene(p.image, p.boxes)]
        erased = [m.erase(scene, model)[0].image for m in (before, now)]
        psnr = [psnr_over_boxes(e, clean, p.boxes) for e in erased]
        rect = bounding_rect(p.boxes, p.image.shape).grown(
            max(4, bounding_rect(p.boxes, p.image.shape).height // 2), p.image.shape)
        images = [p.image, clean, *erased]
        captions = [file, "clean", f"before {psnr[0]:.1f} dB", f"now {psnr[1]:.1f} dB"]
        rows.append([_cell(im[rect.slices], c) for im, c in zip(images, captions, strict=True)])
        lines.append((file, old_psnr[file], *psnr))
    sheet = Image.new("RGB", (len(COLUMNS) * (CELL_W + GAP), len(rows) * (CELL_H + GAP) + HEAD),
                      "white")
    draw = ImageDraw.Draw(sheet)
    for j, name in enumerate(COLUMNS):
        draw.text((j * (CELL_W + GAP) + 4, 2), name, fill="black")
    for i, row in enumerate(rows):
        for j, cell in enumerate(row):
            sheet.paste(cell, (j * (CELL_W + GAP), HEAD + i * (CELL_H + GAP)))
    atomic_io.write_image(args.out, np.asarray(sheet.quantize(256).convert("RGB")))
    print(f"{'file':<10}{'old run':>9}{'before':>9}{'now':>9}")
    for file, old, b, n in lines:
        print(f"{file:<10}{old:>9.2f}{b:>9.2f}{n:>9.2f}")
    means = np.mean([line[1:] for line in lines], 0)
    print(f"{'mean':<10}{means[0]:>9.2f}{means[1]:>9.2f}{means[2]:>9.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
