"""The ``bench`` and ``demo`` commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from svhn_erase.cli.common import add_student_weights, non_negative, positive, student_config


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole mission in one command, on generated data",
                       description="Generate a test split with ground truth, erase its house "
                       "numbers with the packaged classifier, benchmark against OpenCV and "
                       "scikit-image inpainting, and write an HTML report. A second run reuses "
                       "what the first made; after Ctrl-C, rerun to continue.")
    p.add_argument("--out", type=Path, default=Path("svhn-erase-demo"),
                   help="output folder (default: ./svhn-erase-demo)")
    p.add_argument("--fast", action="store_true",
                   help="a small profile: 300 test images, the original method on 10 of them "
                   "(about 25 s on 2 CPU cores)")
    p.add_argument("--train", action="store_true",
                   help="train the classifier and the judge here on a generated train split "
                   "instead of using the packaged checkpoints (takes much longer)")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from svhn_erase.apps import demo

    demo.run_demo(args.out, fast=args.fast, train=args.train)



def _add_bench(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.evaluation.bench import DEFAULT_SEED_LIMIT

    p = sub.add_parser("bench", help="measure digit removal, every method on the same boxes",
                       description="Run this project's removal, the original 2018 one and the "
                       "OpenCV / scikit-image inpainting baselines (masks grown by their tuned "
                       "growth) on the same boxes of a split; write OUT/summary.json, "
                       "OUT/results.csv and a self-contained OUT/report.html. A split with "
                       "groundtruth/ is scored against the clean scene; one without (real "
                       "photos) by what an independent reader still reads, its floor on "
                       "digit-free boxes and the damage to moved, digit-free boxes.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True,
                   help="split name (with groundtruth/: scored against it; without: real-photo "
                   "mode)")
    p.add_argument("--weights", type=Path, default=None,
                   help="removal classifier: run folder, .safetensors or original .pkl "
                   "(default: the packaged checkpoints/classifier.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="folder for the outputs")
    p.add_argument("--limit", type=positive, default=None,
                   help="benchmark the first N images only")
    p.add_argument("--judge", type=Path, default=None,
                   help="11-class judge for the removal rate (default: the packaged "
                   "checkpoints/judge.safetensors if any, else no removal rate)")
    p.add_argument("--seed-limit", type=non_negative, default=DEFAULT_SEED_LIMIT,
                   help="run the original (seed) method on the first M images only; 0 skips it "
                   f"(default: {DEFAULT_SEED_LIMIT})")
    p.add_argument("--seed-weights", type=Path, default=None,
                   help="the seed method's classifier, which finds its key pixels, e.g. the "
                   "original .pkl (default: --weights)")
    p.add_argument("--methods", nargs="+", default=None, metavar="NAME",
                   help="methods to run, or 'all' (default: the headline ones; e.g. "
                   "telea_box_raw is Telea with the box not grown)")
    p.add_argument("--files", default=None, metavar="RANGE",
                   help="only the images numbered so, e.g. 1601-2000 or 1-10,25")
    p.add_argument("--reader", type=Path, default=None,
                   help="real-photo mode: the classifier that reads the erased boxes, e.g. "
                   "the original .pkl (default: the packaged judge)")
    add_student_weights(p)
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> None:
    from svhn_erase.evaluation import bench, real_report, report
    from svhn_erase.evaluation.kind_table import format_kind_table

    result = bench.run_bench(args.data, args.split, args.weights, args.out, limit=args.limit,
                             judge=args.judge, seed_limit=args.seed_limit,
                             progress=sys.stderr.isatty(), methods=args.methods,
                             files=args.files, reader=args.reader,
                             seed_weights=args.seed_weights,
                             method_configs={"student": student_config(args.student_weights)})
    if "floor" in result:
        print(real_report.format_real_table(result["methods"], result["floor"]))
    else:
        print(report.format_table(result["methods"]))
        paired = report.format_paired(result["methods"])
        if paired:
            print(paired)
    if result.get("by_kind"):
        print(format_kind_table(result["by_kind"], "real" if "floor" in result else "groundtruth"))
    if "seed" in result["methods"] and "seed_weights" in result["settings"]:
        print(f"seed key pixels from {result['settings']['seed_weights']}")
    if result["settings"]["skipped"]:
        print(f"skipped {len(result['settings']['skipped'])} image(s); see the report")
    print(f"report: {args.out / 'report.html'}")




