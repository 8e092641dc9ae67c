"""The ``detect``, ``train-detector``, ``calibrate-detector`` and ``combine-detectors``
commands (issue 16): digits found in whole photos."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from svhn_erase.cli.common import CPU_HELP, chosen_method, positive

DETECTOR_HELP = "detector weights (.safetensors; default: the packaged detector)"


def score(text: str) -> float:
    """An argparse type: a score threshold between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def add_detector_options(p: argparse.ArgumentParser) -> None:
    """``--detector`` and ``--min-score``, for every command that detects."""
    p.add_argument("--detector", type=Path, default=None, metavar="WEIGHTS", help=DETECTOR_HELP)
    p.add_argument("--min-score", type=score, default=None, metavar="S",
                   help="keep detections scoring at least S (0-1; default: the threshold tuned "
                   "with the weights, a lower one for erasing); lower finds more digits, "
                   "higher makes fewer mistakes")


def _add_detection(sub: argparse._SubParsersAction) -> None:
    _add_detect(sub)
    _add_train_detector(sub)
    _add_calibrate_detector(sub)
    _add_combine_detectors(sub)


def _add_detect(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("detect", help="find house-number digits in photos (no boxes needed)",
                       description="Find every house-number digit in the photos and write one "
                       "CSV row per digit: the 'data index' columns (file, digit_index, label, "
                       "left, top, width, height) plus score and number (the number it belongs "
                       "to, 0 = leftmost). Each box's width is multiplied by the weights' "
                       "calibrated width scale (see 'calibrate-detector').")
    p.add_argument("images", nargs="+", type=Path, metavar="IMG",
                   help="photos, or folders of photos")
    p.add_argument("--out", type=Path, required=True, help="the CSV to write (e.g. boxes.csv)")
    p.add_argument("--picture", type=Path, default=None, metavar="DIR",
                   help="also write DIR/<photo>.png with the detections drawn")
    p.add_argument("--every-number", action="store_true",
                   help="keep the digits of every number found at --min-score (default: "
                   "digits outside the photo's main number, the one of highest summed score, "
                   "also need the weights' other_min_score, 0.5 for the packaged detector; "
                   "SVHN photos show one number, street scenes may show several)")
    add_detector_options(p)
    p.set_defaults(func=_run_detect)


def _run_detect(args: argparse.Namespace) -> None:
    from svhn_erase import atomic_io
    from svhn_erase.detection import load_detector
    from svhn_erase.detection.photos import detect_files, photo_files

    files = photo_files(args.images)
    atomic_io.check_writable(args.out)
    detector = load_detector(args.detector)
    skipped: list[str] = []
    table = detect_files(detector, files, args.min_score, args.picture,
                         every_number=args.every_number, skipped=skipped)
    atomic_io.write_text(args.out, table.to_csv(index=False))
    print(f"found {len(table)} digit(s) in {len(files) - len(skipped)} photo(s) -> {args.out}"
          + (f"; pictures in {args.picture}" if args.picture else ""))
    if skipped:
        print(f"skipped {len(skipped)} photo(s) that do not decode (listed above)")


def _add_train_detector(sub: argparse._SubParsersAction) -> None:
    from svhn_erase.detection.net import NetConfig
    from svhn_erase.detection.train import TrainSettings

    d = TrainSettings()
    p = sub.add_parser("train-detector", help="train the digit detector",
                       description="Train the detector on real Format 1 photos (official "
                       "boxes) and a split made by 'data synth', tune its score threshold on "
                       "other real photos, calibrate its box widths (as 'calibrate-detector'), "
                       "and write the weights (.safetensors) with their "
                       "metadata (.json beside them). Trains on CUDA when present (--cpu: the "
                       "CPU); the metadata records the device.")
    _add_real_ranges(p, "to train on (and to measure the width scale on)")
    p.add_argument("--synth", type=Path, default=None, metavar="DIR",
                   help="a generated split folder ('svhn-erase data synth')")
    p.add_argument("--steps", type=positive, default=d.steps, help=f"default {d.steps}")
    p.add_argument("--batch", type=positive, default=d.batch, help=f"default {d.batch}")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default {d.lr})")
    p.add_argument("--real-share", type=score, default=d.real_share,
                   help=f"share of real photos per batch (default {d.real_share})")
    p.add_argument("--real-widths", action="store_true",
                   help="scale generated boxes' widths, per digit, to the real photos' median "
                   "width/height (SVHN's official boxes are drawn wider than a narrow digit)")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    h = NetConfig().input_height
    p.add_argument("--input-height", type=positive, default=h,
                   help=f"the network's input height in pixels, a multiple of 16 (default {h})")
    p.add_argument("--threads", type=positive, default=d.threads,
                   help=f"torch threads (default {d.threads})")
    _add_criterion(p, "f1")
    p.add_argument("--out", type=Path, required=True, help="weights to write (.safetensors)")
    p.add_argument("--cpu", action="store_true", help=CPU_HELP)
    p.set_defaults(func=_run_train_detector)


