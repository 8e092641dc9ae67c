"""The student ensemble: several student networks in one file, the mean of their logits."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from builders import make_gt_split
from svhn_erase.cli import main
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.student import StudentConfig, StudentMethod
from svhn_erase.removal.student.net import (
    StudentEnsemble,
    StudentNet,
    StudentSpec,
    fused,
    load_student,
    save_student,
)
from svhn_erase.removal.student.teacher import Source
from svhn_erase.removal.student.train import TrainConfig, run_training

SPEC = StudentSpec(size=16, margin=0.15, width=4)
CONFIG = TrainConfig(epochs=1, batch=8, judged=False)  # the test judge is untrained


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, model_files):
    """A tiny generated split, its teacher data and one student trained on it (seed 15)."""
    root = tmp_path_factory.mktemp("ensemble")
    make_gt_split(root, "gen", count=4, seed=5)
    clf, judge = model_files
    torch.set_num_threads(1)
    run_training([Source(str(root), "gen")], root / "one", SPEC, CONFIG, clf, judge,
                 progress=False)
    return root


def _scenes(root) -> list[Scene]:
    from svhn_erase.data import split

    return [Scene(p.image, p.boxes) for p in split.iter_parents(split.split_dir(root, "gen"))]


def test_members_are_the_single_nets_of_their_seeds(labelled, tmp_path):
    teacher = [labelled / "one" / "teacher.npz"]
    run_training([], tmp_path / "s17", SPEC, TrainConfig(epochs=1, batch=8, judged=False,
                                                        seed=17), teacher_files=teacher,
                 progress=False)
    run_training([], tmp_path / "ens", SPEC, TrainConfig(
        epochs=1, batch=8, judged=False, seeds=(15, 17)), teacher_files=teacher, progress=False)
    record = json.loads((tmp_path / "ens" / "student.json").read_text())
    stored = load_file(str(tmp_path / "ens" / "student.safetensors"))
    for m, single in enumerate([labelled / "one", tmp_path / "s17"]):
        one = load_file(str(single / "student.safetensors"))
        assert all(torch.equal(stored[f"members.{m}.{k}"], v) for k, v in one.items())
    assert len(record["rounds"][0]["members"]) == 2 and record["train"]["seeds"] == [15, 17]
    assert isinstance(load_student(tmp_path / "ens" / "student.safetensors"), StudentEnsemble)


def test_ensemble_logit_is_the_mean_and_survives_saving_and_fusing(tmp_path):
    torch.manual_seed(0)
    a, b = StudentNet(SPEC).eval(), StudentNet(SPEC).eval()
    ens = StudentEnsemble.of([a, b])
    save_student(ens, tmp_path / "e.safetensors", {"note": "test"})
    back = load_student(tmp_path / "e.safetensors")
    x = torch.rand(3, 3, SPEC.size, SPEC.size) * 2 - 1
    with torch.no_grad():
        mean = (a(x) + b(x)) / 2
        assert torch.allclose(back(x), mean, atol=1e-6)
        assert torch.allclose(fused(back)(x), mean, atol=1e-4)


def test_an_ensemble_of_one_net_twice_erases_as_that_net(labelled, tmp_path):
    single = labelled / "one" / "student.safetensors"
    net = load_student(single)
    save_student(StudentEnsemble.of([net, net]), tmp_path / "twice.safetensors", {})
    scenes = _scenes(labelled)
    one = StudentMethod(StudentConfig(weights=str(single))).erase(scenes)
    two = StudentMethod(StudentConfig(weights=str(tmp_path / "twice.safetensors"))).erase(scenes)
    for e1, e2 in zip(one, two, strict=True):
        assert np.array_equal(e1.image, e2.image)
    assert any(not np.array_equal(e.image, s.image) for e, s in zip(one, scenes, strict=True))


def test_ensembles_refuse_mixed_specs_and_several_rounds(labelled, tmp_path, capsys):
    with pytest.raises(SvhnEraseError, match="differ"):
        StudentEnsemble.of([StudentNet(SPEC), StudentNet(StudentSpec(size=16, width=6))])
    assert main(["train-student", "--out", str(tmp_path), "--seeds", "15,16", "--rounds", "2",
                 "--teacher-data", str(labelled / "one" / "teacher.npz")]) == 2
    assert "--rounds 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train-student", "--out", str(tmp_path), "--seeds", "15,15"])


def test_distilling_learns_the_given_students_masks(labelled, monkeypatch):
    from svhn_erase.removal.student import train
    from svhn_erase.removal.student.teacher import TeacherData

    data = TeacherData.load(labelled / "one" / "teacher.npz")
    source = labelled / "one" / "student.safetensors"
    seen = {}

    def fake_fit(spec, squares, labels, weights, config, seed, progress=True, device=None):
        seen["labels"] = labels
        return load_student(source)

    monkeypatch.setattr(train, "fit", fake_fit)
    _, record = train.train_student(data, SPEC, TrainConfig(judged=False, min_agreement=0.0,
                                                            distil_from=str(source)),
                                    progress=False)
    expected = train.predict(load_student(source), data.squares)
    assert np.allclose(seen["labels"], expected) and not np.allclose(expected, data.labels)
    assert record["train"]["distil_from"] == str(source) and "distilled_truth_iou" in record


def test_the_packaged_student_is_the_pair_of_seeds_15_and_17():
    from svhn_erase.removal.methods.student import PACKAGED
    from svhn_erase.removal.student.net import student_metadata

    net = load_student(PACKAGED)
    spec, record = student_metadata(PACKAGED)
    assert isinstance(net, StudentEnsemble) and len(net.members) == 2
    assert spec == StudentSpec() and record["train"]["seeds"] == [15, 17]
    assert record["teacher"]["method"] == "default"


def test_members_and_buckets_side_by_side_give_the_same_bits(labelled):
    """With two torch threads and a small batch the members and the fill's buckets run on a
    pool of one-thread workers: the same bytes as one after the other on one thread."""
    scenes = _scenes(labelled)
    method = StudentMethod()
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(method.erase(scenes))
            assert torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
    for one, two in zip(*results, strict=True):
        assert np.array_equal(one.image, two.image) and np.array_equal(one.mask, two.mask)
        for a, b in zip(one.keypix, two.keypix, strict=True):
            assert np.array_equal(a, b)
