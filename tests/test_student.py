"""The student remover: its crops and fill, a tiny training from the default method's masks,
its weights file, and the ``student`` method through the registry, ``erase`` and ``bench``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from builders import make_gt_split
from svhn_erase.boxes import Rect
from svhn_erase.cli import main
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import Scene, create, method_names
from svhn_erase.removal.methods import student as student_method
from svhn_erase.removal.methods.student import StudentConfig, StudentMethod
from svhn_erase.removal.student import crops
from svhn_erase.removal.student.fill import (
    FillSettings,
    colour_place,
    grnn_fill,
    mean_depth,
    node_certainty,
    odd_node_weights,
    paste_context,
)
from svhn_erase.removal.student.net import StudentNet, StudentSpec, fused, load_student
from svhn_erase.removal.student.teacher import Source, TeacherData
from svhn_erase.removal.student.train import TrainConfig, run_training

SPEC = StudentSpec(size=16, margin=0.15, width=4)
CONFIG = TrainConfig(epochs=2, batch=8, rounds=2, judged=False)  # the test judge is untrained


@pytest.fixture(scope="module")
def trained(tmp_path_factory, model_files):
    """A tiny generated split and a student trained on the default method's masks of it."""
    root = tmp_path_factory.mktemp("student")
    make_gt_split(root, "gen", count=6, seed=3)
    clf, judge = model_files
    out = root / "run"
    out.mkdir()
    torch.set_num_threads(1)
    record = run_training([Source(str(root), "gen")], out, SPEC, CONFIG, clf, judge,
                          progress=False)
    return root, out, record


def _scenes(root) -> list[Scene]:
    from svhn_erase.data import split

    path = split.split_dir(root, "gen")
    return [Scene(p.image, p.boxes) for p in split.iter_parents(path)]


def test_window_cut_and_back_keep_the_box():
    yy, xx = np.mgrid[0:40, 0:50]
    image = np.stack([yy * 4, xx * 3, yy + xx], -1).astype(np.uint8)
    win = crops.window(Rect(0, 30, 20, 50), 0.25)  # leaves the image above and right
    square = crops.cut(image, win, 32)
    assert square.shape == (32, 32, 3)
    again = crops.back(square.astype(np.float32), win)
    assert again.shape == (20, 20, 3)
    assert np.abs(again - image[0:20, 30:50]).mean() < 3.0
    inside = crops.box_masks([win], 32)[0, 0]
    assert inside.sum() > 0 and inside[0].sum() == 0 and inside[:, 0].sum() == 0


def _bucket(digit: np.ndarray, box: tuple[slice, slice]) -> list[torch.Tensor]:
    """One 12 x 14 crop: a gradient, the ``digit`` mask and its own box ``box``."""
    yy, xx = np.mgrid[0:12, 0:14].astype(np.float32)
    pixels = np.stack([10 * yy, 10 * xx, 5 * (yy + xx)])[None]
    in_box = np.zeros((1, 1, 12, 14), np.float32)
    in_box[(0, 0, *box)] = 1.0
    return [torch.from_numpy(a) for a in (pixels, digit[None, None].astype(np.float32),
                                          in_box, np.ones((1, 1, 12, 14), np.float32))]


def test_grnn_fill_is_the_gaussian_mean_of_the_key_pixels_touching_the_hole():
    digit = np.zeros((12, 14), bool)
    digit[4:8, 5:8] = True  # this box's digit
    digit[0:3, 9:12] = True  # a neighbour's digit outside the box: never a node
    box = (slice(3, 9), slice(4, 9))
    pixels, dig, in_box, valid = _bucket(digit, box)
    plain = FillSettings(sigma_range=(2, 2), ridge_steps=0, certainty_min=1.0,
                         node_outlier=0.0, grow_steps=0)  # W = Y, every node weighs 1
    fill, hole, seam = grnn_fill(pixels, dig, in_box, valid, plain)
    assert np.array_equal(hole[0, 0].numpy() > 0, digit & (in_box[0, 0].numpy() > 0))
    ring = np.zeros_like(digit)
    ring[3:9, 4:9] = True
    assert np.array_equal(seam[0, 0].numpy() > 0, ring & ~digit)
    nodes = np.zeros_like(digit)
    nodes[2:10, 3:10] = True
    nodes &= ~ring & ~digit  # the key pixels touching hole and seam
    rc = np.argwhere(nodes)
    values = pixels[0].numpy()[:, nodes].T
    for y, x in [(5, 6), (3, 4), (8, 8)]:
        k = np.exp(-((rc - [y, x]) ** 2).sum(1) / 8.0)
        expected = (k[:, None] * values).sum(0) / k.sum()
        assert np.allclose(fill[0, :, y, x].numpy(), expected, atol=1e-3)


