"""The removal benchmark: the registered removal methods on the same boxes of a split.

``run_bench`` reads a split that has ``groundtruth/N_clean.png`` and ``N_mask.png`` (SPEC §3),
runs the headline methods of the registry (``removal.methods``, in registration order; any
others with ``methods``, see ``selection``) on chunks of its images, scores them
(``scoring``) and writes ``OUT/summary.json`` (per-method figures and the settings that
shaped them), ``OUT/results.csv`` (one row per image and method) and ``OUT/report.html``
(``report``). ``seed`` is slow: it runs on the first ``seed_limit`` images only. A split
without ground truth (real photos) is measured by the real-photo mode instead (``real``).

Each method sees ``Scene``s with the true digit mask (oracle baselines use it) and, once
``default`` has run on the chunk, the mask ``default`` found (the ``*_ours`` baselines use it,
so their time is the inpainting alone). Speed counts each method's own compute (no decoding,
no metrics): a method is timed per chunk and its time shared out to the images by digits.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import platform
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import report, scoring
from svhn_erase.evaluation.judge import load_judge
from svhn_erase.evaluation.scoring import Sample, Scores
from svhn_erase.evaluation.selection import chunks, image_counts, select_files, select_methods
from svhn_erase.evaluation.thumbnails import thumbnails
from svhn_erase.model.nets import ConvNet
from svhn_erase.paths import make_folder

# importing the package registers every method (svhn_erase/removal/methods/__init__.py)
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, create

log = logging.getLogger(__name__)

DEFAULT_SEED_LIMIT = 50
CHUNK_IMAGES = 32
FINDER = "default"  # the method whose mask becomes Scene.found_mask for the *_ours baselines


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Models:
    """The removal classifier and the judge (None: no removal rate), with their files."""

    weights: Path
    model: ConvNet
    judge_path: Path | None
    judge: ConvNet | None
    seed_weights: Path | None = None  # the seed method's classifier, when not ``weights``
    seed_model: ConvNet | None = None


def _load_models(weights, judge, seed_weights=None) -> Models:
    """The removal classifier, the judge (given, else packaged, else none) and the seed
    method's own classifier (if given)."""
    from svhn_erase.model.inference import default_device
    from svhn_erase.model.weights import load_classifier, packaged_checkpoint, resolve_weights

    device = default_device()
    weights = resolve_weights(weights)
    model = load_classifier(weights, device=device)
    judge = judge if judge is not None else packaged_checkpoint("judge")
    judge_model = load_judge(judge, device) if judge is not None else None
    seed_model = load_classifier(seed_weights, device=device) if seed_weights else None
    return Models(Path(weights), model, Path(judge) if judge is not None else None, judge_model,
                  Path(seed_weights) if seed_weights else None, seed_model)


def read_samples(path: Path, table: pd.DataFrame, files: list[str],
             skipped: list[str]) -> Iterator[Sample]:
    """Images with their ground truth, in table order; unreadable ones are logged, listed in
    ``skipped`` and left out."""
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
            log.warning("skipped: %s", exc)
            skipped.append(f"{parent.file}: {exc}")
            continue
        order = digit_index.get(parent.file)
        if order is None or len(order) != len(parent.boxes):
            order = np.arange(len(parent.boxes))
        yield Sample(parent.file, parent.image, clean, mask, parent.boxes, order)
    skipped.extend(f"{f}: image does not decode or is missing" for f in files if f not in seen)


# --------------------------------------------------------------------------- erasing


