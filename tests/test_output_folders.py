"""Output folders that cannot be made or written (a file in the way, no permission): every
command that makes one refuses at its start with one line naming it and exit 2, not a
traceback (``paths.make_folder``), and leaves nothing behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from builders import make_gt_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.paths import make_folder


def test_make_folder_makes_parents_and_leaves_nothing(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a" / "b")
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert make_folder(folder) == folder  # an existing folder is fine


def test_make_folder_names_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(SvhnEraseError, match=r"f: is a file, not a folder"):
        make_folder(tmp_path / "f")
    with pytest.raises(SvhnEraseError, match=r"f/out: .*f is a file, not a folder"):
        make_folder(tmp_path / "f" / "out")


def test_make_folder_names_a_folder_it_cannot_write(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)  # root may write anywhere
    with pytest.raises(SvhnEraseError, match=r"out: cannot make or write .*Permission denied"):
        make_folder(tmp_path / "out")


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_gt_split(tmp_path_factory.mktemp("data"), "s", count=2)


@pytest.mark.parametrize("args", [
    ["bench", "--data", "{data}", "--split", "s", "--out", "{file}/b", "--methods", "telea_box"],
    ["bench", "--data", "{data}", "--split", "s", "--out", "{file}", "--methods", "telea_box"],
    ["data", "synth", "--root", "{file}", "--split", "s", "--count", "1", "--workers", "1"],
    ["train", "--data", "{data}", "--split", "s", "--test-split", "none", "--epochs", "1",
     "--runs", "{file}/runs"],
    ["train-student", "--source", "{data}/s", "--out", "{file}", "--epochs", "1"],
    ["demo", "--out", "{file}/demo", "--fast"],
    ["data", "download", "--root", "{file}", "--split", "test", "--url", "http://127.0.0.1:9"],
    ["serve", "--workdir", "{file}"],
], ids=["bench-sub", "bench", "synth", "train", "train-student", "demo", "download", "serve"])
def test_a_file_in_the_way_is_one_line(args: list[str], split: Path, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "blocker.png"
    blocker.write_bytes(b"not a folder")
    argv = [a.format(data=split.parent, file=blocker) for a in args]
    code = cli.main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert str(blocker) in lines[0] and "is a file, not a folder" in lines[0], lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker.png"]


def test_train_student_checks_its_sources_before_making_out(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A missing --source split is one line naming it, before any progress bar, and no
    output folder is left behind."""
    code = cli.main(["train-student", "--source", f"{tmp_path}/nosuch/t", "--out",
                     str(tmp_path / "st")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("svhn-erase: error: ") and "nosuch/t: split folder not found" in err
    assert not (tmp_path / "st").exists()
    code = cli.main(["train-student", "--teacher-data", f"{tmp_path}/no.npz", "--out",
                     str(tmp_path / "st")])
    err = capsys.readouterr().err
    assert code == 2 and "no.npz: no such file (--teacher-data)" in err, err
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("args", [
    ["classify", "--data", "{data}", "--split", "s", "--weights", "{tmp}/none.safetensors",
     "--out", "{tmp}/out/c.csv"],
    ["data", "index", "--root", "{data}", "--split", "s", "--out", "{tmp}/i.csv"],
    ["detect", "{data}/s", "--out", "{tmp}/d.csv"],
    ["erase-image", "{data}/s/1.png", "--box", "1,1,5,5", "--out", "{tmp}/e.png"],
], ids=["classify", "index", "detect", "erase-image"])
def test_an_output_file_that_cannot_be_written_is_refused_first(
        args: list[str], split: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Refused before the work (the classifier's weights are not even looked for), not
    after it when the file is written."""
    def refused(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)  # as an immutable folder does
    code = cli.main([a.format(data=split.parent, tmp=tmp_path) for a in args])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert f"cannot write in {tmp_path} (Operation not permitted)" in lines[0], lines[0]
    assert list(tmp_path.iterdir()) == []
