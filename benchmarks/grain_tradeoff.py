"""The default's grain (``RemovalConfig.grain``) against PSNR and still read, in one run.

Usage::

    python benchmarks/grain_tradeoff.py --generated /work/scratch/s3/data:tune \
        --generated /work/scratch/s5/h14/data:tune2 --real ../shared/real-svhn:train \
        --files 1-1600 --reader ../shared/reference/original-ConvNet48_Dropout3.pkl \
        [--weights W] [--grains 0 0.3 0.5 1.0] [--out DIR]

For each grain, ``svhn-erase bench`` with the default alone: on every generated split its
PSNR over the boxes, on the real photos its still read (all photos, and over the floor's own
digits), split into boxes labelled 1 and the others, and its decoy PSNR. Every row's change
is against the first grain's row of the same run. Tune on tuning splits and photos 1-1600
only; never on real validation photos.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd

from svhn_erase.evaluation.bench import run_bench
from svhn_erase.removal.config import RemovalConfig


def _generated(spec: str, grain: float, weights: str | None, out: Path) -> float:
    root, split = spec.rsplit(":", 1)
    result = run_bench(root, split, weights, out, seed_limit=0, methods=["default"],
                       progress=False, method_configs={"default": RemovalConfig(grain=grain)})
    return result["methods"]["default"]["psnr_box"]


def _real(spec: str, files: str, reader: str, grain: float, weights: str | None,
          out: Path) -> dict[str, float]:
    root, split = spec.rsplit(":", 1)
    result = run_bench(root, split, weights, out, files=files, methods=["default"],
                       reader=reader, progress=False,
                       method_configs={"default": RemovalConfig(grain=grain)})
    digits = pd.read_csv(out / "digits.csv")
    mine = digits[digits["method"] == "default"]
    m = result["methods"]["default"]
    return {"still read %": 100 * m["still_read"],
            "floor's digits %": 100 * m["still_read_floor_digits"],
            "1s %": 100 * mine.loc[mine["label"] == 1, "read"].mean(),
            "others %": 100 * mine.loc[mine["label"] != 1, "read"].mean(),
            "decoy dB": m["decoy_psnr"], "floor %": 100 * result["floor"]["still_read"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--generated", action="append", default=[],
                        help="ROOT:SPLIT of a generated split (repeatable)")
    parser.add_argument("--real", default=None, help="ROOT:SPLIT of real photos")
    parser.add_argument("--files", default="1-1600", help="real photos to use")
    parser.add_argument("--reader", default=None, help="the real-photo reader")
    parser.add_argument("--weights", default=None, help="removal classifier (packaged)")
    parser.add_argument("--grains", type=float, nargs="+", default=[0.0, 0.3, 0.5, 1.0])
    parser.add_argument("--out", type=Path, default=None, help="keep the benches here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = args.out or Path(tmp)
        rows = []
        for grain in args.grains:
            row: dict[str, float] = {"grain": grain}
            for spec in args.generated:
                row[f"{spec.rsplit(':', 1)[1]} dB"] = _generated(
                    spec, grain, args.weights, base / f"{spec.replace('/', '_')}_{grain}")
            if args.real:
                row.update(_real(args.real, args.files, args.reader, grain, args.weights,
                                 base / f"real_{grain}"))
            rows.append(row)
            print(f"grain {grain}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                 if k != "grain"), flush=True)
    table = pd.DataFrame(rows).set_index("grain")
    change = (table - table.iloc[0]).add_suffix(" change")
    print(pd.concat([table, change], axis=1).round(3).to_string())


if __name__ == "__main__":
    main()
