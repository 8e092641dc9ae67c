"""Real-photo accuracy of classifiers and judges: the issue-13 ablation table.

Each ``--row NAME=WEIGHTS`` is a weights file (safetensors or the original ``.pkl``), or
several joined by ``+`` for an ensemble (their logits averaged, ``model.ensemble``). For a
10-class classifier the table gives its accuracy on the digits of the tuning photos
(``--tune``, default 1401-1600) and of the real validation photos (``--val``, default
1601-2000) of a Format 1 split (``--real``), optionally on a generated split's digits
(``--generated ROOT/SPLIT``), and the ratio of its real-validation accuracy to the first
row's (the baseline, measured in the same run). ``--report NAME`` adds sklearn's per-digit
report of that row on the validation photos. ``--tta`` adds the same real accuracies read
with test-time augmentation (``classify --tta``: 15 box jitters averaged), apart from the
plain figures. Each real set also gets a paired comparison with the first row on the same
digits: digits newly read right / newly wrong and the exact two-sided McNemar p (one digit
is 0.22 points of photos 1401-1600). ``--val none`` leaves the validation photos unread
(while choosing candidates on the tuning photos). Each classifier reads crops cut as its
file's ``crop_shape`` says (stretched or square, ``crops.CROP_SHAPES``); the digits and their
order are the same for both shapes, so the paired columns compare the same digits.

An 11-class judge (``--judge NAME=WEIGHTS``) is scored on the same photos with one digit-free
box per ten digits (``real_crop_set(..., classes=11)``): the share of digits it calls
"no digit" (target at most 3 %), the share of digit-free boxes it calls "no digit" (target
at least 90 %) and the share of digits it reads right.

Usage::

    python benchmarks/real_accuracy.py --real ../shared/real-svhn/train \\
        --row old=old.safetensors --row new=src/svhn_erase/checkpoints/classifier.safetensors \\
        --report new --judge judge=src/svhn_erase/checkpoints/judge.safetensors
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import classification_report

from svhn_erase.data import crops as crops_mod
from svhn_erase.model.ensemble import load_ensemble
from svhn_erase.model.inference import predict_crops
from svhn_erase.model.train import augment, views
from svhn_erase.model.train.real import real_crop_set
from svhn_erase.model.weights import load_classifier

NO_DIGIT = 10


def _named(text: str) -> tuple[str, str]:
    name, sep, path = text.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=WEIGHTS, not {text!r}")
    return name, path


def _real(real: str, photos: str, classes: int, shape: str = "stretch") -> crops_mod.CropSet:
    return real_crop_set(real, photos, 40, 0.0, classes, progress=False, shape=shape)


def _generated(path: str, shape: str) -> crops_mod.CropSet:
    return crops_mod.build_crop_cache(Path(path), size=40, margin=0.0, gray=True,
                                      classes=10, progress=False, shape=shape)


def _context(real: str, photos: str, shape: str) -> torch.Tensor:
    """Normalized context crops of the photos' digits, as ``classify --tta`` cuts them."""
    crop_set = real_crop_set(real, photos, augment.context_size(40), augment.context_margin(0.0),
                             10, progress=False, shape=shape)
    return crops_mod.normalize(crop_set.crops)


def _crop_sets(args: argparse.Namespace, photos: dict[str, str],
               shape: str) -> tuple[dict[str, crops_mod.CropSet], dict[str, torch.Tensor]]:
    """The plain crop sets (real photo ranges, the generated split) and the TTA context
    crops of the real ranges, cut as ``shape``."""
    sets = {key: _real(args.real, p, 10, shape) for key, p in photos.items()}
    if args.generated:
        sets["generated"] = _generated(args.generated, shape)
    contexts = {k: _context(args.real, p, shape) for k, p in photos.items()} if args.tta \
        else {}
    return sets, contexts


def _accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    return 100.0 * float((pred == labels).mean())


def mcnemar(base_ok: np.ndarray, ok: np.ndarray) -> tuple[int, int, float]:
    """``(newly right, newly wrong, exact two-sided McNemar p)`` of ``ok`` against
    ``base_ok`` (per digit: read right), on the same digits."""
    right, wrong = int((ok & ~base_ok).sum()), int((~ok & base_ok).sum())
    n = right + wrong
    if n == 0:
        return right, wrong, 1.0
    tail = sum(math.comb(n, k) for k in range(min(right, wrong) + 1))
    return right, wrong, min(1.0, 2 * tail / 2**n)


