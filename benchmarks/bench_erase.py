"""Speed and quality of digit removal: the default and seed methods beside OpenCV inpainting.

Usage::

    python benchmarks/bench_erase.py --data /work/data --split eval --weights W [--limit N]
        [--seed-limit 20] [--methods default,seed]

Speed (digits per second, end to end: classifier, key pixels, infill, paste; file reading
excluded) is measured in the same run for the chosen key-pixel methods (``seed`` on the
first ``--seed-limit`` images, it is slow) and the registry's OpenCV Telea / Navier-Stokes
with the box as mask (grown by their tuned growth, as ``svhn-erase bench`` runs them).
When the split has ground truth (SPEC §3) it also prints PSNR over the union of the boxes
(``evaluation.metrics``), per image averaged, and key-pixel precision / recall per method,
including Telea / Navier-Stokes with the true digit mask and the original's two key-pixel
methods alone.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from svhn_erase import allocator
from svhn_erase.boxes import clip_boxes
from svhn_erase.data import split
from svhn_erase.evaluation import metrics
from svhn_erase.model.inference import prepared
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal import keypixels
from svhn_erase.removal.config import SeedConfig
from svhn_erase.removal.methods import Erased, Scene, create

BASELINES = ("telea_box", "ns_box")
ORACLES = ("telea_true", "ns_true")


def _mean_defined(values) -> float:
    """Mean of the values that are not None (a box with nothing kept has no precision)."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")


def key_pixel_scores(scene: Scene, keypix: list[np.ndarray], mask: np.ndarray
                     ) -> list[tuple[float | None, float | None]]:
    """(precision, recall) per box of the kept background pixels against the true mask, by
    ``metrics.keypix_precision_recall`` (the definition ``svhn-erase bench`` uses)."""
    scores = []
    for k, (rect, kp) in enumerate(zip(clip_boxes(scene.boxes, scene.image.shape), keypix,
                                       strict=True), start=1):
        if rect is not None and kp.size:
            scores.append(metrics.keypix_precision_recall(kp, mask[rect.slices], k))
    return scores


def timed(name: str, scenes: list[Scene], model: ConvNet) -> tuple[list[Erased], float]:
    """The method's results on ``scenes`` and the seconds they took."""
    start = time.perf_counter()
    results = create(name).erase(scenes, model)
    return results, time.perf_counter() - start


def print_speed(speed: dict[str, tuple[float, int]], header: str) -> None:
    base = speed["telea_box"][0]
    print(header)
    print(f"{'method':<16}{'digits':>8}{'digits/s':>11}{'vs Telea':>10}")
    for name, (rate, digits) in speed.items():
        print(f"{name:<16}{digits:>8}{rate:>11.1f}{rate / base:>10.3f}")


def print_quality(scenes: list[Scene], truth: list[tuple[np.ndarray, np.ndarray]],
                  outputs: dict[str, list[Erased]], seed_count: int) -> None:
    """PSNR over the boxes against the clean image, and key-pixel P / R per digit."""
    print("\nQuality: PSNR (dB) over the boxes vs the clean image, key-pixel P / R per digit")
    print(f"{'method':<16}{'images':>7}{'PSNR':>8}{'PSNR@seed-subset':>18}{'keypix P':>10}"
          f"{'keypix R':>10}")
    for name, results in outputs.items():
        values = [metrics.psnr_over_boxes(r.image, clean, s.boxes)
                  for r, s, (clean, _) in zip(results, scenes, truth, strict=False)]
        line = (f"{name:<16}{len(values):>7}{_mean_defined(values):>8.2f}"
                f"{_mean_defined(values[:seed_count]):>18.2f}")
        if results and results[0].keypix is not None:
            scores = [sc for r, s, (_, m) in zip(results, scenes, truth, strict=False)
                      for sc in key_pixel_scores(s, r.keypix, m)]
            line += (f"{_mean_defined(s[0] for s in scores):>10.3f}"
                     f"{_mean_defined(s[1] for s in scores):>10.3f}")
        print(line)


def print_seed_key_pixels(scenes: list[Scene], truth: list[tuple[np.ndarray, np.ndarray]],
                          model: ConvNet) -> None:
    """Key-pixel P / R of the original's two key-pixel methods alone."""
    crops, sizes, gt = [], [], []
    for scene, (_, mask) in zip(scenes, truth, strict=True):
        for k, rect in enumerate(clip_boxes(scene.boxes, scene.image.shape), start=1):
            if rect is not None:
                crops.append(scene.image[rect.slices])
                sizes.append((rect.height, rect.width))
                gt.append((mask[rect.slices], k))
    x40 = keypixels.classifier_input(crops)
    config = SeedConfig()
    with prepared(model):
        found = {"seed-fmap": keypixels.seed_fmap(model, x40, sizes, config.buckets, config.grid),
                 "seed-grad": keypixels.seed_grad(model, x40, sizes, config.grad_band,
                                                  config.grid)}
    for name, kps in found.items():
        scores = [metrics.keypix_precision_recall(kp.background, m, k)
                  for kp, (m, k) in zip(kps, gt, strict=True)]
        print(f"{'kp ' + name:<16}{len(kps):>7}{'':>8}{'':>18}"
              f"{_mean_defined(s[0] for s in scores):>10.3f}"
              f"{_mean_defined(s[1] for s in scores):>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", required=True)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="images for the default method")
    parser.add_argument("--seed-limit", type=int, default=20, help="images for the seed method")
    parser.add_argument("--methods", default="default,seed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (the svhn-erase command keeps "
                             "freed buffers for reuse, see svhn_erase.allocator)")
    args = parser.parse_args()
    heap = allocator.heap_setting(keep=not args.default_malloc)
    torch.set_num_threads(args.threads)
    path = split.split_dir(args.data, args.split)
    model = load_classifier(resolve_weights(args.weights))
    parents = list(split.iter_parents(path, split.load_table(path), args.limit))
    has_gt = split.has_groundtruth(path)
    truth = [split.read_groundtruth(path, p.file) for p in parents] if has_gt else []
    scenes = [Scene(p.image, p.boxes, metrics.true_digit_mask(truth[i][1], p.boxes)
                    if has_gt else None) for i, p in enumerate(parents)]
    n_digits = sum(len(p.boxes) for p in parents)
    seed_count = min(args.seed_limit, len(parents))

    create("default").erase(scenes[:4], model)  # warm-up: first-call allocations, imports
    speed: dict[str, tuple[float, int]] = {}
    outputs: dict[str, list[Erased]] = {}
    for name in [m for m in args.methods.split(",") if m] + list(BASELINES):
        count = seed_count if name == "seed" else len(scenes)
        outputs[name], seconds = timed(name, scenes[:count], model)
        digits = sum(len(p.boxes) for p in parents[:count])
        speed[name] = (digits / seconds, digits)
    print_speed(speed, f"\nSpeed on {path} ({len(parents)} images, {n_digits} digits, "
                       f"{torch.get_num_threads()} threads, heap: {heap}; every row)")
    if not has_gt:
        return
    for name in ORACLES:
        outputs[name], _ = timed(name, scenes, model)
    outputs = {"untouched": create("untouched").erase(scenes), **outputs}
    print_quality(scenes, truth, outputs, seed_count)
    print_seed_key_pixels(scenes, truth, model)


if __name__ == "__main__":
    main()