def test_grnn_fill_keeps_a_flat_background_and_depth_is_the_distance_inward():
    square = torch.zeros(1, 1, 7, 7)
    square[0, 0, 2:5, 2:5] = 1.0
    assert mean_depth(square).item() == pytest.approx(10 / 9)  # 8 rim pixels 1, centre 2
    digit = np.zeros((12, 14), bool)
    digit[3:9, 4:10] = True
    _, dig, in_box, valid = _bucket(digit, (slice(1, 11), slice(2, 12)))
    flat = torch.full((1, 3, 12, 14), 90.0)
    fill, hole, _ = grnn_fill(flat, dig, in_box, valid, FillSettings())
    assert torch.allclose(fill[0][:, hole[0, 0] > 0], torch.tensor(90.0), atol=1e-3)


def test_the_hole_grows_into_a_rim_of_the_digit_colour():
    digit = np.zeros((12, 14), bool)
    digit[4:8, 5:8] = True
    _, dig, in_box, valid = _bucket(digit, (slice(2, 10), slice(3, 11)))
    pixels = torch.full((1, 3, 12, 14), 50.0)
    pixels[..., 4:8, 5:8] = 200.0
    pixels[..., 4:8, 8] = 180.0  # a rim the mask missed
    _, hole, _ = grnn_fill(pixels, dig, in_box, valid, FillSettings())
    grown = hole[0, 0].numpy() > 0
    assert grown[4:8, 5:9].all() and grown.sum() == 16


def test_node_certainty_falls_towards_the_digit_colour():
    pixels = torch.zeros(1, 3, 1, 4)
    pixels[0, :, 0] = torch.tensor([0.0, 0.0, 30.0, 100.0])  # two background, a rim, digit
    hole = torch.tensor([[[[0.0, 0.0, 0.0, 1.0]]]])
    nodes = torch.tensor([[[[1.0, 1.0, 0.0, 0.0]]]])
    place = colour_place(pixels, hole, nodes, noise=4.0)
    sure = node_certainty(place, FillSettings(certainty_share=0.6, certainty_min=0.2))
    assert sure[0, 0, 0].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.2])


def test_odd_nodes_weigh_less():
    pixels = torch.full((1, 3, 1, 6), 100.0)
    pixels[0, :, 0, 4] = 250.0  # one node of another surface
    nodes = torch.tensor([[[[1.0, 1.0, 1.0, 1.0, 1.0, 0.0]]]])
    weight = odd_node_weights(pixels, nodes, FillSettings(node_outlier=80.0))[0, 0, 0]
    assert weight[:4].tolist() == pytest.approx([1.0] * 4)
    assert weight[4] == pytest.approx(0.02)  # 260 levels away: exp(-10.6), floored


def test_paste_context_blends_by_alpha_and_leaves_the_rest():
    image = np.full((10, 10, 3), 100, np.uint8)
    alpha = np.zeros((6, 6), np.float32)  # padded beyond the 4 x 5 context
    alpha[1, 1], alpha[1, 2] = 1.0, 0.8
    fill = np.full((6, 6, 3), 200.0, np.float32)
    written = paste_context(image, Rect(3, 2, 7, 7), fill, alpha)
    assert written.shape == (4, 5) and written.sum() == 2
    assert image[4, 3, 0] == 200 and image[4, 4, 0] == 180
    assert (image != 100).any(-1).sum() == 2


def test_training_writes_weights_and_a_record(trained):
    _, out, record = trained
    assert (out / "teacher.npz").is_file() and (out / "student.json").is_file()
    assert [r["boxes"] for r in record["rounds"]][0] > 0 and len(record["rounds"]) == 2
    assert record["teacher"]["method"] == "default"
    assert 0.0 <= record["teacher_truth_iou"] <= 1.0  # generated truth: evaluation only


