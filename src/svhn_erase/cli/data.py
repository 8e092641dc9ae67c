"""The ``data`` commands: download, index, synth, format2."""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_erase.cli.common import positive


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
    s.add_argument("--count", type=positive, required=True, help="number of images")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--style", choices=["all", "train", "heldout"], default="all",
                   help="fonts and backgrounds: all (default), the training partition, or the "
                   "held-out one (fonts and backgrounds the packaged classifier never saw)")
    s.add_argument("--difficulty", choices=["realistic", "hard"], default="realistic",
                   help="realistic (default): sizes, framing, colours, blur, noise and JPEG "
                        "tuned against real SVHN photos; hard: a stress test with heavy noise, "
                        "busy textures, faint numbers and frames across them")
    s.add_argument("--real-backgrounds", type=Path, default=None, metavar="DIR",
                   help="a real Format 1 split (e.g. SVHN train): paint a share of the scenes "
                        "on digit-free strips cut from its photos, outside every box")
    s.add_argument("--real-range", default="1-1600", metavar="FIRST-LAST",
                   help="file numbers of the photos strips are cut from (default: 1-1600)")
    s.add_argument("--mask-threshold", type=float, default=None, metavar="ALPHA",
                   help="the digit's opacity (0-1) from which a pixel counts as the digit's in "
                        "groundtruth/N_mask.png (default: the difficulty's, 0.03 realistic, "
                        "0.1 hard: every pixel the blurred digit visibly touches); changes "
                        "the masks alone, so key-pixel scores can be read under another "
                        "convention on the same images")
    s.add_argument("--workers", type=positive, default=None,
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
    from svhn_erase import atomic_io
    from svhn_erase.data import digitstruct, split

    if args.out is not None:
        atomic_io.check_writable(args.out)
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
                         real_range=parse_range(args.real_range),
                         mask_threshold=args.mask_threshold)

