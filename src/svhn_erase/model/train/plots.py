"""The run folder's figures: ``curves.png`` (loss and accuracy per epoch) and
``confusion_matrix.png`` (the test split's counts), written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from svhn_erase import atomic_io
from svhn_erase.model.train.report import class_name

DPI = 110


def plot_curves(history: np.ndarray, path: Path, title: str) -> None:
    """Training loss, and training and validation accuracy, per epoch; ``history`` rows are
    ``epoch, train_loss, train_acc, val_acc, ...`` as in ``metrics.csv``."""
    fig, (ax1, ax2) = atomic_io.new_figure(1, 2, figsize=(10, 4))
    epochs = history[:, 0]
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
    atomic_io.write_figure(path, fig, dpi=DPI)


def plot_confusion(matrix: np.ndarray, path: Path, title: str) -> None:
    """The confusion matrix (rows = true class, columns = predicted) with its counts."""
    names = [class_name(c) for c in range(len(matrix))]
    fig, ax = atomic_io.new_figure(figsize=(6.5, 5.5))
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
    atomic_io.write_figure(path, fig, dpi=DPI)
