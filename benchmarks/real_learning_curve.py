"""How real accuracy grows with the number of real training photos (issue 13's learning curve).

Its job: tell whether the amount of real labelled data is what holds the classifier back. It
trains the classifier through the project's own ``train_classifier`` (what ``svhn-erase
train`` calls) on nested subsets of a real photo range: the first n photos of
``--real-range`` for each n of ``--sizes``, for each of ``--seeds``. Every run validates on
``--real-val-range`` and keeps its best epoch there, as ``train --real-val-range`` does; its
accuracy on those photos is the curve's point (so it is a little optimistic, alike for every
size).

Arms (``--arms``):

- ``real``: real crops only (``train --split none``), the F0 recipe of issue 13;
- ``mixed``: the same with a generated split's crops mixed in (``--generated ROOT/SPLIT``),
  the F recipe.

The number of optimizer steps is held at every size: the real crops appear
``round(--repeat * photos in --real-range / n)`` times per epoch, so a small set is seen as
often in all as the full range at ``--repeat`` (the full range's number of steps), and is not
just trained less.

The table gives, per arm and size, the photos, the real training digits, the accuracy of
each seed, their mean, and per arm a power-law fit of the error rate against the real
digits, ``err = a * digits ** -b`` (least squares in log-log on the seed means), with the
digits the fit says the arm needs for ``--target`` % accuracy, flagged as an extrapolation
when beyond 4 times the largest measured point. It is written as ``table.json`` and
``table.csv`` into ``--out``; the runs go to ``--out/runs``, and a finished run found there
(its ``report.json``) is read back instead of trained again, so a stopped curve continues.
``--picture PNG`` draws accuracy against digits on a log axis, seeds as points, fits as lines.

Usage (the figures of ``checkpoints/README.md``, "Learning curve"; ``old_classifier.safetensors``
is the recipe-3 classifier, ``git show 74e2de7:src/svhn_erase/checkpoints/classifier.safetensors``;
gen4 is the generated split of ``checkpoints/README.md``, "Data")::

    python benchmarks/real_learning_curve.py --real ../shared/real-svhn/train \\
        --real-range 1-1400 --real-val-range 1401-1600 --sizes 175,350,700,1400 \\
        --seeds 267,268 --init old_classifier.safetensors --out curve \\
        --picture docs/real_learning_curve.png [--arms real,mixed --generated gen4/train]

With the full SVHN train set (``svhn-erase data download``; 33,402 photos) the same command
with e.g. ``--real-range 1-32000 --real-val-range 32001-33402 --sizes 1000,4000,16000,32000``
measures how far the curve goes on.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.data import crops as crops_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import DEFAULT_NET, NETWORKS
from svhn_erase.model.train import TrainConfig, train_classifier
from svhn_erase.model.train.real import parse_range, photo_table

ARMS = ("real", "mixed")
EXTRAPOLATION = 4.0  # a needed number of digits beyond this many times the largest measured


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected whole numbers joined by commas, "
                                         f"not {text!r}") from exc
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive whole numbers, not {text!r}")
    return sorted(set(values))


def _arms(text: str) -> list[str]:
    arms = [a.strip() for a in text.split(",") if a.strip()]
    if not arms or any(a not in ARMS for a in arms):
        raise argparse.ArgumentTypeError(f"arms are {', '.join(ARMS)}, not {text!r}")
    return arms


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--real", type=Path, required=True, help="a real Format 1 split folder")
    p.add_argument("--real-range", default="1-1400",
                   help="photos whose first n are trained on (default: 1-1400)")
    p.add_argument("--real-val-range", default="1401-1600",
                   help="photos validated on, choosing each run's best epoch (default: 1401-1600)")
    p.add_argument("--sizes", type=_ints, default=[175, 350, 700, 1400],
                   help="numbers of photos, joined by commas (default: 175,350,700,1400)")
    p.add_argument("--seeds", type=_ints, default=[267, 268],
                   help="training seeds, joined by commas (default: 267,268)")
    p.add_argument("--arms", type=_arms, default=["real"],
                   help="real (real crops only) and/or mixed (with --generated), joined by "
                   "commas (default: real)")
    p.add_argument("--generated", type=Path, default=None,
                   help="ROOT/SPLIT of generated crops mixed in by the 'mixed' arm")
    p.add_argument("--init", type=Path, default=None,
                   help="weights every run starts from (issue 13: the recipe-3 classifier)")
    p.add_argument("--repeat", type=int, default=3,
                   help="times the whole --real-range would appear per epoch; a subset of n "
                   "photos appears round(REPEAT * photos / n) times (default: 3)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per run (default: 12)")
    p.add_argument("--net", default=DEFAULT_NET, choices=list(NETWORKS),
                   help=f"network (default: {DEFAULT_NET})")
    p.add_argument("--size", type=int, default=40, help="crop size (default: 40)")
    p.add_argument("--batch", type=int, default=64, help="batch size (default: 64)")
    p.add_argument("--lr", type=float, default=0.01, help="SGD learning rate (default: 0.01)")
    p.add_argument("--target", type=float, default=93.0,
                   help="accuracy in %% whose needed digits the fit gives (default: 93)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--out", type=Path, required=True,
                   help="folder for runs/, table.json and table.csv")
    p.add_argument("--picture", type=Path, default=None, help="write the curve as this PNG")
    p.add_argument("--finished-only", action="store_true",
                   help="train nothing: tabulate the runs already finished under --out/runs")
    args = p.parse_args(argv)
    if "mixed" in args.arms and args.generated is None and not args.finished_only:
        p.error("the mixed arm needs --generated ROOT/SPLIT")
    return args


def subset_range(real_range: str, photos: int) -> str:
    """The first ``photos`` photos of ``real_range``, as a range."""
    first, last = parse_range(real_range)
    if photos > last - first + 1:
        raise SvhnEraseError(f"--sizes: {photos} photos is more than --real-range "
                             f"{real_range} holds")
    return f"{first}-{first + photos - 1}"


def repeat_for(photos: int, full: int, repeat: int) -> int:
    """Times a subset of ``photos`` appears per epoch so that a run takes as many steps as
    the ``full`` range at ``repeat``."""
    return max(1, round(repeat * full / photos))


def run_config(args: argparse.Namespace, arm: str, photos: int, seed: int) -> TrainConfig:
    """The recipe of one run (issue 13's F0 / F: SGD momentum 0.9, cosine, weight decay
    5e-4, label smoothing 0.1, augmentation), on the first ``photos`` photos."""
    first, last = parse_range(args.real_range)
    return TrainConfig(
        split=args.generated.name if arm == "mixed" else None, test_split=None,
        net=args.net, size=args.size, batch=args.batch, epochs=args.epochs, opt="SGD",
        lr=args.lr, momentum=0.9, seed=seed, cpu=True, real=str(args.real.resolve()),
        real_range=subset_range(args.real_range, photos), real_val_range=args.real_val_range,
        real_repeat=repeat_for(photos, last - first + 1, args.repeat),
        init=str(args.init.resolve()) if args.init else None, augment=True,
        schedule="cosine", weight_decay=5e-4, label_smoothing=0.1)


def run_folder(args: argparse.Namespace, arm: str, photos: int, seed: int) -> Path | None:
    """The finished run of this arm, size and seed under ``--out/runs`` (read back), else
    trained now (None with --finished-only)."""
    runs, run_id = args.out / "runs", f"{arm}-n{photos}-s{seed}-"
    done = sorted(runs.glob(f"{run_id}*/report.json"))
    if done:
        return done[-1].parent
    if args.finished_only:
        return None
    config = run_config(args, arm, photos, seed)
    data = args.generated.parent if arm == "mixed" else args.real
    return train_classifier(data, config, runs=runs, run_id=run_id, progress=False)


def run_accuracies(run: Path | None) -> tuple[float | None, float | None]:
    """Accuracy (%) on --real-val-range of the run's best epoch (chosen there, as ``train``
    does) and of its last epoch (chosen by nothing); None for no run."""
    if run is None:
        return None, None
    best = 100 * json.loads((run / "report.json").read_text())["val_accuracy"]
    with open(run / "metrics.csv", newline="") as fh:
        last = list(csv.DictReader(fh))[-1]["val_acc"]
    return best, 100 * float(last)


def real_digits(real: Path, photo_range: str) -> int:
    """The number of digits in the photos of ``photo_range``."""
    return len(photo_table(crops_mod.load_split_table(real), photo_range))


def fit_power_law(digits: np.ndarray, accuracy: np.ndarray) -> tuple[float, float]:
    """``(a, b)`` of ``err = a * digits ** -b``, the error rate ``1 - accuracy / 100``, by
    least squares of ``log err`` on ``log digits``."""
    err = 1 - np.asarray(accuracy, float) / 100
    if len(err) < 2 or np.any(err <= 0):
        return math.nan, math.nan
    slope, intercept = np.polyfit(np.log(np.asarray(digits, float)), np.log(err), 1)
    return float(math.exp(intercept)), float(-slope)


def digits_needed(a: float, b: float, target: float) -> float:
    """Digits at which the fit's accuracy reaches ``target`` % (inf when it never does)."""
    err = 1 - target / 100
    if not (math.isfinite(a) and math.isfinite(b)) or b <= 0 or err <= 0:
        return math.inf
    log_need = (math.log(a) - math.log(err)) / b
    return math.exp(log_need) if log_need < 700 else math.inf  # a near-flat fit: never


