"""Scaling of ``erase --engine ray``: the local engine against Ray with 1 and 2 workers.

Usage (one command; it generates the split when it is missing)::

    python benchmarks/bench_ray.py [--work /work/scratch/h18] [--count 2000] [--workers 1,2]
        [--weights W] [--method default]

On the split ``WORK/data/bench`` (``svhn-erase data synth --count COUNT --seed 18``, made if
absent) it erases every image with the local engine, then with Ray for each worker count,
each time into a fresh folder and, for Ray, on a fresh local Ray (started by the engine and
stopped after). Per run it prints the digits; ``start s``, the seconds Ray took to start
(not part of the run); ``pool s``, from the run's start until the first worker was ready
(importing the package and receiving the model through the object store); ``wall s``, the
run (local: the whole ``erase_split`` call; Ray: from the started Ray to the last output,
the pool's start included); digits per second on that wall time and on the part after the
pool started; their ratios to the local engine and to Ray with one worker, all measured in
the same run; ``erase s``, the erase stage's seconds summed over the workers (the same
work each time: when it grows with the workers, they were waiting for a core); and whether
the outputs are byte-identical to the local engine's. The machine's load average is printed
with the table: on a shared machine the figures are depressed by the other jobs, and a
second worker may find no free core to run on.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from svhn_erase import cli
from svhn_erase.apps import erase, ray_engine


def ensure_split(work: Path, count: int) -> Path:
    """``WORK/data``, generating the ``bench`` split of ``count`` images when missing."""
    data = work / "data"
    if not (data / "bench" / "digitStruct.mat").is_file():
        code = cli.main(["data", "synth", "--root", str(data), "--split", "bench", "--count",
                         str(count), "--seed", "18"])
        if code:
            sys.exit(code)
    return data


def same_bytes(a: Path, b: Path) -> bool:
    """Whether two erase folders hold the same images and masks, byte for byte."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*.png"))
    if names != sorted(str(p.relative_to(b)) for p in b.rglob("*.png")):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def run_local(data: Path, out: Path, args: argparse.Namespace) -> dict:
    start = time.perf_counter()
    timing = erase.erase_split(data, "bench", fresh(out), weights=args.weights,
                               method=args.method, limit=args.limit)
    return {"name": "local engine", "digits": timing["digits"], "images": timing["images"],
            "wall": time.perf_counter() - start, "start": 0.0, "pool": 0.0,
            "busy": timing["seconds"], "same": True}


def run_ray(data: Path, out: Path, workers: int, local_out: Path,
            args: argparse.Namespace) -> dict:
    timing = ray_engine.erase_split_ray(data, "bench", fresh(out), weights=args.weights,
                                        method=args.method, limit=args.limit,
                                        workers=workers)
    return {"name": f"Ray, {workers} worker{'s' if workers > 1 else ''}",
            "digits": timing["digits"], "images": timing["images"],
            "wall": timing["wall_seconds"], "start": timing["startup_seconds"],
            "pool": timing["pool_start_seconds"], "busy": timing["seconds"],
            "same": same_bytes(out, local_out)}


def print_table(rows: list[dict]) -> None:
    """The table: per run its rates (on the run's wall time, and on the part after the pool
    started) and their ratios to the local engine and to Ray with one worker."""
    for r in rows:
        r["rate"] = r["digits"] / r["wall"]
        r["after"] = r["digits"] / max(r["wall"] - r["pool"], 1e-9)
    base, one = rows[0], next((r for r in rows if r["name"] == "Ray, 1 worker"), None)
    print(f"\n{'engine':<16}{'images':>7}{'digits':>7}{'start s':>8}{'pool s':>7}"
          f"{'wall s':>8}{'digits/s':>9}{'vs local':>9}{'vs Ray 1':>9}"
          f"{'after pool':>11}{'vs Ray 1':>9}{'erase s':>8}{'same bytes':>11}")
    for r in rows:
        ray = one is not None and r["name"].startswith("Ray")
        vs_one = f"{r['rate'] / one['rate']:.2f}x" if ray else "-"
        after_one = f"{r['after'] / one['after']:.2f}x" if ray else "-"
        print(f"{r['name']:<16}{r['images']:>7}{r['digits']:>7}{r['start']:>8.2f}"
              f"{r['pool']:>7.2f}{r['wall']:>8.2f}{r['rate']:>9.1f}"
              f"{r['rate'] / base['rate']:>8.2f}x{vs_one:>9}{r['after']:>11.1f}{after_one:>9}"
              f"{r['busy']:>8.1f}{'yes' if r['same'] else 'NO':>11}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/h18"),
                        help="folder for the split (WORK/data/bench) and the outputs")
    parser.add_argument("--count", type=int, default=2000, help="images in a new split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, e.g. 1,2")
    parser.add_argument("--weights", type=Path, default=None,
                        help="classifier weights (default: the packaged ones)")
    parser.add_argument("--method", default="default", help="removal method")
    args = parser.parse_args()
    data = ensure_split(args.work, args.count)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"split {data / 'bench'}, {os.cpu_count()} CPUs, torch threads in this process "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}),"
          f" load average before {os.getloadavg()[0]:.1f}", flush=True)
    local_out = args.work / "out-local"
    rows = [run_local(data, local_out, args)]
    for workers in counts:
        rows.append(run_ray(data, args.work / f"out-ray{workers}", workers, local_out, args))
    print_table(rows)
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min), "
          f"{os.getloadavg()[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()
