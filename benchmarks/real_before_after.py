"""A before / after figure of real photos: the number region, erased by a few methods.

Usage::

    python benchmarks/real_before_after.py --data ../shared/real-svhn --split train \\
        --files 1601-1606 --out docs/real_before_after.png [--methods default telea_box]

One row per photo (the photos of ``--files`` in order, none picked by hand), one column per
method after the original: the region around the number (its boxes' bounding rectangle
plus half its height), erased as ``svhn-erase bench`` erases it. The PNG is reduced to a
256-colour palette so that it stays small; it holds derived images only. It also prints a
speed table (digits per second per method on these photos, ratio against the first
baseline) measured in the same run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from svhn_erase import atomic_io
from svhn_erase.boxes import bounding_rect
from svhn_erase.data import split
from svhn_erase.evaluation.selection import select_files
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods import Scene, create

CELL_W, CELL_H, GAP, HEAD = 180, 84, 4, 16


def _cell(image: np.ndarray) -> Image.Image:
    """``image`` fitted into a white cell, centred."""
    h, w = image.shape[:2]
    scale = min(CELL_W / w, CELL_H / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    cell = Image.new("RGB", (CELL_W, CELL_H), "white")
    cell.paste(Image.fromarray(image).resize(size, Image.BICUBIC),
               ((CELL_W - size[0]) // 2, (CELL_H - size[1]) // 2))
    return cell


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--files", default="1601-1606")
    parser.add_argument("--methods", nargs="+", default=["default", "telea_box"])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    path = split.split_dir(args.data, args.split)
    table = split.load_table(path)
    files = select_files(list(dict.fromkeys(table["file"])), args.files)
    parents = list(split.iter_parents(path, table[table["file"].isin(set(files))]))
    model = load_classifier(resolve_weights(args.weights))
    scenes = [Scene(p.image, p.boxes) for p in parents]
    columns, speed = {"original": [p.image for p in parents]}, {}
    for name in args.methods:
        start = time.perf_counter()
        columns[name] = [e.image for e in create(name).erase(scenes, model)]
        speed[name] = sum(len(p.boxes) for p in parents) / (time.perf_counter() - start)
    sheet = Image.new("RGB", (len(columns) * (CELL_W + GAP), HEAD + len(parents) *
                              (CELL_H + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, (title, images) in enumerate(columns.items()):
        draw.text((c * (CELL_W + GAP) + 4, 2), title, fill=(0, 0, 0))
        for r, (parent, image) in enumerate(zip(parents, images, strict=True)):
            rect = bounding_rect(parent.boxes, image.shape)
            rect = rect.grown(max(4, rect.height // 2), image.shape)
            sheet.paste(_cell(image[rect.slices]), (c * (CELL_W + GAP),
                                                    HEAD + r * (CELL_H + GAP)))
    small = sheet.quantize(256, method=Image.Quantize.MEDIANCUT).convert("RGB")
    atomic_io.write_image(args.out, np.asarray(small))
    base = speed[args.methods[-1]]
    print(f"{'method':<14}{'digits/s':>10}{'vs ' + args.methods[-1]:>16}")
    for name, rate in speed.items():
        print(f"{name:<14}{rate:>10.1f}{rate / base:>16.2f}")
    print(f"{len(parents)} photos -> {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
