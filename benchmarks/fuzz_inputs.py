"""Fuzz the input readers for as long as asked: the suite's harness (``tests/fuzz_targets.py``)
run for N seconds instead of a fixed count.

Each target gets a slice of the time in turn: a mutated ``digitStruct.mat`` indexed as a
split, a mutated PNG decoded, any text parsed as a box, a classifier file with any metadata
and a mutated header loaded. An input may be accepted or refused with ``SvhnEraseError``;
any other exception is a finding, printed once per kind with the input that raised it, and
so is an input that raises the process's peak memory by more than ``MEMORY_STEP_MB``. The
table gives the inputs tried per target, how many were accepted and refused, the findings,
and the rate against the box parser's (the cheapest target, measured in the same run).

    python benchmarks/fuzz_inputs.py --seconds 600
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, Verbosity, given, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import fuzz_targets as ft  # noqa: E402  (the suite's harness)

MEMORY_STEP_MB = 256  # an input that raises the peak memory this much is a finding

TARGETS = {
    "mat": (ft.mat_inputs, lambda folder, x: ft.run_mat(folder, *x)),
    "png": (ft.png_inputs, lambda folder, x: ft.run_png(folder, *x)),
    "box": (ft.box_inputs, lambda folder, x: ft.run_box(x)),
    "safetensors": (ft.safetensors_inputs, lambda folder, x: ft.run_safetensors(folder, *x)),
}


class Tally:
    """Counts for one target: inputs tried, accepted, refused, and findings by kind."""

    def __init__(self) -> None:
        self.tried = self.accepted = self.refused = 0
        self.seconds = 0.0
        self.findings: Counter[str] = Counter()
        self.first: dict[str, str] = {}


def run_target(name: str, folder: Path, tally: Tally, seconds: float) -> None:
    """Feed ``name`` generated inputs for about ``seconds`` (batches of 50, no shrinking)."""
    strategy, target = TARGETS[name]
    last: list = [None]

    @settings(max_examples=50, deadline=None, database=None, phases=[Phase.generate],
              report_multiple_bugs=False, verbosity=Verbosity.quiet,
              suppress_health_check=list(HealthCheck))
    @given(x=strategy())
    def once(x) -> None:
        last[0] = x
        tally.tried += 1
        before = _peak_mb()
        accepted = target(folder, x)
        if _peak_mb() - before > MEMORY_STEP_MB:
            raise MemoryError(f"the peak memory rose from {before:.0f} to {_peak_mb():.0f} MB")
        if accepted:
            tally.accepted += 1
        else:
            tally.refused += 1

    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        try:
            once()
        except Exception as exc:  # a finding: anything but SvhnEraseError escaped
            kind = _kind(exc)
            tally.findings[kind] += 1
            message = str(exc).splitlines()[0][:150] if str(exc) else ""
            tally.first.setdefault(kind, f"{message}\n      first input: {repr(last[0])[:300]}")
        tally.seconds += time.perf_counter() - start


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _kind(exc: BaseException) -> str:
    """A finding's kind: its type and the innermost line of this project (or else of any
    code) it came from."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "svhn_erase" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}" if ours else "?"
    return f"{type(exc).__name__} at {where}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="total time (default 60)")
    parser.add_argument("--targets", nargs="+", default=list(TARGETS), choices=list(TARGETS))
    args = parser.parse_args()
    logging.getLogger("svhn_erase").setLevel(logging.ERROR)  # the inputs' own warnings
    tallies = {name: Tally() for name in args.targets}
    slice_s = max(1.0, min(10.0, args.seconds / (4 * len(args.targets))))
    end = time.perf_counter() + args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        while time.perf_counter() < end:
            for name in args.targets:
                left = end - time.perf_counter()
                if left <= 0:
                    break
                folder = Path(tmp) / name
                folder.mkdir(exist_ok=True)
                run_target(name, folder, tallies[name], min(slice_s, left))
    _print_table(tallies)


def _print_table(tallies: dict[str, Tally]) -> None:
    base = tallies.get("box")
    base_rate = base.tried / base.seconds if base and base.seconds else None
    print(f"{'target':<12} {'inputs':>8} {'accepted':>9} {'refused':>8} {'findings':>9} "
          f"{'inputs/s':>9} {'vs box':>7}")
    print("-" * 68)
    for name, t in tallies.items():
        rate = t.tried / t.seconds if t.seconds else 0.0
        ratio = f"{rate / base_rate:.3f}" if base_rate else "-"
        print(f"{name:<12} {t.tried:>8} {t.accepted:>9} {t.refused:>8} "
              f"{sum(t.findings.values()):>9} {rate:>9.1f} {ratio:>7}")
    total = sum(t.tried for t in tallies.values())
    found = sum(sum(t.findings.values()) for t in tallies.values())
    peak = _peak_mb()
    print(f"\n{total} inputs tried, {found} raised something other than SvhnEraseError; "
          f"peak memory {peak:.0f} MB")
    for name, t in tallies.items():
        for kind, count in t.findings.most_common():
            print(f"  {name}: {count} x {kind}: {t.first[kind]}")


if __name__ == "__main__":
    main()
