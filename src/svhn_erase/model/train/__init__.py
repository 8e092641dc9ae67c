"""Train a digit classifier on cached crops of a split, as the original experiment did.

``train_classifier(data, TrainConfig(...))`` holds a seeded part of the training split out
for validation, trains one of the nine networks (``nets``) with cross-entropy and the
chosen optimizer, and writes a run folder ``RUNS/<id><timestamp>/``:

- ``config.json``: every ``TrainConfig`` setting, the data fingerprints, package and torch
  versions;
- ``metrics.csv``: epoch, train_loss, train_acc, val_acc, seconds;
- ``model.safetensors``: the weights of the epoch with the best validation accuracy;
- ``report.txt`` / ``report.json``: test accuracy (the test split is used once, at the end)
  and the per-digit precision / recall / F1 / support table in the layout of SPEC §2;
- ``confusion_matrix.png``, ``curves.png`` and ``misreads.png`` (the test split's misread
  digits, ``model.misreads``);
- ``checkpoint.pt``: the state after every epoch, so ``resume=RUN`` continues a killed run
  from its last finished epoch.

One module per job:

- ``config``: ``TrainConfig``, the frozen record of every setting;
- ``step``: the channels_last model, the (fused) optimizer and one optimisation step,
  optionally in bf16 mixed precision;
- ``loop``: the seeded train / validation split, the lr schedule and the epoch loop;
- ``mixing``: the run's training and validation crops: a generated split, real photos of a
  range (``real``), or both;
- ``augment``: seeded on-the-fly box jitter, rotation, contrast and blur of context crops;
- ``degrade``: seeded low-resolution and motion-smear copies of a batch's crops;
- ``views``: the 15 fixed box jitters and their averaged probabilities (``classify --tta``
  and the distillation teacher's soft labels);
- ``ema``: the moving average of the weights (``TrainConfig.ema``);
- ``runs``: the run folder, ``config.json``, ``metrics.csv`` and the checkpoint;
- ``report`` and ``plots``: the test report and the figures;
- ``trainer``: ``train_classifier``, which puts them together.
"""

from svhn_erase.model.train.config import TrainConfig
from svhn_erase.model.train.trainer import train_classifier

__all__ = ["TrainConfig", "train_classifier"]
