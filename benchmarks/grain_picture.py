"""Picture of what ``--grain`` does: a few photos erased by the default method at several
grain amounts, side by side (the number region, enlarged without smoothing).

Usage::

    python benchmarks/grain_picture.py --data ../shared/real-svhn --split train \\
        --files 12.png 97.png 380.png --grains 0 0.5 1 --out docs/grain.png

Each row is one photo: the photo, then the default's result at each ``--grains`` amount
(0 is the default itself), with the digits of its boxes. It prints, per photo and amount,
the robust high-pass level (1.4826 x MAD of the luma less its blur by sigma 1) inside the
boxes against that of a 3-px ring around them: how much of the photo's own noise the
erased boxes carry (a real background's ratio is near 1; a smooth fill's well under it).
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from svhn_erase import atomic_io  # noqa: E402
from svhn_erase.boxes import bounding_rect, union_mask  # noqa: E402
from svhn_erase.data import split  # noqa: E402
from svhn_erase.model.weights import load_classifier, resolve_weights  # noqa: E402
from svhn_erase.removal.config import RemovalConfig  # noqa: E402
from svhn_erase.removal.grain import grain_level  # noqa: E402
from svhn_erase.removal.methods import Scene  # noqa: E402
from svhn_erase.removal.methods.default import DefaultMethod  # noqa: E402


def high_pass_level(image: np.ndarray, where: np.ndarray) -> float:
    """The grain's own measure (``grain.grain_level``, sigma 1) over ``where``: 1.4826 x
    the median absolute deviation of the luma's high-pass."""
    return grain_level(image, np.ones(where.shape, bool), where, 1.0)


def _regions(image: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The boxes' pixels and a 3-px ring around them (outside every box)."""
    inside = union_mask(boxes, image.shape[:2])
    grown = cv2.dilate(inside.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    return inside, grown & ~inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--files", nargs="+", required=True)
    parser.add_argument("--grains", type=float, nargs="+", default=[0.0, 0.5, 1.0])
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    path = split.split_dir(args.data, args.split)
    table = split.load_table(path)
    model = load_classifier(resolve_weights(args.weights))
    methods = [DefaultMethod(RemovalConfig(grain=g)) for g in args.grains]
    parents = {p.file: p for p in split.iter_parents(path, table[table["file"].isin(args.files)])}
    fig, axes = plt.subplots(len(args.files), 1 + len(methods), squeeze=False,
                             figsize=(2.4 * (1 + len(methods)), 1.6 * len(args.files)))
    print(f"{'file':<10}{'grain':>7}{'box level':>11}{'ring level':>12}{'ratio':>8}")
    for row, file in zip(axes, args.files, strict=True):
        p = parents[file]
        inside, ring = _regions(p.image, p.boxes)
        rect = bounding_rect(p.boxes, p.image.shape)
        rect = rect.grown(max(4, rect.height // 2), p.image.shape)
        ring_level = high_pass_level(p.image, ring)
        images = [p.image] + [m.erase([Scene(p.image, p.boxes)], model)[0].image
                              for m in methods]
        titles = [file] + [f"grain {g:g}" + (" (default)" if g == 0 else "")
                           for g in args.grains]
        for ax, image, title in zip(row, images, titles, strict=True):
            ax.imshow(image[rect.slices], interpolation="nearest")
            ax.set_title(title, fontsize=8)
            ax.axis("off")
        for g, image in zip(args.grains, images[1:], strict=True):
            level = high_pass_level(image, inside)
            print(f"{file:<10}{g:>7g}{level:>11.2f}{ring_level:>12.2f}"
                  f"{level / ring_level if ring_level else float('nan'):>8.2f}")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    atomic_io.write_image(args.out, np.asarray(Image.open(buffer).convert("RGB")))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
