"""A user's mistakes and damaged inputs (issue 19): one line naming the file and the problem
and exit 2, reported and skipped in a batch, or refused before anything is written; bounded
memory; outputs never over inputs; no temporary a glob or a rerun picks up; caches keyed on
the images and kept out of read-only splits."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from builders import make_split
from faults import bomb_png
from svhn_erase import atomic_io, cli
from svhn_erase.apps.erase import erase_scenes, parse_box
from svhn_erase.data import cache, crops, digitstruct, split
from svhn_erase.data.digitstruct import reader
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.train import TrainConfig
from svhn_erase.model.weights import load_classifier
from svhn_erase.removal.methods import Scene, create

pytestmark = pytest.mark.usefixtures("cli_logging")
REAL = Path(__file__).resolve().parents[2] / "shared/real-svhn"


def _fails(args: list[str], capsys: pytest.CaptureFixture[str], *words: str) -> str:
    """Run the command line: exit 2 and one error line holding ``words``, no traceback."""
    code = cli.main(args)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- images


def test_pixel_limit_is_a_named_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = bomb_png(tmp_path / "bomb.png")
    with pytest.raises(SvhnEraseError, match=r"bomb.png: image is 20000x20000 .*50 megapixels"):
        split.read_rgb(bomb)
    small = tmp_path / "small.png"
    Image.new("RGB", (30, 20)).save(small)
    monkeypatch.setenv(split.MAX_PIXELS_ENV, "500")
    with pytest.raises(SvhnEraseError, match="30x20 .*over the limit"):
        split.read_rgb(small)
    monkeypatch.setenv(split.MAX_PIXELS_ENV, "lots")
    with pytest.raises(SvhnEraseError, match="SVHN_ERASE_MAX_PIXELS"):
        split.read_rgb(small)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"not an image at all"])
def test_undecodable_bytes_are_named(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(data)
    with pytest.raises(SvhnEraseError, match="x.png"):
        split.read_rgb(path)


def test_a_bomb_in_a_batch_is_reported_and_skipped(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    path = make_split(tmp_path, "s", count=4, seed=1)
    bomb_png(path / "2.png")
    out = tmp_path / "out"
    assert cli.main(["erase", "--data", str(tmp_path), "--split", "s", "--out", str(out),
                     "--method", "telea_box"]) == 0
    err = capsys.readouterr().err
    assert "2.png: image is 20000x20000" in err
    assert sorted(p.name for p in out.glob("*.png")) == ["1.png", "3.png", "4.png"]
    timing = json.loads((out / "timing.json").read_text())
    assert timing["images"] == 3 and len(timing["skipped"]) == 1


# --------------------------------------------------------------------------- outputs


def test_erase_never_writes_into_its_split(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = make_split(tmp_path, "s", count=2, seed=2)
    before = {p.name: p.read_bytes() for p in path.glob("*.png")}
    for out in (path, path / "sub", tmp_path / "link"):
        if out.name == "link":
            out.symlink_to(path)
        _fails(["erase", "--data", str(tmp_path), "--split", "s", "--out", str(out),
                "--method", "ns_box"], capsys, "input split")
    assert {p.name: p.read_bytes() for p in path.glob("*.png")} == before
    assert not (path / "sub").exists() and not (path / "manifest.json").exists()
    photo = path / "1.png"
    _fails(["erase-image", str(photo), "--box", "1,1,5,5", "--out", str(photo), "--method",
            "ns_box"], capsys, "input photo")
    assert photo.read_bytes() == before["1.png"]


def test_one_output_folder_holds_one_erasure(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    make_split(tmp_path, "a", count=2, seed=3)
    make_split(tmp_path, "b", count=2, seed=4)
    out = tmp_path / "out"
    erase = ["erase", "--data", str(tmp_path), "--out", str(out), "--method", "ns_box"]
    assert cli.main([*erase, "--split", "a"]) == 0
    assert cli.main([*erase, "--split", "a"]) == 0  # a rerun of the same erasure
    first = (out / "1.png").read_bytes()
    _fails([*erase, "--split", "b"], capsys, "holds the ns_box erasure of", "a")
    _fails(["erase", "--data", str(tmp_path), "--out", str(out), "--split", "a", "--method",
            "telea_box"], capsys, "holds the ns_box erasure")
    assert (out / "1.png").read_bytes() == first
    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "1.png").write_bytes(b"my holiday")
    _fails([*erase, "--split", "a", "--out", str(foreign)], capsys, "no erase run wrote")
    assert (foreign / "1.png").read_bytes() == b"my holiday"


@pytest.mark.parametrize("name, words", [("folder", ["is a folder"]),
                                         ("noext", ["extension"]),
                                         ("out.xyz", ["'.xyz'"]),
                                         ("afile/out.png", ["is a file, not a folder"])])
def test_erase_image_output_is_checked_first(tmp_path: Path, name: str, words: list[str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    photo = tmp_path / "p.png"
    Image.new("RGB", (20, 20)).save(photo)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    _fails(["erase-image", str(photo), "--box", "2,2,5,5", "--out", str(tmp_path / name)],
           capsys, *words)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_index_out_must_be_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_split(tmp_path, "s", count=1, seed=5)
    _fails(["data", "index", "--root", str(tmp_path), "--split", "s", "--out", str(tmp_path)],
           capsys, "is a folder")


def test_temporaries_never_look_like_outputs(tmp_path: Path) -> None:
    """A writer killed mid-write leaves a hidden name that no '*.png' glob matches, and
    ``clean_temporaries`` (run by erase) removes it once its process is gone."""
    script = textwrap.dedent(f"""
        import time, PIL.Image, numpy as np
        from svhn_erase import atomic_io
        PIL.Image.Image.save = lambda *a, **k: time.sleep(60)
        atomic_io.write_image({str(tmp_path / "1.png")!r}, np.zeros((4, 4, 3), np.uint8))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.monotonic() + 60
    while not list(tmp_path.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()  # SIGKILL: no clean-up runs
    proc.wait()
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".1.png.tmp-") and not left[0].endswith(".png")
    assert not list(tmp_path.glob("*.png"))
    assert atomic_io.clean_temporaries(tmp_path) == 1 and not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- bounded readers


