"""The ``train`` and ``classify`` commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_erase.cli.common import CPU_HELP, positive


def _add_train(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.model.nets import DEFAULT_NET, NETWORKS

    p = sub.add_parser("train", help="train a digit classifier on a split's digit crops",
                       description="Train one of the original networks on the 40x40 gray digit "
                       "crops of ROOT/SPLIT (cached once), validate on a seeded held-out part "
                       "of it, test once on --test-split, and write a run folder "
                       "RUNS/<id><timestamp>/ with config, metrics, weights, report and plots.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", default="train", help="training split (default: train)")
    p.add_argument("--test-split", default="test",
                   help="split tested once at the end; 'none' to skip (default: test)")
    p.add_argument("--net", default=DEFAULT_NET, choices=list(NETWORKS),
                   help=f"network (default: {DEFAULT_NET}; DeepNet5_128: a deeper one, "
                   "five conv layers, for real photos and as a --teacher)")
    p.add_argument("--batch", type=int, default=32, help="batch size (default: 32)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: 10; with --resume: the new total, more or fewer)")
    p.add_argument("--opt", default="SGD", choices=["SGD", "Adagrad", "Adadelta", "Adam", "ASGD"],
                   help="optimizer (default: SGD, as the original)")
    p.add_argument("--lr", type=float, default=0.005, help="learning rate (default: 0.005)")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="SGD momentum; the original used none (default: 0)")
    p.add_argument("--cpu", action="store_true", help=CPU_HELP)
    p.add_argument("--id", default="", help="prefix of the run folder's name")
    p.add_argument("--runs", type=Path, default=Path("runs"),
                   help="folder for run folders (default: runs)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="share of the training parents held out for validation (default: 0.1)")
    p.add_argument("--seed", type=int, default=267, help="random seed (default: 267)")
    p.add_argument("--classes", type=int, default=10, choices=[10, 11],
                   help="10 digits, or 11 with a 'no digit' class for a judge (default: 10)")
    p.add_argument("--size", type=int, default=40, help="crop size in pixels (default: 40)")
    p.add_argument("--margin", type=float, default=0.0,
                   help="grow each box by this fraction of its size per side (default: 0)")
    p.add_argument("--crop-shape", default="stretch", choices=["stretch", "square"],
                   help="how every training crop is cut from its box: 'stretch' (default, the "
                   "original) stretches the box to the square crop; 'square' grows the box's "
                   "shorter side to its longer one about its centre first (edge pixels "
                   "repeated past the photo), keeping the digit's aspect. The weights record "
                   "it and classify, bench and the removal cut their crops the same way; "
                   "--init does not carry it over")
    p.add_argument("--input-norm", default="global", choices=["global", "crop"],
                   help="'global' (default, the original): every crop scaled alike, "
                   "(x/255 - 0.5)/0.5; 'crop': the network standardizes each crop by its own "
                   "mean and standard deviation first. The weights record it; --init does "
                   "not carry it over")
    p.add_argument("--limit", type=int, default=None,
                   help="use at most this many crops of the training split")
    p.add_argument("--resume", type=Path, default=None,
                   help="run folder of a stopped run to continue from its last finished epoch")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"],
                   help="fp32: the original's arithmetic (default); bf16: mixed precision "
                   "(forward pass and loss under autocast in bfloat16, float16 on GPUs without "
                   "it; weights stay fp32), faster on CPUs with AVX512-BF16/AMX and on GPUs, "
                   "works but is slower elsewhere")
    _add_train_real(p)
    p.set_defaults(func=_run_train)


def _add_train_real(p: argparse.ArgumentParser) -> None:
    """Real crops and the options that help a classifier read real photos (issue 13)."""
    p.add_argument("--real", type=Path, default=None,
                   help="a real Format 1 split folder (e.g. SVHN train) whose digits are added "
                   "to the training crops; --split none trains on them alone")
    p.add_argument("--real-range", default=None,
                   help="photos of --real to train on, FIRST-LAST (e.g. 1-1400; default: all)")
    p.add_argument("--real-val-range", default=None,
                   help="photos of --real to validate on instead of the split's held-out part "
                   "(e.g. 1401-1600)")
    p.add_argument("--real-repeat", type=int, default=1,
                   help="times the real crops appear per epoch (default: 1)")
    p.add_argument("--real-none", type=int, default=0,
                   help="extra 'no digit' crops cut per real training photo, away from its "
                        "boxes (--classes 11 only; default: 0)")
    p.add_argument("--real-shapes", type=int, default=0,
                   help="composites per real training digit: its shape (the student removal's "
                   "mask and erased background) moved onto another real box's erased "
                   "background with a new contrast and polarity (default: 0, off)")
    p.add_argument("--real-shapes-student", type=Path, default=None,
                   help="the student weights that mask and erase the real digits for "
                   "--real-shapes (default: the packaged checkpoints/student.safetensors)")
    p.add_argument("--real-shapes-warp", type=float, default=0.0, metavar="STRENGTH",
                   help="warp each composite's digit before it is added (Simard et al. "
                   "2003): rotation, per-axis scale, slant and a smooth elastic field; "
                   "strength 1 = up to 8 degrees, 10 %% scale, 0.15 slant, 1 px rms "
                   "(default: 0, off)")
    p.add_argument("--real-shapes-no-elastic", dest="real_shapes_elastic",
                   action="store_false",
                   help="with --real-shapes-warp: the affine warp only, no elastic field")
    p.add_argument("--init", type=Path, default=None,
                   help="start from these weights (fine-tuning; .safetensors or run folder)")
    p.add_argument("--augment", action="store_true",
                   help="random box shift/scale, rotation, contrast, brightness and blur")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="learning-rate schedule (default: constant, as the original)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default: 0)")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy (default: 0)")
    p.add_argument("--ema", type=float, default=0.0,
                   help="keep and validate a moving average of the weights with this decay "
                   "per step, e.g. 0.998 (default: 0, off)")
    p.add_argument("--teacher", type=Path, action="append", default=None,
                   help="distil from these weights: their probabilities, averaged over 15 box "
                   "jitters with --augment or --teacher-views, are soft labels (needs "
                   "--distill); repeat it for an ensemble (probabilities averaged)")
    p.add_argument("--teacher-views", action="store_true",
                   help="read the teachers through the 15 box jitters without --augment too")
    p.add_argument("--distill", type=float, default=0.0,
                   help="weight of the teacher's soft labels in the loss, 0..1 (default: 0)")
    p.add_argument("--distill-temperature", type=float, default=1.0,
                   help="temperature T of distillation: soft labels softmax(teacher logits / "
                   "T), the student's term T^2 * CE at the same T (default: 1, plain)")
    p.add_argument("--teacher-online", action="store_true",
                   help="the teachers read every training batch as the student sees it "
                   "(after augmentation and mixup) instead of each crop once beforehand")
    p.add_argument("--mixup", type=float, default=0.0,
                   help="mixup: blend each batch with a shuffle of itself by a Beta(A, A) "
                   "share, labels and soft labels alike (default: 0, off)")
    p.add_argument("--degrade", type=float, default=0.0,
                   help="share of each batch's crops made low-resolution (shrunk to 30-60 %% "
                   "and blown up), half of them also motion-smeared (default: 0, off)")


def _teachers(paths: list[Path] | None) -> str | tuple[str, ...] | None:
    """One teacher's path, several as a tuple (an ensemble), or None."""
    if not paths:
        return None
    resolved = tuple(str(p.resolve()) for p in paths)
    return resolved[0] if len(resolved) == 1 else resolved


