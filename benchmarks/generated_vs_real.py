"""Generated parents against real SVHN photos: the same statistics side by side.

Columns: held-out-style splits rendered in memory for each difficulty preset (optionally
one more with real background strips), then the real photos of ``--real`` (default
``../shared/real-svhn/train``): photos 1-1600 (the tuning set, the baseline of the distance
table) and, for information only, 1601-2000 (the real validation set; never tuned on).

Tables printed:
1. each figure of ``synth.stats.FIGURES`` per column: 10/50/90 % quantiles (``box_h`` in px,
   ``aspect`` width / height, ``gap`` between neighbouring boxes / box height, ``contrast``
   |ink - ring| luma, ``dark_ink`` share of digits darker than their ring, ``std_ratio`` box /
   ring luma std, ``ink_sat`` / ``ring_sat`` HSV saturation, ``colourfulness`` Hasler-
   Suesstrunk of the parent, ``sharpness`` variance of the Laplacian in the box,
   ``sharpness_rel`` the same over the box's luma variance, ``noise`` the estimate_sigma-style
   noise level outside the boxes, ``blockiness`` JPEG 8 x 8 block edges, 1 = none), and the
   share of parents with 1/2/3/4+ digits;
2. the Kolmogorov-Smirnov distance of each column to real 1-1600 per figure (0: same
   distribution, 1: disjoint) and its mean: the baseline measured in the same run;
3. per classifier (``--weights``, default the packaged one): its accuracy on every column,
   then per-digit accuracy and the most frequent confusions on real photos 1601-2000.

Usage: ``python benchmarks/generated_vs_real.py [--count 300] [--seed 5]
[--real-backgrounds] [--weights W ...]``
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.stats import ks_2samp
from tqdm import tqdm

from svhn_erase.data import crops, synth
from svhn_erase.data.digitstruct import load_index
from svhn_erase.data.synth import stats
from svhn_erase.model.inference import predict_crops
from svhn_erase.model.weights import load_classifier, resolve_weights

REAL = Path(__file__).resolve().parents[2] / "shared/real-svhn/train"
TUNE, VALIDATION = (1, 1600), (1601, 2000)
BASELINE = "real 1-1600"


class Column:
    """The statistics, digit crops and labels of one set of parents."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.images: list[dict] = []
        self.digits: list[dict] = []
        self.crops: list[np.ndarray] = []
        self.labels: list[int] = []

    def add(self, image: np.ndarray, boxes: np.ndarray, labels: np.ndarray) -> None:
        """One parent: (H, W, 3) uint8, (k, 4) ``left, top, width, height``, (k,) 0..9."""
        per_image, per_digit = stats.image_records(image, boxes)
        self.images.append(per_image)
        self.digits.extend(per_digit)
        self.crops.extend(crops.crop_digit(image, b) for b in boxes)
        self.labels.extend(int(v) for v in labels)

    def values(self, name: str) -> np.ndarray:
        level = next(f[1] for f in stats.FIGURES if f[0] == name)
        rows = self.images if level == "image" else self.digits
        v = np.array([r[name] for r in rows if name in r], np.float64)
        return v[np.isfinite(v)]


def generated_column(name: str, difficulty: str, count: int, seed: int, style: str,
                     backgrounds=None) -> Column:
    col = Column(name)
    for i in tqdm(range(count), desc=name, unit="img", leave=False, disable=None):
        kwargs = {"backgrounds": backgrounds} if backgrounds is not None else {}
        s = synth.render_sample(seed, i, style, difficulty, **kwargs)
        col.add(s.image, s.boxes[:, 1:5], s.boxes[:, 0].astype(int) % 10)
    return col


def real_columns(folder: Path) -> tuple[Column, Column]:
    """Real photos ``TUNE`` and ``VALIDATION`` (by file number) of ``folder``."""
    table = load_index(folder, progress=False)
    tune = Column(BASELINE)
    val = Column(f"real {VALIDATION[0]}-{VALIDATION[1]}")
    for file, rows in tqdm(table.groupby("file", sort=False), desc="real", unit="img",
                           leave=False, disable=None):
        number = int(Path(file).stem)
        col = tune if TUNE[0] <= number <= TUNE[1] else (
            val if VALIDATION[0] <= number <= VALIDATION[1] else None)
        if col is None:
            continue
        image = np.asarray(Image.open(folder / file).convert("RGB"))
        rows = rows.sort_values("digit_index")
        col.add(image, rows[["left", "top", "width", "height"]].to_numpy(np.float64),
                rows["label"].to_numpy())
    return tune, val