def test_a_small_file_declaring_huge_tables_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s"
    path.mkdir()
    with h5py.File(path / "digitStruct.mat", "w") as f:
        for key in ("name", "bbox"):
            f.create_dataset(f"digitStruct/{key}", shape=(400_000_000, 1), chunks=(1, 1),
                             dtype=h5py.ref_dtype)
    assert (path / "digitStruct.mat").stat().st_size < 10_000
    with pytest.raises(SvhnEraseError, match="declares 400,000,000 values"):
        digitstruct.load_index(path)


def test_one_shared_box_field_cannot_multiply_the_digits(tmp_path: Path) -> None:
    """Fifty images whose box fields all link to one compressed field of 20,000 values: a
    few-KB file declaring a million digits is refused, not built into a table."""
    path = tmp_path / "s"
    path.mkdir()
    with h5py.File(path / "digitStruct.mat", "w") as f:
        big = f.create_dataset("#refs#/big", data=np.zeros((20000, 1)), compression="gzip")
        names, boxes = [], []
        for i in range(50):
            name = np.array([ord(c) for c in f"{i + 1}.png"], np.uint16).reshape(-1, 1)
            names.append(f.create_dataset(f"#refs#/n{i}", data=name).ref)
            group = f.create_group(f"#refs#/b{i}")
            for key in digitstruct.BOX_FIELDS:
                group[key] = big
            boxes.append(group.ref)
        f.create_dataset("digitStruct/name", data=np.array(names).reshape(-1, 1),
                         dtype=h5py.ref_dtype)
        f.create_dataset("digitStruct/bbox", data=np.array(boxes).reshape(-1, 1),
                         dtype=h5py.ref_dtype)
    assert (path / "digitStruct.mat").stat().st_size < 100_000
    with pytest.raises(SvhnEraseError, match="more than it can hold"):
        digitstruct.read_digitstruct(path / "digitStruct.mat")


def test_a_chunk_bigger_than_the_file_is_refused(tmp_path: Path) -> None:
    """The library allocates a chunk whole to read it: its declared size is checked too."""
    path = tmp_path / "chunky.mat"
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.ones((3, 1)), maxshape=(None, 1), chunks=(4, 1),
                         compression="gzip")
    data = bytearray(path.read_bytes())
    at = data.find(struct.pack("<III", 4, 1, 8))  # the layout message's chunk dimensions
    data[at:at + 4] = struct.pack("<I", 2**27)
    path.write_bytes(bytes(data))
    with h5py.File(path, "r") as f, pytest.raises(SvhnEraseError, match="chunks of 1,073,741,824"):
        reader.check_declared(path, "x", f["x"])


