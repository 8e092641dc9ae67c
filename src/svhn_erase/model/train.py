"""Train a digit classifier on cached crops of a split, as the original experiment did.

``train_classifier`` holds a seeded part of the training split out for validation, trains
one of the nine networks (``nets``) with cross-entropy and the chosen optimizer, and writes
a run folder ``RUNS/<id><timestamp>/``:

- ``config.json``: every setting, the data fingerprints, package and torch versions;
- ``metrics.csv``: epoch, train_loss, train_acc, val_acc, seconds;
- ``model.safetensors``: the weights of the epoch with the best validation accuracy;
- ``report.txt`` / ``report.json``: test accuracy (the test split is used once, at the end)
  and the per-digit precision / recall / F1 / support table in the layout of SPEC §2;
- ``confusion_matrix.png``, ``curves.png``;
- ``checkpoint.pt``: after every epoch, model, optimizer, best weights and history in one
  state dict of tensors (read back with ``weights_only=True``), so ``resume=RUN`` continues a
  killed run from its last finished epoch.

The default optimizer is the original's: plain SGD, lr 0.005, batch 32, no momentum (the
original documents none); ``momentum`` is this project's option. Deterministic on the CPU
given the seed: the epoch's shuffle and dropout are seeded by ``seed`` and the epoch number.

Speed: the model and the batches are kept in ``torch.channels_last`` memory format (the same
fp32 arithmetic, faster convolutions), SGD / Adam use torch's fused kernels where the device
has them, and the loss and accuracy are summed on the device and read once per epoch.
``precision="bf16"`` runs the forward pass and loss under ``torch.autocast`` (bfloat16; on a
GPU without bfloat16, float16 with a gradient scaler): mixed precision, weights stay fp32.
``make_training_model`` and ``train_step`` are the pieces ``benchmarks/bench_train.py`` times.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from svhn_erase import __version__, atomic_io
from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.classify import default_device, predict_logits
from svhn_erase.model.nets import ARCHITECTURES, DEFAULT_NET, ConvNet
from svhn_erase.model.weights import save_classifier

OPTIMIZERS = ("SGD", "Adagrad", "Adadelta", "Adam", "ASGD")
PRECISIONS = ("fp32", "bf16")
CHECKPOINT = "checkpoint.pt"
METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_acc", "seconds")


# --------------------------------------------------------------------------- metrics


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(classes, classes) counts, rows = true class, columns = predicted class."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return matrix


def class_name(c: int) -> str:
    return "none" if c == crops_mod.NO_DIGIT else str(c)


def per_class_report(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> dict:
    """Accuracy and per-class precision / recall / F1 / support, plus the support-weighted
    average (the "avg / total" row of SPEC §2)."""
    matrix = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(matrix).astype(float)
    predicted, support = matrix.sum(0).astype(float), matrix.sum(1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    total = support.sum()
    weights = support / total if total else support
    classes = {class_name(c): {"precision": float(precision[c]), "recall": float(recall[c]),
                               "f1": float(f1[c]), "support": int(support[c])}
               for c in range(num_classes)}
    average = {"precision": float((precision * weights).sum()),
               "recall": float((recall * weights).sum()),
               "f1": float((f1 * weights).sum()), "support": int(total)}
    accuracy = float(tp.sum() / total) if total else 0.0
    return {"accuracy": accuracy, "classes": classes, "average": average,
            "confusion_matrix": matrix.tolist()}


def format_report(report: dict) -> str:
    """The per-class table as text: precision, recall, f1-score, support per class and the
    support-weighted ``avg / total`` row."""
    lines = [f"{'':>11} {'precision':>10} {'recall':>9} {'f1-score':>9} {'support':>9}", ""]
    for name, r in report["classes"].items():
        lines.append(f"{name:>11} {r['precision']:>10.2f} {r['recall']:>9.2f} "
                     f"{r['f1']:>9.2f} {r['support']:>9d}")
    a = report["average"]
    lines += ["", f"{'avg / total':>11} {a['precision']:>10.2f} {a['recall']:>9.2f} "
              f"{a['f1']:>9.2f} {a['support']:>9d}"]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- figures


def plot_confusion(matrix: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [class_name(c) for c in range(len(matrix))]
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    ax.imshow(matrix, cmap="Blues")
    for (i, j), v in np.ndenumerate(matrix):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=7,
                color="white" if v > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(names)), names)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    with atomic_io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def plot_curves(history: np.ndarray, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history[:, 0]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(epochs, history[:, 1], marker="o")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("training loss")
    ax2.plot(epochs, 100 * history[:, 2], marker="o", label="train")
    ax2.plot(epochs, 100 * history[:, 3], marker="o", label="validation")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy (%)")
    ax2.legend()
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_io.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- data


def split_train_val(parent: np.ndarray, val_fraction: float, seed: int,
                    limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of crops, split by parent image (digits of one parent never
    straddle the two), seeded; ``limit`` keeps that many crops, whole parents first."""
    if not 0 <= val_fraction < 1:
        raise SvhnEraseError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    parent = np.asarray(parent)
    n_parents = int(parent.max()) + 1 if len(parent) else 0
    rank = np.empty(n_parents, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n_parents)] = np.arange(n_parents)
    order = np.argsort(rank[parent], kind="stable")
    if limit is not None:
        order = order[:limit]
    chosen = np.unique(rank[parent[order]])  # ranks of the parents kept, ascending
    n_val = int(round(val_fraction * len(chosen)))
    if val_fraction > 0 and len(chosen) > 1:
        n_val = min(max(n_val, 1), len(chosen) - 1)
    is_val = np.isin(rank[parent[order]], chosen[:n_val])
    return order[~is_val], order[is_val]