def _run_train(args: argparse.Namespace) -> None:
    from svhn_erase.model import train

    config = train.TrainConfig(
        split=None if args.split.lower() == "none" else args.split,
        test_split=None if args.test_split.lower() == "none" else args.test_split,
        net=args.net, batch=args.batch,
        epochs=args.epochs if args.epochs is not None or args.resume else 10, opt=args.opt,
        lr=args.lr, momentum=args.momentum, val_fraction=args.val_fraction, seed=args.seed,
        classes=args.classes, size=args.size, margin=args.margin, limit=args.limit,
        crop_shape=args.crop_shape, input_norm=args.input_norm,
        precision=args.precision, cpu=args.cpu,
        real=str(args.real.resolve()) if args.real else None, real_range=args.real_range,
        real_val_range=args.real_val_range, real_repeat=args.real_repeat,
        real_none=args.real_none, real_shapes=args.real_shapes,
        real_shapes_student=str(args.real_shapes_student.resolve())
        if args.real_shapes_student else None, real_shapes_warp=args.real_shapes_warp,
        real_shapes_elastic=args.real_shapes_elastic,
        init=str(args.init.resolve()) if args.init else None, augment=args.augment,
        schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, ema=args.ema,
        teacher=_teachers(args.teacher), teacher_views=args.teacher_views,
        distill=args.distill, distill_temperature=args.distill_temperature,
        teacher_online=args.teacher_online, mixup=args.mixup, degrade=args.degrade)
    run = train.train_classifier(args.data, config, runs=args.runs, run_id=args.id,
                                 resume=args.resume)
    print(run)
    report = run / "report.txt"
    if report.is_file():
        print(report.read_text(), end="")