def test_names_no_file_can_have_are_skipped(tmp_path: Path) -> None:
    path = make_split(tmp_path, "s", count=3, seed=6)
    with h5py.File(path / "digitStruct.mat", "r+") as f:
        refs = f["digitStruct/name"][()].ravel()
        for ref, name in zip(refs, ("1\x00png", "\ud800.png"), strict=False):
            f[ref][...] = np.array([ord(c) for c in name], np.uint16).reshape(f[ref].shape)
    table = digitstruct.load_index(path)
    assert set(table["file"]) == {"3.png"}
    problems = split.index_skipped(table)
    assert any("NUL" in p for p in problems) and any("surrogate" in p for p in problems)


@pytest.mark.parametrize("text", ["inf,0,10,10", "0,0,1e20,1e20", "nan,1,2,3", "1,2,3",
                                  "1,2,3,4,5", "a,b,c,d", "1,2,-3,4"])
def test_bad_boxes_are_named(text: str) -> None:
    with pytest.raises(SvhnEraseError, match="box"):
        parse_box(text)


def test_a_negative_box_needs_no_equals_sign(tmp_path: Path) -> None:
    photo = tmp_path / "p.png"
    Image.new("RGB", (40, 40), (200, 10, 10)).save(photo)
    assert cli.main(["erase-image", str(photo), "--box", "-20,-20,30,30", "--out",
                     str(tmp_path / "o.png"), "--method", "ns_box"]) == 0


def test_a_big_box_is_erased_at_a_reduced_scale() -> None:
    """Memory follows the boxes: a box over the limit is erased on a smaller copy; the
    result is full size and only pixels inside the box change."""
    rng = np.random.default_rng(0)
    image = np.clip(rng.normal(120, 5, (300, 400, 3)), 0, 255).astype(np.uint8)
    image[100:200, 150:250] = 250
    boxes = np.array([[140, 90, 120, 120]])
    method = create("ns_box")
    full = erase_scenes(method, [Scene(image, boxes)], None)[0]
    reduced = erase_scenes(method, [Scene(image, boxes)], None, max_box_pixels=3600)[0]
    assert reduced.image.shape == image.shape and reduced.replaced.shape == image.shape[:2]
    outside = np.ones(image.shape[:2], bool)
    outside[90:210, 140:260] = False
    assert np.array_equal(reduced.image[outside], image[outside])
    assert reduced.image[100:200, 150:250].mean() < 200  # the bright square is gone
    assert np.abs(reduced.image.astype(int) - full.image.astype(int)).mean() < 5


# --------------------------------------------------------------------------- settings, weights


@pytest.mark.parametrize("args, field", [
    (["--lr", "-1"], {"lr": -1.0}), (["--lr", "nan"], {"lr": float("nan")}),
    (["--limit", "0"], {"limit": 0}), (["--size", "2000"], {"size": 2000}),
    (["--momentum", "inf"], {"momentum": float("inf")})])
def test_bad_training_settings_write_nothing(tmp_path: Path, args: list[str], field: dict,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    make_split(tmp_path, "s", count=2, seed=7)
    _fails(["train", "--data", str(tmp_path), "--split", "s", "--test-split", "none",
            "--runs", str(tmp_path / "runs"), *args], capsys, args[0].lstrip("-"))
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "s" / crops.CACHE_DIR).exists()
    with pytest.raises(SvhnEraseError):
        TrainConfig(**field)


@pytest.mark.parametrize("option", ["--batch", "--limit"])
@pytest.mark.parametrize("value", ["0", "-1"])
def test_counts_must_be_positive(option: str, value: str) -> None:
    command = ["classify", "--data", "d", "--split", "s", "--weights", "w", "--out", "o.csv"] \
        if option == "--batch" else ["erase", "--data", "d", "--split", "s", "--out", "o"]
    with pytest.raises(SystemExit) as exc:
        cli.main([*command, option, value])
    assert exc.value.code == 2


@pytest.mark.parametrize("meta, words", [({"net": "ResNet9000"}, "unknown network"),
                                         ({"image_size": "abc"}, "image_size 'abc'"),
                                         ({"image_size": "60000"}, "image_size '60000'")])
def test_weights_metadata_is_checked(tmp_path: Path, meta: dict, words: str) -> None:
    path = tmp_path / "w.safetensors"
    save_file(ConvNet("ConvNet32").state_dict(), str(path), metadata=meta)
    with pytest.raises(SvhnEraseError, match=words):
        load_classifier(path)


def test_an_unsafe_pickle_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "evil.pkl"
    torch.save({"w": torch.zeros(1), "x": Path("anything")}, path)
    with pytest.raises(SvhnEraseError) as exc:
        load_classifier(path)
    assert "refused" in str(exc.value) and "\n" not in str(exc.value)
    assert "weights_only" not in str(exc.value)


# --------------------------------------------------------------------------- caches


