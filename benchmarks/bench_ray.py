"""Scaling of ``erase --engine ray``: the local engine against Ray with 1 and 2 workers.

Usage (one command; it generates the split when it is missing)::

    python benchmarks/bench_ray.py [--work /work/scratch/h18] [--count 2000] [--workers 1,2]
        [--weights W] [--method default] [--detect N] [--ceiling] [--make-data]

On the split ``WORK/data/benchCOUNT`` (``svhn-erase data synth --count COUNT --seed 18``,
made if absent; ``--make-data`` only makes it, so that a later timed run only times) it
erases every image with the local engine, then with Ray for each worker count, each time
into a fresh folder and, for Ray, on a fresh local Ray (started by the engine and stopped
after). ``--detect N`` times ``erase --detect`` the same way on the first N photos of the
split (the detector finds the boxes; the outputs and ``boxes.csv`` are compared too).
``--ceiling`` times the workers' erase loop alone (read, erase, write; one thread) in 1 and
in N processes at once, without Ray: the most N workers can get from this machine.

Per run the table gives three times and a rate on each (printed with the table):

- ``total s``: the whole call, as a user waits for it: checks, loading the model, starting
  Ray (``start s``), the run, stopping Ray. Rate: **end to end**.
- ``run s``: from a started Ray to the last output written (the engine's ``wall_seconds``;
  local: the whole call). It includes the pool's start, ``pool s``: from the run's start until
  the first worker was ready (Ray Data planning the read, a worker process importing the
  package and receiving the model). Rate: **run**.
- ``run s - pool s``: the workers erasing. Rate: **steady state**.

Each rate's ratio to Ray with one worker is given (all measured in the same run), the end-to-end
rate's ratio to the local engine too; ``erase s`` is the erase stage's seconds summed over the
workers (the same work each time: when it grows with the workers, they were waiting for a
core); ``same`` says whether the outputs are byte-identical to the local engine's. The load
average is printed with the table: on a shared machine the figures are depressed by the other
jobs, and a second worker may find no free core.
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import torch

from svhn_erase import cli
from svhn_erase.apps import erase, erase_detected, ray_detected, ray_engine, ray_pool
from svhn_erase.data.split import Parent, load_table, read_rgb
from svhn_erase.errors import SvhnEraseError

DEFINITIONS = """\
total s = the whole call (checks, model, Ray's start = start s, the run, Ray's stop)
run s   = from a started Ray to the last output (pool s = until the first worker was ready)
end to end = digits / total s;  run = digits / run s;  steady = digits / (run s - pool s)"""


def ensure_split(work: Path, count: int) -> tuple[Path, str]:
    """``WORK/data`` and the split ``benchCOUNT`` of ``count`` images, made when missing."""
    data, name = work / "data", f"bench{count}"
    if not (data / name / "digitStruct.mat").is_file():
        code = cli.main(["data", "synth", "--root", str(data), "--split", name, "--count",
                         str(count), "--seed", "18"])
        if code:
            sys.exit(code)
    return data, name


def same_outputs(a: Path, b: Path) -> bool:
    """Whether two erase folders hold the same images, masks and boxes.csv, byte for byte."""
    names = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.suffix in (".png", ".csv"))
    if names != sorted(str(p.relative_to(b)) for p in b.rglob("*")
                       if p.suffix in (".png", ".csv")):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def timed(name: str, call: Callable[[], dict], out: Path, local_out: Path | None) -> dict:
    """Run one engine call; its row of the table."""
    start = time.perf_counter()
    timing = call()
    total = time.perf_counter() - start
    return {"name": name, "digits": timing["digits"], "images": timing["images"],
            "total": total, "run": timing.get("wall_seconds", total),
            "start": timing.get("startup_seconds", 0.0),
            "pool": timing.get("pool_start_seconds", 0.0), "busy": timing["seconds"],
            "same": local_out is None or same_outputs(out, local_out)}


def run_all(args: argparse.Namespace, data: Path, split: str, detect: bool) -> list[dict]:
    """The local engine, then Ray for each worker count (erase, or erase --detect)."""
    tag = "detect-" if detect else ""
    common = {"weights": args.weights, "method": args.method, "progress": False}
    if detect:
        local = partial(erase_detected.erase_folder_detected, data / split,
                        limit=args.detect, **common)
        on_ray = partial(ray_detected.erase_folder_detected_ray, data / split,
                         limit=args.detect, **common)
    else:
        local = partial(erase.erase_split, data, split, limit=args.limit, **common)
        on_ray = partial(ray_engine.erase_split_ray, data, split, limit=args.limit, **common)
    local_out = fresh(args.work / f"out-{split}-{tag}local")
    rows = [timed("local engine", partial(local, local_out), local_out, None)]
    for workers in (int(w) for w in args.workers.split(",")):
        out = fresh(args.work / f"out-{split}-{tag}ray{workers}")
        rows.append(timed(f"Ray, {workers} worker{'s' if workers > 1 else ''}",
                          partial(on_ray, out, workers=workers), out, local_out))
    return rows


def erase_share(data: Path, split: str, share: int, shares: int, out: Path,
                args: argparse.Namespace, barrier: Any, results: Any) -> None:
    """In a process of its own, one thread: erase every ``shares``-th image from the
    ``share``-th, as a Ray worker does (read, ``erase.batches``, ``erase.erase_batch``),
    starting when every share is ready; put (digits, loop start, loop end) on ``results``."""
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    remover = erase.split_method(args.method, None)
    model, _ = erase.load_model(remover, args.weights)
    path = data / split
    table = load_table(path)
    files = list(dict.fromkeys(table["file"]))[:args.limit][share::shares]
    index = ray_engine.BoxIndex.build(path, table, files)

    def parents() -> Iterator[Parent]:
        for f in files:
            file, boxes, labels = index.lookup(str(path / f))
            with contextlib.suppress(SvhnEraseError):  # skipped as the engines skip it
                yield Parent(file, read_rgb(path / f), boxes, labels)

    barrier.wait()
    start, digits = time.time(), 0
    for group in erase.batches(parents()):
        digits += sum(erase.erase_batch(remover, model, group, out)[0])
    results.put((digits, start, time.time()))


def ceiling(args: argparse.Namespace, data: Path, split: str, shares: int,
            local_out: Path) -> dict:
    """The erase loop alone in ``shares`` processes at once, one thread each, no Ray: the
    most that ``shares`` workers can get from this machine."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(shares), context.Queue()
    out = fresh(args.work / f"out-{split}-plain{shares}")
    procs = [context.Process(target=erase_share,
                             args=(data, split, k, shares, out, args, barrier, results))
             for k in range(shares)]
    for proc in procs:
        proc.start()
    got = [results.get() for _ in procs]
    for proc in procs:
        proc.join()
    seconds = max(end for _, _, end in got) - min(start for _, start, _ in got)
    return {"name": f"{shares} process{'es' if shares > 1 else ''}", "digits":
            sum(d for d, _, _ in got), "seconds": seconds,
            "same": same_outputs(out, local_out)}


