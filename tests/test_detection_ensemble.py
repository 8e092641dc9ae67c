"""Detector ensembles (issue 16): one member detects as its detector, members' maps are
averaged, the weights file holds every member, and tuning by min(precision, recall)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch

from builders import make_split
from svhn_erase.cli import main
from svhn_erase.detection import load_detector
from svhn_erase.detection.dataset import load_photos
from svhn_erase.detection.detect import Detector, read_metadata, save_detector, with_settings
from svhn_erase.detection.ensemble import combine, members
from svhn_erase.detection.net import DigitCenterNet, DigitEnsemble, NetConfig, _rescaled
from svhn_erase.detection.targets import to_batch
from svhn_erase.detection.train import TrainSettings, best_row, train_detector
from svhn_erase.errors import SvhnEraseError


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split(tmp_path_factory.mktemp("ens"), "train", count=8, seed=5)


@pytest.fixture(scope="module")
def two(split: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two detectors of three steps each, seeds 3 and 4."""
    photos = load_photos(split, progress=False)
    paths = []
    for seed in (3, 4):
        detector, _ = train_detector(photos, [], TrainSettings(steps=3, batch=4, max_width=128,
                                                               seed=seed), progress=False)
        paths.append(tmp_path_factory.mktemp("w") / f"det{seed}.safetensors")
        save_detector(detector, paths[-1])
    return paths


def _images() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [rng.integers(0, 255, shape, np.uint8) for shape in ((64, 90, 3), (40, 120, 3))]


def test_an_ensemble_of_one_detects_as_its_detector(two: list[Path]) -> None:
    single = load_detector(two[0], device="cpu")
    alone = with_settings(combine([single]), **asdict(single.settings))
    assert isinstance(alone.net, DigitEnsemble) and len(alone.net.members) == 1
    assert alone.detect(_images(), 0.0) == single.detect(_images(), 0.0)


def test_members_maps_are_averaged(two: list[Path]) -> None:
    a, b = (load_detector(p, device="cpu") for p in two)
    both = combine([a, b])
    x, _ = to_batch([_images()[0]])
    with torch.no_grad():
        out, ma, mb = both.net(x), a.net(x), b.net(x)
    for key in ("heat", "cls", "size", "offset"):
        assert torch.allclose(out[key], (ma[key] + mb[key]) / 2, atol=1e-6)


def test_ensemble_weights_round_trip_and_are_deterministic(two: list[Path],
                                                           tmp_path: Path) -> None:
    both = combine([load_detector(p, device="cpu") for p in two])
    path = tmp_path / "ens.safetensors"
    save_detector(both, path)
    assert read_metadata(path)["members"] == 2
    loaded = load_detector(path, device="cpu")
    assert len(members(loaded)) == 2
    found = loaded.detect(_images(), 0.0)
    assert found == both.detect(_images(), 0.0) == loaded.detect(_images(), 0.0)
    # an ensemble among the detectors to combine gives its members
    assert len(members(combine([loaded, load_detector(two[0], device="cpu")]))) == 3


def test_members_must_share_an_architecture() -> None:
    with pytest.raises(ValueError):
        DigitEnsemble([DigitCenterNet(), DigitCenterNet(NetConfig(head=16))])
    with pytest.raises(SvhnEraseError, match="differ"):
        combine([Detector(DigitCenterNet()), Detector(DigitCenterNet(NetConfig(head=16)))])


def test_members_of_another_input_height_are_resized(tmp_path: Path) -> None:
    torch.manual_seed(0)
    base, tall = DigitCenterNet().eval(), DigitCenterNet(NetConfig(input_height=160)).eval()
    x, _ = to_batch([_images()[0][:48]])  # 48 x 96 input: a 12 x 24 grid
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(_rescaled(base, x, 1.0).values(),
                                                     base(x).values(), strict=True))
        tall.size.weight.zero_()
        tall.size.bias.copy_(torch.tensor([1.0, 2.0]))  # log sizes 1 and 2 in its pixels
        size = _rescaled(tall, x, 2.0)["size"]  # twice the pixels: log 2 less in x's
        assert size.shape[-2:] == (12, 24)
        assert torch.allclose(size, torch.tensor([1.0, 2.0]).view(1, 2, 1, 1) - np.log(2.0))
        mixed = DigitEnsemble([base, tall]).eval()
        out = mixed(x)
        assert torch.equal(out["offset"], base(x)["offset"])  # only same-height offsets
    detector = combine([Detector(base), Detector(tall)])
    path = tmp_path / "mixed.safetensors"
    save_detector(detector, path)
    assert read_metadata(path)["member_heights"] == [80, 160]
    loaded = load_detector(path, device="cpu")
    assert [m.config.input_height for m in members(loaded)] == [80, 160]
    assert loaded.detect(_images(), 0.0) == detector.detect(_images(), 0.0)


def test_min_pr_prefers_the_balanced_setting() -> None:
    rows = [{"precision": 0.95, "recall": 0.88, "f1": 0.914},
            {"precision": 0.91, "recall": 0.90, "f1": 0.905},
            {"precision": 0.90, "recall": 0.91, "f1": 0.906}]
    assert best_row(rows, "f1") is rows[0]
    assert best_row(rows, "min-pr") is rows[2]  # min 0.90 twice: the higher F1
    with pytest.raises(ValueError):
        best_row(rows, "accuracy")


def test_combine_detectors_command(split: Path, two: list[Path], tmp_path: Path,
                                   capsys) -> None:
    out = tmp_path / "ens.safetensors"
    assert main(["combine-detectors", *map(str, two), "--real", str(split), "--real-files",
                 "1-4", "--tune-files", "5-8", "--out", str(out)]) == 0
    assert "2 detector(s) combined" in capsys.readouterr().out
    meta = read_metadata(out)
    assert meta["members"] == 2 and meta["tune"]["criterion"] == "min-pr"
    assert [m["weights"] for m in meta["combined_from"]] == list(map(str, two))
    assert load_detector(out).settings.width_scale == meta["calibrate"]["width_scale"]
    with pytest.raises(SystemExit) as exc:
        main(["combine-detectors", "--help"])
    assert exc.value.code == 0 and "--criterion" in capsys.readouterr().out