def measure(args: argparse.Namespace) -> dict:
    """Every run's accuracy and each arm's fit, as the table's record."""
    # largest sets first: a curve stopped part way has its most telling points
    jobs = [(arm, seed, n) for arm in args.arms for n in sorted(args.sizes, reverse=True)
            for seed in args.seeds]
    found: dict[tuple[str, int], dict[int, tuple[float | None, float | None]]] = {}
    for arm, seed, n in tqdm(jobs, unit="run", desc="learning curve"):
        found.setdefault((arm, n), {})[seed] = run_accuracies(run_folder(args, arm, n, seed))
    first, last = parse_range(args.real_range)
    rows = []
    for (arm, n), accs in sorted(found.items(), key=lambda k: (args.arms.index(k[0][0]),
                                                             k[0][1])):
        measured = [v for v in accs.values() if v[0] is not None]
        if not measured:
            continue  # --finished-only, nothing finished yet
        photos = subset_range(args.real_range, n)
        rows.append({"arm": arm, "photos": n, "range": photos,
                     "digits": real_digits(args.real, photos),
                     "repeat": repeat_for(n, last - first + 1, args.repeat),
                     "accuracy": {str(s): accs[s][0] for s in args.seeds},
                     "mean": float(np.mean([v[0] for v in measured])),
                     "last": {str(s): accs[s][1] for s in args.seeds},
                     "last_mean": float(np.mean([v[1] for v in measured]))})
    fits = {arm: arm_fit([r for r in rows if r["arm"] == arm], args.seeds, args.target)
            for arm in args.arms if any(r["arm"] == arm for r in rows)}
    return {"real": str(args.real), "real_range": args.real_range,
            "real_val_range": args.real_val_range,
            "val_digits": real_digits(args.real, args.real_val_range), "seeds": args.seeds,
            "epochs": args.epochs, "init": str(args.init) if args.init else None,
            "rows": rows, "fits": fits}


