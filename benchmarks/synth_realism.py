"""Is the generator realistic? Its scenes scored the way SPEC §3 scored its reference set.

SPEC §3 reports, for one generated set with real-SVHN backgrounds and unseen fonts (300
images, 682 digits), what the classical inpainters and the original real-SVHN checkpoint
achieve. None of those figures involves this project's removal, so they describe the data:
how far the digits stand out (untouched), how predictable the background under a box is
(box-mask inpainting), how much the digit's own pixels hide (true-mask inpainting) and how
legible the digits are (the original checkpoint's accuracy). This script renders a
held-out-style split in memory for each difficulty preset and prints those figures beside
SPEC's, so the ``realistic`` preset can be checked against the reference.

Usage: ``python benchmarks/synth_realism.py [--count 300] [--seed 5] [--style heldout]``
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from svhn_erase.data import crops, synth
from svhn_erase.evaluation import metrics
from svhn_erase.model.weights import load_classifier
from svhn_erase.removal.methods import Scene, create

REFERENCE = {"untouched": 14.7, "telea_box": 31.1, "ns_box": 31.6, "telea_true": 34.5,
             "ns_true": 35.0, "biharmonic_true": 34.5, "original_accuracy": 91.5}
ORIGINAL = Path(__file__).resolve().parents[2] / "shared/reference/original-ConvNet48_Dropout3.pkl"


def score_difficulty(difficulty: str, count: int, seed: int, style: str, model) -> dict:
    """Mean PSNR over boxes of each classical method, and the checkpoint's accuracy (%)."""
    methods = [create(name) for name in REFERENCE if name != "original_accuracy"]
    psnr: dict[str, list[float]] = {m.name: [] for m in methods}
    right = total = 0
    for i in tqdm(range(count), desc=difficulty, unit="img", leave=False, disable=None):
        s = synth.render_sample(seed, i, style, difficulty)
        boxes = s.boxes[:, 1:5]
        scene = Scene(s.image, boxes, true_mask=metrics.true_digit_mask(s.mask, boxes))
        for method in methods:
            erased = method.erase([scene])[0].image
            psnr[method.name].append(metrics.psnr_over_boxes(erased, s.clean, boxes))
        if model is not None:
            x = crops.normalize(np.stack([crops.crop_digit(s.image, b) for b in boxes]))
            with torch.no_grad():
                pred = model(x).argmax(1)
            right += int((pred.numpy() == s.boxes[:, 0].astype(int) % 10).sum())
            total += len(boxes)
    row = {name: float(np.mean(v)) for name, v in psnr.items()}
    row["original_accuracy"] = 100.0 * right / total if total else float("nan")
    row["digits"] = total or sum(len(synth.render_sample(seed, i, style, difficulty).boxes)
                                 for i in range(count))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300, help="images per preset (300)")
    parser.add_argument("--seed", type=int, default=5, help="generator seed (5)")
    parser.add_argument("--style", default="heldout", choices=synth.STYLES,
                        help="font/background partition (heldout: unseen fonts, as SPEC's)")
    parser.add_argument("--original", type=Path, default=ORIGINAL,
                        help="the original real-SVHN checkpoint (.pkl); skipped when absent")
    args = parser.parse_args()

    model = None
    if args.original.is_file():
        model = load_classifier(args.original).eval()
    rows = {d: score_difficulty(d, args.count, args.seed, args.style, model)
            for d in synth.DIFFICULTIES}
    print(f"{args.count} {args.style}-style images per preset, seed {args.seed}; PSNR over "
          "boxes in dB, accuracy in %; SPEC §3: 300 images, 682 digits")
    names = list(rows)
    print(f"{'figure':<26}{'SPEC ref':>10}" + "".join(f"{n:>12}{'diff':>8}" for n in names))
    for key, ref in REFERENCE.items():
        cells = "".join(f"{rows[n][key]:>12.2f}{rows[n][key] - ref:>+8.2f}" for n in names)
        print(f"{key:<26}{ref:>10.1f}{cells}")
    print(f"{'digits':<26}{682:>10d}" + "".join(f"{rows[n]['digits']:>12d}{'':>8}"
                                                 for n in names))


if __name__ == "__main__":
    main()
