"""Choose each classical baseline's mask growth on a tuning split: PSNR per growth, the best.

Usage::

    svhn-erase data synth --root R --split tune --count 300 --seed 21 --style heldout
    python benchmarks/tune_baselines.py --data R --split tune [--weights W] [--limit N]

Prints, per mask-based baseline, its mean PSNR over the boxes (dB, per image averaged, as
``svhn-erase bench``) for each growth d = 0..4 (a 3 x 3 dilation of the mask, d times), the
gain over d = 0 measured in the same run, the chosen d (best PSNR, ties: the smaller) and
the d the package ships (``removal.methods.classical.TUNED_GROWTH``). Tune on a split that
no reported figure comes from; never on real validation photos.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from svhn_erase.evaluation.tuning import chosen_growth, tune_growth
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods.classical import GROWTH_CHOICES, TUNED_GROWTH


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--weights", type=Path, default=None,
                        help="classifier for the *_ours masks (default: the packaged one)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_classifier(resolve_weights(args.weights))
    start = time.perf_counter()
    table = tune_growth(args.data, args.split, model, limit=args.limit)
    seconds = time.perf_counter() - start
    growths = list(GROWTH_CHOICES)
    print(f"PSNR over the boxes (dB) per mask growth d on {args.data / args.split} "
          f"({seconds:.0f} s)")
    head = f"{'baseline':<17}" + "".join(f"{f'd={g}':>8}" for g in growths) + \
        f"{'best-d0':>9}{'chosen':>8}{'shipped':>9}"
    print(head)
    print("-" * len(head))
    for name, per in table.items():
        best = chosen_growth(per)
        print(f"{name:<17}" + "".join(f"{per[g]:>8.2f}" for g in growths) +
              f"{per[best] - per[growths[0]]:>+9.2f}{best:>8}{TUNED_GROWTH.get(name, 0):>9}")


if __name__ == "__main__":
    main()
