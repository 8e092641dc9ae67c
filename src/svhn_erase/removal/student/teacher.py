"""Teacher data without labels: the ``default`` method's digit masks and how sure they are.

The registry's ``default`` method (whatever it is today) erases every box of the given
photos; its per-box digit mask is the label. Two neighbouring settings of it (a smaller and
a larger ``share`` and ``over``, where its config has them) erase the same boxes again; the
mean intersection over union of their masks with the label is the label's agreement. The
judge's verdict on the default's erased box says whether the digit is gone (a mask that
misses part of the digit leaves one to read). Ground-truth masks of generated splits are
read only to evaluate (``truth``), never for training.

Every box is stored as the student sees it: a ``size`` x ``size`` crop of the box with its
context (``crops``), the label resized the same way, and its scores (``TeacherData``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from svhn_erase.atomic_io import atomic_path
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation.judge import judge_crops, no_digit
from svhn_erase.evaluation.selection import chunks, select_files
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, create
from svhn_erase.removal.student import crops as cropping
from svhn_erase.removal.student.net import StudentSpec

log = logging.getLogger(__name__)

TEACHER = "default"
# neighbouring settings: these fields of the teacher's config scaled by these factors
NEIGHBOURS = ({"share": 2 / 3, "over": 0.8}, {"share": 4 / 3, "over": 1.2})
CHUNK = 32


@dataclass(frozen=True)
class Source:
    """Photos to learn from: a Format 1 split and, optionally, a range of file numbers."""

    data: str
    split: str
    files: str | None = None

    @classmethod
    def parse(cls, text: str) -> Source:
        """``ROOT/SPLIT`` or ``ROOT/SPLIT:1-1600``; a missing split folder or digitStruct.mat
        is refused here, before any work."""
        path, _, files = text.partition(":")
        p = Path(path)
        if not p.name:
            raise SvhnEraseError(f"{text}: expected ROOT/SPLIT[:FIRST-LAST]")
        split_mod.split_dir(p.parent, p.name)
        return cls(str(p.parent), p.name, files or None)


@dataclass
class TeacherData:
    """Per box: its crop (n, s, s, 3) uint8, the teacher's label (n, s, s) float16 in [0, 1],
    the agreement of neighbouring settings, whether the judge sees no
    digit after the teacher's erasing, the label's share of the box; ``truth`` (n, s, s)
    float16 is the true mask where a split has one (NaN elsewhere), for evaluation only;
    ``source`` indexes ``sources``; ``teacher`` holds the teacher's settings (JSON)."""

    squares: np.ndarray
    labels: np.ndarray
    agreement: np.ndarray
    removed: np.ndarray
    area: np.ndarray
    truth: np.ndarray
    source: np.ndarray
    sources: list[str]
    teacher: str = "{}"  # the teacher's settings (JSON) when it labelled the boxes

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write an ``.npz`` atomically."""
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **{f.name: (np.asarray(getattr(self, f.name)))
                            for f in dataclasses.fields(self)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TeacherData:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(**{f.name: (str(z[f.name]) if f.name == "teacher" else z[f.name])
                              for f in dataclasses.fields(cls) if f.name in z})
        except (OSError, KeyError, ValueError) as exc:
            raise SvhnEraseError(f"{path}: not teacher data ({exc})") from exc

    @classmethod
    def concat(cls, parts: Sequence[TeacherData]) -> TeacherData:
        """One set of the boxes of ``parts`` in order. Their teachers' settings must agree
        wherever both name a setting (a later teacher may have more: the last one's are kept)."""
        settings = [json.loads(p.teacher) for p in parts]
        for s in settings[1:]:
            clash = sorted(k for k in s.keys() & settings[0].keys() if s[k] != settings[0][k])
            if clash:
                raise SvhnEraseError(f"teacher data from different teachers: {', '.join(clash)}")
        offsets = np.cumsum([0] + [len(p.sources) for p in parts[:-1]])
        arrays = {f.name: np.concatenate([getattr(p, f.name) for p in parts])
                  for f in dataclasses.fields(cls) if f.name not in ("source", "sources",
                                                                     "teacher")}
        source = [p.source + o for p, o in zip(parts, offsets, strict=True)]
        return cls(**arrays, teacher=parts[-1].teacher,
                   source=np.concatenate(source).astype(np.int16),
                   sources=[str(s) for p in parts for s in p.sources])


def neighbours(teacher: RemovalMethod) -> list[RemovalMethod]:
    """The teacher with each ``NEIGHBOURS`` setting (fields its config lacks are skipped)."""
    config = teacher.config
    out = []
    for scaling in NEIGHBOURS:
        known = {k: getattr(config, k) * f for k, f in scaling.items() if hasattr(config, k)}
        if known:
            out.append(create(teacher.name, dataclasses.replace(config, **known)))
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _parents(source: Source) -> Iterator[tuple[split_mod.Parent, np.ndarray | None]]:
    """A source's photos and, where the split has ground truth, the true digit pixels."""
    path = split_mod.split_dir(source.data, source.split)
    table = split_mod.load_table(path)
    keep = set(select_files(list(dict.fromkeys(table["file"])), source.files))
    truth = split_mod.has_groundtruth(path)
    for parent in split_mod.iter_parents(path, table[table["file"].isin(keep)]):
        mask = None
        if truth:
            _, digits = split_mod.read_groundtruth(path, parent.file)
            mask = digits > 0
        yield parent, mask


def _label_chunk(batch: list[tuple[split_mod.Parent, np.ndarray | None]], teacher: RemovalMethod,
                 others: list[RemovalMethod], model: ConvNet, judge: ConvNet,
                 spec: StudentSpec) -> dict[str, list]:
    scenes = [Scene(p.image, p.boxes) for p, _ in batch]
    base = teacher.erase(scenes, model)
    alternatives = [m.erase(scenes, model) for m in others]
    out: dict[str, list] = {k: [] for k in ("squares", "labels", "agreement", "removed", "area",
                                            "truth")}
    for i, (parent, truth) in enumerate(batch):
        gone = no_digit(judge, judge_crops(base[i].image, parent.boxes))
        inside = [r for r in records.digit_records([scenes[i]])]
        for n, record in enumerate(inside):
            label = _box_mask(base[i], record.box)
            win = cropping.window(record.rect, spec.margin)
            out["squares"].append(cropping.cut(parent.image, win, spec.size))
            out["labels"].append(cropping.to_square(label, win, spec.size))
            out["agreement"].append(np.mean([_iou(label, _box_mask(a[i], record.box))
                                             for a in alternatives]) if alternatives else 1.0)
            out["removed"].append(bool(gone[n]))
            out["area"].append(float(label.mean()) if label.size else 0.0)
            out["truth"].append(cropping.to_square(truth[record.rect.slices], win, spec.size)
                                if truth is not None else
                                np.full((spec.size, spec.size), np.nan, np.float32))
    return out


def _box_mask(erased: Erased, box: int) -> np.ndarray:
    """The box-sized digit mask a key-pixel method reported for ``box`` (else its mask)."""
    if erased.digit_masks is None:
        raise SvhnEraseError("the teacher method reports no per-box digit masks")
    return np.asarray(erased.digit_masks[box], bool)


def teacher_data(sources: Sequence[Source], model: ConvNet, judge: ConvNet, spec: StudentSpec,
                 progress: bool = True) -> TeacherData:
    """Label every box of every source with the registry's ``default`` method."""
    teacher = create(TEACHER)
    others = neighbours(teacher)
    parts: dict[str, list] = {}
    source_ids: list[int] = []
    for s_id, source in enumerate(sources):
        bar = tqdm(desc=f"teacher {source.split}", unit="img", disable=not progress)
        for batch in chunks(_parents(source), CHUNK):
            got = _label_chunk(batch, teacher, others, model, judge, spec)
            for k, v in got.items():
                parts.setdefault(k, []).extend(v)
            source_ids.extend([s_id] * len(got["labels"]))
            bar.update(len(batch))
        bar.close()
    if not source_ids:
        raise SvhnEraseError("no digit box in the teacher's sources")
    return TeacherData(
        squares=np.stack(parts["squares"]), labels=np.stack(parts["labels"]).astype(np.float16),
        agreement=np.asarray(parts["agreement"], np.float32),
        removed=np.asarray(parts["removed"], bool), area=np.asarray(parts["area"], np.float32),
        truth=np.stack(parts["truth"]).astype(np.float16),
        source=np.asarray(source_ids, np.int16),
        sources=[f"{s.data}/{s.split}:{s.files or 'all'}" for s in sources],
        teacher=json.dumps(teacher.settings()))
