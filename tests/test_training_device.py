"""Where train-student, train-detector and detector calibration run: CUDA when present,
``--cpu`` forcing the CPU, the device named in what the run writes, weights saved as CPU
tensors. This machine has no GPU: CUDA's presence is faked (``torch.cuda.is_available``),
so on a CPU-only torch any move to CUDA raises, which shows the run tried it; the tests
that train on a real GPU run only where there is one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from builders import make_gt_split, make_split
from svhn_erase.cli import main
from svhn_erase.detection.calibrate import run_calibration
from svhn_erase.detection.dataset import load_photos
from svhn_erase.detection.detect import read_metadata, save_detector
from svhn_erase.detection.train import TrainSettings, train_detector
from svhn_erase.model.inference import default_device
from svhn_erase.removal.student.net import StudentSpec, save_student, student_metadata
from svhn_erase.removal.student.train import TrainConfig, fit

SPEC = StudentSpec(size=16, margin=0.15, width=4)
TINY = TrainSettings(steps=2, batch=2, max_width=128, seed=3)
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
needs_no_gpu = pytest.mark.skipif(torch.cuda.is_available(),
                                  reason="fakes CUDA's presence; this machine has it")


def _fake_cuda(monkeypatch: pytest.MonkeyPatch, present: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: present)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split(tmp_path_factory.mktemp("dev"), "train", count=6, seed=4)


def _squares(n: int = 6) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    squares = rng.integers(0, 255, (n, SPEC.size, SPEC.size, 3), np.uint8)
    labels = (rng.random((n, SPEC.size, SPEC.size)) > 0.5).astype(np.float32)
    return squares, labels, np.ones(n, np.float32)


@pytest.mark.parametrize("present, cpu, expected", [
    (True, False, "cuda"), (True, True, "cpu"), (False, False, "cpu"), (False, True, "cpu")])
def test_default_device_is_cuda_when_present_unless_cpu(monkeypatch, present, cpu, expected):
    _fake_cuda(monkeypatch, present)
    assert default_device(cpu) == torch.device(expected)


@needs_no_gpu
def test_student_training_goes_to_cuda_when_present(monkeypatch):
    _fake_cuda(monkeypatch, True)
    with pytest.raises((AssertionError, RuntimeError)):  # torch built without CUDA / no GPU
        fit(SPEC, *_squares(), TrainConfig(epochs=1, batch=4), seed=1, progress=False)


@needs_no_gpu
def test_detector_training_and_calibration_go_to_cuda_when_present(monkeypatch, split,
                                                                    tmp_path):
    photos = load_photos(split, progress=False)
    detector, _ = train_detector(photos, [], TINY, progress=False, device=torch.device("cpu"))
    save_detector(detector, tmp_path / "det.safetensors")
    _fake_cuda(monkeypatch, True)
    with pytest.raises((AssertionError, RuntimeError)):
        train_detector(photos, [], TINY, progress=False)
    with pytest.raises((AssertionError, RuntimeError)):
        run_calibration(tmp_path / "det.safetensors", split, "1-4", "5-6",
                        tmp_path / "out.safetensors", progress=False)


@pytest.mark.parametrize("present", [True, False])
def test_train_student_records_cpu(present, tmp_path, monkeypatch):
    """``--cpu`` keeps a machine with CUDA (faked) on the CPU; without CUDA the CPU is the
    default. The device is in student.json and the weights' record. (The packaged
    classifier and judge teach: an untrained judge would keep no box.)"""
    if present and torch.cuda.is_available():
        pytest.skip("fakes CUDA's presence; this machine has it")
    make_gt_split(tmp_path, "gen", count=4, seed=3)
    _fake_cuda(monkeypatch, present)
    torch.set_num_threads(1)
    out = tmp_path / "out"
    argv = ["train-student", "--source", str(tmp_path / "gen"), "--out", str(out),
            "--epochs", "1", "--size", "16", "--width", "4"] + (["--cpu"] if present else [])
    assert main(argv) == 0
    assert json.loads((out / "student.json").read_text())["device"] == "cpu"
    assert student_metadata(out / "student.safetensors")[1]["device"] == "cpu"


@pytest.mark.parametrize("present", [True, False])
def test_train_detector_records_cpu(present, split, tmp_path, monkeypatch):
    if present and torch.cuda.is_available():
        pytest.skip("fakes CUDA's presence; this machine has it")
    _fake_cuda(monkeypatch, present)
    out = tmp_path / "det.safetensors"
    argv = ["train-detector", "--real", str(split), "--real-files", "1-4", "--tune-files",
            "5-6", "--steps", "2", "--batch", "2", "--out", str(out)]
    assert main(argv + (["--cpu"] if present else [])) == 0
    meta = read_metadata(out)
    assert meta["device"] == "cpu" and meta["calibrate"]["device"] == "cpu"
    assert json.loads(out.with_suffix(".json").read_text())["device"] == "cpu"
    if present:  # calibrate-detector takes --cpu too and records where it ran
        again = tmp_path / "again.safetensors"
        assert main(["calibrate-detector", "--detector", str(out), "--real", str(split),
                     "--real-files", "1-4", "--tune-files", "5-6", "--out", str(again),
                     "--cpu"]) == 0
        assert read_metadata(again)["calibrate"]["device"] == "cpu"


def _assert_saved_on_cpu(path: Path, state: dict[str, torch.Tensor]) -> None:
    with safe_open(str(path), framework="pt") as fh:
        names = fh.keys()
        assert sorted(names) == sorted(state)
        for name in names:
            saved = fh.get_tensor(name)
            assert saved.device.type == "cpu"
            assert torch.equal(saved, state[name].detach().cpu())


@pytest.mark.parametrize("device", DEVICES)
def test_saved_weights_are_the_trained_tensors_on_the_cpu(device, split, tmp_path):
    """Trained on ``device`` (CUDA only where present), saved as CPU tensors equal to the
    trained ones; the record names the device."""
    net = fit(SPEC, *_squares(), TrainConfig(epochs=1, batch=4), seed=1, progress=False,
              device=torch.device(device))
    assert next(net.parameters()).device.type == device
    save_student(net, tmp_path / "s.safetensors", {})
    _assert_saved_on_cpu(tmp_path / "s.safetensors", net.state_dict())
    detector, record = train_detector(load_photos(split, progress=False), [], TINY,
                                      progress=False, device=torch.device(device))
    assert record["device"] == device and detector.device.type == device
    save_detector(detector, tmp_path / "d.safetensors", record)
    _assert_saved_on_cpu(tmp_path / "d.safetensors", detector.net.state_dict())
