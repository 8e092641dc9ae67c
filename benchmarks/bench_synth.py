"""Speed of the SVHN-like generator: images per second, and the share of the .mat writer.

Usage: python benchmarks/bench_synth.py [--count 10000] [--single 1000] [--workers N]

Measures, in one run on this machine:
- render only (``render_sample`` in memory, one process) on ``--single`` images;
- ``generate_split`` with one worker on ``--single`` images (the baseline);
- ``generate_split`` with ``--workers`` processes (default: CPU count) on ``--count``
  images, the target being 10,000 images in 2 minutes on a 2-core machine.
The digitStruct.mat writer's time comes from the split's summary.json. CPU seconds (this
process and its workers) are reported too: on a shared machine the wall time says little,
and CPU time / cores is what the run would take with the cores to itself.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

from svhn_erase.data import synth


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=10_000, help="images in the full run")
    p.add_argument("--single", type=int, default=1_000, help="images in the 1-worker runs")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes, full run")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    args = p.parse_args()

    rows = []
    synth.render_sample(args.seed, 0, "all")  # load photos and fonts once
    started, cpu = time.perf_counter(), _cpu_seconds()
    for i in range(args.single):
        synth.render_sample(args.seed, i, "all")
    render_s = time.perf_counter() - started
    rows.append(("render_sample only, 1 process", args.single, render_s, 0.0,
                 _cpu_seconds() - cpu))

    with tempfile.TemporaryDirectory() as tmp:
        for name, count, workers in (("generate_split, 1 worker", args.single, 1),
                                     (f"generate_split, {args.workers} workers", args.count,
                                      args.workers)):
            started, cpu = time.perf_counter(), _cpu_seconds()
            folder = synth.generate_split(tmp, f"w{workers}", count, seed=args.seed,
                                          workers=workers, progress=False)
            seconds = time.perf_counter() - started
            mat = synth.summary_of(folder)["digitstruct_seconds"]
            rows.append((name, count, seconds, mat, _cpu_seconds() - cpu))

    base_rate = rows[1][1] / rows[1][2]
    print()
    print(f"{'run':<34} {'images':>7} {'seconds':>8} {'img/s':>8} {'vs 1 worker':>11} "
          f"{'.mat s':>7} {'.mat share':>10} {'CPU s':>7} {'CPU ms/img':>10}")
    for name, count, seconds, mat, cpu in rows:
        rate = count / seconds
        print(f"{name:<34} {count:>7} {seconds:>8.1f} {rate:>8.1f} {rate / base_rate:>10.2f}x "
              f"{mat:>7.1f} {mat / seconds:>10.1%} {cpu:>7.1f} {1000 * cpu / count:>10.1f}")
    _, count, seconds, mat, cpu = rows[-1]
    free = (cpu - mat) / args.workers + mat  # images in parallel, then the serial .mat writer
    print(f"\n{count} images in {seconds:.1f} s wall with {args.workers} workers "
          f"(target: 10,000 in 120 s; projected for 10,000: {10_000 * seconds / count:.0f} s); "
          f"with {args.workers} free cores (CPU time / workers + .mat): "
          f"{10_000 * free / count:.0f} s")


if __name__ == "__main__":
    main()
