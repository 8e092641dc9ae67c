"""``svhn-erase demo``: the whole mission in one command, on data generated on the spot.

Stages, each skipped when a previous run already finished it with the same settings
(so a second run, or a run after Ctrl-C, continues where the last one stopped):

1. generate a test split with ground truth (held-out fonts and backgrounds);
2. the classifier and the judge: the checkpoints shipped in the package (made by our own
   ``train`` command; recipe in ``checkpoints/README.md``), or with ``--train`` trained here
   on a freshly generated train split;
3. erase the test split with the default method (``OUT/erased``);
4. run the benchmark against the classical inpainters (``OUT/bench/report.html``);
5. draw before / after pictures (``OUT/before_after.png``) and print the summary.

Every stage writes its outputs atomically and records itself in ``OUT/demo-state.json``
only when finished.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from svhn_erase import atomic_io
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.weights import CHECKPOINTS_DIR, resolve_weights, weights_digest
from svhn_erase.paths import make_folder


@dataclass(frozen=True)
class Profile:
    """How much work the demo does."""

    test_images: int
    seed_limit: int  # images the slow original method is benchmarked on
    train_images: int  # only with --train
    train_epochs: int  # only with --train
    pictures: int  # rows in before_after.png


PROFILES = {
    "fast": Profile(test_images=300, seed_limit=10, train_images=1500, train_epochs=2, pictures=6),
    "default": Profile(test_images=2000, seed_limit=100, train_images=13000, train_epochs=15,
                       pictures=8),
}
TEST_SEED = 20261124
TRAIN_SEED = 1


def _stage(state_path: Path, name: str, params: dict, work: Callable[[], dict | None]) -> dict:
    """Run ``work`` unless ``state_path`` records stage ``name`` done with ``params``."""
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    done = state.get(name)
    if done and done.get("params") == params:
        print(f"[demo] {name}: reusing the result of an earlier run")
        return done.get("result") or {}
    print(f"[demo] {name} ...", flush=True)
    started = time.perf_counter()
    result = work() or {}
    state = json.loads(state_path.read_text()) if state_path.is_file() else {}
    state[name] = {"params": params, "result": result,
                   "seconds": round(time.perf_counter() - started, 1)}
    atomic_io.write_json(state_path, state)
    return result


def _split_params(count: int, seed: int, style: str) -> dict:
    """What a generated split depends on, the generator's recipe version included (a newer
    recipe regenerates the split)."""
    from svhn_erase.data import synth

    return {"count": count, "seed": seed, "style": style,
            "difficulty": synth.DEFAULT_DIFFICULTY, "recipe_version": synth.RECIPE_VERSION}


def _split_done(folder: Path, params: dict) -> bool:
    summary = folder / "summary.json"
    if not summary.is_file():
        return False
    s = json.loads(summary.read_text())
    return s.get("complete", True) and all(s.get(k) == v for k, v in params.items())


def _generate(root: Path, split: str, params: dict) -> dict:
    from svhn_erase.data import synth

    folder = root / split
    if not _split_done(folder, params):
        synth.generate_split(root, split, count=params["count"], seed=params["seed"],
                             style=params["style"], difficulty=params["difficulty"],
                             workers=os.cpu_count())
    return {"folder": str(folder)}


def _trained(state: Path, out: Path, stage: str, params: dict, classes: int, net: str,
             run_id: str) -> Path:
    """The stage that trains ``net`` (``classes`` outputs) on the generated train split; the
    weights it wrote."""
    from svhn_erase.model.train import TrainConfig, train_classifier

    config = TrainConfig(split="train", test_split="test", net=net, epochs=params["epochs"],
                         classes=classes)

    def work() -> dict:
        run = train_classifier(out / "data", config, runs=out / "runs", run_id=run_id)
        return {"weights": str(run / "model.safetensors"), "run": str(run)}

    return Path(_stage(state, stage, {**params, "net": net}, work)["weights"])


def _fit(image: np.ndarray, cell_w: int, cell_h: int) -> np.ndarray:
    """``image`` scaled to fit a white ``cell_w`` x ``cell_h`` cell, centred."""
    from PIL import Image

    h, w = image.shape[:2]
    scale = min(cell_w / w, cell_h / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))
    cell = np.full((cell_h, cell_w, 3), 255, np.uint8)
    y, x = (cell_h - size[1]) // 2, (cell_w - size[0]) // 2
    cell[y:y + size[1], x:x + size[0]] = small
    return cell


def before_after_picture(test_dir: Path, erased_dir: Path, out_png: Path, rows: int) -> Path:
    """A grid: one row per image, columns original | erased (default) | clean scene."""
    from PIL import Image, ImageDraw

    from svhn_erase.data.split import read_rgb

    files = sorted((p.name for p in erased_dir.glob("*.png")),
                   key=lambda n: int(Path(n).stem) if Path(n).stem.isdigit() else 0)[:rows]
    if not files:
        raise SvhnEraseError(f"{erased_dir}: no erased images to draw")
    cell_w, cell_h, gap, head = 200, 96, 4, 18
    titles = ["original", "erased (svhn-erase default)", "clean scene (ground truth)"]
    width = 3 * cell_w + 2 * gap
    sheet = Image.new("RGB", (width, head + len(files) * (cell_h + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(titles):
        draw.text((c * (cell_w + gap) + 4, 3), title, fill=(0, 0, 0))
    for r, name in enumerate(files):
        stem = Path(name).stem
        images = [read_rgb(test_dir / name), read_rgb(erased_dir / name),
                  read_rgb(test_dir / "groundtruth" / f"{stem}_clean.png")]
        for c, image in enumerate(images):
            sheet.paste(Image.fromarray(_fit(image, cell_w, cell_h)),
                        (c * (cell_w + gap), head + r * (cell_h + gap)))
    atomic_io.write_image(out_png, np.asarray(sheet))
    return out_png


def _models(state: Path, out: Path, profile: Profile, train: bool) -> tuple[Path, Path]:
    """``(classifier, judge)`` weights: packaged, or with ``train`` trained here on a
    generated train split."""
    if not train:
        weights, judge = resolve_weights(None, "classifier"), resolve_weights(None, "judge")
        print(f"[demo] classifier: {weights}\n[demo] judge: {judge}\n"
              f"[demo] (made by our own train command; recipe in {CHECKPOINTS_DIR / 'README.md'})")
        return weights, judge
    data = out / "data"
    train_params = _split_params(profile.train_images, TRAIN_SEED, "train")
    _stage(state, "generate train split", train_params,
           lambda: _generate(data, "train", train_params))
    spec = {**train_params, "epochs": profile.train_epochs}
    return (_trained(state, out, "train classifier", spec, 10, "ConvNet48_Dropout5", "classifier-"),
            _trained(state, out, "train judge", spec, 11, "ConvNet32_753", "judge-"))


def _benchmark(state: Path, out: Path, profile: Profile, weights: Path, judge: Path,
               erase_params: dict) -> dict[str, dict]:
    """The benchmark stage; its per-method summary."""
    from svhn_erase.evaluation.bench import run_bench
    from svhn_erase.evaluation.selection import method_settings

    judge_sha = weights_digest(judge) if judge and Path(judge).is_file() else None
    params = {**erase_params, "judge": str(judge), "judge_sha256": judge_sha,
              "seed_limit": profile.seed_limit, "methods": method_settings()}

    def bench() -> dict:
        result = run_bench(out / "data", "test", weights, out / "bench", judge=judge,
                           seed_limit=profile.seed_limit)
        return {"summary": result["methods"]}

    return _stage(state, "benchmark", params, bench)["summary"]


def _print_summary(out: Path, summary: dict[str, dict], timing: dict, picture: Path,
                   seconds: float) -> None:
    from svhn_erase.evaluation.report import format_paired, format_table
    from svhn_erase.removal.methods.base import method_class

    print()
    print(format_table(summary))
    print(format_paired(summary))
    d, box = summary["default"], summary["telea_box"]
    print(f"\nErased {timing.get('digits')} digits in {timing.get('seconds')} s of erase time "
          f"(default method). PSNR over the boxes: {d['psnr_box']:.2f} dB default vs "
          f"{box['psnr_box']:.2f} dB telea_box ({method_class('telea_box').description}).")
    print(f"Before / after: {picture}")
    print(f"Open the report: {(out / 'bench' / 'report.html').resolve()}")
    print(f"[demo] finished in {seconds:.0f} s")


def run_demo(out: str | os.PathLike[str] = "svhn-erase-demo", fast: bool = False,
             train: bool = False) -> dict:
    """Run the demo into ``out``; return the benchmark's per-method summary."""
    from svhn_erase.apps.erase import erase_split

    profile = PROFILES["fast" if fast else "default"]
    out = make_folder(out)
    state, data = out / "demo-state.json", out / "data"
    started = time.perf_counter()
    print(f"[demo] profile {'fast' if fast else 'default'}: {asdict(profile)}; output in {out}")

    test_params = _split_params(profile.test_images, TEST_SEED, "heldout")
    _stage(state, "generate test split", test_params,
           lambda: _generate(data, "test", test_params))
    weights, judge = _models(state, out, profile, train)
    erase_params = {"weights": str(weights), "weights_sha256": weights_digest(weights),
                    **test_params}
    timing = _stage(state, "erase test split", erase_params,
                    lambda: erase_split(data, "test", out / "erased", weights=weights))
    summary = _benchmark(state, out, profile, weights, judge, erase_params)
    picture = before_after_picture(data / "test", out / "erased", out / "before_after.png",
                                   profile.pictures)
    _print_summary(out, summary, timing, picture, time.perf_counter() - started)
    return summary
