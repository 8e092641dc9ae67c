"""Detection benchmark (issue 16): the trained detector against the judge-pyramid baseline,
then erasing with detected boxes against erasing with the true boxes.

Usage::

    python benchmarks/bench_detect.py --real ../shared/real-svhn/train \\
        --heldout /work/scratch/s3/data/heldout --reader \\
        ../shared/reference/original-ConvNet48_Dropout3.pkl --picture docs/detections.png

1. Detection tables on real validation photos (``--val-files``, default 1601-2000) and on a
   generated held-out-style split: per-digit precision and recall at IoU >= 0.5, F1,
   per-number recall, label accuracy of the found digits, images per second (the detector's
   work alone, ``--threads`` torch threads) and its ratio to the baseline's, measured in the
   same run. The baseline is the packaged 11-class judge over an image pyramid
   (``detection.pyramid``), its score threshold picked for F1 on ``--tune-files`` (never
   the validation photos); it is slow, so it is tuned and measured on the first
   ``--baseline-limit`` photos of each set.
2. End to end on the validation photos: the default method erases each photo with the true
   boxes, and with the detected ones (of every number, as the erase commands take them);
   the reader then reads the true boxes of both results
   ("still read": the share it still reads as the true digit, lower is better; as
   ``bench``'s real-photo mode reads them). Detected boxes at the tuned threshold, at the
   weights' recall-minded erase threshold, and at that threshold grown as the erase commands
   grow them (``erase_min_score``, ``erase_grow``).
3. ``--picture``: the detections on the first ten validation photos (none picked by hand;
   true boxes thin white).

``--also WEIGHTS`` adds another detector's row to each detection table (e.g. the previous
single network beside an ensemble: its speed ratio is then measured in the same run).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from svhn_erase import atomic_io
from svhn_erase.apps.erase import erase_scenes, load_model
from svhn_erase.detection import load_detector
from svhn_erase.detection.dataset import Photo, load_photos
from svhn_erase.detection.evaluate import evaluate, score_detections
from svhn_erase.detection.photos import draw
from svhn_erase.detection.pyramid import PyramidDetector
from svhn_erase.evaluation.reader import load_reader, read, reader_crops
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods import Scene, create

COLUMNS = ("detector", "photos", "digits", "precision", "recall", "F1", "number rec",
           "label acc", "images/s", "x baseline")


def _tuned_baseline(tune: list[Photo]) -> PyramidDetector:
    """The judge pyramid with the score threshold of best F1 on the tuning photos."""
    judge = load_classifier(resolve_weights(None, "judge"), device="cpu")
    pyramid = PyramidDetector(judge, min_score=0.3)
    _, found = evaluate(pyramid.detect, tune)
    best = max((0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995), key=lambda th: score_detections(
        [[d for d in f if d.score >= th] for f in found], [p.boxes for p in tune])["f1"])
    print(f"baseline: judge pyramid, min score {best} (best F1 on the tuning photos)")
    pyramid.min_score = best
    return pyramid


def _table(title: str, rows: list[tuple[str, dict]]) -> None:
    base = rows[-1][1]["images_per_s"]
    print(f"\n{title}\n" + " ".join(f"{c:>10}" for c in COLUMNS))
    for name, s in rows:
        print(f"{name:>10} {s['photos']:>10} {s['digits']:>10} {s['precision']:>10.3f} "
              f"{s['recall']:>10.3f} {s['f1']:>10.3f} {s['number_recall']:>10.3f} "
              f"{s['label_accuracy']:>10.3f} {s['images_per_s']:>10.1f} "
              f"{s['images_per_s'] / base:>10.1f}")


def _detection_tables(detector, baseline, sets: dict[str, list[Photo]], limit: int,
                      also=None) -> tuple[dict, dict]:
    """Print the tables; per set, the detections as ``detect`` gives them and those of
    every number at the erase threshold (as the erase commands take them)."""
    shown, found = {}, {}
    s = detector.settings
    for title, photos in sets.items():
        ours, shown[title] = evaluate(detector.detect, photos)
        found[title] = detector.detect([p.image for p in photos],
                                       min_score=min(s.erase_min_score, s.min_score),
                                       every_number=True)
        other = [(also[0], evaluate(also[1].detect, photos)[0])] if also is not None else []
        theirs, _ = evaluate(baseline.detect, photos[:limit])
        _table(title, [("detector", ours), *other, ("pyramid", theirs)])
    return shown, found


def _boxes(found: list, min_score: float, grow: float) -> list[np.ndarray]:
    """Per photo, the (k, 4) int boxes of the detections scoring ``min_score`` or more, each
    grown by ``grow`` times its width / height on every side."""
    out = []
    for f in found:
        b = np.array([[d.box.left, d.box.top, d.box.width, d.box.height] for d in f
                      if d.score >= min_score], float).reshape(-1, 4)
        b[:, :2] -= grow * b[:, 2:]
        b[:, 2:] *= 1 + 2 * grow
        out.append(b.round().astype(int))
    return out


def _erase_all(method, model, photos: list[Photo], boxes: list[np.ndarray]) -> list[np.ndarray]:
    """Each photo erased by ``method`` in its ``boxes`` (unchanged when it has none)."""
    images = []
    for i in range(0, len(photos), 32):
        scenes = [Scene(p.image, b) if len(b) else None
                  for p, b in zip(photos[i:i + 32], boxes[i:i + 32], strict=True)]
        todo = [s for s in scenes if s is not None]
        erased = iter(erase_scenes(method, todo, model)) if todo else iter(())
        images += [next(erased).image if s is not None else p.image
                   for p, s in zip(photos[i:i + 32], scenes, strict=True)]
    return images


def _still_read(photos: list[Photo], found: list, settings, reader_path: str | None) -> None:
    """Erase with true and with detected boxes (default method), read the true boxes."""
    method = create("default")
    model, _ = load_model(method, None)
    reader, reader_file = load_reader(reader_path, torch.device("cpu"))
    variants = {"untouched": None,
                "true boxes": [p.boxes.round().astype(int) for p in photos],
                f"detected ({settings.min_score:.2f})": _boxes(found, settings.min_score, 0.0),
                f"detected ({settings.erase_min_score:.2f})":
                    _boxes(found, settings.erase_min_score, 0.0),
                f"detected ({settings.erase_min_score:.2f}, +{100 * settings.erase_grow:.0f} %)":
                    _boxes(found, settings.erase_min_score, settings.erase_grow)}
    labels = np.concatenate([p.labels for p in photos])
    print(f"\nend to end on {len(photos)} validation photos, {len(labels)} digits; reader "
          f"{reader_file.name}; default method\n{'boxes erased':>24} {'boxes':>6} "
          f"{'still read':>11} {'P(true)':>8}")
    for name, boxes in variants.items():
        images = [p.image for p in photos] if boxes is None else \
            _erase_all(method, model, photos, boxes)
        crops = np.concatenate([reader_crops(im, p.boxes, reader.image_size)
                                for im, p in zip(images, photos, strict=True)])
        _, ok, prob = read(reader, crops, labels)
        n = 0 if boxes is None else sum(len(b) for b in boxes)
        print(f"{name:>24} {n:>6} {100 * ok.mean():>10.1f}% {prob.mean():>8.3f}")


def _picture(photos: list[Photo], found: list, out: Path) -> None:
    fig, axes = atomic_io.new_figure(2, 5, figsize=(15, 4.6))
    for ax, p, f in zip(axes.flat, photos, found, strict=False):
        ax.imshow(draw(p.image, f, truth=p.boxes))
        ax.set_title(f"{p.file}: {' '.join(str(d.label) for d in f)}", fontsize=9)
        ax.axis("off")
    fig.suptitle("detections (coloured, digit and score) and official boxes (white) on real "
                 "validation photos 1601-1610", fontsize=10)
    fig.tight_layout()
    atomic_io.write_figure(out, fig, dpi=80)
    print(f"picture -> {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--real", type=Path, required=True, help="real Format 1 split folder")
    parser.add_argument("--val-files", default="1601-2000")
    parser.add_argument("--tune-files", default="1401-1600")
    parser.add_argument("--heldout", type=Path, default=None, help="a generated split folder")
    parser.add_argument("--detector", type=Path, default=None)
    parser.add_argument("--also", type=Path, default=None,
                        help="another detector's weights, one more row per table")
    parser.add_argument("--reader", default=None, help="reader weights (default: the judge)")
    parser.add_argument("--baseline-limit", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--picture", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    detector = load_detector(args.detector, device="cpu")
    val = load_photos(args.real, args.val_files, progress=False)
    sets = {f"real validation photos {args.val_files}": val}
    if args.heldout is not None:
        sets[f"generated {args.heldout.name}"] = load_photos(args.heldout, progress=False)
    tune = load_photos(args.real, args.tune_files, progress=False)
    baseline = _tuned_baseline(tune[:args.baseline_limit])
    also = (args.also.stem[:10], load_detector(args.also, device="cpu")) if args.also else None
    shown, found = _detection_tables(detector, baseline, sets, args.baseline_limit, also)
    val_found = found[f"real validation photos {args.val_files}"]
    if args.picture is not None:
        _picture(val[:10], shown[f"real validation photos {args.val_files}"][:10], args.picture)
    _still_read(val, val_found, detector.settings, args.reader)


if __name__ == "__main__":
    main()
