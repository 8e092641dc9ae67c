"""Run folders: creating one, its ``config.json``, ``metrics.csv`` and ``checkpoint.pt``.

``config.json`` holds the data folder, every ``TrainConfig`` field, the run's id, the
training split's fingerprint, the package and torch versions, the device and the start
time. ``checkpoint.pt`` holds, after every epoch, the model, the optimizer, the best
weights and the history in one state dict of tensors (read back with ``weights_only=True``),
so a killed run continues from its last finished epoch.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from pathlib import Path
from typing import NamedTuple

import torch

from svhn_erase import __version__, atomic_io
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.train.config import TrainConfig
from svhn_erase.model.train.loop import TrainState
from svhn_erase.paths import make_folder

CHECKPOINT = "checkpoint.pt"
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_acc", "seconds")


class SavedRun(NamedTuple):
    """What a run folder's ``config.json`` says: the data folder, the settings and the
    training split's fingerprint when the run started."""

    data: str
    config: TrainConfig
    train_fingerprint: str


def _new_run_dir(runs: Path, run_id: str) -> Path:
    make_folder(runs)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = runs / f"{run_id}{stamp}{'' if n == 0 else f'-{n}'}"
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise SvhnEraseError(f"{runs}: could not create a new run folder")


def create_run(runs: Path, run_id: str, data: str, config: TrainConfig,
               train_fingerprint: str, device: torch.device) -> Path:
    """A new folder ``runs/<run_id><timestamp>`` holding the run's ``config.json``."""
    record = {"data": data, **dataclasses.asdict(config), "gray": True, "id": run_id,
              "data_fingerprint": {"train": train_fingerprint},
              "versions": {"svhn_erase": __version__, "torch": torch.__version__},
              "device": str(device),
              "started": _dt.datetime.now().isoformat(timespec="seconds")}
    run = _new_run_dir(runs, run_id)
    atomic_io.write_json(run / "config.json", record)
    return run


def read_run(run: Path) -> SavedRun:
    """The data folder, settings and training fingerprint of an existing run folder."""
    if not (run / "config.json").is_file():
        raise SvhnEraseError(f"{run}: not a run folder (no config.json)")
    saved = json.loads((run / "config.json").read_text())
    return SavedRun(saved["data"], TrainConfig.from_json(saved),
                    saved["data_fingerprint"]["train"])


def write_metrics(run: Path, history: list[list[float]]) -> None:
    """``metrics.csv``: one row per finished epoch."""
    lines = [",".join(METRIC_COLUMNS)]
    for e, loss, tacc, vacc, secs in history:
        lines.append(f"{int(e)},{loss:.6f},{tacc:.6f},{vacc:.6f},{secs:.2f}")
    atomic_io.write_text(run / "metrics.csv", "\n".join(lines) + "\n")


def save_checkpoint(run: Path, state: TrainState) -> None:
    """``checkpoint.pt`` of ``state``, written atomically."""
    model = {k: v.detach().cpu().contiguous() for k, v in state.model.state_dict().items()}
    saved = {"model": model, "optimizer": state.optimizer.state_dict(), "best": state.best,
             "history": torch.tensor(state.history, dtype=torch.float64)}
    if state.ema is not None:
        saved["ema"] = state.ema.state_dict()
    with atomic_io.atomic_path(run / CHECKPOINT, suffix=".pt") as tmp:
        torch.save(saved, tmp)


def load_checkpoint(run: Path, state: TrainState) -> None:
    """Restore ``state`` from the run's ``checkpoint.pt`` if it has one (a run killed
    before its first epoch ended has none and starts afresh)."""
    if not (run / CHECKPOINT).is_file():
        return
    try:
        saved = torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SvhnEraseError(f"{run / CHECKPOINT}: not a readable checkpoint ({exc})") from exc
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    state.best = saved["best"]
    state.history = saved["history"].tolist()
    if state.ema is not None:
        state.ema.load_state_dict(saved["ema"])
