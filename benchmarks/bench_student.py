"""Speed of the student remover beside its teacher (``default``) and OpenCV Telea with the box.

Usage::

    python benchmarks/bench_student.py --data /work/scratch/s3/data --split heldout \
        [--limit 300] [--threads 1,2,all] [--repeat 3] [--student LABEL=WEIGHTS ...] [--no-flat]

For each thread count a fresh process sets ``torch.set_num_threads`` and
``cv2.setNumThreads``, reads the images (not timed), warms every method up on one chunk,
then erases all images in chunks of 32 (as ``svhn-erase bench`` does), the methods taking
turns chunk by chunk so that they share whatever else the machine is doing; ``--repeat``
passes, the fastest kept. Digits per second is end to end (everything ``erase`` does, no
file reading). The per-stage breakdown (milliseconds per digit) comes from one more pass
with timers around each method's stages: classifier (the classifier's forward and its
inputs), mask (the digit mask or box mask, and for the student the crops it is cut from),
fill and paste (for the student: mask is cutting the crops, the network's forward and
mapping its masks back to the boxes; fill is the batched GRNN). The ratio column is digits/s
over Telea's in the same process. ``--student LABEL=WEIGHTS`` adds a row for the student
method with other weights (e.g. a candidate from ``train-student``), timed in the same turns;
``--no-flat`` one for the student without its flat-background step (``student.fill``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import cv2
import numpy as np
import torch

METHODS = ("student", "default", "telea_box")
STAGES = ("classifier", "mask", "fill", "paste")
CHUNK = 32


def _scenes(data: str, split_name: str, limit: int):
    from svhn_erase.data import split
    from svhn_erase.removal.methods import Scene

    path = split.split_dir(data, split_name)
    return [Scene(p.image, p.boxes) for p in split.iter_parents(path, limit=limit)]


@contextmanager
def _stage_timers(timer: dict[str, float]):
    """Wrap the stage functions the default and the OpenCV baselines call, adding their
    seconds to ``timer``; the originals are put back afterwards."""
    from svhn_erase.removal.methods import classical, default, records

    def timed(fn, stage):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timer[stage] = timer.get(stage, 0.0) + time.perf_counter() - start
        return wrapper

    patches = [(records, "classifier_inputs", "classifier"), (records, "classify", "classifier"),
               (default, "find_segments", "mask"), (default, "find_backgrounds", "mask"),
               (default, "cluster_records", "mask"), (default, "split_clustered", "mask"),
               (default, "fill_default", "fill"), (default, "add_texture", "fill"),
               (default, "paste", "paste"), (classical, "box_masks", "mask"),
               (classical, "grow_mask", "mask"), (classical, "inpaint_opencv", "fill")]
    saved = [(mod, name, stage, getattr(mod, name)) for mod, name, stage in patches
             if hasattr(mod, name)]  # the default's stages as named today
    for mod, name, stage, fn in saved:
        setattr(mod, name, timed(fn, stage))
    box_masks = classical.TeleaBox.masks
    classical.TeleaBox.masks = staticmethod(timed(classical.box_masks, "mask"))
    try:
        yield
    finally:
        for mod, name, _, fn in saved:
            setattr(mod, name, fn)
        classical.TeleaBox.masks = box_masks


def worker(args: argparse.Namespace) -> dict:
    """One thread count: end-to-end digits/s and stage times per method, as a dict."""
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    from svhn_erase.model.weights import load_classifier, resolve_weights
    from svhn_erase.removal.methods import create
    from svhn_erase.removal.methods.records import box_count
    from svhn_erase.removal.methods.student import StudentConfig, StudentMethod, erase_with
    from svhn_erase.removal.student.fill import FillSettings

    model = load_classifier(resolve_weights(None))
    scenes = _scenes(args.data, args.split, args.limit)
    chunks = [scenes[i:i + CHUNK] for i in range(0, len(scenes), CHUNK)]
    digits = sum(box_count(s) for s in scenes)
    methods = {n: create(n) for n in args.methods}
    for label, path in (s.split("=", 1) for s in args.student):
        methods[label] = create("student", StudentConfig(weights=path))
    if args.no_flat:
        methods["no flat"] = create("student", StudentConfig(fill=FillSettings(flat_noise=0)))
    for m in methods.values():  # warm-up: loading weights, first calls
        m.erase(chunks[0], model)
    best = {n: float("inf") for n in methods}
    for _ in range(args.repeat):
        spent = dict.fromkeys(methods, 0.0)
        for chunk in chunks:
            for name, m in methods.items():
                start = time.perf_counter()
                m.erase(chunk, model)
                spent[name] += time.perf_counter() - start
        best = {n: min(best[n], spent[n]) for n in methods}
    stages: dict[str, dict[str, float]] = {n: {} for n in methods}
    for chunk in chunks:
        for name, m in methods.items():
            if isinstance(m, StudentMethod):
                timer: dict[str, float] = {}
                erase_with(m.network(), chunk, m.config, timer)
                for stage, sec in timer.items():
                    key = "mask" if stage == "cut" else stage
                    stages[name][key] = stages[name].get(key, 0.0) + sec
            else:
                with _stage_timers(stages[name]):
                    m.erase(chunk, model)
    return {"threads": args.threads, "digits": digits, "images": len(scenes),
            "seconds": best, "stages": stages}


def _thread_counts(text: str) -> list[int]:
    counts = []
    for part in text.split(","):
        n = (os.cpu_count() or 1) if part.strip() == "all" else int(part)
        if n not in counts:
            counts.append(n)
    return counts


def _table(result: dict) -> list[str]:
    d, sec = result["digits"], result["seconds"]
    base = d / sec["telea_box"] if "telea_box" in sec else None
    rows = []
    for name, s in sec.items():
        rate = d / s
        ratio = f"{rate / base:5.2f}" if base else "  -  "
        st = result["stages"][name]
        parts = " ".join(f"{1e3 * st[k] / d:7.3f}" if k in st else "      -" for k in STAGES)
        other = 1e3 * (s - sum(st.values())) / d
        rows.append(f"{result['threads']:>7} {name:<10} {rate:9.0f} {ratio:>8} {parts} "
                    f"{max(other, 0.0):7.3f}")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder holding the split folders")
    parser.add_argument("--split", required=True, help="split name, e.g. heldout")
    parser.add_argument("--limit", type=int, default=300, help="first N images (default 300)")
    parser.add_argument("--threads", default="1,2,all",
                        help="thread counts, comma-separated; 'all' = every CPU (default "
                        "1,2,all)")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--methods", default=",".join(METHODS),
                        help=f"methods, comma-separated (default {','.join(METHODS)})")
    parser.add_argument("--student", action="append", default=[], metavar="LABEL=WEIGHTS",
                        help="also time the student method with these weights, as row LABEL; "
                        "repeat for more")
    parser.add_argument("--no-flat", action="store_true",
                        help="also time the student without its flat-background step "
                        "(FillSettings.flat_noise 0), as row 'no flat'")
    parser.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.methods = [m for m in args.methods.split(",") if m]
    if args.worker is not None:
        args.threads = args.worker
        print(json.dumps(worker(args)))
        return
    print(f"{'threads':>7} {'method':<10} {'digits/s':>9} {'x telea':>8} "
          + " ".join(f"{s:>7}" for s in STAGES[:1]) + " "
          + " ".join(f"{s:>7}" for s in STAGES[1:]) + "   other   (ms per digit)")
    for n in _thread_counts(args.threads):
        env = {**os.environ, "OMP_NUM_THREADS": str(n), "MKL_NUM_THREADS": str(n)}
        cmd = [sys.executable, __file__, "--data", args.data, "--split", args.split,
               "--limit", str(args.limit), "--repeat", str(args.repeat),
               "--methods", ",".join(args.methods), "--worker", str(n)]
        cmd += [f"--student={s}" for s in args.student] + ["--no-flat"] * args.no_flat
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
        print("\n".join(_table(result)), flush=True)
    print(f"({result['digits']} digits in {result['images']} images; best of {args.repeat} "
          f"passes; {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