def _run_train_detector(args: argparse.Namespace) -> None:
    from svhn_erase.detection.net import NetConfig
    from svhn_erase.detection.train import TrainSettings, run_training
    from svhn_erase.model.inference import default_device

    settings = TrainSettings(steps=args.steps, batch=args.batch, lr=args.lr,
                             real_share=args.real_share, seed=args.seed, threads=args.threads,
                             real_widths=args.real_widths)
    if args.input_height % 16:
        from svhn_erase.errors import SvhnEraseError
        raise SvhnEraseError(f"--input-height {args.input_height}: must be a multiple of 16")
    record = run_training(args.real, args.real_files, args.tune_files, args.synth, settings,
                          args.out, net_config=NetConfig(input_height=args.input_height),
                          criterion=args.criterion, device=default_device(args.cpu))
    t = record["tune"]
    print(f"trained in {record['seconds']:.0f} s; on the tuning photos at min score "
          f"{t['min_score']:.2f}, zoom {t['zoom']:g}, NMS {t['nms_iou']:g}: precision "
          f"{t['precision']:.3f}, recall {t['recall']:.3f} -> {args.out}")


def _add_real_ranges(p: argparse.ArgumentParser, train_help: str) -> None:
    """``--real``, ``--real-files`` and ``--tune-files``."""
    p.add_argument("--real", type=Path, required=True, metavar="DIR",
                   help="a real Format 1 split folder (e.g. SVHN train)")
    p.add_argument("--real-files", default="1-1400", metavar="RANGE",
                   help=f"photos of --real {train_help} (default: 1-1400)")
    p.add_argument("--tune-files", default="1401-1600", metavar="RANGE",
                   help="photos of --real to tune the score threshold, zoom and NMS overlap on "
                   "(default: 1401-1600)")


def _add_calibrate_detector(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate-detector", help="calibrate a detector's box widths and "
                       "threshold (no retraining)",
                       description="Measure the median official / found box width of a "
                       "detector's boxes matched at IoU >= 0.5 on real training photos, store "
                       "it as the width scale every detected box is multiplied by, tune the "
                       "score threshold, zoom and NMS overlap again on other real photos, and "
                       "write the weights with their updated metadata. 'train-detector' does "
                       "the same after training. Last it picks the score the digits outside a "
                       "photo's main number need (other_min_score; 0 = off) for F1 there.")
    p.add_argument("--detector", type=Path, default=None, metavar="WEIGHTS", help=DETECTOR_HELP)
    _add_calibration_options(p, "f1")
    p.set_defaults(func=_run_calibrate_detector)


def _run_calibrate_detector(args: argparse.Namespace) -> None:
    from svhn_erase.detection.calibrate import run_calibration
    from svhn_erase.model.inference import default_device

    r = run_calibration(args.detector, args.real, args.real_files, args.tune_files, args.out,
                        criterion=args.criterion, device=default_device(args.cpu))
    _print_calibration(r, args.out)


def _print_calibration(r: dict, out: Path) -> None:
    t = r["tune"]
    print(f"width scale {r['width_scale']:.3f} (from {r['width_pairs']} matched boxes); on the "
          f"tuning photos at min score {t['min_score']:.2f}, zoom {t['zoom']:g}, NMS "
          f"{t['nms_iou']:g}, other numbers {t['other_min_score']:g}: precision "
          f"{t['precision']:.3f}, recall {t['recall']:.3f} -> {out}")


def _add_calibration_options(p: argparse.ArgumentParser, criterion: str) -> None:
    """What calibrating a detector reads and writes: the real photos, the tuning criterion
    (default ``criterion``), the weights to write; and where it runs (CUDA when present)."""
    _add_real_ranges(p, "the width scale is measured on (the photos it was trained on)")
    _add_criterion(p, criterion)
    p.add_argument("--out", type=Path, required=True, help="weights to write (.safetensors)")
    p.add_argument("--cpu", action="store_true", help=CPU_HELP)


