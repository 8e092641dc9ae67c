"""The heap setting: a training step's worth of freed buffers comes back without page
faults, and the setting is skipped where glibc is not there."""

from __future__ import annotations

import subprocess
import sys

import pytest

from svhn_erase import allocator

# allocate six 8 MB buffers (a step's activations), touch them, free them; repeat; print the
# minor page faults of the later rounds
_STEPS = """
import resource, sys
import numpy as np
from svhn_erase import allocator
if sys.argv[1] == "keep":
    assert allocator.keep_freed_memory()
def step():
    bufs = [np.empty(8 << 20, np.uint8) for _ in range(6)]
    for b in bufs:
        b[::4096] = 1
    del bufs
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _later_faults(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", _STEPS, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_freed_buffers_are_reused_without_page_faults():
    if not allocator.keep_freed_memory():
        pytest.skip("not glibc")
    default, kept = _later_faults("default"), _later_faults("keep")
    # 5 steps x 48 MB: glibc gives the memory back after each step and faults it in again
    # (thousands of 4 KiB pages, fewer with huge pages); kept, the heap is simply reused
    assert kept < 100
    assert default > 10 * max(kept, 10)
    assert allocator.keep_freed_memory()  # a second call is a no-op that still says True


def test_skipped_off_linux(monkeypatch):
    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.keep_freed_memory() is False
