"""The removal benchmark: every method on the same boxes of a split with ground truth.

``run_bench`` reads a split that has ``groundtruth/N_clean.png`` and ``N_mask.png`` (SPEC §3),
runs each method below on every parent, scores it with ``evaluate`` and writes
``OUT/summary.json`` (per-method means), ``OUT/results.csv`` (one row per image and method)
and ``OUT/report.html`` (``report``). Methods:

- ``default`` / ``seed``: this project's removal and the original 2018 one (``erase``);
  ``seed`` only on the first ``seed_limit`` images;
- ``telea_*`` / ``ns_*``: OpenCV inpainting (radius 3) with the box as the mask (``_box``),
  the digit mask ``default`` discovered (``_ours``) or the true digit mask (``_true``);
- ``biharmonic_true``: scikit-image biharmonic inpainting with the true mask, on a crop
  around the boxes (it is slow on whole images);
- ``untouched``: the input as it is.

Speed counts only each method's compute (no decoding, no metrics): ``default`` and ``seed``
are timed per chunk of images (as they batch across images) and the time is shared out to
the images by digit count; the ``_ours`` inpaintings are timed without the mask discovery.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from skimage.restoration import inpaint_biharmonic
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import metrics as evaluate

METHODS = ("default", "seed", "telea_box", "ns_box", "telea_ours", "ns_ours", "telea_true",
           "ns_true", "biharmonic_true", "untouched")
KEYPIX_METHODS = ("default", "seed")
METRICS = ("psnr_box", "ssim_box", "keypix_precision", "keypix_recall", "removal_rate",
           "digits_per_s")
CSV_COLUMNS = ("file", "method", "n_digits", "psnr_box", "ssim_box", "keypix_precision",
               "keypix_recall", "removal_rate", "seconds")
INPAINT_RADIUS = 3
BIHARMONIC_MARGIN = 6
DEFAULT_SEED_LIMIT = 50
CHUNK_IMAGES = 32
THUMB_MIN_HEIGHT = 72  # small regions are enlarged (nearest, integer factor) to this height
THUMB_MAX_WIDTH = 128  # and no thumbnail gets wider or taller than this
THUMB_MAX_HEIGHT = 120


@dataclass
class Sample:
    """One parent with its ground truth: boxes as given (left, top, width, height)."""

    file: str
    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    digit_index: np.ndarray  # (k,) position of each box in digitStruct order (mask value - 1)

    @property
    def n_digits(self) -> int:
        """Boxes with at least one pixel inside the image."""
        return sum(r is not None for r in evaluate.box_rects(self.boxes, self.image.shape))


@dataclass
class MethodOutput:
    """What one method made of one parent."""

    image: np.ndarray
    seconds: float
    mask: np.ndarray | None = None  # (H, W) bool, the pixels the method filled or judged digit
    keypix: list[np.ndarray] | None = None  # per box, key pixels (key-pixel methods only)


@dataclass
class BenchState:
    """Everything gathered over the run: rows, per-digit key-pixel scores, thumbnails."""

    rows: list[dict] = field(default_factory=list)
    keypix: dict[str, list[tuple[float | None, float | None]]] = field(default_factory=dict)
    removed: dict[str, list[bool]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    digits: dict[str, int] = field(default_factory=dict)
    thumbs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # file -> panel -> PNG
    skipped: list[str] = field(default_factory=list)
    calib_original: list[bool] = field(default_factory=list)
    calib_clean: list[bool] = field(default_factory=list)


# --------------------------------------------------------------------------- classical methods


def inpaint_opencv(image: np.ndarray, mask: np.ndarray, algorithm: str) -> np.ndarray:
    """``cv2.inpaint`` (radius 3) of the ``mask`` pixels; ``algorithm`` "telea" or "ns"."""
    if not mask.any():
        return image.copy()
    flag = cv2.INPAINT_TELEA if algorithm == "telea" else cv2.INPAINT_NS
    return cv2.inpaint(np.ascontiguousarray(image), mask.astype(np.uint8), INPAINT_RADIUS, flag)


def inpaint_biharmonic_crop(image: np.ndarray, mask: np.ndarray, boxes: np.ndarray,
                            margin: int = BIHARMONIC_MARGIN) -> np.ndarray:
    """Biharmonic inpainting of the ``mask`` pixels, solved on the rectangle holding the boxes
    grown by ``margin`` (the whole image would cost far more for the same result)."""
    out = image.copy()
    rect = evaluate.bounding_rect(boxes, image.shape, margin=margin)
    if rect is None or not mask.any():
        return out
    t, lft, b, r = rect
    sub_mask = mask[t:b, lft:r]
    if not sub_mask.any():
        return out
    filled = inpaint_biharmonic(image[t:b, lft:r].astype(np.float64) / 255.0, sub_mask,
                                channel_axis=-1)
    region = out[t:b, lft:r]
    region[sub_mask] = np.clip(np.round(filled[sub_mask] * 255.0), 0, 255).astype(np.uint8)
    return out


def _timed(fn: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


# --------------------------------------------------------------------------- loading


def _load_table(path: Path, state: BenchState):
    """The split's digit table; images and boxes the index dropped go to ``state.skipped``."""
    table = split_mod.load_table(path)
    state.skipped.extend(str(p) for p in table.attrs.get("index_report", {}).get("problems", []))
    return table