def classifier_table(args: argparse.Namespace) -> None:
    photos = {"tune": args.tune} | ({"val": args.val} if args.val != "none" else {})
    by_shape = {"stretch": _crop_sets(args, photos, "stretch")}
    sets = by_shape["stretch"][0]
    sizes = ", ".join(f"{k} {len(s)}" for k, s in sets.items())
    print(f"\nclassifiers (digits: {sizes}; " +
          ", ".join(f"{k} = photos {p}" for k, p in photos.items()) + ")")
    head = "| row |" + "".join(f" {k} {p} |" for k, p in photos.items())
    head += " generated |" if args.generated else ""
    head += "".join(f" {k} TTA |" for k in (photos if args.tta else {}))
    head += "".join(f" {k}: right / wrong vs first (p) |" for k in photos)
    last = list(photos)[-1]
    print(head + f" {last} / first row |")
    print("|---" * (head.count("|")) + "|")
    first: dict[str, np.ndarray] = {}
    reports = {}
    for name, path in args.row:
        model = load_ensemble(path.split("+"))
        shape = crops_mod.crop_shape_of(model)
        if shape not in by_shape:
            by_shape[shape] = _crop_sets(args, photos, shape)
        sets, contexts = by_shape[shape]
        acc, ok = {}, {}
        for key, crop_set in sets.items():
            pred, _ = predict_crops(model, crop_set.crops)
            ok[key] = pred == crop_set.labels
            acc[key] = _accuracy(pred, crop_set.labels)
            if key == "val" and name in args.report:
                reports[name] = classification_report(crop_set.labels, pred, digits=3,
                                                      zero_division=0)
        first = first or ok
        for key, context in contexts.items():
            probs = views.view_probs([model], context, 40)
            acc[f"{key} TTA"] = _accuracy(probs.argmax(1).numpy(), sets[key].labels)
        cells = " | ".join(f"{value:.2f} %" for value in acc.values())
        pairs = " | ".join("{} / {} ({:.3f})".format(*mcnemar(first[k], ok[k])) for k in photos)
        name += "" if shape == "stretch" else f" ({shape})"
        print(f"| {name} | {cells} | {pairs} | {acc[last] / (100 * first[last].mean()):.3f} |")
    for name, text in reports.items():
        print(f"\nper-digit report of {name} on photos {args.val}:\n{text}")


def judge_table(args: argparse.Namespace) -> None:
    print("\njudges (11 classes; targets: digits called no-digit <= 3 %, digit-free boxes "
          "called no-digit >= 90 %)")
    print("| judge | photos | digits | called no-digit | read right | digit-free boxes |"
          " called no-digit |")
    print("|---|---|---|---|---|---|---|")
    sets = {photos: _real(args.real, photos, 11) for photos in (args.tune, args.val)
            if photos != "none"}
    for name, path in args.judge:
        model = load_classifier(path)
        for photos, crop_set in sets.items():
            pred, _ = predict_crops(model, crop_set.crops)
            digit, free = crop_set.labels < NO_DIGIT, crop_set.labels == NO_DIGIT
            print(f"| {name} | {photos} | {digit.sum()} | "
                  f"{100 * (pred[digit] == NO_DIGIT).mean():.2f} % | "
                  f"{_accuracy(pred[digit], crop_set.labels[digit]):.2f} % | {free.sum()} | "
                  f"{100 * (pred[free] == NO_DIGIT).mean():.2f} % |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", required=True, help="a real Format 1 split folder")
    parser.add_argument("--tune", default="1401-1600", help="tuning photos (FIRST-LAST)")
    parser.add_argument("--val", default="1601-2000",
                        help="validation photos (FIRST-LAST; none: not read)")
    parser.add_argument("--generated", help="a generated split folder to score as well")
    parser.add_argument("--row", type=_named, action="append", default=[],
                        help="NAME=WEIGHTS of a 10-class classifier (first: the baseline); "
                        "W1+W2+...: their logits averaged")
    parser.add_argument("--report", action="append", default=[],
                        help="NAME of a row to print the per-digit report of")
    parser.add_argument("--tta", action="store_true",
                        help="add the real accuracies with test-time augmentation")
    parser.add_argument("--judge", type=_named, action="append", default=[],
                        help="NAME=WEIGHTS of an 11-class judge")
    args = parser.parse_args()
    if args.row:
        classifier_table(args)
    if args.judge:
        judge_table(args)


if __name__ == "__main__":
    main()
