"""Training settings: ``TrainConfig``, one frozen record of every choice a run makes.

A run writes its ``TrainConfig`` into ``config.json`` (``dataclasses.asdict``) and a resumed
run reads it back with ``TrainConfig.from_json``, which takes the fields it knows and leaves
the defaults for those an older run folder lacks (``precision`` came later, for example).
Every value is checked when the record is made, before any run folder or cache is written.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from svhn_erase.data.crops import CROP_SHAPES, check_size
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ARCHITECTURES, DEFAULT_NET, INPUT_NORMS, NETWORKS

OPTIMIZERS = ("SGD", "Adagrad", "Adadelta", "Adam", "ASGD")
PRECISIONS = ("fp32", "bf16")
SCHEDULES = ("constant", "cosine")
MAX_BATCH = 65536
MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the original experiment's (plain
    SGD, lr 0.005, batch 32, no momentum, 40 x 40 gray crops, ten digit classes).

    ``split`` trains (a seeded ``val_fraction`` of its parent images held out for
    validation, ``limit`` crops at most), ``test_split`` is tested once at the end (None:
    no test). ``epochs`` None is for a resumed run: keep its total. ``precision`` "fp32" is
    the original's arithmetic, "bf16" mixed precision. ``cpu`` keeps the run off CUDA.

    Real data and the techniques for it (all off by default): ``real`` a Format 1 split
    folder whose photos ``real_range`` (e.g. "1-1400") are added to the training crops
    ``real_repeat`` times per epoch, and whose photos ``real_val_range`` replace the
    split's held-out part as validation; ``split`` None trains on the real crops alone.
    ``real_none`` (11 classes only) adds that many "no digit" crops per real training photo,
    cut from its digit-free areas (``real.real_none_crops``), repeated as the digits are.
    ``real_shapes`` adds that many real-shape composites per real training digit, once per
    epoch (``shapes``: the digit moved onto another real box's erased background), masked
    and erased by the student weights ``real_shapes_student`` (None: the packaged ones),
    their signals warped at strength ``real_shapes_warp`` (0: not; ``train.warp``; with its
    elastic field unless ``real_shapes_elastic`` is False).
    ``init`` starts from a weights file (fine-tuning); ``augment`` random box jitter,
    rotation, contrast and blur (``augment``); ``schedule`` "cosine" anneals the lr to 0
    over the epochs; ``weight_decay`` and ``label_smoothing`` as torch's.

    ``ema`` (per-step decay, e.g. 0.998; 0: off) validates and keeps an exponential moving
    average of the weights (batch-norm statistics included) instead of the raw weights.
    ``teacher`` (a weights file) gives soft labels for distillation: its probabilities
    averaged over the fixed box-jitter views of ``views`` (one plain view without
    ``augment``), computed once per training crop; the loss is ``1 - distill`` times the
    (label-smoothed) cross-entropy with the labels plus ``distill`` times the cross-entropy
    with the teacher's probabilities. Several teachers (a tuple) are an ensemble: their
    probabilities averaged. ``teacher_views`` reads them through the views without
    ``augment`` too (training on plain crops with box-jitter soft labels).
    ``distill_temperature`` T softens both sides (Hinton's knowledge distillation): the
    soft labels are the teachers' ``softmax(logits / T)`` (averaged over teachers and
    views), the student's term is ``T**2`` times their cross-entropy with its
    ``log_softmax(logits / T)``; 1 (the default) is the plain distillation of before.
    ``teacher_online`` has the teachers read every training batch as the student sees it
    (after augmentation and mixup) instead of once per crop beforehand ("function
    matching": each step's soft labels fit its exact input; costs the teachers' forward
    passes per step). ``mixup`` (alpha, 0: off) blends each batch with a seeded shuffle of
    itself by a Beta(alpha, alpha) share (one per batch): images, hard-label terms and
    precomputed soft labels alike. ``degrade`` (0: off) makes that share of each batch's
    crops low-resolution, half of them also motion-smeared (``degrade``). ``crop_shape``
    "square" cuts every training and validation crop (generated, real, composites, context
    crops) as a square about the box (``crops.CROP_SHAPES``); the saved weights record it.
    ``input_norm`` "crop" trains a network that standardizes each crop itself
    (``nets.standardize_crops``); the saved weights record it too.
    """

    split: str | None = "train"
    test_split: str | None = "test"
    net: str = DEFAULT_NET
    batch: int = 32
    epochs: int | None = 10
    opt: str = "SGD"
    lr: float = 0.005
    momentum: float = 0.0
    val_fraction: float = 0.1
    seed: int = 267
    classes: int = 10
    size: int = 40
    margin: float = 0.0
    limit: int | None = None
    precision: str = "fp32"
    cpu: bool = False
    real: str | None = None
    real_range: str | None = None
    real_val_range: str | None = None
    real_repeat: int = 1
    real_none: int = 0
    real_shapes: int = 0
    real_shapes_student: str | None = None
    real_shapes_warp: float = 0.0
    real_shapes_elastic: bool = True
    init: str | None = None
    augment: bool = False
    schedule: str = "constant"
    weight_decay: float = 0.0
    label_smoothing: float = 0.0
    ema: float = 0.0
    teacher: str | tuple[str, ...] | None = None
    teacher_views: bool = False
    distill: float = 0.0
    distill_temperature: float = 1.0
    teacher_online: bool = False
    mixup: float = 0.0
    degrade: float = 0.0
    crop_shape: str = "stretch"
    input_norm: str = "global"

    def __post_init__(self) -> None:
        if isinstance(self.teacher, list):  # several teachers, read back from config.json
            object.__setattr__(self, "teacher", tuple(self.teacher))
        _choose("network", self.net, NETWORKS)
        _choose("optimizer", self.opt, OPTIMIZERS)
        _choose("precision", self.precision, PRECISIONS)
        _choose("schedule", self.schedule, SCHEDULES)
        _choose("crop shape", self.crop_shape, CROP_SHAPES)
        _choose("input normalization", self.input_norm, INPUT_NORMS)
        if self.input_norm != "global" and self.net not in ARCHITECTURES:
            raise SvhnEraseError(f"--input-norm {self.input_norm} is only for the original "
                                 f"networks, not {self.net}")
        self._check_real()
        if self.classes not in (10, 11):
            raise SvhnEraseError(f"--classes must be 10 or 11, not {self.classes}")
        _whole("--batch", self.batch, 1, MAX_BATCH)
        _whole("--epochs", self.epochs, 1, None)
        _whole("--limit", self.limit, 1, None)
        _whole("--seed", self.seed, 0, MAX_SEED)
        check_size(self.size, self.margin)
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise SvhnEraseError(f"--lr must be a positive number, not {self.lr}")
        if not (math.isfinite(self.momentum) and 0 <= self.momentum < 1):
            raise SvhnEraseError(f"--momentum must be in [0, 1), not {self.momentum}")
        if not (math.isfinite(self.val_fraction) and 0 <= self.val_fraction < 1):
            raise SvhnEraseError(f"--val-fraction must be in [0, 1), not {self.val_fraction}")

    def _check_real(self) -> None:
        from svhn_erase.model.train.real import parse_range

        if self.split is None and self.real is None:
            raise SvhnEraseError("nothing to train on: --split none needs --real")
        if self.real is None and (self.real_range or self.real_val_range):
            raise SvhnEraseError("--real-range and --real-val-range need --real")
        for text in (self.real_range, self.real_val_range):
            if text:
                parse_range(text)
        _whole("--real-repeat", self.real_repeat, 1, 1000)
        _whole("--real-none", self.real_none, 0, 100)
        _whole("--real-shapes", self.real_shapes, 0, 100)
        if self.real_shapes and self.real is None:
            raise SvhnEraseError("--real-shapes needs --real")
        if self.real_shapes_student and not self.real_shapes:
            raise SvhnEraseError("--real-shapes-student needs --real-shapes")
        if not (math.isfinite(self.real_shapes_warp) and 0 <= self.real_shapes_warp <= 4):
            raise SvhnEraseError(f"--real-shapes-warp must be in [0, 4], not "
                                 f"{self.real_shapes_warp}")
        if self.real_shapes_warp and not self.real_shapes:
            raise SvhnEraseError("--real-shapes-warp needs --real-shapes")
        if not self.real_shapes_elastic and not self.real_shapes_warp:
            raise SvhnEraseError("--real-shapes-no-elastic needs --real-shapes-warp")
        if self.real_none and (self.real is None or self.classes != 11):
            raise SvhnEraseError("--real-none needs --real and --classes 11")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise SvhnEraseError(f"--weight-decay must be >= 0, not {self.weight_decay}")
        if not (math.isfinite(self.label_smoothing) and 0 <= self.label_smoothing < 1):
            raise SvhnEraseError(f"--label-smoothing must be in [0, 1), not "
                                 f"{self.label_smoothing}")
        self._check_extras()

    def _check_extras(self) -> None:
        if not (math.isfinite(self.ema) and 0 <= self.ema < 1):
            raise SvhnEraseError(f"--ema must be in [0, 1), not {self.ema}")
        if not (math.isfinite(self.distill) and 0 <= self.distill <= 1):
            raise SvhnEraseError(f"--distill must be in [0, 1], not {self.distill}")
        if self.teacher_views and not self.teacher:
            raise SvhnEraseError("--teacher-views needs --teacher")
        if not (math.isfinite(self.distill_temperature) and self.distill_temperature > 0):
            raise SvhnEraseError(f"--distill-temperature must be a positive number, not "
                                 f"{self.distill_temperature}")
        if self.distill_temperature != 1.0 and not self.teacher:
            raise SvhnEraseError("--distill-temperature needs --teacher")
        if self.teacher_online and (not self.teacher or self.teacher_views):
            raise SvhnEraseError("--teacher-online needs --teacher and reads the batches "
                                 "as trained (not with --teacher-views)")
        if not (math.isfinite(self.mixup) and 0 <= self.mixup <= 10):
            raise SvhnEraseError(f"--mixup must be in [0, 10], not {self.mixup}")
        if not (math.isfinite(self.degrade) and 0 <= self.degrade <= 1):
            raise SvhnEraseError(f"--degrade must be in [0, 1], not {self.degrade}")
        if bool(self.teacher) != (self.distill > 0):
            raise SvhnEraseError("--teacher and --distill go together: a teacher's weights "
                                 "file and the weight (0..1] of its soft labels")

    @property
    def teachers(self) -> tuple[str, ...]:
        """The teachers' weights files (none, one, or an ensemble)."""
        if not self.teacher:
            return ()
        return (self.teacher,) if isinstance(self.teacher, str) else tuple(self.teacher)

    @classmethod
    def from_json(cls, saved: dict[str, Any]) -> TrainConfig:
        """The settings of a run's ``config.json``: the keys that are fields; other keys
        (the data path, fingerprints, versions) are the run's record, not settings."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in saved.items() if key in names})


def _whole(what: str, value: int | None, low: int, high: int | None) -> None:
    """A clear error unless ``value`` (None: not set) is a whole number in low..high."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise SvhnEraseError(f"{what} must be a whole number, not {value!r}")
    if value < low or (high is not None and value > high):
        top = f"..{high}" if high is not None else " or more"
        raise SvhnEraseError(f"{what} must be {low}{top}, not {value}")


def _choose(what: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise SvhnEraseError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