def _load_models(weights, judge):
    from svhn_erase.model.classify import default_device
    from svhn_erase.model.weights import load_classifier, packaged_checkpoint, resolve_weights

    device = default_device()
    weights = resolve_weights(weights)
    model = load_classifier(weights, device=device)
    if judge is None:
        judge = packaged_checkpoint("judge")
    judge_model = None
    if judge is not None:
        judge_model = load_classifier(judge, device=device)
        if judge_model.num_classes != evaluate.NO_DIGIT + 1:
            raise SvhnEraseError(f"{judge}: a judge needs 11 classes (10 digits + 'no digit'), "
                                 f"this one has {judge_model.num_classes}")
    return Path(weights), model, (Path(judge) if judge is not None else None), judge_model


def _samples(path: Path, table, files: list[str], state: BenchState):
    """Parents with their ground truth, in table order; unreadable ones are reported on stderr,
    listed in ``state.skipped`` and left out."""
    seen = set()
    digit_index = {f: g["digit_index"].to_numpy(int) for f, g in table.groupby("file", sort=False)}
    for parent in split_mod.iter_parents(path, table):
        seen.add(parent.file)
        try:
            clean, mask = split_mod.read_groundtruth(path, parent.file)
            if clean.shape != parent.image.shape or mask.shape != parent.image.shape[:2]:
                raise SvhnEraseError(f"{path / 'groundtruth'}: ground truth of {parent.file} is "
                                     f"not the size of the image {parent.image.shape[:2]}")
        except SvhnEraseError as exc:
            print(f"svhn-erase: skipped: {exc}", file=sys.stderr)
            state.skipped.append(f"{parent.file}: {exc}")
            continue
        order = digit_index.get(parent.file)
        if order is None or len(order) != len(parent.boxes):
            order = np.arange(len(parent.boxes))
        yield Sample(parent.file, parent.image, clean, mask, parent.boxes, order)
    for f in files:
        if f not in seen:
            state.skipped.append(f"{f}: image does not decode or is missing")


# --------------------------------------------------------------------------- thumbnails


def _thumb_geometry(sample: Sample) -> tuple[tuple[int, int, int, int], float]:
    rect = evaluate.bounding_rect(sample.boxes, sample.image.shape)
    if rect is None:
        rect = (0, 0, sample.image.shape[0], sample.image.shape[1])
    t, lft, b, r = rect
    margin = max(4, int(0.3 * max(b - t, 1)))
    rect = evaluate.bounding_rect(np.array([[lft, t, r - lft, b - t]]), sample.image.shape,
                                  margin=margin) or rect
    t, lft, b, r = rect
    h, w = b - t, r - lft
    scale = max(1.0, float(np.ceil(THUMB_MIN_HEIGHT / h)))
    scale = min(scale, THUMB_MAX_WIDTH / w, THUMB_MAX_HEIGHT / h)
    return rect, scale


def _png(region: np.ndarray, scale: float) -> bytes:
    h, w = region.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    resized = cv2.resize(np.ascontiguousarray(region), size, interpolation=interp)
    if resized.ndim == 3:
        resized = cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", resized)
    return buf.tobytes() if ok else b""


