"""What a weights file's metadata records besides the tensors: the crop shape a classifier
reads and how it normalizes its input. Each field round-trips, reads as the original's
behaviour in files from before it existed, and refuses a value it does not know. And the
same weights and metadata always give the same file, byte for byte."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from svhn_erase.detection.detect import Detector, save_detector
from svhn_erase.detection.net import DigitCenterNet, NetConfig
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, save_classifier
from svhn_erase.removal.student.net import StudentNet, StudentSpec, save_student


@pytest.mark.parametrize(("field", "value", "missing", "bad"),
                         [("crop_shape", "square", "stretch", "round"),
                          ("input_norm", "crop", "global", "local")])
def test_a_metadata_field_round_trips_defaults_when_missing_and_refuses_bad_values(
        tmp_path, field: str, value: str, missing: str, bad: str) -> None:
    model = ConvNet("ConvNet32", num_classes=10, image_size=32).eval()
    save_classifier(model, tmp_path / "plain.safetensors")
    assert getattr(load_classifier(tmp_path / "plain.safetensors"), field) == missing
    setattr(model, field, value)
    save_classifier(model, tmp_path / "set.safetensors")
    with safe_open(str(tmp_path / "set.safetensors"), framework="pt") as fh:
        assert fh.metadata()[field] == value
    assert getattr(load_classifier(tmp_path / "set.safetensors"), field) == value
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "old.safetensors"), metadata={"net": "ConvNet32",
                                                                    "image_size": "32"})
    assert getattr(load_classifier(tmp_path / "old.safetensors"), field) == missing
    save_file(state, str(tmp_path / "bad.safetensors"), metadata={field: bad})
    with pytest.raises(SvhnEraseError, match=f"{field} '{bad}'"):
        load_classifier(tmp_path / "bad.safetensors")


def test_the_same_weights_saved_twice_give_the_same_bytes_and_load_back(tmp_path) -> None:
    """safetensors writes its header's keys in a random order; a weights file's sha256 must
    still identify its weights (checkpoints/README.md lists them)."""
    model = ConvNet("ConvNet32", num_classes=11, image_size=32).eval()
    paths = [tmp_path / f"{n}.safetensors" for n in range(4)]
    for path in paths:
        save_classifier(model, path, extra={"epoch": 3, "run": "x", "seed": 267})
    assert len({p.read_bytes() for p in paths}) == 1
    loaded = load_classifier(paths[0])
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    with safe_open(str(paths[0]), framework="pt") as fh:
        assert fh.metadata()["num_classes"] == "11"


def test_student_and_detector_files_are_byte_stable(tmp_path) -> None:
    student = StudentNet(StudentSpec(width=4)).eval()
    for n in range(3):
        save_student(student, tmp_path / f"s{n}.safetensors", {"note": "test", "seed": 3})
    assert len({(tmp_path / f"s{n}.safetensors").read_bytes() for n in range(3)}) == 1
    detector = Detector(DigitCenterNet(NetConfig()).eval())
    for n in range(3):
        save_detector(detector, tmp_path / f"d{n}.safetensors")
    assert len({(tmp_path / f"d{n}.safetensors").read_bytes() for n in range(3)}) == 1
