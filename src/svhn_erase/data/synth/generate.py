"""Write a generated split to disk in Format 1 with ground truth, in parallel.

Image ``i`` (0-based) of a split is ``render_sample(seed, i, style, difficulty)``, so the
split is byte-identical for a given seed whatever the number of worker processes.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from svhn_erase import __version__
from svhn_erase.atomic_io import write_bytes, write_json
from svhn_erase.data.digitstruct import write_digitstruct
from svhn_erase.data.synth.backgrounds import DEFAULT_RANGE, load_backgrounds
from svhn_erase.data.synth.difficulty import DEFAULT_DIFFICULTY, difficulty_of
from svhn_erase.data.synth.render import RECIPE_VERSION, render_sample
from svhn_erase.data.synth.sources import style_sources
from svhn_erase.errors import SvhnEraseError
from svhn_erase.paths import make_folder

GENERATOR = "svhn_erase.synth"  # summary.json's "generator": marks a folder as generated
_GENERATED_NAME = re.compile(r"^(\d+)(\.png|_clean\.png|_mask\.png)$")


def _encode_png(img: np.ndarray) -> bytes:
    arr = img[:, :, ::-1] if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


_Job = tuple[str, int, int, str, str, tuple | None, float | None]


def _make_one(job: _Job) -> np.ndarray:
    """Render and write image ``index``; return its boxes with the image's width and height
    appended to each row (a worker's whole answer). ``real`` is ``(folder, (first, last))``
    of the real background strips or None; loaded once per process (before forking)."""
    folder, seed, index, style, difficulty, real, mask_threshold = job
    backgrounds = load_backgrounds(*real) if real is not None else None
    sample = render_sample(seed, index, style, difficulty, backgrounds, mask_threshold)
    out = Path(folder)
    number = index + 1
    write_bytes(out / f"{number}.png", _encode_png(sample.image))
    write_bytes(out / "groundtruth" / f"{number}_clean.png", _encode_png(sample.clean))
    write_bytes(out / "groundtruth" / f"{number}_mask.png", _encode_png(sample.mask))
    h, w = sample.mask.shape
    stats = np.array([[w, h]], np.float64)
    return np.concatenate([sample.boxes, np.repeat(stats, len(sample.boxes), axis=0)], axis=1)


def _prepare_folder(folder: Path, count: int) -> None:
    """Create ``folder``; an earlier synth split there is replaced (its images numbered
    above ``count`` are removed), any other non-empty folder is refused."""
    if folder.exists() and not folder.is_dir():
        raise SvhnEraseError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        try:
            earlier = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError):
            earlier = {}
        if earlier.get("generator") != GENERATOR:
            raise SvhnEraseError(f"{folder}: exists, is not empty and is not a generated split; "
                                 "choose another split name or remove it")
        for path in [*folder.glob("*.png"), *folder.glob("groundtruth/*.png")]:
            match = _GENERATED_NAME.match(path.name)
            if match and int(match.group(1)) > count:
                path.unlink()
    make_folder(folder / "groundtruth")


def _render_all(jobs: list[_Job], workers: int, desc: str,
                progress: bool) -> list[np.ndarray]:
    """``_make_one`` of every job, in order, in ``workers`` processes."""
    from tqdm import tqdm

    count = len(jobs)
    bar = tqdm(total=count, desc=desc, unit="img", disable=not progress or None)
    results: list[np.ndarray] = []
    if workers == 1 or count < 8:
        for job in jobs:
            results.append(_make_one(job))
            bar.update()
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_make_one, jobs, chunksize=max(1, min(32, count // workers // 8))):
                results.append(res)
                bar.update()
    bar.close()
    return results


def _statistics(results: list[np.ndarray]) -> dict:
    """Digits, digits per image and the ranges of image and digit sizes."""
    boxes = [r[:, :5] for r in results]
    per_image = Counter(len(b) for b in boxes)
    sizes = np.array([r[0, 5:7] for r in results])
    digit_h = np.concatenate([b[:, 4] for b in boxes])
    return {
        "digits": int(len(digit_h)),
        "digits_per_image": {str(n): per_image[n] for n in sorted(per_image)},
        "width_range": [int(sizes[:, 0].min()), int(sizes[:, 0].max())],
        "height_range": [int(sizes[:, 1].min()), int(sizes[:, 1].max())],
        "digit_height_range": [int(digit_h.min()), int(digit_h.max())],
    }


def generate_split(root: str | os.PathLike[str], split: str, count: int, seed: int = 0,
                   style: str = "all", workers: int | None = None,
                   progress: bool = True, difficulty: str = DEFAULT_DIFFICULTY,
                   real_backgrounds: str | os.PathLike[str] | None = None,
                   real_range: tuple[int, int] = DEFAULT_RANGE,
                   mask_threshold: float | None = None) -> Path:
    """Write ``root/split`` in Format 1 (``1.png..N.png``, ``digitStruct.mat``) plus
    ``groundtruth/N_clean.png``, ``groundtruth/N_mask.png`` and ``summary.json``.

    Image ``i`` (0-based) is ``render_sample(seed, i, style, difficulty, backgrounds)``, with
    ``backgrounds`` the digit-free strips of the real photos numbered ``real_range`` in the
    Format 1 folder ``real_backgrounds`` (None: no real data); the output does not depend on
    ``workers`` (default: the CPU count). ``mask_threshold`` (default: the difficulty's)
    changes the written masks alone (``render_sample``). Prints a one-line summary; returns
    the folder.
    """
    fonts, photos, walls = style_sources(style)
    diff = difficulty_of(difficulty)
    if count < 1:
        raise SvhnEraseError(f"synth: --count must be at least 1, got {count}")
    if mask_threshold is not None and not 0.0 <= mask_threshold < 1.0:
        raise SvhnEraseError(f"synth: --mask-threshold must be in [0, 1), got {mask_threshold}")
    if not split or Path(split).name != split:
        raise SvhnEraseError(f"synth: split name {split!r} must be a plain folder name")
    real = None
    if real_backgrounds is not None:
        real = (str(Path(real_backgrounds).resolve()), tuple(real_range))
        strips = load_backgrounds(*real)  # loaded here, so that forked workers share them
        if len(strips.pool(style)) == 0:
            raise SvhnEraseError(f"{real_backgrounds}: no strips for style {style!r} in photos "
                                 f"{real_range[0]}-{real_range[1]}")
    folder = Path(root) / split
    _prepare_folder(folder, count)
    workers = max(1, int(workers or os.cpu_count() or 1))
    recipe = {"generator": GENERATOR, "version": __version__,
              "recipe_version": RECIPE_VERSION, "seed": int(seed), "style": style,
              "difficulty": difficulty, "count": count,
              "real_backgrounds": strips.recipe() if real is not None else None}
    # written first so that an interrupted run can be regenerated in place
    write_json(folder / "summary.json", {**recipe, "complete": False})
    jobs = [(str(folder), int(seed), i, style, difficulty, real, mask_threshold)
            for i in range(count)]
    started = time.perf_counter()
    results = _render_all(jobs, workers, f"synth {split}", progress)
    mat_started = time.perf_counter()
    write_digitstruct(folder / "digitStruct.mat", [f"{i + 1}.png" for i in range(count)],
                      [r[:, :5] for r in results])
    mat_seconds = time.perf_counter() - mat_started
    seconds = time.perf_counter() - started
    summary = {
        **recipe, "complete": True, **_statistics(results),
        "mask_threshold": diff.mask_threshold if mask_threshold is None else mask_threshold,
        "box_threshold": diff.box_threshold,
        "halo_px": diff.halo_px, "fonts": fonts, "photos": photos, "walls": walls,
        "seconds": round(seconds, 2), "digitstruct_seconds": round(mat_seconds, 2),
        "workers": workers,
    }
    write_json(folder / "summary.json", summary)
    print(_summary_line(folder, summary, seconds))
    return folder


def _summary_line(folder: Path, s: dict, seconds: float) -> str:
    hist = " ".join(f"{n}:{k}" for n, k in s["digits_per_image"].items())
    real = s.get("real_backgrounds")
    real_text = (f", real backgrounds: {real['strips']} strips of photos {real['photos']}"
                 if real else "")
    return (f"synth {folder}: {s['count']} images, {s['digits']} digits, digits/image {hist}, "
            f"width {s['width_range'][0]}-{s['width_range'][1]} px, "
            f"height {s['height_range'][0]}-{s['height_range'][1]} px, "
            f"digit height {s['digit_height_range'][0]}-{s['digit_height_range'][1]} px, "
            f"style {s['style']}, difficulty {s['difficulty']}, seed {s['seed']}{real_text}, "
            f"{seconds:.1f} s")


def summary_of(split_dir: str | os.PathLike[str]) -> dict:
    """The ``summary.json`` of a generated split."""
    path = Path(split_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SvhnEraseError(f"{path}: cannot read the synth summary ({exc})") from exc