def test_weights_round_trip_and_fused_network(trained):
    _, out, _ = trained
    path = out / "student.safetensors"
    net = load_student(path)
    assert net.spec == SPEC
    stored = load_file(str(path))
    assert all(torch.equal(stored[k], v) for k, v in net.state_dict().items())
    x = torch.rand(3, 3, SPEC.size, SPEC.size) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(fused(net)(x), net(x), atol=1e-4)


def test_training_is_deterministic(trained, tmp_path):
    _, out, _ = trained
    run_training([], tmp_path, SPEC, CONFIG, teacher_files=[out / "teacher.npz"], progress=False)
    first, again = load_file(str(out / "student.safetensors")), \
        load_file(str(tmp_path / "student.safetensors"))
    assert all(torch.equal(first[k], again[k]) for k in first)


def test_teacher_data_joins_in_order(trained):
    _, out, _ = trained
    data = TeacherData.load(out / "teacher.npz")
    both = TeacherData.concat([data, data])
    n = len(data.labels)
    assert len(both.labels) == 2 * n and both.sources == [*data.sources, *data.sources]
    assert np.array_equal(both.squares[n:], data.squares)
    assert np.array_equal(both.source[n:], data.source + len(data.sources))
    other = TeacherData(**{**data.__dict__, "teacher": '{"method": "seed"}'})
    with pytest.raises(SvhnEraseError, match="different teachers: method"):
        TeacherData.concat([data, other])


def test_student_erases_inside_the_boxes_only(trained):
    root, out, _ = trained
    scenes = _scenes(root)
    method = StudentMethod(StudentConfig(weights=str(out / "student.safetensors")))
    results = method.erase(scenes)
    again = method.erase(scenes)
    from svhn_erase.boxes import union_mask

    for scene, e, e2 in zip(scenes, results, again, strict=True):
        boxes = union_mask(scene.boxes, scene.image.shape)
        assert np.array_equal(e.image[~boxes], scene.image[~boxes])
        assert not (e.replaced & ~boxes).any() and np.array_equal(e.image, e2.image)
        changed = (e.image != scene.image).any(-1)
        assert not (changed & ~e.replaced).any()
        assert e.preds is None
        for keep, digit in zip(e.keypix, e.digit_masks, strict=True):
            assert keep.shape == digit.shape and not (keep & digit).any()


def test_student_is_registered_and_needs_weights(tmp_path, monkeypatch):
    assert "student" in method_names(with_truth=False)
    assert not create("student").uses_classifier
    monkeypatch.setattr(student_method, "PACKAGED", tmp_path / "none.safetensors")
    scene = Scene(np.zeros((20, 20, 3), np.uint8), np.array([[2, 2, 8, 10]]))
    with pytest.raises(SvhnEraseError, match="train-student"):
        create("student").erase([scene])


def test_student_through_erase_and_bench(trained, model_files, tmp_path, monkeypatch):
    from svhn_erase.apps.erase import erase_split
    from svhn_erase.evaluation.bench import run_bench

    root, out, _ = trained
    clf, judge = model_files
    monkeypatch.setattr(student_method, "PACKAGED", out / "student.safetensors")
    timing = erase_split(root, "gen", tmp_path / "erased", method="student", progress=False)
    assert timing["digits"] > 0 and timing["method"]["method"] == "student"
    result = run_bench(root, "gen", clf, tmp_path / "bench", judge=judge, progress=False,
                       methods=["student", "telea_box"])
    figures = result["methods"]["student"]
    assert figures["keypix_recall"] is not None and figures["psnr_box"] > 0


def test_train_student_command_needs_a_source(tmp_path, capsys):
    assert main(["train-student", "--out", str(tmp_path / "o")]) == 2
    assert "--source" in capsys.readouterr().err


def test_network_gives_a_logit_per_pixel():
    net = StudentNet(SPEC).eval()
    assert net(torch.zeros(2, 3, SPEC.size, SPEC.size)).shape == (2, 1, SPEC.size, SPEC.size)
