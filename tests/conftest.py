"""Shared fixtures: small untrained classifiers and their weight files.

The split builders (``make_split``, ``make_gt_split``) live in ``builders.py`` so that tests
can call them with their own sizes and seeds.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from PIL import Image

from builders import add_alpha
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier


@pytest.fixture(scope="module")
def model() -> ConvNet:
    """An untrained, seeded ConvNet48_Dropout3 (the original checkpoint's architecture) in
    eval mode: its first layer still separates a drawn digit from a smooth background."""
    torch.manual_seed(0)
    return ConvNet("ConvNet48_Dropout3").eval()


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(classifier, judge)`` safetensors: an untrained removal net and an untrained
    11-class judge of another architecture."""
    d = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    save_classifier(ConvNet("ConvNet48_Dropout5").eval(), d / "clf.safetensors")
    save_classifier(ConvNet("ConvNet32_753", num_classes=11).eval(), d / "judge.safetensors")
    return d / "clf.safetensors", d / "judge.safetensors"


@pytest.fixture
def cli_logging() -> None:
    """The package's log records on stderr as ``svhn-erase: ...`` lines, as the command line
    shows them (so that ``capsys`` sees them whatever ran before)."""
    from svhn_erase import cli

    cli._setup_logging()


@pytest.fixture
def transparent_photos(tmp_path: Path) -> dict[str, Path]:
    """The web tests' wall photo (``web_server.photo()``, which gives its two boxes) saved in
    ``tmp_path/photos`` as ``rgba.png``, ``la.png`` (grey with alpha) and ``palette.png``
    (a palette PNG with a transparent colour): ``builders.add_alpha``."""
    from web_server import photo

    folder = tmp_path / "photos"
    folder.mkdir()
    paths = {}
    for name, mode in (("rgba.png", "RGBA"), ("la.png", "LA"), ("palette.png", "P")):
        paths[name] = folder / name
        Image.fromarray(photo()[0]).save(paths[name])
        add_alpha(paths[name], mode)
    return paths


@pytest.fixture(scope="session")
def load_benchmark() -> Callable[[str], ModuleType]:
    """A loader of the scripts under ``benchmarks/`` (not a package) by name, for the tests of
    their functions: ``load_benchmark("real_accuracy")``."""
    def load(name: str) -> ModuleType:
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