def _add_classify(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.model.nets import NETWORKS

    p = sub.add_parser("classify", help="read every digit of a split with a trained classifier",
                       description="Classify the digit crops of ROOT/SPLIT and write a CSV with "
                       "columns file,digit_index,label,pred,prob; print the accuracy, the "
                       "per-digit precision / recall / F1 and the commonest misreads "
                       "(--misreads: a picture of them). The crops are cut as the weights "
                       "were trained (their crop_shape: stretch or square).")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--weights", type=Path, required=True, action="append",
                   help="run folder, .safetensors file or the original's .pkl state dict; "
                   "repeat it for an ensemble (logits averaged)")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.add_argument("--net", default=None, choices=list(NETWORKS),
                   help="network (default: from the file's metadata or its shapes)")
    p.add_argument("--batch", type=positive, default=512,
                   help="inference batch size (default: 512)")
    p.add_argument("--cpu", action="store_true", help=CPU_HELP)
    p.add_argument("--tta", action="store_true",
                   help="test-time augmentation: average 15 box jitters per digit (15 times "
                   "the work; default: read each box once)")
    p.add_argument("--files", default=None, metavar="RANGES",
                   help="only the photos numbered so, e.g. 1401-1600 or 1-10,25 (N.png; "
                   "default: every photo)")
    p.add_argument("--misreads", type=Path, default=None, metavar="PNG",
                   help="also draw the misread digits into this picture (a contact sheet: "
                   "each box in its photo, true>read digit and the probability, most "
                   "confident mistakes first)")
    p.add_argument("--misreads-max", type=positive, default=64, metavar="N",
                   help="at most N digits on the --misreads picture (default: 64)")
    p.set_defaults(func=_run_classify)


def _check_misreads_path(args: argparse.Namespace) -> None:
    """Refuse a ``--misreads`` picture that is no image format, is the CSV, would land in the
    split's own folder (never overwrite an input) or cannot be written."""
    from svhn_erase import atomic_io
    from svhn_erase.errors import SvhnEraseError

    atomic_io.image_format(args.misreads)
    target = args.misreads.resolve()
    if target == args.out.resolve():
        raise SvhnEraseError(f"--misreads {args.misreads}: the same file as --out")
    split_folder = (args.data / args.split).resolve()
    if split_folder in target.parents:
        raise SvhnEraseError(f"--misreads {args.misreads}: inside the split's folder "
                             f"{args.data / args.split}; write it elsewhere")
    atomic_io.check_writable(args.misreads)


def _run_classify(args: argparse.Namespace) -> None:
    from svhn_erase import atomic_io
    from svhn_erase.data import split
    from svhn_erase.model import classify, misreads

    atomic_io.check_writable(args.out)
    if args.misreads is not None:
        _check_misreads_path(args)
    path = split.split_dir(args.data, args.split)
    table = split.load_table(path)
    result = classify.classify_split(args.data, args.split, args.weights, out=args.out,
                                     net=args.net, cpu=args.cpu, batch=args.batch,
                                     tta=args.tta, files=args.files, table=table)
    accuracy = float((result["label"] == result["pred"]).mean()) if len(result) else 0.0
    print(f"{len(result)} digits, accuracy {100 * accuracy:.2f} % -> {args.out}")
    if result.attrs.get("skipped"):
        print(f"skipped {len(result.attrs['skipped'])} image(s)")
    if len(result):
        print(misreads.summary_text(result), end="")
    if args.misreads is not None:
        shown = misreads.misread_sheet(path, result, table, args.misreads,
                                       limit=args.misreads_max)
        print(f"{shown} misread digit(s) drawn -> {args.misreads}")