def print_statistics(columns: list[Column]) -> None:
    cells = {c.name: stats.summarize(c.images, c.digits) for c in columns}
    width = 18
    print(f"{'figure (10/50/90 %)':<22}" + "".join(f"{c.name:>{width}}" for c in columns))
    for name, _, how, _ in stats.FIGURES:
        label = f"{name} (% 1/2/3/4+)" if how == "hist" else (
            f"{name} (mean)" if how == "mean" else name)
        print(f"{label:<22}" + "".join(f"{cells[c.name][name]:>{width}}" for c in columns))
    print(f"{'images / digits':<22}" + "".join(
        f"{f'{len(c.images)} / {len(c.labels)}':>{width}}" for c in columns))


def print_distances(columns: list[Column], baseline: Column) -> None:
    others = [c for c in columns if c is not baseline]
    print(f"\nKolmogorov-Smirnov distance to {baseline.name} (0 = same distribution)")
    print(f"{'figure':<22}" + "".join(f"{c.name:>18}" for c in others))
    means = {c.name: [] for c in others}
    for name, _, _, _ in stats.FIGURES:
        ref = baseline.values(name)
        row = f"{name:<22}"
        for c in others:
            v = c.values(name)
            d = ks_2samp(v, ref).statistic if len(v) and len(ref) else float("nan")
            means[c.name].append(d)
            row += f"{d:>18.3f}"
        print(row)
    print(f"{'mean':<22}" + "".join(f"{np.nanmean(means[c.name]):>18.3f}" for c in others))


def print_accuracy(columns: list[Column], weights: list[Path], validation: Column | None) -> None:
    for path in weights:
        model = load_classifier(path).eval()
        print(f"\nclassifier {path}")
        preds = {}
        for c in columns:
            pred, _ = predict_crops(model, np.stack(c.crops))
            preds[c.name] = pred
            right = pred == np.asarray(c.labels)
            print(f"  accuracy on {c.name:<28} {100 * right.mean():6.2f} % "
                  f"({int(right.sum())} / {len(right)})")
        if validation is None:
            continue
        pred, truth = preds[validation.name], np.asarray(validation.labels)
        print(f"  per digit on {validation.name} (accuracy, digits):")
        print("   " + " ".join(f"{d}: {100 * (pred[truth == d] == d).mean():.0f} % "
                               f"({(truth == d).sum()})" for d in range(10)))
        wrong = truth != pred
        pairs, counts = np.unique(np.stack([truth[wrong], pred[wrong]], 1), axis=0,
                                  return_counts=True)
        top = np.argsort(-counts, kind="stable")[:8]
        print("  top confusions (true -> read: count): " + ", ".join(
            f"{pairs[i][0]}->{pairs[i][1]}: {counts[i]}" for i in top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="images per generated column")
    parser.add_argument("--seed", type=int, default=5, help="generator seed (5)")
    parser.add_argument("--style", default="heldout", choices=synth.STYLES,
                        help="font/background partition of the generated columns (heldout)")
    parser.add_argument("--real", type=Path, default=REAL,
                        help="real SVHN Format 1 folder (photos 1-2000 used)")
    parser.add_argument("--real-backgrounds", action="store_true",
                        help="add a realistic column with real background strips from "
                             "--real photos 1-1600")
    parser.add_argument("--weights", type=Path, nargs="*", default=None,
                        help="classifiers to score (default: the packaged one)")
    args = parser.parse_args()

    started = time.perf_counter()
    columns = [generated_column(d, d, args.count, args.seed, args.style)
               for d in synth.DIFFICULTIES]
    if args.real_backgrounds:
        from svhn_erase.data.synth import backgrounds as real_bg

        strips = real_bg.load_backgrounds(args.real, TUNE)
        columns.append(generated_column("realistic+real bg", "realistic", args.count,
                                        args.seed, args.style, strips))
    validation = None
    if (args.real / "digitStruct.mat").is_file():
        tune, validation = real_columns(args.real)
        columns += [tune, validation]
    else:
        print(f"(no real photos at {args.real}: generated columns only)")
    print(f"generated: {args.count} {args.style}-style images per column, seed {args.seed}, "
          f"recipe {synth.RECIPE_VERSION}; real: {args.real}")
    print_statistics(columns)
    baseline = next((c for c in columns if c.name == BASELINE), None)
    if baseline is not None:
        print_distances(columns, baseline)
    weights = args.weights if args.weights is not None else [resolve_weights(None)]
    print_accuracy(columns, weights, validation)
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
