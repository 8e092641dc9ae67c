"""The Ray engine (``erase --engine ray``): the local engine's bytes, corrupt images skipped
as there, a stopped run resumed, a killed worker retried with nothing lost or written twice,
a worker's error given as the local engine's one line, the box index, and a local engine that
imports no Ray.

One local Ray of 2 CPUs per test process serves them (a session fixture). Under
``pytest -n 2`` each worker that runs some of these tests starts its own, a new one
(``address="local"``), and the kill test kills only a child of its own process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")  # ships with ray

from builders import add_alpha, embed_profile, make_split, rgb_icc_profile  # noqa: E402
from svhn_erase import cli  # noqa: E402
from svhn_erase.apps import erase, ray_engine  # noqa: E402
from svhn_erase.data.split import iter_parents, load_table  # noqa: E402
from svhn_erase.errors import SvhnEraseError  # noqa: E402
from svhn_erase.model.nets import ConvNet  # noqa: E402
from svhn_erase.model.weights import save_classifier  # noqa: E402

COUNT, CORRUPT = 48, 2  # the index leaves out the last two (not images at all) ...
TRUNCATED = ("5.png", "20.png")  # ... and these two pass the index but do not decode
GOOD = COUNT - CORRUPT - len(TRUNCATED)
SAME_KEYS = ("digits", "images", "skipped", "index_skipped", "method", "weights")


@pytest.fixture(scope="session")
def local_ray():
    ray.init(address="local", num_cpus=2, object_store_memory=100 * 2**20,
             include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def split(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A split with four corrupt images, the weights of an untrained classifier (as
    conftest's ``model``), and the local engine's erasure."""
    root = tmp_path_factory.mktemp("ray")
    torch.manual_seed(0)
    model = ConvNet("ConvNet48_Dropout3").eval()
    make_split(root, "s", count=COUNT, seed=18, corrupt=CORRUPT)
    embed_profile(root / "s" / "2.png", rgb_icc_profile())  # carried on by both engines
    alphas = {name: add_alpha(root / "s" / name, mode)  # and so is transparency
              for name, mode in (("3.png", "LA"), ("7.png", "RGBA"))}
    for name in TRUNCATED:
        data = (root / "s" / name).read_bytes()
        (root / "s" / name).write_bytes(data[:len(data) // 2])
    weights = root / "clf.safetensors"
    save_classifier(model, weights)
    erase.erase_split(root, "s", root / "local", weights=weights, progress=False)
    assert Image.open(root / "local" / "2.png").info["icc_profile"] == rgb_icc_profile()
    for name, alpha in alphas.items():
        assert np.array_equal(np.asarray(Image.open(root / "local" / name))[:, :, 3], alpha)
    return {"root": root, "weights": weights, "local": root / "local"}


def _outputs(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*.png"))}


def _timing(out: Path) -> dict:
    return json.loads((out / "timing.json").read_text())


def _inodes(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_ino for p in out.rglob("*.png")}


def _temporaries(out: Path) -> list[Path]:
    return [p for p in out.rglob(".*") if ".tmp-" in p.name]


def _run(split: dict[str, Path], out: Path, **kwargs) -> dict:
    return ray_engine.erase_split_ray(split["root"], "s", out, weights=split["weights"],
                                      progress=False, **kwargs)


def test_cli_ray_engine_writes_the_local_engine_bytes(local_ray, split, capsys) -> None:
    out = split["root"] / "on-ray"
    code = cli.main(["erase", "--data", str(split["root"]), "--split", "s", "--weights",
                     str(split["weights"]), "--out", str(out), "--engine", "ray",
                     "--workers", "2"])
    assert code == 0
    assert _outputs(out) == _outputs(split["local"])
    assert len(_outputs(out)) == 2 * GOOD
    ours, theirs = _timing(out), _timing(split["local"])
    assert {k: ours[k] for k in SAME_KEYS} == {k: theirs[k] for k in SAME_KEYS}
    assert len(ours["skipped"]) == len(TRUNCATED) and "truncated" in ours["skipped"][0]
    assert len(ours["index_skipped"]) == CORRUPT
    assert (ours["engine"], ours["workers"], ours["resumed"]) == ("ray", 2, 0)
    assert ours["seconds"] > 0 and 0 < ours["pool_start_seconds"] < ours["wall_seconds"]
    assert (out / "manifest.json").read_text() == (split["local"] / "manifest.json").read_text()
    assert "on Ray: 2 workers" in capsys.readouterr().out
    with pytest.raises(SvhnEraseError, match="--workers 3: the Ray cluster has 2 CPU"):
        _run(split, split["root"] / "too-many", workers=3)
    assert not (split["root"] / "too-many").exists()


def _pool_pids() -> list[int]:
    """The process ids of this test's Ray workers that hold an ``EraseWorker``."""
    pids = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if "EraseWorker" in " ".join(proc.cmdline()):
                pids.append(proc.pid)
        except psutil.Error:
            continue
    return pids


def _stopped_run(split: dict[str, Path], out: Path) -> None:
    """What a run stopped after 10 images leaves: its 10th mask not written, a killed
    writer's temporary file, no timing.json."""
    erase.erase_split(split["root"], "s", out, weights=split["weights"], limit=10,
                      progress=False)
    (out / "masks" / "10.png").unlink()
    (out / "timing.json").unlink()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / f".11.png.tmp-{dead.pid}-0000").write_bytes(b"half")


def test_a_stopped_run_resumes_and_a_killed_worker_loses_and_rewrites_nothing(
        local_ray, split, tmp_path: Path) -> None:
    """One run on Ray (each costs an actor pool's start): it resumes a stopped run, and one
    of its two workers is killed midway."""
    out = tmp_path / "out"
    _stopped_run(split, out)
    before = _inodes(out)
    result: dict = {}
    run = threading.Thread(target=lambda: result.update(
        timing=_run(split, out, workers=2, batch_size=2)))
    run.start()
    deadline = time.monotonic() + 120
    while (len(_inodes(out)) == len(before) and run.is_alive()
           and time.monotonic() < deadline):
        time.sleep(0.01)
    victim = _pool_pids()[0]
    os.kill(victim, signal.SIGKILL)
    psutil.Process(victim).wait(timeout=10) if psutil.pid_exists(victim) else None
    done_at_kill = _inodes(out)
    run.join(timeout=180)
    assert not run.is_alive() and "timing" in result
    assert len(before) < len(done_at_kill) < 2 * GOOD  # killed midway
    assert _outputs(out) == _outputs(split["local"])  # nothing lost
    after = _inodes(out)
    # what the stopped run wrote and what the killed worker wrote is not written again
    assert all(after[name] == inode for name, inode in done_at_kill.items())
    assert not _temporaries(out)
    timing, local = _timing(out), _timing(split["local"])
    # done before: 1-9 less 5.png (it does not decode); 10.png lacks its mask
    assert timing["resumed"] == 8 and timing["images"] == local["images"] - 8
    assert (timing["skipped"], timing["index_skipped"]) == (local["skipped"],
                                                            local["index_skipped"])


def test_refusals_before_anything_is_written(split, tmp_path: Path) -> None:
    with pytest.raises(SvhnEraseError, match="is the input split"):
        _run(split, split["root"] / "s")
    code = cli.main(["erase", "--data", str(split["root"]), "--split", "s", "--out",
                     str(tmp_path / "o2"), "--workers", "2"])
    assert code == 2 and not (tmp_path / "o2").exists()


def test_the_local_engine_imports_no_ray(split, tmp_path: Path) -> None:
    script = ("import sys; from svhn_erase import cli; "
              f"code = cli.main(['erase', '--data', {str(split['root'])!r}, '--split', 's', "
              f"'--weights', {str(split['weights'])!r}, '--out', {str(tmp_path / 'o')!r}, "
              "'--limit', '2']); "
              "assert code == 0; "
              "assert not [m for m in sys.modules if m.split('.')[0] == 'ray'], 'ray imported'")
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_detect_on_ray_writes_the_local_bytes_and_resumes(local_ray, split, tmp_path: Path,
                                                          capsys) -> None:
    """``erase --detect --engine ray`` on photos without digitStruct.mat (packaged detector),
    resuming a stopped local run: the images, masks and boxes.csv of the local engine, and
    its report of a photo that does not decode."""
    from svhn_erase.apps.erase_detected import erase_folder_detected

    folder = tmp_path / "photos" / "street"
    folder.mkdir(parents=True)
    for n in [*range(1, 5), *range(6, 14)]:  # 5.png does not decode
        (folder / f"{n}.png").write_bytes((split["root"] / "s" / f"{n}.png").read_bytes())
    (folder / "14.png").write_bytes((folder / "13.png").read_bytes()[:200])  # cut short
    local, out = tmp_path / "local", tmp_path / "ray"
    erase_folder_detected(folder, local, weights=split["weights"], progress=False)
    erase_folder_detected(folder, out, weights=split["weights"], limit=4, progress=False)
    (out / "masks" / "4.png").unlink()
    (out / "timing.json").unlink()
    (out / "boxes.csv").unlink()
    code = cli.main(["erase", "--detect", "--data", str(folder.parent), "--split", "street",
                     "--weights", str(split["weights"]), "--out", str(out), "--engine", "ray",
                     "--workers", "2"])
    assert code == 0 and "on Ray: 2 workers" in capsys.readouterr().out
    assert len(_outputs(out)) == 2 * 12 and _outputs(out) == _outputs(local)
    assert (out / "boxes.csv").read_bytes() == (local / "boxes.csv").read_bytes()
    assert len((local / "boxes.csv").read_text().splitlines()) > 12  # digits were found
    assert Image.open(out / "7.png").mode == "RGBA"  # erased on Ray, its alpha kept
    ours, theirs = _timing(out), _timing(local)
    assert (ours["engine"], ours["workers"], ours["resumed"], ours["images"]) == \
        ("ray", 2, 3, 9)
    assert ours["min_score"] == theirs["min_score"] and ours["method"] == theirs["method"]
    assert ours["skipped"] == theirs["skipped"] and len(ours["skipped"]) == 1
    assert "14.png: image does not decode" in ours["skipped"][0]
    assert (out / "manifest.json").read_text() == (local / "manifest.json").read_text()


ONE_LINE = r"svhn-erase: error: \S+/masks/\d+\.png: \S+/masks is a file, not a folder"


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("svhn-erase: error:")]


def test_an_error_in_a_worker_is_the_local_engines_one_line(local_ray, split, tmp_path: Path,
                                                            capsys) -> None:
    """A mistake the workers find (OUT/masks is a file, so no mask can be written) stops the
    Ray run with the local engine's one-line error, not Ray's wrapped traceback; a bad
    weights file is refused before Ray starts, with the local engine's line."""
    import re

    errors: list[str] = []
    for engine in ("local", "ray"):
        out = tmp_path / engine
        out.mkdir()
        (out / "masks").write_text("not a folder")
        code = cli.main(["erase", "--data", str(split["root"]), "--split", "s", "--weights",
                         str(split["weights"]), "--out", str(out), "--engine", engine])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err and "ray::" not in err
        assert len(_error_lines(err)) == 1 and re.fullmatch(ONE_LINE, _error_lines(err)[0])
        errors.append(_error_lines(err)[0])
    assert f"{tmp_path / 'local'}/masks/1.png" in errors[0]  # the first image
    assert f"{tmp_path / 'ray'}/masks/" in errors[1]  # the first a worker tried to write
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not weights")
    lines = []
    for engine in ("local", "ray"):
        code = cli.main(["erase", "--data", str(split["root"]), "--split", "s", "--weights",
                         str(bad), "--out", str(tmp_path / f"w-{engine}"), "--engine", engine])
        assert code == 2
        lines += _error_lines(capsys.readouterr().err)
    assert len(lines) == 2 and lines[0] == lines[1] and str(bad) in lines[0]


def test_the_box_index_gives_each_image_the_local_engines_boxes(split) -> None:
    """``BoxIndex``, built in one pass, looks up the boxes and labels ``iter_parents`` gives."""
    path = split["root"] / "s"
    table = load_table(path)
    files = list(dict.fromkeys(table["file"]))[3:30]
    index = ray_engine.BoxIndex.build(path, table, files)
    got = {p.file: p for p in iter_parents(path, table) if p.file in files}
    assert len(got) == len(files) - len(TRUNCATED)  # they do not decode (boxes only)
    for file, parent in got.items():
        name, boxes, labels = index.lookup(str(path / file))
        assert name == file and boxes.dtype == parent.boxes.dtype
        assert np.array_equal(boxes, parent.boxes) and np.array_equal(labels, parent.labels)
    with pytest.raises(SvhnEraseError, match="not among the images"):
        index.lookup(str(path / "1.png"))