def _fit_record(digits: list[int], accuracy: list[float], target: float) -> dict:
    a, b = fit_power_law(np.array(digits), np.array(accuracy))
    need = digits_needed(a, b, target)
    return {"a": a, "b": b, "digits_needed": need if math.isfinite(need) else None,
            "extrapolated": bool(need > EXTRAPOLATION * max(digits))}


def arm_fit(rows: list[dict], seeds: list[int], target: float) -> dict:
    """The power-law fit of one arm's seed means, of its two largest sets alone (the curve's
    slope where it ends, when it bends), and of each seed alone (its spread)."""
    fit = {"target": target, **_fit_record([r["digits"] for r in rows],
                                           [r["mean"] for r in rows], target)}
    top = sorted(rows, key=lambda r: r["digits"])[-2:]
    fit["top"] = _fit_record([r["digits"] for r in top], [r["mean"] for r in top], target)
    fit["last"] = _fit_record([r["digits"] for r in rows], [r["last_mean"] for r in rows],
                              target)
    fit["per_seed"] = {}
    for seed in map(str, seeds):
        mine = [r for r in rows if r["accuracy"][seed] is not None]
        if len(mine) >= 2:
            fit["per_seed"][seed] = _fit_record([r["digits"] for r in mine],
                                                [r["accuracy"][seed] for r in mine], target)
    return fit


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _needed(fit: dict) -> str:
    if math.isnan(fit["b"]):
        return "no fit (fewer than two sizes)"
    need = fit["digits_needed"]
    if need is None:
        return "never (the fit does not fall)"
    return f"{need:,.0f} real digits" + (" (extrapolation: beyond 4x the largest measured)"
                                         if fit["extrapolated"] else "")


