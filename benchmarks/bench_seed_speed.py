"""Same-run speed of the ``seed`` method's GRNN fill (``grnn.fill_seed``): this tree's code
against an older copy of the package, on the same crops, with the same results expected.

Usage::

    git archive <rev> src | tar -x -C /tmp/seedold      # the baseline code
    python benchmarks/bench_seed_speed.py --data ../shared/real-svhn --split train \
        --files 1-40 --baseline-src /tmp/seedold/src [--repeat 1] [--out /tmp/seedbench]
    python benchmarks/bench_seed_speed.py --data /work/scratch/s12/h-seed/data --split s \
        --baseline-src /tmp/seedold/src

The crops and their key-pixel patterns are made once, by this tree's code with the
packaged classifier (as ``SeedMethod.erase`` does: the stretched 40 x 40 input, the first
layer's quiet bucket), and written to ``--out/crops.pkl``. One worker process per code copy
(``PYTHONPATH`` points it at its ``src``; torch, OMP and MKL on one thread) then runs
``fill_seed`` on all of them with the default ``SeedConfig``, the two taking turns,
``--repeat`` rounds; the best round counts. CPU time is the worker's own
(``time.process_time``), so other jobs on the machine slow the wall clock more than it.
Each worker also hashes every crop's trained weights (``train_growing``'s results) and the
generated crops, and writes the crops to ``--out/<code>.npz``; the table ends with how many
crops and pixels differ between the two codes and by how many grey levels at most.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import subprocess
import sys
import time
from pathlib import Path

import code_workers


def _crops(args: argparse.Namespace) -> dict:
    """The seed method's crops and patterns for the chosen photos (this tree's code)."""
    from svhn_erase.data import split
    from svhn_erase.evaluation.selection import select_files
    from svhn_erase.model.weights import load_classifier, resolve_weights
    from svhn_erase.removal.config import SeedConfig
    from svhn_erase.removal.keypixels import seed_fmap
    from svhn_erase.removal.methods import Scene, records

    path = split.split_dir(args.data, args.split)
    table = split.load_table(path)
    listed = select_files(list(dict.fromkeys(table["file"])), args.files)[:args.limit]
    table = table[table["file"].isin(set(listed))]
    scenes = [Scene(p.image, p.boxes) for p in split.iter_parents(path, table)]
    digits = records.digit_records(scenes)
    config = SeedConfig()
    keypix = seed_fmap(load_classifier(resolve_weights(args.weights)),
                       records.classifier_inputs(digits), [r.crop.shape[:2] for r in digits],
                       config.buckets, config.grid)
    return {"crops": [r.crop for r in digits], "patterns": [k.pattern for k in keypix],
            "images": len(scenes)}


def worker(args: argparse.Namespace) -> None:
    """Serve timed fills: one output path per stdin line, one JSON line back."""
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import svhn_erase
    from svhn_erase.removal import grnn
    from svhn_erase.removal.config import SeedConfig

    data = pickle.loads(Path(args.out, "crops.pkl").read_bytes())
    trained = grnn.train_growing
    weights = hashlib.sha256()

    def hashing(*a, **k):
        out = trained(*a, **k)
        for w in out:
            weights.update(w.cpu().numpy().tobytes())
        return out

    grnn.train_growing = hashing
    print(json.dumps({"package": svhn_erase.__file__}), flush=True)
    for line in sys.stdin:
        weights = hashlib.sha256()
        cpu, wall = time.process_time(), time.perf_counter()
        filled = grnn.fill_seed(data["crops"], data["patterns"], SeedConfig())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        crops = hashlib.sha256()
        for c in filled:
            crops.update(c.tobytes())
        np.savez(line.strip(), *filled)
        print(json.dumps({"cpu": cpu, "wall": wall, "weights": weights.hexdigest()[:16],
                          "crops": crops.hexdigest()[:16]}), flush=True)


def _start(src: str, args: argparse.Namespace) -> subprocess.Popen:
    return code_workers.start(__file__, src, ["--out", args.out])


def _compare(old: str, new: str) -> str:
    """How the two codes' generated crops differ."""
    import numpy as np

    with np.load(old) as a, np.load(new) as b:
        diffs = [np.abs(a[k].astype(int) - b[k].astype(int)) for k in a.files]
    pixels = sum(d.any(-1).sum() for d in diffs)
    total = sum(d.shape[0] * d.shape[1] for d in diffs)
    return (f"crops differing {sum(bool(d.any()) for d in diffs)}/{len(diffs)}, pixels "
            f"{pixels}/{total}, max {max((int(d.max()) for d in diffs), default=0)} grey levels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="folder holding the split folders")
    parser.add_argument("--split", help="split name, e.g. train")
    parser.add_argument("--files", default=None, help="file numbers, e.g. 1-40 (default all)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--baseline-src",
                        help="the older code's src folder (git archive REV src | tar -x)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (default 1)")
    parser.add_argument("--weights", default=None, help="classifier (default: the packaged one)")
    parser.add_argument("--out", default="/tmp/seedbench", help="folder for crops and outputs")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    if not (args.data and args.split and args.baseline_src):
        parser.error("--data, --split and --baseline-src are required")
    Path(args.out).mkdir(parents=True, exist_ok=True)
    data = _crops(args)
    Path(args.out, "crops.pkl").write_bytes(pickle.dumps(data))
    here = str(Path(__file__).resolve().parents[1] / "src")
    codes = {"baseline": _start(args.baseline_src, args), "this tree": _start(here, args)}
    runs: dict[str, list[dict]] = {c: [] for c in codes}
    for _ in range(args.repeat):
        for code, proc in codes.items():
            npz = Path(args.out, f"{code.replace(' ', '_')}.npz")
            runs[code].append(code_workers.ask(proc, str(npz)))
    for proc in codes.values():
        proc.stdin.close()
        proc.wait()
    digits = len(data["crops"])
    base = min(r["cpu"] for r in runs["baseline"])
    print(f"{data['images']} images, {digits} digits; best of {args.repeat}, one thread")
    print(f"{'code':<10} {'cpu s':>7} {'wall s':>7} {'digits/cpu s':>12} {'x cpu':>6}  "
          "weights hash      crops hash")
    for code, rs in runs.items():
        cpu, wall = min(r["cpu"] for r in rs), min(r["wall"] for r in rs)
        print(f"{code:<10} {cpu:7.2f} {wall:7.2f} {digits / cpu:12.2f} {base / cpu:6.2f}  "
              f"{','.join(sorted({r['weights'] for r in rs})):<17} "
              f"{','.join(sorted({r['crops'] for r in rs}))}")
    print(_compare(*(str(Path(args.out, f"{c}.npz")) for c in ("baseline", "this_tree"))))


if __name__ == "__main__":
    main()
