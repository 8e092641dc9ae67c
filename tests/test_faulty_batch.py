"""A batch with faults: 500 generated images, 1 % of them corrupted in five ways, through
``erase``, ``classify`` and ``bench``. Exactly the corrupted files are reported, every other
output is written and decodes, and the counts in each command's summary are right."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from faults import CORRUPTIONS
from svhn_erase import cli
from svhn_erase.data import synth
from svhn_erase.data.digitstruct import read_digitstruct
from svhn_erase.data.split import read_rgb

pytestmark = pytest.mark.usefixtures("cli_logging")

COUNT = 500


DAMAGED = dict(zip(["37.png", "111.png", "222.png", "333.png", "444.png"], CORRUPTIONS.values(),
                   strict=True))  # file -> how it is damaged (1 % of the split, five ways)


@pytest.fixture(scope="module")
def faulty_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """500 generated images with ground truth, five of them then damaged."""
    root = tmp_path_factory.mktemp("faulty")
    split = synth.generate_split(root, "test", count=COUNT, seed=3, workers=2, progress=False)
    for name, damage in DAMAGED.items():
        path = split / name
        path.write_bytes(damage(path.read_bytes()))
    return split


def _reported(err: str) -> set[str]:
    """The files named in the 'skipped:' lines of a command's stderr."""
    return {m.group(1) for m in re.finditer(r"skipped: \S*/(\d+\.png)\b", err)}


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_faulty_batch_through_erase_classify_bench(faulty_split: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root, bad = faulty_split.parent, set(DAMAGED)
    table = read_digitstruct(faulty_split / "digitStruct.mat")
    good = [f for f in dict.fromkeys(table["file"]) if f not in bad]
    assert len(good) == COUNT - len(bad)
    good_digits = int(table["file"].isin(good).sum())

    # erase: the corrupted files reported, every other image and mask written and decodable
    out = tmp_path / "erased"
    code, printed, err = _run(["erase", "--data", str(root), "--split", "test", "--out",
                               str(out)], capsys)
    assert code == 0 and "Traceback" not in err
    assert _reported(err) == bad
    timing = json.loads((out / "timing.json").read_text())
    assert timing["images"] == len(good) and timing["digits"] == good_digits
    listed = timing["skipped"] + timing["index_skipped"]
    assert len(listed) == len(bad) and {Path(s.split(":")[0]).name for s in listed} == bad
    assert f"skipped {len(bad)} image(s)" in printed
    assert {p.name for p in out.glob("*.png")} == set(good)  # nothing else, no temporaries
    assert {p.name for p in (out / "masks").glob("*.png")} == set(good)
    for name in good:
        size = Image.open(faulty_split / name).size
        assert read_rgb(out / name).shape[1::-1] == size
        assert read_rgb(out / "masks" / name).shape[1::-1] == size

    # classify: one row per digit of the good images, the same files reported
    preds = tmp_path / "preds.csv"
    code, printed, err = _run(["classify", "--data", str(root), "--split", "test", "--weights",
                               str(_packaged()), "--out", str(preds)], capsys)
    assert code == 0 and "Traceback" not in err
    assert _reported(err) == bad
    rows = pd.read_csv(preds)
    assert len(rows) == good_digits and set(rows["file"]) == set(good)
    assert f"{good_digits} digits" in printed and f"skipped {len(bad)} image(s)" in printed

    # bench (one quick method): scored on the good images only, the bad ones listed skipped
    code, printed, err = _run(["bench", "--data", str(root), "--split", "test", "--out",
                               str(tmp_path / "bench"), "--methods", "telea_box"], capsys)
    assert code == 0 and "Traceback" not in err
    assert _reported(err) == bad
    summary = json.loads((tmp_path / "bench" / "summary.json").read_text())
    skipped = summary["settings"]["skipped"]
    assert len(skipped) == len(bad) and {Path(s.split(":")[0]).name for s in skipped} == bad
    figures = summary["methods"]["telea_box"]
    assert figures["n_images"] == len(good) and figures["n_digits"] == good_digits
    assert f"skipped {len(bad)} image(s)" in printed


def _packaged() -> Path:
    from svhn_erase.model.weights import packaged_checkpoint

    path = packaged_checkpoint("classifier")
    assert path is not None
    return path
