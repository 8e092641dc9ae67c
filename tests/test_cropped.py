"""Format 2 (*_32x32.mat): read back exactly, 10 -> 0, clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from svhn_erase import cli
from svhn_erase.data.format2 import SVHNCropped, read_cropped, summarize_cropped
from svhn_erase.errors import SvhnEraseError


def _write(path: Path, n: int = 7, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(1, 11, size=n)
    labels[0] = 10
    scipy.io.savemat(path, {"X": np.transpose(images, (1, 2, 3, 0)),
                            "y": labels.reshape(-1, 1).astype(np.uint8)})
    return images, labels


def test_read_cropped_round_trip(tmp_path: Path) -> None:
    images, labels = _write(tmp_path / "test_32x32.mat")
    x, y = read_cropped(tmp_path / "test_32x32.mat")
    assert x.dtype == np.uint8 and x.shape == (7, 32, 32, 3)
    assert y.dtype == np.int64 and y[0] == 0
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels % 10)


def test_dataset_and_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    images, labels = _write(tmp_path / "train_32x32.mat", n=5)
    ds = SVHNCropped(tmp_path / "train_32x32.mat", transform=lambda im: im.mean())
    assert len(ds) == 5
    value, label = ds[2]
    assert value == pytest.approx(images[2].mean()) and label == labels[2] % 10
    summary = summarize_cropped(tmp_path / "train_32x32.mat")
    assert summary["images"] == 5 and sum(summary["per_digit"].values()) == 5
    assert cli.main(["data", "format2", str(tmp_path / "train_32x32.mat")]) == 0
    assert "5 images" in capsys.readouterr().out


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(SvhnEraseError, match="no such file"):
        read_cropped(tmp_path / "missing.mat")
    _write(tmp_path / "ok.mat")
    data = (tmp_path / "ok.mat").read_bytes()
    (tmp_path / "cut.mat").write_bytes(data[: len(data) // 2])
    (tmp_path / "junk.mat").write_bytes(b"\x00" * 50)
    for name in ("cut.mat", "junk.mat"):
        with pytest.raises(SvhnEraseError) as exc:
            read_cropped(tmp_path / name)
        assert name in str(exc.value)
    scipy.io.savemat(tmp_path / "novars.mat", {"images": np.zeros(3)})
    with pytest.raises(SvhnEraseError, match="no variable 'X'"):
        read_cropped(tmp_path / "novars.mat")
    scipy.io.savemat(tmp_path / "shape.mat", {"X": np.zeros((28, 28, 1, 2), np.uint8),
                                              "y": np.ones((2, 1))})
    with pytest.raises(SvhnEraseError, match="32 x 32 x 3"):
        read_cropped(tmp_path / "shape.mat")
    scipy.io.savemat(tmp_path / "labels.mat", {"X": np.zeros((32, 32, 3, 2), np.uint8),
                                               "y": np.array([[1], [12]])})
    with pytest.raises(SvhnEraseError, match="labels"):
        read_cropped(tmp_path / "labels.mat")


def test_v73_file_is_refused_clearly(tmp_path: Path) -> None:
    from svhn_erase.data.digitstruct import write_digitstruct

    write_digitstruct(tmp_path / "train_32x32.mat", ["1.png"], [np.array([[1, 0, 0, 5, 5]])])
    with pytest.raises(SvhnEraseError, match="not a MATLAB v5 file"):
        read_cropped(tmp_path / "train_32x32.mat")