def _fused_supported(params: list[torch.Tensor]) -> bool:
    """True when torch has fused optimizer kernels for the parameters' device (CPU since
    torch 2.4, CUDA)."""
    if not params:
        return False
    device = params[0].device.type
    if device not in ("cpu", "cuda"):
        return False
    try:  # older torch: no fused CPU kernels; the constructor says so
        torch.optim.SGD([torch.zeros(1, device=params[0].device, requires_grad=True)],
                        lr=0.1, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def make_optimizer(name: str, params, lr: float, momentum: float) -> torch.optim.Optimizer:
    """The named optimizer; SGD and Adam use torch's fused kernels where the device has them
    (the same update, one kernel for all parameters)."""
    params = list(params)
    fused = {"fused": True} if _fused_supported(params) else {}
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, **fused)
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "Adadelta":
        return torch.optim.Adadelta(params, lr=lr)
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, **fused)
    if name == "ASGD":
        return torch.optim.ASGD(params, lr=lr)
    raise SvhnEraseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_training_model(net: str = DEFAULT_NET, num_classes: int = 10, image_size: int = 40,
                        device: str | torch.device = "cpu") -> ConvNet:
    """A fresh ``ConvNet`` on ``device`` in channels_last memory format (same fp32 math,
    faster convolutions); seed torch before calling for reproducible initial weights."""
    model = ConvNet(net, num_classes=num_classes, image_size=image_size)
    return model.to(device=device, memory_format=torch.channels_last)


def check_precision(precision: str) -> None:
    """Refuse a ``precision`` other than those in ``PRECISIONS``."""
    if precision not in PRECISIONS:
        raise SvhnEraseError(f"unknown precision {precision!r}; choose one of "
                             f"{', '.join(PRECISIONS)}")