def erase_scenes(methods: Sequence[RemovalMethod], scenes: list[Scene], n_digits: Sequence[int],
                 model: ConvNet | None, counts: dict[str, int], seed_model: ConvNet | None = None
                 ) -> tuple[list[dict[str, Erased]], list[dict[str, float]]]:
    """Every method on the first ``counts[name]`` scenes: per scene, what each method made of
    it and its seconds (the method's time on them, shared by ``n_digits``). Once ``FINDER``
    has run, the others get its mask as ``Scene.found_mask``. ``seed_model``, if given, is
    the ``seed`` method's classifier instead of ``model``."""
    digits = np.array([max(n, 1) for n in n_digits], float)
    erased: list[dict[str, Erased]] = [{} for _ in scenes]
    seconds: list[dict[str, float]] = [{} for _ in scenes]
    for method in methods:
        n = min(counts[method.name], len(scenes))
        if n <= 0:
            continue
        start = time.perf_counter()
        own = seed_model if seed_model is not None and method.name == "seed" else model
        results = method.erase(scenes[:n], own)
        elapsed = time.perf_counter() - start
        share = digits[:n] / digits[:n].sum()
        for i, result in enumerate(results):
            erased[i][method.name] = result
            seconds[i][method.name] = float(elapsed * share[i])
        if method.name == FINDER:
            scenes[:n] = [replace(sc, found_mask=r.mask)
                          for sc, r in zip(scenes, results, strict=False)]
    return erased, seconds


def _erase_chunk(methods: Sequence[RemovalMethod], chunk: list[Sample], models: Models,
                 counts: dict[str, int]) -> tuple[list[dict[str, Erased]], list[dict[str, float]]]:
    """``erase_scenes`` of a chunk of samples (the true mask in each scene)."""
    scenes = [Scene(s.image, s.boxes, true_mask=s.true_mask) for s in chunk]
    return erase_scenes(methods, scenes, [s.n_digits for s in chunk], models.model, counts,
                        models.seed_model)


def _run_methods(samples: Iterable[Sample], methods: Sequence[RemovalMethod], models: Models,
                 counts: dict[str, int], bar: tqdm) -> tuple[Scores, dict[str, dict[str, bytes]]]:
    """Every method on ``samples`` chunk by chunk (each on its first ``counts[name]``
    images): the scores and, per image, the gallery thumbnails."""
    scores, thumbs = Scores(), {}
    torch.manual_seed(0)
    for n, chunk in enumerate(chunks(samples, CHUNK_IMAGES)):
        if n == 0:  # first calls pay one-time set-up: keep it out of the timing
            _erase_chunk(methods, chunk[:1], models, counts)
        erased, seconds = _erase_chunk(methods, chunk, models, counts)
        counts = {name: max(0, count - len(chunk)) for name, count in counts.items()}
        scoring.score_chunk(scores, chunk, erased, seconds, models.judge)
        thumbs.update({s.file: thumbnails(s.image, s.clean, s.digits, s.boxes, erased[i])
                       for i, s in enumerate(chunk)})
        bar.update(len(chunk))
    return scores, thumbs


# --------------------------------------------------------------------------- outputs


def _settings(run: dict, models: Models, scores: Scores,
              methods: Sequence[RemovalMethod]) -> dict:
    """Everything that shaped the figures: the run's request (``run``), the weights, the
    judge and its calibration, the methods' settings, the machine and the software."""
    device = next(models.model.parameters()).device
    original, clean = scores.calibration["original"], scores.calibration["clean"]
    judge = models.judge
    return {
        **run, "chunk_images": CHUNK_IMAGES, "weights": str(models.weights),
        "net": models.model.name,
        "seed_weights": str(models.seed_weights or models.weights),  # the seed key pixels'
        "seed_net": (models.seed_model or models.model).name,
        "judge": str(models.judge_path) if judge is not None else None,
        "judge_net": judge.name if judge is not None else None,
        "judge_same_architecture": bool(judge is not None and judge.name == models.model.name),
        "calibration_original_no_digit": float(np.mean(original)) if original else None,
        "calibration_clean_no_digit": float(np.mean(clean)) if clean else None,
        "calibration_crops": len(original),
        "methods": {m.name: m.settings() for m in methods},
        **environment(device),
    }


