"""Speed of the SVHN-like generator: images per second, and the share of the .mat writer.

Usage: python benchmarks/bench_synth.py [--count 10000] [--single 1000] [--workers N]

Measures, in one run on this machine:
- render only (``render_sample`` in memory, one process) on ``--single`` images;
- ``generate_split`` with one worker on ``--single`` images (the baseline);
- ``generate_split`` with ``--workers`` processes (default: CPU count) on ``--count``
  images, the target being 10,000 images in 2 minutes on a 2-core machine.
The digitStruct.mat writer's time comes from the split's summary.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from svhn_erase import synth


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=10_000, help="images in the full run")
    p.add_argument("--single", type=int, default=1_000, help="images in the 1-worker runs")
    p.add_argument("--workers", type=int, default=os.cpu_count(), help="processes, full run")
    p.add_argument("--seed", type=int, default=0, help="generator seed")
    args = p.parse_args()

    rows = []
    started = time.perf_counter()
    for i in range(args.single):
        synth.render_sample(args.seed, i, "all")
    render_s = time.perf_counter() - started
    rows.append(("render_sample only, 1 process", args.single, render_s, 0.0))

    with tempfile.TemporaryDirectory() as tmp:
        for name, count, workers in (("generate_split, 1 worker", args.single, 1),
                                     (f"generate_split, {args.workers} workers", args.count,
                                      args.workers)):
            started = time.perf_counter()
            folder = synth.generate_split(tmp, f"w{workers}", count, seed=args.seed,
                                          workers=workers, progress=False)
            seconds = time.perf_counter() - started
            mat = synth.summary_of(folder)["digitstruct_seconds"]
            rows.append((name, count, seconds, mat))

    base_rate = rows[1][1] / rows[1][2]
    print()
    print(f"{'run':<34} {'images':>7} {'seconds':>8} {'img/s':>8} {'vs 1 worker':>11} "
          f"{'.mat s':>7} {'.mat share':>10}")
    for name, count, seconds, mat in rows:
        rate = count / seconds
        print(f"{name:<34} {count:>7} {seconds:>8.1f} {rate:>8.1f} {rate / base_rate:>10.2f}x "
              f"{mat:>7.1f} {mat / seconds:>10.1%}")
    full = rows[-1]
    print(f"\n{full[1]} images in {full[2]:.1f} s with {args.workers} workers "
          f"(target: 10,000 in 120 s; projected for 10,000: {10_000 * full[2] / full[1]:.0f} s)")


if __name__ == "__main__":
    main()