def test_a_replaced_image_is_never_read_from_stale_crops(tmp_path: Path) -> None:
    path = make_split(tmp_path, "s", count=3, seed=8)
    first = crops.build_crop_cache(path, progress=False)
    image = Image.open(path / "1.png")
    Image.fromarray(255 - np.asarray(image)).save(path / "1.png")  # same size, new picture
    second = crops.build_crop_cache(path, progress=False)
    rows = first.parent == 0
    assert not np.array_equal(first.crops[rows], second.crops[rows])
    assert np.array_equal(first.crops[~rows], second.crops[~rows])
    assert len(list((path / crops.CACHE_DIR).glob("*.npy"))) == 1  # the outdated one goes


def test_a_read_only_split_gets_caches_of_its_own(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_split(tmp_path, "s", count=3, seed=9)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    os.chmod(path, 0o555)
    try:
        listing = sorted(p.name for p in path.iterdir())
        table = digitstruct.load_index(path)
        built = crops.build_crop_cache(path, progress=False, table=table)
        assert sorted(p.name for p in path.iterdir()) == listing  # nothing written there
        own = cache.index_folder(path)
        assert own.parent == tmp_path / "xdg" / "svhn-erase"
        assert (own / digitstruct.INDEX_CACHE_NAME).is_file()
        assert len(list(cache.crops_folder(path).glob("*.npy"))) == 1
        again = crops.build_crop_cache(path, progress=False)  # read back, same crops
        assert np.array_equal(again.crops, built.crops)
    finally:
        os.chmod(path, 0o755)


def test_cache_dir_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_split(tmp_path, "s", count=2, seed=10)
    assert cli.main(["--cache-dir", str(tmp_path / "c"), "data", "index", "--root",
                     str(tmp_path), "--split", "s", "--out", str(tmp_path / "i.csv")]) == 0
    assert not (tmp_path / "s" / digitstruct.INDEX_CACHE_NAME).exists()
    assert len(list((tmp_path / "c").glob(f"s-*/{digitstruct.INDEX_CACHE_NAME}"))) == 1
    assert cli.main(["data", "index", "--root", str(tmp_path), "--split", "s"]) == 0
    assert (tmp_path / "s" / digitstruct.INDEX_CACHE_NAME).is_file()  # the default again


@pytest.mark.skipif(not (REAL / "train").is_dir(), reason="no shared/real-svhn")
def test_the_shared_real_split_is_never_written(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """shared/real-svhn is read-only (no write bits): its caches go elsewhere."""
    train = REAL / "train"
    if os.stat(train).st_mode & 0o222:
        pytest.skip("this copy of real-svhn is writable")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert train not in cache.index_folder(train).parents and cache.index_folder(train) != train
    assert train not in cache.crops_folder(train).parents
    small = tmp_path / "copy"  # a tiny read-only copy, indexed for real
    small.mkdir()
    for n in range(1, 4):
        shutil.copy(train / f"{n}.png", small)
    table = digitstruct.read_digitstruct(train / "digitStruct.mat")
    groups = table[table["file"].isin(["1.png", "2.png", "3.png"])].groupby("file", sort=False)
    names = [name for name, _ in groups]
    boxes = [np.column_stack([np.where(g["label"] == 0, 10, g["label"]),
                              g[["left", "top", "width", "height"]].to_numpy(float)])
             for _, g in groups]
    digitstruct.write_digitstruct(small / "digitStruct.mat", names, boxes)
    os.chmod(small, 0o555)
    try:
        assert len(digitstruct.load_index(small)) > 0
        assert sorted(p.name for p in small.iterdir()) == ["1.png", "2.png", "3.png",
                                                           "digitStruct.mat"]
    finally:
        os.chmod(small, 0o755)


def test_jpeg_outputs_keep_the_photo_sharp(tmp_path: Path) -> None:
    """An erased photo written as JPEG is saved at quality 95, full colour resolution:
    Pillow's default (75, 4:2:0) costs about three times the error on a noisy photo."""
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    photo = np.stack([(xx * 2) % 256, (yy * 3) % 256, ((xx + yy) * 2) % 256], -1)
    photo = np.clip(photo + rng.integers(-20, 20, photo.shape), 0, 255).astype(np.uint8)
    atomic_io.write_image(tmp_path / "out.jpg", photo)
    Image.fromarray(photo).save(tmp_path / "default.jpg")
    ours = np.abs(np.asarray(Image.open(tmp_path / "out.jpg")).astype(int) - photo).mean()
    theirs = np.abs(np.asarray(Image.open(tmp_path / "default.jpg")).astype(int) - photo).mean()
    assert ours < theirs / 2
