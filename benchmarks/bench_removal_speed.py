"""Same-run speed ablation of the default method: this tree's code against an older copy of
the package, each with the settings from before issue 14 and those of commit a2c1337, and
both codes' own default settings (this tree also with 167f413's: the default before the
mending of torn masks; and with 4f2c995's: before the fill's rings came from local planes).

Usage::

    git archive <rev> src | tar -x -C /tmp/old      # the baseline code, e.g. a2c1337
    python benchmarks/bench_removal_speed.py --data /work/scratch/s3/data --split tune \
        --baseline-src /tmp/old/src [--limit 300] [--repeat 5]

One worker process per code copy (``PYTHONPATH`` points it at its ``src``), both on one
thread (``torch``, OpenCV, OMP, MKL) and both loading the same classifier file (this tree's
packaged one unless ``--weights``). The images are read once per worker (not timed); every
(code, settings) pair erases one chunk as warm-up, then they take turns, a full pass over
the split each (chunks of 32 images, as ``svhn-erase bench``), ``--repeat`` rounds; the
best pass counts. CPU time is the worker's own (``time.process_time``), so other jobs on
the machine slow the wall clock more than it. Every pass also hashes its outputs (erased
images, written pixels, digit masks, key pixels, classes): pairs with the same settings must
hash alike, or the new code changed what the method does. The ratio column is the speed
(digits per CPU second) over the first row's: the older code with the pre-issue settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import fields, replace

import code_workers
from past_defaults import BEFORE_MENDING, LAST_SESSION, MEAN_RINGS, PRE_ISSUE

CHUNK = 32
SETTINGS = {"pre-issue": PRE_ISSUE, "a2c1337": LAST_SESSION, "167f413": BEFORE_MENDING,
            "4f2c995": MEAN_RINGS, "default": {}}


def _digest(outputs) -> str:
    h = hashlib.sha256()
    for e in outputs:
        for a in (e.image, e.replaced, e.mask, *e.keypix, *e.digit_masks, e.preds):
            h.update(a.tobytes())
    return h.hexdigest()[:16]


def worker(args: argparse.Namespace) -> None:
    """Serve timed passes: one settings name per stdin line, one JSON line back."""
    import cv2
    import numpy as np
    import torch

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    np.seterr(all="ignore")
    import svhn_erase
    from svhn_erase.data import split
    from svhn_erase.model.weights import load_classifier
    from svhn_erase.removal.config import RemovalConfig
    from svhn_erase.removal.methods import Scene, create

    model = load_classifier(args.weights)
    path = split.split_dir(args.data, args.split)
    scenes = [Scene(p.image, p.boxes) for p in split.iter_parents(path, limit=args.limit)]
    chunks = [scenes[i:i + CHUNK] for i in range(0, len(scenes), CHUNK)]
    known = {f.name for f in fields(RemovalConfig)}
    methods = {k: create("default", replace(RemovalConfig(), **{a: b for a, b in v.items()
                                                                 if a in known}))
               for k, v in SETTINGS.items()}
    for m in methods.values():
        m.erase(chunks[0], model)
    print(json.dumps({"package": svhn_erase.__file__}), flush=True)
    for line in sys.stdin:
        m = methods[line.strip()]
        cpu, wall = time.process_time(), time.perf_counter()
        outputs = [e for chunk in chunks for e in m.erase(chunk, model)]
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(json.dumps({"cpu": cpu, "wall": wall, "hash": _digest(outputs),
                          "digits": sum(len(e.preds) for e in outputs)}), flush=True)


def _start(src: str, args: argparse.Namespace) -> subprocess.Popen:
    return code_workers.start(__file__, src, ["--data", args.data, "--split", args.split,
                                              "--limit", str(args.limit),
                                              "--weights", args.weights])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder holding the split folders")
    parser.add_argument("--split", required=True, help="split name, e.g. tune")
    parser.add_argument("--baseline-src",
                        help="the older code's src folder (git archive REV src | tar -x)")
    parser.add_argument("--limit", type=int, default=300, help="first N images (default 300)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    parser.add_argument("--weights", default=None,
                        help="classifier file for both (default: this tree's packaged one)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.weights is None:
        from svhn_erase.model.weights import resolve_weights
        args.weights = str(resolve_weights(None))
    if args.worker:
        worker(args)
        return
    if args.baseline_src is None:
        parser.error("--baseline-src is required")
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    codes = {"baseline": _start(args.baseline_src, args), "this tree": _start(here, args)}
    pairs = [("baseline", "pre-issue"), ("baseline", "a2c1337"), ("baseline", "default"),
             ("this tree", "pre-issue"), ("this tree", "a2c1337"), ("this tree", "167f413"),
             ("this tree", "4f2c995"), ("this tree", "default")]
    runs: dict[tuple[str, str], list[dict]] = {p: [] for p in pairs}
    for _ in range(args.repeat):
        for code, settings in pairs:
            runs[code, settings].append(code_workers.ask(codes[code], settings))
    for proc in codes.values():
        proc.stdin.close()
        proc.wait()
    digits = runs[pairs[0]][0]["digits"]
    base_cpu = min(r["cpu"] for r in runs[pairs[0]])
    base_wall = min(r["wall"] for r in runs[pairs[0]])
    print(f"{'code':<10} {'settings':<10} {'cpu s':>7} {'wall s':>7} {'digits/cpu s':>12} "
          f"{'x cpu':>6} {'x wall':>6}  outputs")
    for (code, settings), rs in runs.items():
        cpu, wall = min(r["cpu"] for r in rs), min(r["wall"] for r in rs)
        hashes = sorted({r["hash"] for r in rs})
        print(f"{code:<10} {settings:<10} {cpu:7.2f} {wall:7.2f} {digits / cpu:12.0f} "
              f"{base_cpu / cpu:6.3f} {base_wall / wall:6.3f}  {','.join(hashes)}")
    same = {s: {r["hash"] for r in runs["baseline", s]} == {r["hash"] for r in runs["this tree", s]}
            for s in ("pre-issue", "a2c1337")}
    same["baseline default = 167f413"] = ({r["hash"] for r in runs["baseline", "default"]}
                                          == {r["hash"] for r in runs["this tree", "167f413"]})
    head = min(r["cpu"] for r in runs["baseline", "default"])
    now = min(r["cpu"] for r in runs["this tree", "default"])
    print(f"this tree's default vs the baseline's: x{head / now:.3f} by CPU time")
    print(f"({digits} digits; best of {args.repeat} interleaved passes, one thread; the two "
          "codes' outputs: " + ", ".join(f"{s} {'identical' if ok else 'DIFFER'}"
                                         for s, ok in same.items()) + ")")


if __name__ == "__main__":
    main()