def print_ceiling(rows: list[dict]) -> None:
    """The table of ``ceiling`` runs, with each rate's ratio to one process."""
    print("\nthe machine's ceiling: the same erase loop (read, erase, write) in N processes "
          "at once, one thread each, no Ray (after their start-up)")
    print(f"{'processes':<12}{'digits':>7}{'seconds':>9}{'digits/s':>10}{'vs 1':>7}"
          f"{'same':>6}")
    for r in rows:
        rate = r["digits"] / r["seconds"]
        same = "yes" if r["same"] else "NO"
        print(f"{r['name']:<12}{r['digits']:>7}{r['seconds']:>9.2f}{rate:>10.1f}"
              f"{rate / (rows[0]['digits'] / rows[0]['seconds']):>6.2f}x{same:>6}")


def print_table(title: str, rows: list[dict]) -> None:
    """The table: per run its times, its rates (end to end, run, steady state) and their
    ratios to Ray with one worker (end to end also to the local engine)."""
    for r in rows:
        r["e2e"] = r["digits"] / r["total"]
        r["rate"] = r["digits"] / r["run"]
        r["steady"] = r["digits"] / max(r["run"] - r["pool"], 1e-9)
    base, one = rows[0], next((r for r in rows if r["name"] == "Ray, 1 worker"), None)

    def vs_one(r: dict, key: str) -> str:
        ray = one is not None and r["name"].startswith("Ray")
        return f"{r[key] / one[key]:.2f}x" if ray else "-"  # type: ignore[index]

    print(f"\n{title}\n{'':<15}{'':>14}{'seconds':^32}{'end to end':^26}{'run':^16}"
          f"{'steady state':^16}")
    print(f"{'engine':<15}{'images':>7}{'digits':>7}{'total':>8}{'start':>8}{'pool':>8}"
          f"{'run':>8}{'digits/s':>10}{'vs local':>9}{'vs Ray1':>8}{'digits/s':>9}"
          f"{'vs Ray1':>8}{'digits/s':>9}{'vs Ray1':>8}{'erase s':>8}{'same':>6}")
    for r in rows:
        print(f"{r['name']:<15}{r['images']:>7}{r['digits']:>7}{r['total']:>8.2f}"
              f"{r['start']:>8.2f}{r['pool']:>8.2f}{r['run']:>8.2f}{r['e2e']:>10.1f}"
              f"{r['e2e'] / base['e2e']:>8.2f}x{vs_one(r, 'e2e'):>8}{r['rate']:>9.1f}"
              f"{vs_one(r, 'rate'):>8}{r['steady']:>9.1f}{vs_one(r, 'steady'):>8}"
              f"{r['busy']:>8.1f}{'yes' if r['same'] else 'NO':>6}")
    print(DEFINITIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/work/scratch/h18"),
                        help="folder for the split (WORK/data/benchCOUNT) and the outputs")
    parser.add_argument("--count", type=int, default=2000, help="images in the split")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--workers", default="1,2", help="Ray worker counts, e.g. 1,2")
    parser.add_argument("--weights", type=Path, default=None,
                        help="classifier weights (default: the packaged ones)")
    parser.add_argument("--method", default="default", help="removal method")
    parser.add_argument("--detect", type=int, default=0, metavar="N",
                        help="also time erase --detect on the first N photos (0: not)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also time the erase loop alone in 1 and N processes at once "
                        "(no Ray): the most N workers can get from this machine")
    parser.add_argument("--make-data", action="store_true",
                        help="only make the split (if missing), time nothing")
    args = parser.parse_args()
    data, split = ensure_split(args.work, args.count)
    if args.make_data:
        print(f"split {data / split} is ready")
        return
    print(f"split {data / split}, {os.cpu_count()} CPUs, torch threads in this process "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}),"
          f" load average before {os.getloadavg()[0]:.1f}", flush=True)
    counts = [int(w) for w in args.workers.split(",")]
    ray_pool.import_ray()  # imported once before any timing, not in the first Ray run's
    tables = [("erase", run_all(args, data, split, detect=False))]
    if args.detect:
        tables.append((f"erase --detect (first {args.detect} photos)",
                       run_all(args, data, split, detect=True)))
    plain = [ceiling(args, data, split, n, args.work / f"out-{split}-local")
             for n in sorted({1, *counts})] if args.ceiling else []
    for title, rows in tables:
        print_table(title, rows)
    if plain:
        print_ceiling(plain)
    print(f"load average after: {os.getloadavg()[0]:.1f} (1 min), "
          f"{os.getloadavg()[1]:.1f} (5 min)")


if __name__ == "__main__":
    main()