def _keypix_overlay(sample: Sample, keypix: list[np.ndarray]) -> np.ndarray:
    """RGB: the image in dim grey; kept pixels green if truly background, red if truly digit
    (any digit's pixel counts as digit)."""
    kept = evaluate.place_masks(keypix, sample.boxes, sample.image.shape)
    dim = (cv2.cvtColor(sample.image, cv2.COLOR_RGB2GRAY).astype(np.float32) * 0.4)
    out = np.repeat(dim.astype(np.uint8)[..., None], 3, axis=2)
    bg = sample.mask == 0
    out[kept & bg] = (40, 220, 70)
    out[kept & ~bg] = (255, 40, 40)
    return out


def _mask_rgb(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """White = mask, dark grey = inside a box but not in the mask, black elsewhere."""
    out = np.zeros((*mask.shape, 3), np.uint8)
    out[evaluate.union_mask(boxes, mask.shape)] = 60
    out[mask] = 255
    return out


def _store_thumbs(state: BenchState, sample: Sample, outputs: dict[str, MethodOutput]) -> None:
    (t, lft, b, r), scale = _thumb_geometry(sample)
    panels = {"original": sample.image, "clean": sample.clean,
              "true_mask": _mask_rgb(evaluate.true_digit_mask(sample.mask, sample.boxes),
                                     sample.boxes)}
    for method, out in outputs.items():
        panels[f"{method}:erased"] = out.image
        if out.mask is not None:
            panels[f"{method}:mask"] = _mask_rgb(out.mask, sample.boxes)
        if out.keypix is not None:
            panels[f"{method}:keypix"] = _keypix_overlay(sample, out.keypix)
    state.thumbs[sample.file] = {k: _png(v[t:b, lft:r], scale) for k, v in panels.items()}


# --------------------------------------------------------------------------- the run


def _run_chunk(chunk: list[Sample], model, seed_count: int) -> list[dict[str, MethodOutput]]:
    """Every method on every sample of ``chunk``; ``seed`` on the first ``seed_count``."""
    from svhn_erase.removal.pipeline import erase_images

    images = [s.image for s in chunk]
    boxes = [s.boxes for s in chunk]
    digits = np.array([max(s.n_digits, 1) for s in chunk], float)
    outputs: list[dict[str, MethodOutput]] = [{} for _ in chunk]
    for method, count in (("default", len(chunk)), ("seed", seed_count)):
        if count <= 0:
            continue
        start = time.perf_counter()
        erased = erase_images(images[:count], boxes[:count], model, method=method)
        elapsed = time.perf_counter() - start
        share = digits[:count] / digits[:count].sum()
        for i, e in enumerate(erased):
            placed = evaluate.place_masks(e.digit_mask, chunk[i].boxes, chunk[i].image.shape)
            outputs[i][method] = MethodOutput(e.image, float(elapsed * share[i]), placed,
                                              list(e.keypix))
    for i, s in enumerate(chunk):
        box_mask = evaluate.union_mask(s.boxes, s.image.shape)
        true_mask = evaluate.true_digit_mask(s.mask, s.boxes)
        ours = outputs[i]["default"].mask
        for kind, mask in (("box", box_mask), ("ours", ours), ("true", true_mask)):
            for algo in ("telea", "ns"):
                img, sec = _timed(lambda a=algo, m=mask, s=s: inpaint_opencv(s.image, m, a))
                outputs[i][f"{algo}_{kind}"] = MethodOutput(img, sec, mask)
        img, sec = _timed(lambda m=true_mask, s=s: inpaint_biharmonic_crop(s.image, m, s.boxes))
        outputs[i]["biharmonic_true"] = MethodOutput(img, sec, true_mask)
        outputs[i]["untouched"] = MethodOutput(s.image, 0.0, None)
    return outputs


def _score_chunk(state: BenchState, chunk: list[Sample], outputs: list[dict[str, MethodOutput]],
                 judge) -> None:
    # one judge forward for the whole chunk: original, clean and every method's crops
    crop_sets: list[tuple[str | None, int, np.ndarray]] = []
    for i, s in enumerate(chunk):
        crop_sets.append(("__original", i, evaluate.judge_crops(s.image, s.boxes)))
        crop_sets.append(("__clean", i, evaluate.judge_crops(s.clean, s.boxes)))
        for method, out in outputs[i].items():
            crop_sets.append((method, i, evaluate.judge_crops(out.image, s.boxes)))
    verdicts: dict[tuple[str, int], np.ndarray] = {}
    if judge is not None:
        flat = evaluate.judge_no_digit(judge, np.concatenate([c for _, _, c in crop_sets]))
        pos = 0
        for method, i, c in crop_sets:
            verdicts[(method, i)] = flat[pos:pos + len(c)]
            pos += len(c)
    for i, s in enumerate(chunk):
        if judge is not None:
            state.calib_original.extend(verdicts[("__original", i)].tolist())
            state.calib_clean.extend(verdicts[("__clean", i)].tolist())
        rects = evaluate.box_rects(s.boxes, s.image.shape)
        for method, out in outputs[i].items():
            precisions, recalls = [], []
            if out.keypix is not None:
                for j, (kp, rect) in enumerate(zip(out.keypix, rects, strict=True)):
                    if rect is None:
                        continue
                    t, lft, b, r = rect
                    p, rc = evaluate.keypix_precision_recall(kp, s.mask[t:b, lft:r],
                                                             int(s.digit_index[j]) + 1)
                    state.keypix.setdefault(method, []).append((p, rc))
                    precisions.append(p)
                    recalls.append(rc)
            removal = None
            if judge is not None:
                v = verdicts[(method, i)]
                state.removed.setdefault(method, []).extend(v.tolist())
                removal = float(v.mean()) if len(v) else None
            state.seconds[method] = state.seconds.get(method, 0.0) + out.seconds
            state.digits[method] = state.digits.get(method, 0) + s.n_digits
            state.rows.append({
                "file": s.file, "method": method, "n_digits": s.n_digits,
                "psnr_box": evaluate.psnr_over_boxes(out.image, s.clean, s.boxes),
                "ssim_box": evaluate.ssim_over_boxes(out.image, s.clean, s.boxes),
                "keypix_precision": _mean(precisions) if out.keypix is not None else None,
                "keypix_recall": _mean(recalls) if out.keypix is not None else None,
                "removal_rate": removal, "seconds": out.seconds,
            })
        _store_thumbs(state, s, outputs[i])


def _mean(values) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def summarize(state: BenchState, judge_present: bool) -> dict[str, dict]:
    """Per method: means over images (PSNR, SSIM), over digits (key pixels, removal), and
    digits per second over the whole run."""
    summary: dict[str, dict] = {}
    for method in METHODS:
        rows = [r for r in state.rows if r["method"] == method]
        if not rows:
            continue
        kp = state.keypix.get(method, [])
        removed = state.removed.get(method, [])
        seconds = state.seconds.get(method, 0.0)
        digits = state.digits.get(method, 0)
        summary[method] = {
            "psnr_box": _mean(r["psnr_box"] for r in rows),
            "ssim_box": _mean(r["ssim_box"] for r in rows),
            "keypix_precision": _mean(p for p, _ in kp) if method in KEYPIX_METHODS else None,
            "keypix_recall": _mean(rc for _, rc in kp) if method in KEYPIX_METHODS else None,
            "removal_rate": float(np.mean(removed)) if judge_present and removed else None,
            "digits_per_s": digits / seconds if method != "untouched" and seconds > 0 else None,
            "n_images": len(rows),
            "n_digits": digits,
        }
    return summary


def _rounded(value):
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def _write_csv(path: Path, rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row[k] is None else
                             (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]))
                         for k in CSV_COLUMNS})
    atomic_io.write_text(path, buf.getvalue())


