"""Speed and quality of digit removal: the default and seed methods beside OpenCV inpainting.

Usage::

    python benchmarks/bench_erase.py --data /work/data --split eval --weights W [--limit N]
        [--seed-limit 20] [--methods default,seed] [--no-baselines]

Speed (digits per second, end to end: classifier, key pixels, infill, paste; file reading
excluded) is measured in the same run for the default method, the seed method (on the first
``--seed-limit`` images, it is slow) and OpenCV Telea / Navier-Stokes with the box as mask
(radius 3). When the split has ground truth (SPEC §3) it also prints PSNR over the union of
the boxes, per image averaged, and key-pixel precision / recall per method, including
Telea / Navier-Stokes with the true digit mask.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from svhn_erase import allocator
from svhn_erase.data import split
from svhn_erase.evaluation import metrics as evaluate
from svhn_erase.model.weights import load_classifier
from svhn_erase.removal import keypixels
from svhn_erase.removal import pipeline as erase


def box_union(shape: tuple[int, ...], boxes: np.ndarray) -> np.ndarray:
    union = np.zeros(shape[:2], bool)
    for box in boxes:
        clipped = erase.clip_box(box, shape[0], shape[1])
        if clipped is not None:
            t, lft, b, r = clipped
            union[t:b, lft:r] = True
    return union


def psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64))[region] ** 2).mean())
    return 10 * np.log10(255.0**2 / max(mse, 1e-10))


def opencv_inpaint(images: list[np.ndarray], masks: list[np.ndarray], flag: int
                   ) -> list[np.ndarray]:
    return [cv2.inpaint(img, m.astype(np.uint8) * 255, 3, flag) for img, m in
            zip(images, masks, strict=True)]


def key_pixel_scores(boxes: np.ndarray, keypix: list[np.ndarray], mask: np.ndarray,
                     shape: tuple[int, ...]) -> list[tuple[float | None, float | None]]:
    """(precision, recall) per box of the kept background pixels against the true mask, by
    ``evaluate.keypix_precision_recall`` (the definition ``svhn-erase bench`` uses)."""
    scores = []
    for k, (box, kp) in enumerate(zip(boxes, keypix, strict=True), start=1):
        clipped = erase.clip_box(box, shape[0], shape[1])
        if clipped is None or kp.size == 0:
            continue
        t, lft, b, r = clipped
        scores.append(evaluate.keypix_precision_recall(kp, mask[t:b, lft:r], k))
    return scores


def _mean_defined(values) -> float:
    """Mean of the values that are not None (a box with nothing kept has no precision)."""
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else float("nan")


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
    model = load_classifier(erase.resolve_weights(args.weights))
    parents = list(split.iter_parents(path, split.load_table(path), args.limit))
    images = [p.image for p in parents]
    boxes = [p.boxes for p in parents]
    n_digits = sum(len(b) for b in boxes)
    has_gt = split.has_groundtruth(path)
    truth = [split.read_groundtruth(path, p.file) for p in parents] if has_gt else []
    methods = [m for m in args.methods.split(",") if m]

    # warm-up (first-call allocations, lazy imports) on a few images
    erase.erase_images(images[:4], boxes[:4], model, "default")

    speed: dict[str, tuple[float, int]] = {}
    outputs: dict[str, list[np.ndarray]] = {}
    keypix: dict[str, list[list[np.ndarray]]] = {}
    for method in methods:
        count = len(parents) if method == "default" else min(args.seed_limit, len(parents))
        start = time.perf_counter()
        results = erase.erase_images(images[:count], boxes[:count], model, method)
        seconds = time.perf_counter() - start
        digits = sum(len(b) for b in boxes[:count])
        speed[method] = (digits / seconds, digits)
        outputs[method] = [r.image for r in results]
        keypix[method] = [r.keypix for r in results]
    box_masks = [box_union(img.shape, b) for img, b in zip(images, boxes, strict=True)]
    for name, flag in (("telea box", cv2.INPAINT_TELEA), ("ns box", cv2.INPAINT_NS)):
        start = time.perf_counter()
        outputs[name] = opencv_inpaint(images, box_masks, flag)
        speed[name] = (n_digits / (time.perf_counter() - start), n_digits)

    base = speed["telea box"][0]
    print(f"\nSpeed on {path} ({len(parents)} images, {n_digits} digits, "
          f"{torch.get_num_threads()} threads, heap: {heap}; every row)")
    print(f"{'method':<12}{'digits':>8}{'digits/s':>11}{'vs Telea':>10}")
    for name, (rate, digits) in speed.items():
        print(f"{name:<12}{digits:>8}{rate:>11.1f}{rate / base:>10.3f}")

    if not has_gt:
        return
    true_masks = [m > 0 for _, m in truth]
    outputs["telea true"] = opencv_inpaint(images, true_masks, cv2.INPAINT_TELEA)
    outputs["ns true"] = opencv_inpaint(images, true_masks, cv2.INPAINT_NS)
    outputs = {"untouched": images, **outputs}
    seed_count = min(args.seed_limit, len(parents))
    print("\nQuality: PSNR (dB) over the boxes vs the clean image, key-pixel P / R per digit")
    print(f"{'method':<12}{'images':>7}{'PSNR':>8}{'PSNR@seed-subset':>18}{'keypix P':>10}"
          f"{'keypix R':>10}")
    for name, outs in outputs.items():
        values = [psnr(o, clean, u) for o, (clean, _), u in
                  zip(outs, truth, box_masks, strict=False)]
        sub = np.mean(values[:seed_count])
        line = f"{name:<12}{len(values):>7}{np.mean(values):>8.2f}{sub:>18.2f}"
        if name in keypix:
            scores = [s for kp, (_, m), p in zip(keypix[name], truth, parents, strict=False)
                      for s in key_pixel_scores(p.boxes, kp, m, p.image.shape)]
            precision = _mean_defined(s[0] for s in scores)
            recall = _mean_defined(s[1] for s in scores)
            line += f"{precision:>10.3f}{recall:>10.3f}"
        print(line)
    # the original's first key-pixel try, for comparison (key pixels only)
    crops, sizes, gt = [], [], []
    for p, (_, m) in zip(parents, truth, strict=True):
        for k, box in enumerate(p.boxes, start=1):
            clipped = erase.clip_box(box, *p.image.shape[:2])
            if clipped is None:
                continue
            t, lft, b, r = clipped
            crops.append(p.image[t:b, lft:r])
            sizes.append((b - t, r - lft))
            gt.append((m[t:b, lft:r], k))
    x40 = keypixels.classifier_input(crops)
    for name, fn in (("seed-fmap", keypixels.seed_fmap), ("seed-grad", keypixels.seed_grad)):
        kps = fn(model, x40, sizes)
        scores = [evaluate.keypix_precision_recall(kp.background, m, k)
                  for kp, (m, k) in zip(kps, gt, strict=True)]
        print(f"{'kp ' + name:<12}{len(kps):>7}{'':>8}{'':>18}"
              f"{_mean_defined(s[0] for s in scores):>10.3f}"
              f"{_mean_defined(s[1] for s in scores):>10.3f}")


if __name__ == "__main__":
    main()