def format_table(record: dict) -> str:
    seeds = [str(s) for s in record["seeds"]]
    head = ["arm", "photos", "digits", "repeat", *[f"seed {s}" for s in seeds], "mean",
            "last-epoch mean"]
    lines = [" | ".join(head), " | ".join("---" for _ in head)]
    for r in record["rows"]:
        cells = [r["arm"], str(r["photos"]), str(r["digits"]), str(r["repeat"]),
                 *[_percent(r["accuracy"][s]) for s in seeds], f"{r['mean']:.2f}",
                 f"{r['last_mean']:.2f}"]
        lines.append(" | ".join(cells))
    lines.append("")
    for arm, fit in record["fits"].items():
        lines.append(f"{arm}: err = {fit['a']:.3g} * digits^{-fit['b']:.3f} (seed means); "
                     f"{fit['target']:g} % needs {_needed(fit)}")
        lines.append(f"  two largest sets alone: b {fit['top']['b']:.3f}, "
                     f"needs {_needed(fit['top'])}")
        lines.append(f"  last-epoch means: b {fit['last']['b']:.3f}, "
                     f"needs {_needed(fit['last'])}")
        for seed, own in fit["per_seed"].items():
            lines.append(f"  seed {seed} alone: b {own['b']:.3f}, needs {_needed(own)}")
    return "\n".join(lines)


def table_csv(record: dict) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    seeds = [str(s) for s in record["seeds"]]
    writer.writerow(["arm", "photos", "range", "digits", "repeat",
                     *[f"seed_{s}" for s in seeds], "mean", "last_epoch_mean", "fit_a", "fit_b",
                     "digits_needed"])
    for r in record["rows"]:
        fit = record["fits"][r["arm"]]
        writer.writerow([r["arm"], r["photos"], r["range"], r["digits"], r["repeat"],
                         *["" if r["accuracy"][s] is None else f"{r['accuracy'][s]:.4f}"
                           for s in seeds], f"{r['mean']:.4f}", f"{r['last_mean']:.4f}",
                         f"{fit['a']:.6g}", f"{fit['b']:.6g}", fit["digits_needed"] or ""])
    return buf.getvalue()


def draw(record: dict, target: Path) -> None:
    fig, ax = atomic_io.new_figure(figsize=(6.4, 4.2))
    top = max(r["digits"] for r in record["rows"])
    for color, (arm, fit) in zip(("tab:blue", "tab:orange"), record["fits"].items(),
                                 strict=False):
        mine = [r for r in record["rows"] if r["arm"] == arm]
        for r in mine:
            accs = [v for v in r["accuracy"].values() if v is not None]
            ax.scatter([r["digits"]] * len(accs), accs, color=color, s=14, alpha=0.7)
        # a rising fit is drawn on to 8x the data; a flat or falling one only where measured
        end = 8 * top if fit["b"] > 0 else max(r["digits"] for r in mine)
        if math.isfinite(fit["b"]):
            xs = np.geomspace(min(r["digits"] for r in mine), end, 50)
            ax.plot(xs, 100 * (1 - fit["a"] * xs ** -fit["b"]), color=color,
                    label=f"{arm}: err ∝ digits^{-fit['b']:.2f}, seed means")
        if len(mine) > 2 and math.isfinite(fit["top"]["b"]):
            xs = np.geomspace(sorted(r["digits"] for r in mine)[-2],
                              end if fit["top"]["b"] > 0 else top, 30)
            ax.plot(xs, 100 * (1 - fit["top"]["a"] * xs ** -fit["top"]["b"]), color=color,
                    ls=":", label=f"{arm}: two largest sets alone, ^{-fit['top']['b']:.2f}")
    ax.axhline(record["fits"][next(iter(record["fits"]))]["target"], color="grey", ls="--",
               lw=0.8, label="target")
    ax.set_xscale("log")
    ax.set_xlabel("real training digits")
    ax.set_ylabel(f"accuracy on photos {record['real_val_range']} (%)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    atomic_io.write_figure(target, fig, dpi=90)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    record = measure(args)
    text = format_table(record)
    print(text)
    atomic_io.write_json(args.out / "table.json", record)
    atomic_io.write_text(args.out / "table.csv", table_csv(record))
    if args.picture:
        draw(record, args.picture)
    return record


if __name__ == "__main__":
    try:
        main()
    except SvhnEraseError as exc:
        raise SystemExit(f"error: {exc}") from None
