"""``--student-weights``: the ``student`` method run with a network of the user's (one that
``train-student`` wrote) by ``erase-image``, ``erase`` and ``bench``, and refused where it
cannot apply."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from builders import make_gt_split
from svhn_erase.cli import main
from svhn_erase.removal.methods import create, method_tag, resolve
from svhn_erase.removal.methods.student import PACKAGED, StudentConfig
from svhn_erase.removal.student.net import StudentNet, StudentSpec, save_student


@pytest.fixture(scope="module")
def other_weights(tmp_path_factory):
    """An untrained student network (its masks differ from the packaged one's)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("student_weights") / "other.safetensors"
    save_student(StudentNet(StudentSpec(width=4)), path, {"note": "untrained, for tests"})
    return path


@pytest.fixture
def photo(tmp_path):
    """A gradient photo with a dark bar (a "1") inside the box 20,10,20,30."""
    yy, xx = np.mgrid[0:60, 0:70]
    image = np.stack([100 + yy, 120 + xx, 140 + (yy + xx) // 2], -1).astype(np.uint8)
    image[14:36, 27:33] = 20
    path = tmp_path / "photo.png"
    Image.fromarray(image).save(path)
    return path


def _erase_image(photo, out, *extra) -> np.ndarray:
    assert main(["erase-image", str(photo), "--box", "20,10,20,30", "--method", "student",
                 "--out", str(out), *extra]) == 0
    return np.asarray(Image.open(out))


def test_erase_image_uses_the_given_student_weights(photo, tmp_path, other_weights):
    packaged = _erase_image(photo, tmp_path / "a.png")
    same = _erase_image(photo, tmp_path / "b.png", "--student-weights", str(PACKAGED))
    other = _erase_image(photo, tmp_path / "c.png", "--student-weights", str(other_weights))
    assert np.array_equal(packaged, same)
    assert not np.array_equal(packaged, other)


def test_student_weights_go_with_the_student_method_only(photo, tmp_path, other_weights,
                                                         capsys):
    assert main(["erase-image", str(photo), "--box", "20,10,20,30", "--method", "default",
                 "--student-weights", str(other_weights), "--out",
                 str(tmp_path / "o.png")]) == 2
    assert "--student-weights goes with --method student" in capsys.readouterr().err


def test_a_missing_student_weights_file_is_named(photo, tmp_path, capsys):
    missing = tmp_path / "nope.safetensors"
    assert main(["erase-image", str(photo), "--box", "20,10,20,30", "--method", "student",
                 "--student-weights", str(missing), "--out", str(tmp_path / "o.png")]) == 2
    assert str(missing) in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()


def test_manifest_keeps_erasures_with_other_weights_apart(tmp_path, other_weights, capsys):
    make_gt_split(tmp_path, "t", count=2, seed=1)
    out = tmp_path / "out"
    base = ["erase", "--data", str(tmp_path), "--split", "t", "--method", "student",
            "--out", str(out)]
    assert main([*base, "--student-weights", str(other_weights)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["method"] == f"student (weights {other_weights})"
    capsys.readouterr()
    assert main(base) == 2  # the packaged weights' erasure would mix with it
    assert "give another --out" in capsys.readouterr().err


def test_bench_runs_the_student_with_the_given_weights(tmp_path, model_files, other_weights):
    make_gt_split(tmp_path, "t", count=2, seed=2)
    clf, judge = model_files
    out = tmp_path / "bench"
    assert main(["bench", "--data", str(tmp_path), "--split", "t", "--weights", str(clf),
                 "--judge", str(judge), "--methods", "student", "--seed-limit", "0",
                 "--student-weights", str(other_weights), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["settings"]["methods"]["student"]["weights"] == str(other_weights)


def test_resolve_and_tag():
    configured = create("student", StudentConfig(weights="w.safetensors"))
    assert resolve(configured) is configured
    assert resolve("student").config.weights is None
    assert method_tag(resolve("default")) == "default"
    assert method_tag(configured) == "student (weights w.safetensors)"