def _add_criterion(p: argparse.ArgumentParser, default: str) -> None:
    from svhn_erase.detection.train import CRITERIA

    p.add_argument("--criterion", choices=CRITERIA, default=default,
                   help="what the settings tuned on --tune-files maximise: F1, or min(precision, "
                   f"recall) with ties to the higher F1 (default {default})")


def _add_combine_detectors(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("combine-detectors", help="several trained detectors as one ensemble",
                       description="Put the networks of several trained detectors (one "
                       "architecture, e.g. other --seed or --input-height; the first one's "
                       "input height is the ensemble's) into one detector that averages their "
                       "heat, class, size and offset maps before finding peaks, calibrate it as "
                       "'calibrate-detector' does, and write one weights file holding every "
                       "member.")
    p.add_argument("members", nargs="+", type=Path, metavar="WEIGHTS",
                   help="the detectors to combine (.safetensors, e.g. from 'train-detector')")
    _add_calibration_options(p, "min-pr")
    p.set_defaults(func=_run_combine_detectors)


def _run_combine_detectors(args: argparse.Namespace) -> None:
    from svhn_erase.detection.ensemble import run_combine
    from svhn_erase.model.inference import default_device

    r = run_combine(args.members, args.real, args.real_files, args.tune_files, args.out,
                    criterion=args.criterion, device=default_device(args.cpu))
    print(f"{len(args.members)} detector(s) combined; ", end="")
    _print_calibration(r, args.out)


# --------------------------------------------------------------------------- erase, erase-image


def add_erase_detect(p: argparse.ArgumentParser) -> None:
    """``erase --detect``: the options, and a run that detects when asked (else as before)."""
    plain = p.get_default("func")
    p.add_argument("--detect", action="store_true",
                   help="the split folder is photos without digitStruct.mat: find the digits "
                   "with the detector, then erase them (boxes found: OUT/boxes.csv)")
    add_detector_options(p)

    def run(args: argparse.Namespace) -> None:
        if not args.detect:
            if args.detector is not None or args.min_score is not None:
                from svhn_erase.errors import SvhnEraseError
                raise SvhnEraseError("--detector and --min-score go with --detect")
            return plain(args)
        t = _erase_detected_on_engine(args)
        print(f"found and erased {t['digits']} digits in {t['images']} photos (detecting "
              f"{t['detect_seconds']:.2f} s, erasing {t['seconds']:.2f} s) -> {args.out}; "
              f"boxes in {Path(args.out) / 'boxes.csv'}")
        if t["skipped"]:
            print(f"skipped {len(t['skipped'])} image(s); listed in "
                  f"{Path(args.out) / 'timing.json'}")
        if t.get("engine") == "ray":
            print(f"on Ray: {t['workers']} workers, {t['wall_seconds']:.2f} s wall, "
                  f"{t['resumed']} photo(s) already done")
        return None

    p.set_defaults(func=run)


def _erase_detected_on_engine(args: argparse.Namespace) -> dict:
    """``erase --detect`` on the engine the options name; returns its timing."""
    common = {"weights": args.weights, "method": chosen_method(args), "limit": args.limit,
              "detector": args.detector, "min_score": args.min_score}
    folder = Path(args.data) / args.split
    if getattr(args, "engine", "local") == "ray":
        from svhn_erase.apps.ray_detected import erase_folder_detected_ray

        return erase_folder_detected_ray(folder, args.out, address=args.address,
                                         workers=args.workers, **common)
    if getattr(args, "address", None) is not None or getattr(args, "workers", None) is not None:
        from svhn_erase.errors import SvhnEraseError
        raise SvhnEraseError("--address and --workers go with --engine ray")
    from svhn_erase.apps.erase_detected import erase_folder_detected

    return erase_folder_detected(folder, args.out, **common)


def add_erase_image_detect(p: argparse.ArgumentParser) -> None:
    """``erase-image`` without ``--box``: detect the digits first (else as before)."""
    plain = p.get_default("func")
    add_detector_options(p)

    def run(args: argparse.Namespace) -> None:
        if args.box:
            return plain(args)
        from svhn_erase.apps.erase_detected import erase_image_detected

        result, boxes = erase_image_detected(args.image, args.out, weights=args.weights,
                                             method=chosen_method(args), detector=args.detector,
                                             min_score=args.min_score)
        found = " ".join(",".join(map(str, b)) for b in boxes.tolist())
        print(f"found {len(boxes)} digit(s){' at ' + found if found else ''}; "
              f"{'erased' if result is not None else 'nothing to erase'} -> {args.out}")
        return None

    p.set_defaults(func=run)
