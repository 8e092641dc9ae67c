"""The ``svhn-erase`` command line: argument parsing only; the work lives in the modules.

Each command has an ``_add_<name>`` that declares its arguments and a ``_run_<name>`` that
calls into the package. A user's mistake (``SvhnEraseError``) is printed as one line and
exits with status 2; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from svhn_erase import __version__
from svhn_erase.allocator import keep_freed_memory
from svhn_erase.errors import SvhnEraseError


def _whole(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    parse.__name__ = "whole number"
    return parse


_positive, _non_negative = _whole(1), _whole(0)

# --------------------------------------------------------------------------- data


def _add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="download, index, inspect or generate SVHN data",
                       description="Data commands: download, index, synth, format2.")
    dsub = p.add_subparsers(dest="data_command", metavar="<data command>", required=True)

    d = dsub.add_parser("download", help="fetch the official SVHN archives (resumable)",
                        description="Fetch the official SVHN archives, resume interrupted "
                        "transfers, verify size and checksum, and unpack.")
    d.add_argument("--root", type=Path, required=True, help="folder to put the splits in")
    d.add_argument("--split", nargs="+", default=["train", "test"],
                   choices=["train", "test", "extra"], help="splits to fetch (default: train test)")
    d.add_argument("--format", nargs="+", type=int, default=[1], choices=[1, 2],
                   help="1: full numbers with boxes; 2: 32x32 crops (default: 1)")
    d.add_argument("--url", default=None,
                   help="base URL of the archives (default: the official site)")
    d.set_defaults(func=_run_data_download)

    i = dsub.add_parser("index", help="write the digit table of a Format 1 split as CSV",
                        description="Read ROOT/SPLIT/digitStruct.mat (cached beside it) and "
                        "write one row per digit: file,digit_index,label,left,top,width,height.")
    i.add_argument("--root", type=Path, required=True, help="folder holding the split folders")
    i.add_argument("--split", required=True, help="split name, e.g. train")
    i.add_argument("--out", type=Path, default=None, help="CSV file (default: print to stdout)")
    i.set_defaults(func=_run_data_index)

    s = dsub.add_parser("synth", help="generate a realistic SVHN-like split with ground truth",
                        description="Generate N images in the exact Format 1 layout plus "
                        "groundtruth/N_clean.png and groundtruth/N_mask.png.")
    s.add_argument("--root", type=Path, required=True, help="folder to write the split into")
    s.add_argument("--split", required=True, help="split name (folder name), e.g. train")
    s.add_argument("--count", type=_positive, required=True, help="number of images")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--style", choices=["all", "train", "heldout"], default="all",
                   help="fonts and backgrounds: all, the training partition, or the held-out one")
    s.add_argument("--difficulty", choices=["realistic", "hard"], default="realistic",
                   help="realistic (default): sizes, framing, colours, blur, noise and JPEG "
                        "tuned against real SVHN photos; hard: a stress test with heavy noise, "
                        "busy textures, faint numbers and frames across them")
    s.add_argument("--real-backgrounds", type=Path, default=None, metavar="DIR",
                   help="a real Format 1 split (e.g. SVHN train): paint a share of the scenes "
                        "on digit-free strips cut from its photos, outside every box")
    s.add_argument("--real-range", default="1-1600", metavar="FIRST-LAST",
                   help="file numbers of the photos strips are cut from (default: 1-1600)")
    s.add_argument("--workers", type=_positive, default=None,
                   help="processes (default: CPU count)")
    s.set_defaults(func=_run_data_synth)

    c = dsub.add_parser("format2", help="summarize a Format 2 file (*_32x32.mat)",
                        description="Read a Format 2 file (32x32 digit crops, MATLAB v5) and "
                        "print its number of images and of each digit.")
    c.add_argument("file", type=Path, help="a *_32x32.mat file, e.g. ROOT/test_32x32.mat")
    c.set_defaults(func=_run_data_format2)


def _run_data_download(args: argparse.Namespace) -> None:
    from svhn_erase.data import download

    download.download_svhn(args.root, splits=args.split, formats=args.format, base_url=args.url)


def _run_data_index(args: argparse.Namespace) -> None:
    from svhn_erase.data import digitstruct, split

    table = digitstruct.load_index(split.split_dir(args.root, args.split))
    digitstruct.write_index_csv(table, args.out)


def _run_data_format2(args: argparse.Namespace) -> None:
    from svhn_erase.data import format2 as cropped

    summary = cropped.summarize_cropped(args.file)
    per_digit = " ".join(f"{d}:{c}" for d, c in summary["per_digit"].items())
    print(f"{summary['file']}: {summary['images']} images of 32x32x3; per digit {per_digit}")


def _run_data_synth(args: argparse.Namespace) -> None:
    from svhn_erase.data import synth
    from svhn_erase.data.synth.backgrounds import parse_range

    synth.generate_split(args.root, args.split, count=args.count, seed=args.seed,
                         style=args.style, workers=args.workers, difficulty=args.difficulty,
                         real_backgrounds=args.real_backgrounds,
                         real_range=parse_range(args.real_range))


# --------------------------------------------------------------------------- train / classify


def _add_train(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.model.nets import ARCHITECTURES, DEFAULT_NET

    p = sub.add_parser("train", help="train a digit classifier on a split's digit crops",
                       description="Train one of the original networks on the 40x40 gray digit "
                       "crops of ROOT/SPLIT (cached once), validate on a seeded held-out part "
                       "of it, test once on --test-split, and write a run folder "
                       "RUNS/<id><timestamp>/ with config, metrics, weights, report and plots.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", default="train", help="training split (default: train)")
    p.add_argument("--test-split", default="test",
                   help="split tested once at the end; 'none' to skip (default: test)")
    p.add_argument("--net", default=DEFAULT_NET, choices=list(ARCHITECTURES),
                   help=f"network (default: {DEFAULT_NET})")
    p.add_argument("--batch", type=int, default=32, help="batch size (default: 32)")
    p.add_argument("--epochs", type=int, default=None,
                   help="epochs (default: 10; with --resume: the new total, more or fewer)")
    p.add_argument("--opt", default="SGD", choices=["SGD", "Adagrad", "Adadelta", "Adam", "ASGD"],
                   help="optimizer (default: SGD, as the original)")
    p.add_argument("--lr", type=float, default=0.005, help="learning rate (default: 0.005)")
    p.add_argument("--momentum", type=float, default=0.0,
                   help="SGD momentum; the original used none (default: 0)")
    p.add_argument("--cpu", action="store_true", help="use the CPU even if CUDA is present")
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
    p.add_argument("--init", type=Path, default=None,
                   help="start from these weights (fine-tuning; .safetensors or run folder)")
    p.add_argument("--augment", action="store_true",
                   help="random box shift/scale, rotation, contrast, brightness and blur")
    p.add_argument("--schedule", default="constant", choices=["constant", "cosine"],
                   help="learning-rate schedule (default: constant, as the original)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="weight decay (default: 0)")
    p.add_argument("--label-smoothing", type=float, default=0.0,
                   help="label smoothing of the cross-entropy (default: 0)")


def _run_train(args: argparse.Namespace) -> None:
    from svhn_erase.model import train

    config = train.TrainConfig(
        split=None if args.split.lower() == "none" else args.split,
        test_split=None if args.test_split.lower() == "none" else args.test_split,
        net=args.net, batch=args.batch,
        epochs=args.epochs if args.epochs is not None or args.resume else 10, opt=args.opt,
        lr=args.lr, momentum=args.momentum, val_fraction=args.val_fraction, seed=args.seed,
        classes=args.classes, size=args.size, margin=args.margin, limit=args.limit,
        precision=args.precision, cpu=args.cpu,
        real=str(args.real.resolve()) if args.real else None, real_range=args.real_range,
        real_val_range=args.real_val_range, real_repeat=args.real_repeat,
        init=str(args.init.resolve()) if args.init else None, augment=args.augment,
        schedule=args.schedule, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing)
    run = train.train_classifier(args.data, config, runs=args.runs, run_id=args.id,
                                 resume=args.resume)
    print(run)
    report = run / "report.txt"
    if report.is_file():
        print(report.read_text(), end="")


def _add_classify(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.model.nets import ARCHITECTURES

    p = sub.add_parser("classify", help="read every digit of a split with a trained classifier",
                       description="Classify the digit crops of ROOT/SPLIT and write a CSV with "
                       "columns file,digit_index,label,pred,prob.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--weights", type=Path, required=True,
                   help="run folder, .safetensors file or the original's .pkl state dict")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.add_argument("--net", default=None, choices=list(ARCHITECTURES),
                   help="network (default: from the file's metadata or its shapes)")
    p.add_argument("--batch", type=_positive, default=512,
                   help="inference batch size (default: 512)")
    p.add_argument("--cpu", action="store_true", help="use the CPU even if CUDA is present")
    p.set_defaults(func=_run_classify)


def _run_classify(args: argparse.Namespace) -> None:
    from svhn_erase.model import classify

    result = classify.classify_split(args.data, args.split, args.weights, out=args.out,
                                     net=args.net, cpu=args.cpu, batch=args.batch)
    accuracy = float((result["label"] == result["pred"]).mean()) if len(result) else 0.0
    print(f"{len(result)} digits, accuracy {100 * accuracy:.2f} % -> {args.out}")
    if result.attrs.get("skipped"):
        print(f"skipped {len(result.attrs['skipped'])} image(s)")


# --------------------------------------------------------------------------- demo


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="the whole mission in one command, on generated data",
                       description="Generate a test split with ground truth, erase its house "
                       "numbers with the packaged classifier, benchmark against OpenCV and "
                       "scikit-image inpainting, and write an HTML report. A second run reuses "
                       "what the first made; after Ctrl-C, rerun to continue.")
    p.add_argument("--out", type=Path, default=Path("svhn-erase-demo"),
                   help="output folder (default: ./svhn-erase-demo)")
    p.add_argument("--fast", action="store_true",
                   help="a small profile (about 2 minutes on 2 CPU cores)")
    p.add_argument("--train", action="store_true",
                   help="train the classifier and the judge here on a generated train split "
                   "instead of using the packaged checkpoints (takes much longer)")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    from svhn_erase.apps import demo

    demo.run_demo(args.out, fast=args.fast, train=args.train)


# --------------------------------------------------------------------------- commands table



# --------------------------------------------------------------------------- bench


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
    p.add_argument("--limit", type=_positive, default=None,
                   help="benchmark the first N images only")
    p.add_argument("--judge", type=Path, default=None,
                   help="11-class judge for the removal rate (default: the packaged "
                   "checkpoints/judge.safetensors if any, else no removal rate)")
    p.add_argument("--seed-limit", type=_non_negative, default=DEFAULT_SEED_LIMIT,
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
    p.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> None:
    from svhn_erase.evaluation import bench, real_report, report

    result = bench.run_bench(args.data, args.split, args.weights, args.out, limit=args.limit,
                             judge=args.judge, seed_limit=args.seed_limit,
                             progress=sys.stderr.isatty(), methods=args.methods,
                             files=args.files, reader=args.reader,
                             seed_weights=args.seed_weights)
    if "floor" in result:
        print(real_report.format_real_table(result["methods"], result["floor"]))
    else:
        print(report.format_table(result["methods"]))
    if "seed" in result["methods"] and "seed_weights" in result["settings"]:
        print(f"seed key pixels from {result['settings']['seed_weights']}")
    if result["settings"]["skipped"]:
        print(f"skipped {len(result['settings']['skipped'])} image(s); see the report")
    print(f"report: {args.out / 'report.html'}")




# --------------------------------------------------------------------------- erase / explain

_WEIGHTS_HELP = ("classifier weights: a run folder, .safetensors or the original .pkl "
                 "(default: the packaged checkpoint, if there is one)")


def _method_choices() -> tuple[list[str], str]:
    """The removal methods a user can run (from the registry) and their help text."""
    from svhn_erase.removal.methods import method_class, method_names

    names = method_names(with_truth=False)
    return names, "; ".join(f"{n}: {method_class(n).description}" for n in names)


def _add_erase(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="remove the digits from every image of a split",
                       description="Erase every digit of ROOT/SPLIT: writes OUT/N.png (the "
                       "erased image), OUT/masks/N.png (255 where pixels were replaced) and "
                       "OUT/timing.json (digits and seconds of the erase stage alone).")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--weights", type=Path, default=None, help=_WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    names, help_text = _method_choices()
    p.add_argument("--method", choices=names, default="default", help=help_text)
    p.add_argument("--limit", type=_positive, default=None, help="only the first N images")
    p.set_defaults(func=_run_erase)


def _run_erase(args: argparse.Namespace) -> None:
    from svhn_erase.apps import erase

    timing = erase.erase_split(args.data, args.split, args.out, weights=args.weights,
                               method=args.method, limit=args.limit)
    rate = timing["digits"] / timing["seconds"] if timing["seconds"] else 0.0
    print(f"erased {timing['digits']} digits of {timing['images']} images in "
          f"{timing['seconds']:.2f} s ({rate:.0f} digits/s) -> {args.out}")
    if timing.get("weights"):
        print(f"classifier weights: {timing['weights']}")
    skipped = len(timing["skipped"]) + len(timing["index_skipped"])
    if skipped:
        print(f"skipped {skipped} image(s); listed in {args.out / 'timing.json'}")


def _add_erase_image(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase-image", help="remove digits from one photo of your own",
                       description="Erase the given boxes from one image and write the result.")
    p.add_argument("image", type=Path, help="the photo (any format Pillow reads)")
    p.add_argument("--box", action="append", required=True, metavar="LEFT,TOP,WIDTH,HEIGHT",
                   help="a digit box in pixels; repeat for several digits (negative values "
                   "work too: --box -20,-20,60,60)")
    p.add_argument("--weights", type=Path, default=None, help=_WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="output image file (e.g. out.png)")
    names, help_text = _method_choices()
    p.add_argument("--method", choices=names, default="default", help=help_text)
    p.set_defaults(func=_run_erase_image)


def _run_erase_image(args: argparse.Namespace) -> None:
    from svhn_erase.apps import erase

    boxes = [erase.parse_box(b) for b in args.box]
    result = erase.erase_image_file(args.image, boxes, args.out, weights=args.weights,
                                    method=args.method)
    read = f" (read as {' '.join(map(str, result.preds))})" if result.preds is not None else ""
    print(f"erased {len(boxes)} digit(s){read} -> {args.out}")


def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="figures showing how one image's digits are removed",
                       description="Write the original slides' figures for image N.png of a "
                       "split: feature maps, their reductions and histogram, key pixels, filled "
                       "crops, and the parent before and after. One PNG each.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--index", type=_positive, required=True,
                   help="the image number N (file N.png)")
    p.add_argument("--weights", type=Path, default=None, help=_WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="folder for the figures")
    p.set_defaults(func=_run_explain)


def _run_explain(args: argparse.Namespace) -> None:
    from svhn_erase.apps import explain

    written = explain.explain_parent(args.data, args.split, args.index, args.out,
                                     weights=args.weights)
    print(f"wrote {len(written)} figures to {args.out}")


# In the order of the data's path; 'svhn-erase --help' lists them so.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_data, _add_train, _add_classify, _add_erase, _add_erase_image, _add_explain,
    _add_bench, _add_demo,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svhn-erase",
        description="Read street-view house numbers and remove them from the photos, "
        "unsupervised. Run 'svhn-erase demo' to see the whole mission on generated data.",
    )
    parser.add_argument("--version", action="version", version=f"svhn-erase {__version__}")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="put the index and crop caches of every split under DIR (default: "
                        "beside the split when it is writable, else ~/.cache/svhn-erase; "
                        "the SVHN_ERASE_CACHE_DIR variable does the same)")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Log records as ``svhn-erase: message`` lines on whatever ``sys.stderr`` is now."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("svhn-erase: %(message)s"))

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass


def _setup_logging() -> None:
    """The package logs; the command line shows INFO and above on stderr."""
    logger = logging.getLogger("svhn_erase")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _joined_boxes(argv: Sequence[str]) -> list[str]:
    """``--box -20,-20,60,60`` as ``--box=-20,-20,60,60``: argparse takes a value that starts
    with '-' and is no plain number for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and argv[i + 1][:1] == "-" \
                and "," in argv[i + 1]:
            out.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_joined_boxes(sys.argv[1:] if argv is None else argv))
    _setup_logging()
    from svhn_erase.data import cache

    cache.set_cache_root(args.cache_dir)  # None: the default place
    keep_freed_memory()  # a command is a long loop over big tensors: reuse freed buffers
    try:
        result = args.func(args)
    except SvhnEraseError as exc:
        print(f"svhn-erase: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
        return 2
    except KeyboardInterrupt:
        print("\nsvhn-erase: interrupted; rerun the same command to continue.", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