def format_table(summary: dict[str, dict]) -> str:
    """The summary as a fixed-width text table."""
    head = (f"{'method':<16}{'images':>7}{'digits':>7}{'PSNR dB':>9}{'SSIM':>7}"
            f"{'kp prec':>9}{'kp rec':>8}{'removed':>9}{'digits/s':>10}")
    lines = [head, "-" * len(head)]

    def f(v, fmt):
        return format(v, fmt) if v is not None else "-"

    for method, m in summary.items():
        removed = f(None if m["removal_rate"] is None else 100 * m["removal_rate"], ".1f")
        lines.append(f"{method:<16}{m['n_images']:>7}{m['n_digits']:>7}"
                     f"{f(m['psnr_box'], '.2f'):>9}{f(m['ssim_box'], '.3f'):>7}"
                     f"{f(m['keypix_precision'], '.3f'):>9}{f(m['keypix_recall'], '.3f'):>8}"
                     f"{removed + (' %' if removed != '-' else ''):>9}"
                     f"{f(m['digits_per_s'], '.1f'):>10}")
    return "\n".join(lines)


def _settings(data_root, split, path, weights, model, judge_path, judge, limit, seed_limit,
              n_files, state) -> dict:
    device = next(model.parameters()).device
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    n_orig = len(state.calib_original)
    return {
        "data": str(Path(data_root).resolve()), "split": split, "split_path": str(path),
        "images_listed": n_files, "limit": limit, "seed_limit": seed_limit,
        "weights": str(weights), "net": model.name,
        "judge": str(judge_path) if judge_path else None,
        "judge_net": judge.name if judge is not None else None,
        "judge_same_architecture": bool(judge is not None and judge.name == model.name),
        "calibration_original_no_digit": (float(np.mean(state.calib_original))
                                          if n_orig else None),
        "calibration_clean_no_digit": (float(np.mean(state.calib_clean))
                                       if state.calib_clean else None),
        "calibration_crops": n_orig,
        "device": str(device), "gpu": gpu, "torch": torch.__version__,
        "opencv": cv2.__version__, "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "skipped": list(state.skipped),
        "inpaint_radius": INPAINT_RADIUS, "biharmonic_margin": BIHARMONIC_MARGIN,
    }


