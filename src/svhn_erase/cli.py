"""The ``svhn-erase`` command line: argument parsing only; the work lives in the modules.

Each command has an ``_add_<name>`` that declares its arguments and a ``_run_<name>`` that
calls into the package. A user's mistake (``SvhnEraseError``) is printed as one line and
exits with status 2; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from svhn_erase import __version__
from svhn_erase.errors import SvhnEraseError

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
    s.add_argument("--count", type=int, required=True, help="number of images")
    s.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    s.add_argument("--style", choices=["all", "train", "heldout"], default="all",
                   help="fonts and backgrounds: all, the training partition, or the held-out one")
    s.add_argument("--workers", type=int, default=None, help="processes (default: CPU count)")
    s.set_defaults(func=_run_data_synth)


def _run_data_download(args: argparse.Namespace) -> None:
    from svhn_erase import download

    download.download_svhn(args.root, splits=args.split, formats=args.format, base_url=args.url)


def _run_data_index(args: argparse.Namespace) -> None:
    from svhn_erase import digitstruct

    table = digitstruct.load_index(Path(args.root) / args.split)
    digitstruct.write_index_csv(table, args.out)


def _run_data_synth(args: argparse.Namespace) -> None:
    from svhn_erase import synth

    synth.generate_split(args.root, args.split, count=args.count, seed=args.seed,
                         style=args.style, workers=args.workers)


# --------------------------------------------------------------------------- commands table

COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_data]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svhn-erase",
        description="Read street-view house numbers and remove them from the photos, "
        "unsupervised. Run 'svhn-erase demo' to see the whole mission on generated data.",
    )
    parser.add_argument("--version", action="version", version=f"svhn-erase {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except SvhnEraseError as exc:
        print(f"svhn-erase: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nsvhn-erase: interrupted; rerun the same command to continue.", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
