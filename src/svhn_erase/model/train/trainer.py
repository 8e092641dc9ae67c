"""``train_classifier``: from a split's digit crops to a finished run folder.

It builds (or reads back) the crop caches, creates the run folder or picks up a resumed
one, runs the epochs (``loop``), and writes the weights of the best epoch, the metrics, the
plots and the report; the test split is read once, at the end.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from svhn_erase import atomic_io
from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import batched_logits, default_device
from svhn_erase.model.train import loop, mixing
from svhn_erase.model.train import runs as run_folder
from svhn_erase.model.train.config import TrainConfig
from svhn_erase.model.train.plots import plot_confusion, plot_curves
from svhn_erase.model.train.report import format_report, per_class_report
from svhn_erase.model.weights import save_classifier
from svhn_erase.paths import PathLike


def train_classifier(data: PathLike, config: TrainConfig | None = None,
                     runs: PathLike = "runs", run_id: str = "",
                     resume: PathLike | None = None, progress: bool = True) -> Path:
    """Train, validate, test once, and write a run folder ``runs/<run_id><timestamp>`` (see
    the package docstring); returns the run folder.

    With ``resume`` (a run folder), the data folder and the settings come from that run's
    config.json, except ``config.epochs`` (when not None: the new total, more or fewer) and
    ``config.cpu``, and training continues after its last finished epoch. ``config`` None:
    the defaults (``TrainConfig()``)."""
    data, config, fingerprint = _settings(data, config or TrainConfig(), resume)
    device = default_device(config.cpu)
    test_path = split_mod.split_dir(data, config.test_split) if config.test_split else None
    tensors, train_fingerprint = mixing.training_data(data, config, device, progress)
    if resume is None:
        run = run_folder.create_run(Path(runs), run_id, data, config, train_fingerprint, device)
    elif fingerprint != train_fingerprint:
        raise SvhnEraseError(f"{data}: the training data changed since run {resume} started")
    else:
        run = Path(resume)

    state = loop.new_state(config, device)
    run_folder.load_checkpoint(run, state)
    loop.run_epochs(state, tensors, config, lambda s: _save_progress(run, s), progress)
    _write_results(run, state, tensors, config, test_path, progress)
    return run


def _settings(data: PathLike, config: TrainConfig,
              resume: PathLike | None) -> tuple[str, TrainConfig, str | None]:
    """``(data folder, settings, training fingerprint or None)`` of a new run, or of the
    resumed run with ``config``'s epochs (when given) and device choice."""
    if resume is None:
        if config.epochs is None:
            raise SvhnEraseError("a new run needs a number of epochs")
        return str(Path(data).resolve()), config, None
    saved = run_folder.read_run(Path(resume))
    epochs = saved.config.epochs if config.epochs is None else config.epochs
    return (saved.data, dataclasses.replace(saved.config, epochs=epochs, cpu=config.cpu),
            saved.train_fingerprint)


def _crop_set(path: Path, config: TrainConfig, progress: bool) -> crops_mod.CropSet:
    return mixing.crop_set(path, config, progress)


def _save_progress(run: Path, state: loop.TrainState) -> None:
    run_folder.save_checkpoint(run, state)
    run_folder.write_metrics(run, state.history)


def _write_results(run: Path, state: loop.TrainState, data: loop.TrainData,
                   config: TrainConfig, test_path: Path | None, progress: bool) -> None:
    """The best epoch's weights, the metrics, the curves and the report (testing once on
    ``test_path`` when there is one)."""
    model = state.model
    model.load_state_dict(state.best)
    model.eval()
    model.crop_shape = config.crop_shape  # what it was trained on, not what --init read
    save_classifier(model, run / "model.safetensors",
                    extra={"run": run.name, "seed": config.seed})
    run_folder.write_metrics(run, state.history)
    title = f"{config.net} {config.opt} lr {config.lr} batch {config.batch}"
    plot_curves(np.asarray(state.history), run / "curves.png", title)

    result = {"run": run.name, "net": config.net, "classes": config.classes,
              "epochs": len(state.history), "train_digits": len(data.y_train),
              "val_digits": len(data.y_val),
              "val_accuracy": loop.accuracy(model, data.x_val, data.y_val)}
    text = [f"run {run.name}: {title}, {len(state.history)} epochs, seed {config.seed}",
            f"train crops {len(data.y_train)}, validation crops {len(data.y_val)}, "
            f"validation accuracy {100 * result['val_accuracy']:.2f} %"]
    if test_path is not None:
        test_set = _crop_set(test_path, config, progress)
        logits = batched_logits(model, crops_mod.normalize(test_set.crops))
        pred = logits.argmax(1).numpy()
        report = per_class_report(test_set.labels, pred, config.classes)
        result.update(test_split=config.test_split, test_fingerprint=test_set.fingerprint,
                      test_accuracy=report["accuracy"], test_report=report)
        text += [f"test split {config.test_split}: accuracy {100 * report['accuracy']:.2f} %"
                 f" on {len(test_set)} crops", "", format_report(report)]
        plot_confusion(np.asarray(report["confusion_matrix"]), run / "confusion_matrix.png",
                       f"{title}: test {100 * report['accuracy']:.2f} %")
        _draw_misreads(run / "misreads.png", test_path, test_set, logits)
    atomic_io.write_json(run / "report.json", result)
    atomic_io.write_text(run / "report.txt", "\n".join(text) + "\n")


def _draw_misreads(out: Path, test_path: Path, test_set: crops_mod.CropSet,
                   logits: torch.Tensor) -> None:
    """The test split's misread digits on one contact sheet (``model.misreads``)."""
    from svhn_erase.model import misreads  # it reads the train report: imported late

    table = split_mod.load_table(test_path)
    misreads.misread_sheet(test_path, misreads.crop_result(table, test_set, logits), table, out)