def autocast_settings(precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None for plain fp32, whether a GradScaler is needed)``."""
    check_precision(precision)
    if precision == "fp32":
        return None, False
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16, True
    return torch.bfloat16, False


class TrainStep:
    """One optimisation step on a batch, as ``train_classifier`` runs it: channels_last
    input, optional autocast (``precision``), gradients set to None, fused optimizer.
    Calling it returns ``(loss, correct)`` as device tensors (no host sync)."""

    def __init__(self, model: ConvNet, optimizer: torch.optim.Optimizer,
                 precision: str = "fp32") -> None:
        self.model, self.optimizer = model, optimizer
        self.device = next(model.parameters()).device
        self.dtype, needs_scaler = autocast_settings(precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
        self.loss_fn = nn.CrossEntropyLoss()

    def _autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        xb = xb.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        yb = yb.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.model(xb)
            loss = self.loss_fn(logits.float(), yb)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == yb).sum()
        return loss.detach(), correct


def _accuracy(model: ConvNet, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


# --------------------------------------------------------------------------- run folder


def _new_run_dir(runs: Path, run_id: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    for n in range(1000):
        path = runs / f"{run_id}{stamp}{'' if n == 0 else f'-{n}'}"
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            continue
    raise SvhnEraseError(f"{runs}: could not create a new run folder")


def _write_metrics(path: Path, history: list[list[float]]) -> None:
    lines = [",".join(METRIC_COLUMNS)]
    for e, loss, tacc, vacc, secs in history:
        lines.append(f"{int(e)},{loss:.6f},{tacc:.6f},{vacc:.6f},{secs:.2f}")
    atomic_io.write_text(path / "metrics.csv", "\n".join(lines) + "\n")


def _save_checkpoint(run: Path, model: ConvNet, optimizer: torch.optim.Optimizer,
                     best_state: dict, history: list[list[float]]) -> None:
    state = {"model": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
             "optimizer": optimizer.state_dict(), "best": best_state,
             "history": torch.tensor(history, dtype=torch.float64)}
    with atomic_io.atomic_path(run / CHECKPOINT, suffix=".pt") as tmp:
        torch.save(state, tmp)


def _load_checkpoint(run: Path) -> dict:
    try:
        return torch.load(run / CHECKPOINT, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise SvhnEraseError(f"{run / CHECKPOINT}: not a readable checkpoint ({exc})") from exc


# --------------------------------------------------------------------------- training


def train_classifier(data: str | os.PathLike[str], runs: str | os.PathLike[str] = "runs",
                     split: str = "train", test_split: str | None = "test",
                     net: str = DEFAULT_NET, batch: int = 32, epochs: int | None = 10,
                     opt: str = "SGD", lr: float = 0.005, momentum: float = 0.0,
                     cpu: bool = False, run_id: str = "", val_fraction: float = 0.1,
                     seed: int = 267, classes: int = 10, size: int = 40,
                     margin: float = 0.0, limit: int | None = None,
                     resume: str | os.PathLike[str] | None = None,
                     precision: str = "fp32", progress: bool = True) -> Path:
    """Train, validate, test once, and write a run folder (see the module docstring);
    returns the run folder. With ``resume``, the settings come from that run's config.json
    (only ``epochs`` may be changed) and training continues after its last finished epoch.
    ``precision`` is ``fp32`` (the original's arithmetic) or ``bf16`` (mixed precision:
    autocast forward pass and loss, fp32 weights; faster on CPUs with AVX512-BF16 / AMX and
    on GPUs)."""
    if resume is not None:
        run = Path(resume)
        if not (run / "config.json").is_file():
            raise SvhnEraseError(f"{run}: not a run folder (no config.json)")
        config = json.loads((run / "config.json").read_text())
        if epochs is not None:  # more epochs, or fewer to finish a stopped run where it is
            config["epochs"] = max(1, int(epochs))
    else:
        if net not in ARCHITECTURES:
            raise SvhnEraseError(f"unknown network {net!r}; choose one of "
                                 f"{', '.join(ARCHITECTURES)}")
        if opt not in OPTIMIZERS:
            raise SvhnEraseError(f"unknown optimizer {opt!r}; choose one of "
                                 f"{', '.join(OPTIMIZERS)}")
        if batch < 1 or epochs < 1:
            raise SvhnEraseError("--batch and --epochs must be at least 1")
        check_precision(precision)
        config = {"data": str(Path(data).resolve()), "split": split, "test_split": test_split,
                  "net": net, "batch": batch, "epochs": epochs, "opt": opt, "lr": lr,
                  "momentum": momentum, "val_fraction": val_fraction, "seed": seed,
                  "classes": classes, "size": size, "margin": margin, "limit": limit,
                  "gray": True, "id": run_id, "precision": precision}
        run = None

    device = default_device(cpu)
    train_path = split_mod.split_dir(config["data"], config["split"])
    test_path = (split_mod.split_dir(config["data"], config["test_split"])
                 if config["test_split"] else None)
    crop_args = {"size": config["size"], "margin": config["margin"], "gray": True,
                 "classes": config["classes"], "progress": progress}
    train_set = crops_mod.build_crop_cache(train_path, **crop_args)
    if len(train_set) == 0:
        raise SvhnEraseError(f"{train_path}: no digit crops to train on")
    fingerprints = {"train": train_set.fingerprint}
    if run is None:
        config["data_fingerprint"] = fingerprints
        config["versions"] = {"svhn_erase": __version__, "torch": torch.__version__}
        config["device"] = str(device)
        config["started"] = _dt.datetime.now().isoformat(timespec="seconds")
        run = _new_run_dir(Path(runs), run_id)
        atomic_io.write_json(run / "config.json", config)
    elif config["data_fingerprint"]["train"] != train_set.fingerprint:
        raise SvhnEraseError(f"{train_path}: the split changed since run {run} started")

    train_idx, val_idx = split_train_val(train_set.parent, config["val_fraction"],
                                         config["seed"], config["limit"])
    x_all = crops_mod.normalize(train_set.crops)
    y_all = torch.as_tensor(train_set.labels)
    x_train = x_all[train_idx].to(device).contiguous(memory_format=torch.channels_last)
    y_train = y_all[train_idx].to(device)
    x_val, y_val = x_all[val_idx], y_all[val_idx]
    del x_all

    torch.manual_seed(config["seed"])
    model = make_training_model(config["net"], config["classes"], config["size"], device)
    optimizer = make_optimizer(config["opt"], model.parameters(), config["lr"],
                               config["momentum"])
    history: list[list[float]] = []
    best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    if (run / CHECKPOINT).is_file():
        ckpt = _load_checkpoint(run)
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        best_state = ckpt["best"]
        history = ckpt["history"].tolist()
    step = TrainStep(model, optimizer, config.get("precision", "fp32"))
    title = f"{config['net']} {config['opt']} lr {config['lr']} batch {config['batch']}"

    for epoch in range(len(history) + 1, config["epochs"] + 1):
        start = time.perf_counter()
        torch.manual_seed(config["seed"] * 1000 + epoch)  # dropout
        order = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(
            config["seed"] * 1000 + epoch)).to(device)
        model.train()
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        correct_sum = torch.zeros((), dtype=torch.int64, device=device)
        seen = 0
        bar = tqdm(range(0, len(order), config["batch"]), desc=f"epoch {epoch}/"
                   f"{config['epochs']}", unit="batch", disable=None if progress else True,
                   leave=False)
        for begin in bar:
            idx = order[begin:begin + config["batch"]]
            loss, correct_batch = step(x_train[idx], y_train[idx])
            loss_sum += loss.double() * len(idx)
            correct_sum += correct_batch
            seen += len(idx)
        total_loss, correct = float(loss_sum), int(correct_sum)  # one host sync per epoch
        val_acc = _accuracy(model, x_val, y_val)
        history.append([epoch, total_loss / seen, correct / seen, val_acc,
                        time.perf_counter() - start])
        best_val = max((h[3] for h in history[:-1]), default=-1.0)
        if not history[:-1] or val_acc > best_val or np.isnan(best_val):
            best_state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        _save_checkpoint(run, model, optimizer, best_state, history)
        _write_metrics(run, history)
        if progress:
            tqdm.write(f"epoch {epoch}: loss {history[-1][1]:.4f} train {100 * correct / seen:.2f}%"
                       f" val {100 * val_acc:.2f}% ({history[-1][4]:.0f} s)")

    model.load_state_dict(best_state)
    model.eval()
    save_classifier(model, run / "model.safetensors",
                    extra={"run": run.name, "seed": config["seed"]})
    _write_metrics(run, history)
    plot_curves(np.asarray(history), run / "curves.png", title)

    result = {"run": run.name, "net": config["net"], "classes": config["classes"],
              "epochs": len(history), "train_digits": int(len(train_idx)),
              "val_digits": int(len(val_idx)),
              "val_accuracy": _accuracy(model, x_val, y_val)}
    text = [f"run {run.name}: {title}, {len(history)} epochs, seed {config['seed']}",
            f"train crops {len(train_idx)}, validation crops {len(val_idx)}, "
            f"validation accuracy {100 * result['val_accuracy']:.2f} %"]
    if test_path is not None:
        test_set = crops_mod.build_crop_cache(test_path, **crop_args)
        logits = predict_logits(model, crops_mod.normalize(test_set.crops))
        pred = logits.argmax(1).numpy()
        report = per_class_report(test_set.labels, pred, config["classes"])
        result["test_split"] = config["test_split"]
        result["test_fingerprint"] = test_set.fingerprint
        result["test_accuracy"] = report["accuracy"]
        result["test_report"] = report
        text += [f"test split {config['test_split']}: accuracy {100 * report['accuracy']:.2f} %"
                 f" on {len(test_set)} crops", "", format_report(report)]
        plot_confusion(np.asarray(report["confusion_matrix"]), run / "confusion_matrix.png",
                       f"{title}: test {100 * report['accuracy']:.2f} %")
    atomic_io.write_json(run / "report.json", result)
    atomic_io.write_text(run / "report.txt", "\n".join(text) + "\n")
    return run
