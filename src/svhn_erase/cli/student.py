"""The ``train-student`` command: teacher data from the default method, then the student."""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_erase.cli.common import CPU_HELP, WEIGHTS_HELP, positive
from svhn_erase.errors import SvhnEraseError
from svhn_erase.paths import make_folder


def _add_train_student(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.removal.student.net import StudentSpec
    from svhn_erase.removal.student.train import TrainConfig

    spec, config = StudentSpec(), TrainConfig()
    p = sub.add_parser("train-student", help="train the fast student remover from the default "
                       "method's masks (no ground truth)",
                       description="Run the default removal method over the --source photos "
                       "(its digit masks, with the agreement of neighbouring settings and the "
                       "judge's verdict as confidence), train the student network on them with "
                       "strong augmentation, and write OUT/teacher.npz, "
                       "OUT/student.safetensors and OUT/student.json. Ground-truth masks are "
                       "never trained on (only compared with, where a split has them). The "
                       "teacher and the student run on CUDA when present (--cpu: the CPU); "
                       "student.json records the device.")
    p.add_argument("--source", action="append", default=[], metavar="ROOT/SPLIT[:FIRST-LAST]",
                   help="photos to learn from, e.g. data/real/train:1-1600; repeat for more")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--teacher-data", type=Path, action="append", default=[],
                   help="reuse a teacher.npz written before (its boxes come first; the "
                   "teacher then labels only the --source photos); repeat for more")
    p.add_argument("--weights", type=Path, default=None,
                   help="the teacher's " + WEIGHTS_HELP)
    p.add_argument("--judge", type=Path, default=None,
                   help="11-class judge for the teacher's confidence (default: the packaged one)")
    p.add_argument("--epochs", type=positive, default=config.epochs,
                   help=f"epochs per round (default: {config.epochs})")
    p.add_argument("--rounds", type=positive, default=config.rounds,
                   help="training rounds; 2 adds a noisy-student round on the student's own "
                   f"masks (default: {config.rounds})")
    p.add_argument("--seed", type=int, default=config.seed,
                   help=f"random seed (default: {config.seed})")
    p.add_argument("--stretch", type=float, default=config.stretch,
                   help="augmentation: widths scaled by up to 1 +- this (default: "
                   f"{config.stretch})")
    p.add_argument("--shear", type=float, default=config.shear,
                   help=f"augmentation: slant of up to +- this (default: {config.shear})")
    p.add_argument("--seeds", type=_seed_list, default=config.seeds, metavar="S1,S2,...",
                   help="train one network per seed (each as --seed S would) and write their "
                   "ensemble, the mean of their logits, in one file (default: one network, "
                   "--seed)")
    p.add_argument("--distil-from", type=Path, default=None, metavar="WEIGHTS",
                   help="learn the masks of this student (e.g. an ensemble) instead of the "
                   "teacher's, on the boxes the teacher's confidence keeps (default: none)")
    p.add_argument("--width", type=positive, default=spec.width,
                   help=f"channels at full resolution (default: {spec.width})")
    p.add_argument("--size", type=positive, default=spec.size,
                   help=f"crop side in pixels (default: {spec.size})")
    p.add_argument("--margin", type=float, default=spec.margin,
                   help=f"context per side, as a share of the box (default: {spec.margin})")
    p.add_argument("--cpu", action="store_true", help=CPU_HELP)
    p.set_defaults(func=_run_train_student)


def _seed_list(text: str) -> tuple[int, ...]:
    """``--seeds``: two or more comma-separated integers."""
    try:
        seeds = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError("give two or more different seeds, e.g. 15,17")
    return seeds


def _run_train_student(args: argparse.Namespace) -> None:
    import torch

    from svhn_erase.model.inference import default_device
    from svhn_erase.removal.student.net import StudentSpec
    from svhn_erase.removal.student.teacher import Source
    from svhn_erase.removal.student.train import TrainConfig, run_training

    torch.set_num_threads(1)  # one thread: the same weights from the same seed everywhere
    sources = [Source.parse(s) for s in args.source]  # each split checked first
    for path in args.teacher_data:
        if not path.is_file():
            raise SvhnEraseError(f"{path}: no such file (--teacher-data)")
    make_folder(args.out)
    spec = StudentSpec(size=args.size, margin=args.margin, width=args.width)
    config = TrainConfig(seed=args.seed, epochs=args.epochs, rounds=args.rounds,
                         stretch=args.stretch, shear=args.shear, seeds=args.seeds,
                         distil_from=str(args.distil_from) if args.distil_from else None)
    record = run_training(sources, args.out, spec, config,
                          args.weights, args.judge, args.teacher_data,
                          device=default_device(args.cpu))
    for n, r in enumerate(record["rounds"], start=1):
        iou = r["truth_iou"]
        iou = "" if iou is None else f", mask IoU vs generated truth {iou:.3f}"
        print(f"round {n}: {r['boxes']} boxes{iou}")
    if record["teacher_truth_iou"] is not None:
        print(f"teacher's mask IoU vs generated truth: {record['teacher_truth_iou']:.3f}")
    print(f"wrote {args.out / 'student.safetensors'}")