def environment(device: torch.device) -> dict:
    """The machine, the software and the date, for a run's settings."""
    return {
        "device": str(device),
        "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "torch": torch.__version__, "opencv": cv2.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs",
        "threads": torch.get_num_threads(),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def rounded(value):
    """Floats (also inside dicts) to 6 decimals, for summary.json."""
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


def _write_outputs(out: Path, summary: dict[str, dict], settings: dict, scores: Scores,
                   thumbs: dict[str, dict[str, bytes]],
                   by_kind: dict[str, dict] | None = None) -> dict:
    make_folder(out)
    document = {"methods": rounded(summary), "by_kind": rounded(by_kind or {}),
                "settings": rounded(settings)}
    atomic_io.write_json(out / "summary.json", document)
    table = scoring.image_table(scores)
    scoring.write_results_csv(out / "results.csv", table)
    atomic_io.write_text(out / "report.html",
                         report.render_report(summary, table, settings, thumbs,
                                              document["by_kind"]))
    return document


# --------------------------------------------------------------------------- the run


def run_bench(data_root: str | os.PathLike[str], split: str, weights: str | os.PathLike[str]
              | None, out: str | os.PathLike[str], limit: int | None = None,
              judge: str | os.PathLike[str] | None = None,
              seed_limit: int | None = DEFAULT_SEED_LIMIT, progress: bool = True,
              methods: Sequence[str] | None = None, files: str | None = None,
              reader: str | os.PathLike[str] | None = None,
              seed_weights: str | os.PathLike[str] | None = None,
              method_configs: Mapping[str, Any] | None = None) -> dict:
    """Run the removal methods on ``data_root/split`` and write ``out/summary.json``,
    ``out/results.csv`` and ``out/report.html``; return what ``summary.json`` holds:
    ``{"methods": {name: figures}, "settings": {...}}``. A split with ground truth is scored
    against it; one without (real photos) by the real-photo mode (``real.run_real``: still
    read by ``reader``, its floor, decoy fidelity; ``summary.json`` adds ``"floor"``).

    ``weights``: the removal classifier (None: the packaged one); ``seed_weights``: the
    ``seed`` method's (None: ``weights``; splits with ground truth only). ``judge``: an 11-class
    classifier for the removal rate (None: the packaged one if any, else no removal rate).
    ``reader``: real-photo mode's reader (None: the packaged judge). ``methods``: method
    names (None: the headline ones; ``["all"]``: every registered one). ``files``: a range of
    file numbers such as ``"1601-2000"``. ``limit``: first N images (of those) only;
    ``seed_limit``: run ``seed`` on the first M of those (None: all; 0: not at all).
    ``method_configs``: settings for some methods by name (e.g. ``{"student":
    StudentConfig(weights=...)}``); the others run with their defaults.
    """
    path = split_mod.split_dir(data_root, split)
    if limit is not None and limit < 1:
        raise SvhnEraseError(f"--limit must be at least 1, not {limit}")
    truth = split_mod.has_groundtruth(path)
    names = select_methods(methods, with_truth=truth)
    table = split_mod.load_table(path)
    skipped = [str(p) for p in table.attrs.get("index_report", {}).get("problems", [])]
    listed = select_files(list(dict.fromkeys(table["file"])), files)[:limit]
    table = table[table["file"].isin(set(listed))]
    make_folder(out)  # a folder that cannot take the outputs: refused before the work
    created = [create(name, (method_configs or {}).get(name)) for name in names]
    counts = image_counts(created, len(listed), seed_limit)
    run = {"data": str(Path(data_root).resolve()), "split": split, "split_path": str(path),
           "images_listed": len(listed), "files": files, "limit": limit,
           "seed_limit": seed_limit, "skipped": skipped}
    if not truth:
        from svhn_erase.evaluation import real

        if seed_weights is not None:
            log.warning("--seed-weights is for splits with ground truth; the real-photo mode "
                        "runs seed with --weights")
        models = _load_models(weights, judge)
        return real.run_real(path, table, listed, created, counts, models.model, models.weights,
                             reader, Path(out), run, progress)
    if reader is not None:
        log.warning("--reader is for splits without ground truth; %s has it, so the judge "
                    "scores removal and the reader is not used", path)
    models = _load_models(weights, judge, seed_weights)

    samples = read_samples(path, table, listed, skipped)
    with tqdm(total=len(listed), unit="img", desc=f"bench {split}", disable=not progress) as bar:
        scores, thumbs = _run_methods(samples, created, models, counts, bar)
    if not scores.images:
        raise SvhnEraseError(f"{path}: no image could be benchmarked")

    summary = scoring.summarize(scores, created)
    settings = _settings({**run, "mode": "groundtruth"}, models, scores, created)
    return _write_outputs(Path(out), summary, settings, scores, thumbs,
                          scoring.summarize_by_kind(scores, created))
