"""The paired test of ``benchmarks/real_accuracy.py`` (issue 13's rule for replacing the
packaged classifier): exact two-sided McNemar on the digits two classifiers disagree on."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("real_accuracy")


def test_mcnemar_counts_the_disagreements_and_gives_the_exact_p(bench) -> None:
    base = np.array([True] * 10 + [False] * 8)
    new = base.copy()
    new[10:17] = True  # 7 newly right
    new[0] = False  # 1 newly wrong
    right, wrong, p = bench.mcnemar(base, new)
    assert (right, wrong) == (7, 1)
    assert p == pytest.approx(2 * (1 + 8) / 2**8)  # 0.0703, as last session's note
    assert bench.mcnemar(new, base)[2] == pytest.approx(p)
    assert bench.mcnemar(base, base) == (0, 0, 1.0)
    assert bench.mcnemar(base, ~base)[:2] == (8, 10)  # balanced: no evidence
    assert bench.mcnemar(base, ~base)[2] > 0.5
    assert bench.mcnemar(np.ones(18, bool), np.zeros(18, bool))[2] < 1e-4
