"""Fuzzing in the suite: mutated ``digitStruct.mat`` files, PNGs, box strings and safetensors
metadata through the code that reads them; only the project's own error may escape.

The targets and strategies live in ``fuzz_targets.py``; ``benchmarks/fuzz_inputs.py`` runs
the same ones for longer. The example counts keep this file near 30 s on one core.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings

from fuzz_targets import (
    box_inputs,
    mat_inputs,
    png_inputs,
    run_box,
    run_mat,
    run_png,
    run_safetensors,
    safetensors_inputs,
)

EXAMPLES = {"mat": 1000, "png": 1000, "box": 1000, "safetensors": 150}


def _bounded(n: int) -> settings:
    return settings(max_examples=n, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def test_the_unmutated_seeds_are_read(tmp_path: Path) -> None:
    """The fuzz starts from inputs that work (so refusals are the mutations' doing)."""
    assert run_mat(tmp_path, [], None)
    assert run_png(tmp_path, [], None)
    assert run_box("-20,-20,60,60")
    assert run_safetensors(tmp_path, {"net": "ConvNet32", "image_size": "40"}, [])


@_bounded(EXAMPLES["mat"])
@given(inputs=mat_inputs())
def test_fuzz_digitstruct_reader(tmp_path: Path, inputs: tuple) -> None:
    run_mat(tmp_path, *inputs)


@_bounded(EXAMPLES["png"])
@given(inputs=png_inputs())
def test_fuzz_png_reader(tmp_path: Path, inputs: tuple) -> None:
    run_png(tmp_path, *inputs)


@_bounded(EXAMPLES["box"])
@given(text=box_inputs())
def test_fuzz_box_strings(text: str) -> None:
    run_box(text)


@_bounded(EXAMPLES["safetensors"])
@given(inputs=safetensors_inputs())
def test_fuzz_safetensors_metadata(tmp_path: Path, inputs: tuple) -> None:
    run_safetensors(tmp_path, *inputs)
