"""The ``erase``, ``erase-image`` and ``explain`` commands."""

from __future__ import annotations

import argparse
from pathlib import Path

from svhn_erase.cli.common import (
    WEIGHTS_HELP,
    add_grain,
    add_student_weights,
    chosen_method,
    method_choices,
    positive,
)
from svhn_erase.cli.detection import add_erase_detect, add_erase_image_detect


def _add_erase(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase", help="remove the digits from every image of a split",
                       description="Erase every digit of ROOT/SPLIT: writes OUT/N.png (the "
                       "erased image), OUT/masks/N.png (255 where pixels were replaced; "
                       "a PNG whatever the image's format: photo.jpg's is masks/photo.jpg.png) "
                       "and OUT/timing.json (digits and seconds of the erase stage alone).")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--weights", type=Path, default=None, help=WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="output folder")
    names, help_text = method_choices()
    p.add_argument("--method", choices=names, default="default", help=help_text)
    add_student_weights(p)
    add_grain(p)
    p.add_argument("--limit", type=positive, default=None, help="only the first N images")
    _add_engine_options(p)
    p.set_defaults(func=_run_erase)
    add_erase_detect(p)  # --detect (issue 16)


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: erase in this process (default); ray: on a Ray cluster (the "
                   "'ray' extra): Ray Data reads the images and a pool of --workers erases "
                   "them, with the same outputs")
    p.add_argument("--address", default=None,
                   help="with --engine ray: the Ray cluster to join (HOST:6379, or 'auto' "
                   "for the one this machine belongs to); default: start a local Ray")
    p.add_argument("--workers", type=positive, default=None,
                   help="with --engine ray: workers in the pool, one CPU each (default: "
                   "all the cluster's CPUs)")


def _run_erase_on_engine(args: argparse.Namespace) -> dict:
    """``erase`` on the engine the options name; returns its timing."""
    from svhn_erase.apps import erase
    from svhn_erase.errors import SvhnEraseError

    if args.engine == "ray":
        from svhn_erase.apps import ray_engine

        return ray_engine.erase_split_ray(args.data, args.split, args.out,
                                          weights=args.weights, method=chosen_method(args),
                                          limit=args.limit, address=args.address,
                                          workers=args.workers)
    if args.address is not None or args.workers is not None:
        raise SvhnEraseError("--address and --workers go with --engine ray")
    return erase.erase_split(args.data, args.split, args.out, weights=args.weights,
                             method=chosen_method(args), limit=args.limit)


def _run_erase(args: argparse.Namespace) -> None:
    timing = _run_erase_on_engine(args)
    rate = timing["digits"] / timing["seconds"] if timing["seconds"] else 0.0
    print(f"erased {timing['digits']} digits of {timing['images']} images in "
          f"{timing['seconds']:.2f} s ({rate:.0f} digits/s) -> {args.out}")
    if timing.get("weights"):
        print(f"classifier weights: {timing['weights']}")
    skipped = len(timing["skipped"]) + len(timing["index_skipped"])
    if skipped:
        print(f"skipped {skipped} image(s); listed in {args.out / 'timing.json'}")
    if timing.get("engine") == "ray":
        wall = timing["wall_seconds"]
        print(f"on Ray: {timing['workers']} workers, {wall:.2f} s wall "
              f"({timing['digits'] / wall if wall else 0.0:.0f} digits/s), "
              f"{timing['startup_seconds']:.2f} s to start Ray, {timing['resumed']} "
              "image(s) already done")


def _add_erase_image(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("erase-image", help="remove digits from one photo of your own",
                       description="Erase the given boxes from one image and write the result.")
    p.add_argument("image", type=Path, help="the photo (any format Pillow reads)")
    p.add_argument("--box", action="append", metavar="LEFT,TOP,WIDTH,HEIGHT",
                   help="a digit box in pixels; repeat for several digits (negative values "
                   "work too: --box -20,-20,60,60); none: the detector finds them")
    p.add_argument("--weights", type=Path, default=None, help=WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="output image file (e.g. out.png)")
    names, help_text = method_choices()
    p.add_argument("--method", choices=names, default="default", help=help_text)
    add_student_weights(p)
    add_grain(p)
    p.set_defaults(func=_run_erase_image)
    add_erase_image_detect(p)  # no --box: detect first (issue 16)


def _run_erase_image(args: argparse.Namespace) -> None:
    from svhn_erase.apps import erase

    boxes = [erase.parse_box(b) for b in args.box]
    result = erase.erase_image_file(args.image, boxes, args.out, weights=args.weights,
                                    method=chosen_method(args))
    read = f" (read as {' '.join(map(str, result.preds))})" if result.preds is not None else ""
    print(f"erased {len(boxes)} digit(s){read} -> {args.out}")


def _add_explain(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="figures showing how one image's digits are removed",
                       description="Write the original slides' figures for image N.png of a "
                       "split: feature maps, their reductions and histogram, key pixels, filled "
                       "crops, and the parent before and after. One PNG each.")
    p.add_argument("--data", type=Path, required=True, help="folder holding the split folders")
    p.add_argument("--split", required=True, help="split name, e.g. test")
    p.add_argument("--index", type=positive, required=True,
                   help="the image number N (file N.png)")
    p.add_argument("--weights", type=Path, default=None, help=WEIGHTS_HELP)
    p.add_argument("--out", type=Path, required=True, help="folder for the figures")
    p.set_defaults(func=_run_explain)


def _run_explain(args: argparse.Namespace) -> None:
    from svhn_erase.apps import explain

    written = explain.explain_parent(args.data, args.split, args.index, args.out,
                                     weights=args.weights)
    print(f"wrote {len(written)} figures to {args.out}")