def run_bench(data_root: str | os.PathLike[str], split: str, weights: str | os.PathLike[str]
              | None, out: str | os.PathLike[str], limit: int | None = None,
              judge: str | os.PathLike[str] | None = None,
              seed_limit: int | None = DEFAULT_SEED_LIMIT, progress: bool = True,
              print_table: bool = True) -> dict:
    """Run every method on ``data_root/split`` (which must have ground truth) and write
    ``out/summary.json``, ``out/results.csv`` and ``out/report.html``; return the summary.

    ``weights``: the removal classifier (None: the packaged one). ``judge``: an 11-class
    classifier for the removal rate (None: the packaged one if any, else no removal rate).
    ``limit``: first N images only; ``seed_limit``: run ``seed`` on the first M of those
    (None: all; 0: not at all).
    """
    from svhn_erase.evaluation import report

    path = split_mod.split_dir(data_root, split)
    if not split_mod.has_groundtruth(path):
        raise SvhnEraseError(f"{path}: no groundtruth/ folder; the benchmark needs a split with "
                             "ground truth (e.g. 'svhn-erase data synth')")
    if limit is not None and limit < 1:
        raise SvhnEraseError(f"--limit must be at least 1, not {limit}")
    out = Path(out)
    weights_path, model, judge_path, judge_model = _load_models(weights, judge)
    state = BenchState()
    table = _load_table(path, state)
    files = list(dict.fromkeys(table["file"]))
    if limit is not None:
        files = files[:limit]
        table = table[table["file"].isin(set(files))]
    seed_left = len(files) if seed_limit is None else max(0, int(seed_limit))

    torch.manual_seed(0)
    warmed = False
    bar = tqdm(total=len(files), unit="img", desc=f"bench {split}", disable=not progress)
    chunk: list[Sample] = []

    def flush() -> None:
        nonlocal seed_left, warmed
        if not chunk:
            return
        if not warmed:  # first calls pay one-time set-up; keep it out of the timing
            from svhn_erase.removal.pipeline import erase_images

            for method in ("default", "seed") if seed_left else ("default",):
                erase_images([chunk[0].image], [chunk[0].boxes], model, method=method)
            warmed = True
        n_seed = min(seed_left, len(chunk))
        outputs = _run_chunk(chunk, model, n_seed)
        seed_left -= n_seed
        _score_chunk(state, chunk, outputs, judge_model)
        bar.update(len(chunk))
        chunk.clear()

    try:
        for sample in _samples(path, table, files, state):
            chunk.append(sample)
            if len(chunk) >= CHUNK_IMAGES:
                flush()
        flush()
    finally:
        bar.close()
    if not state.rows:
        raise SvhnEraseError(f"{path}: no image could be benchmarked")

    summary = summarize(state, judge_model is not None)
    settings = _settings(data_root, split, path, weights_path, model, judge_path, judge_model,
                         limit, seed_limit, len(files), state)
    out.mkdir(parents=True, exist_ok=True)
    atomic_io.write_json(out / "summary.json", _rounded(summary))
    _write_csv(out / "results.csv", state.rows)
    html = report.render_report(summary, state.rows, settings, state.thumbs)
    atomic_io.write_text(out / "report.html", html)
    if print_table:
        print(format_table(summary))
    if settings["skipped"]:
        print(f"skipped {len(settings['skipped'])} image(s); see the report")
    print(f"report: {out / 'report.html'}")
    return summary
