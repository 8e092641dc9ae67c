"""Several trained detectors as one (``svhn-erase combine-detectors``).

``combine`` puts the networks of several detectors (one architecture, e.g. other training
seeds; input heights may differ, the first member's is the ensemble's) into one
``DigitEnsemble``, whose heat, class, size and offset maps are the members' averages, so
peak finding and NMS run once on maps where one member's spurious peak or size error is
outvoted. ``run_combine`` then calibrates the ensemble like a freshly trained detector
(``calibrate.calibrate``: width scale on the training photos, score threshold, zoom, NMS
overlap and the other numbers' score on the tuning photos; the members' own settings play no
part) and writes one weights file holding every member. An ensemble of one detector detects
exactly as that detector with the same settings."""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from svhn_erase.detection.detect import Detector, DetectSettings
from svhn_erase.detection.net import DigitCenterNet, DigitEnsemble, same_architecture
from svhn_erase.errors import SvhnEraseError


def members(detector: Detector) -> list[DigitCenterNet]:
    """The networks a detector runs (one, or an ensemble's members)."""
    net = detector.net
    return list(net.members) if isinstance(net, DigitEnsemble) else [net]


def combine(detectors: Sequence[Detector]) -> Detector:
    """One detector averaging the maps of every network of ``detectors`` (copied, in order;
    an ensemble among them gives its members), with the default settings, to be tuned."""
    nets = [copy.deepcopy(m) for d in detectors for m in members(d)]
    if not nets:
        raise ValueError("no detectors to combine")
    if any(not same_architecture(n.config, nets[0].config) for n in nets):
        raise SvhnEraseError("the detectors to combine differ in architecture: "
                             + ", ".join(str(n.config) for n in nets))
    return Detector(DigitEnsemble(nets).eval(), DetectSettings(), detectors[0].device)


def run_combine(weights: Sequence[Path], real_dir: Path, real_files: str, tune_files: str,
                out: str | os.PathLike[str], criterion: str = "min-pr",
                progress: bool = True, device: str | torch.device | None = None) -> dict:
    """``combine-detectors``: combine the detectors at ``weights``, calibrate the ensemble on
    ``device`` (default: CUDA when present) on the photos of ``real_dir`` (settings best by
    ``criterion``) and write it to ``out``; the record (also in the file's metadata, with
    each member's training record)."""
    from svhn_erase.detection.calibrate import calibrate_on, check_request
    from svhn_erase.detection.detect import load_detector, read_metadata, save_detector
    from svhn_erase.model.weights import weights_digest

    check_request(out, real_files, tune_files)
    sources = [{"weights": str(w), "sha256": weights_digest(w),
                **{k: v for k, v in read_metadata(w).items()
                   if k in ("train", "seconds", "synth", "real_files", "members")}}
               for w in weights]
    detector = combine([load_detector(w, device=device) for w in weights])
    detector, record = calibrate_on(detector, real_dir, real_files, tune_files, criterion,
                                    progress, tune_first=True)  # as train-detector does
    save_detector(detector, out, {"combined_from": sources, "real": str(real_dir),
                                  "real_files": real_files, "tune_files": tune_files,
                                  "tune": record["tune"], "calibrate": record})
    return record
