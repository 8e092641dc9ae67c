"""The demo: every stage runs once, a second run reuses them, an interrupted run continues."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from svhn_erase import cli
from svhn_erase.apps import demo
from svhn_erase.data import synth as demo_synth
from svhn_erase.evaluation import bench
from svhn_erase.evaluation.selection import headline_names
from svhn_erase.model import weights
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier

TINY = demo.Profile(test_images=5, seed_limit=1, train_images=0, train_epochs=0, pictures=3)


@pytest.fixture
def tiny_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The demo with untrained checkpoints (this checks wiring, not accuracy) and 5 images."""
    torch.manual_seed(0)
    ckpt = tmp_path / "ckpt"
    save_classifier(ConvNet("ConvNet48_Dropout5").eval(), ckpt / "classifier.safetensors")
    save_classifier(ConvNet("ConvNet32_753", num_classes=11).eval(), ckpt / "judge.safetensors")
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", ckpt)
    monkeypatch.setitem(demo.PROFILES, "fast", TINY)
    return tmp_path / "out"


def test_demo_runs_every_stage_then_reuses(tiny_demo: Path, capsys) -> None:
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    out = capsys.readouterr().out
    summary = json.loads((tiny_demo / "bench" / "summary.json").read_text())["methods"]
    assert list(summary) == headline_names()
    assert (tiny_demo / "bench" / "report.html").is_file()
    assert (tiny_demo / "before_after.png").is_file()
    assert len(list((tiny_demo / "erased").glob("*.png"))) == TINY.test_images
    assert "Open the report" in out and "reusing" not in out

    cli.main(["demo", "--fast", "--out", str(tiny_demo)])
    again = capsys.readouterr().out
    assert again.count("reusing the result of an earlier run") == 3


def test_new_weights_or_recipe_redo_the_stages(tiny_demo: Path, monkeypatch, capsys) -> None:
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    # weights replaced in place (same path): erase and benchmark run again, data is reused
    torch.manual_seed(1)
    save_classifier(ConvNet("ConvNet48_Dropout5").eval(),
                    tiny_demo.parent / "ckpt" / "classifier.safetensors")
    capsys.readouterr()
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    assert capsys.readouterr().out.count("reusing the result of an earlier run") == 1
    # a newer generator recipe regenerates the split too
    monkeypatch.setattr(demo_synth, "RECIPE_VERSION", demo_synth.RECIPE_VERSION + 1)
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    out = capsys.readouterr().out
    assert "reusing" not in out and "synth" in out


def test_interrupted_demo_continues(tiny_demo: Path, monkeypatch, capsys) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "run_bench", interrupted)
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 130
    state = json.loads((tiny_demo / "demo-state.json").read_text())
    assert "benchmark" not in state and "erase test split" in state
    monkeypatch.undo()
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tiny_demo.parent / "ckpt")
    monkeypatch.setitem(demo.PROFILES, "fast", TINY)
    capsys.readouterr()
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    out = capsys.readouterr().out
    assert out.count("reusing the result of an earlier run") == 2
    assert (tiny_demo / "bench" / "report.html").is_file()


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path / "nothing")
    monkeypatch.setitem(demo.PROFILES, "fast", TINY)
    assert cli.main(["demo", "--fast", "--out", str(tmp_path / "out")]) == 2
    assert "packaged classifier checkpoint" in capsys.readouterr().err


def test_new_baseline_settings_redo_the_benchmark(tiny_demo: Path, monkeypatch, capsys) -> None:
    from svhn_erase.removal.methods import classical

    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    monkeypatch.setitem(classical.TUNED_GROWTH, "ns_true", 3)  # a newly tuned growth
    capsys.readouterr()
    assert cli.main(["demo", "--fast", "--out", str(tiny_demo)]) == 0
    assert capsys.readouterr().out.count("reusing the result of an earlier run") == 2
    methods = json.loads((tiny_demo / "bench" / "summary.json").read_text())["settings"]["methods"]
    assert methods["ns_true"]["grow"] == 3
