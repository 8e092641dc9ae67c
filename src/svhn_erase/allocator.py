"""Process heap setting for the long loops: keep freed activation buffers for reuse.

A training step of ConvNet48_Dropout5 at batch 32 allocates and frees a handful of 2-10 MB
activation and gradient tensors. glibc serves blocks that large with ``mmap`` and returns
them to the kernel on ``free``, so every step page-faults the same memory back in: about
20 % of a CPU training step here, and the reason step times wandered between runs. Raising
glibc's mmap and trim thresholds keeps those blocks in the heap, where the next step reuses
them; the process holds on to a few tens of MB more, no numbers change.

Only the command line and the benchmark scripts call ``keep_freed_memory``: a library
imported into someone else's program should not change that program's allocator.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

# mallopt parameters from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling for this setting on 64-bit systems
TRIM_THRESHOLD = 1024 * 1024 * 1024

_applied = False


def keep_freed_memory() -> bool:
    """Ask glibc to serve blocks under 32 MiB from the heap and not to trim it below 1 GiB.

    Returns True when the setting is in force (glibc on Linux), False elsewhere (macOS,
    Windows, musl), where it is skipped and nothing else changes. Calling it again is a
    no-op.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # musl has mallopt but not these knobs
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                    and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _applied


def heap_setting(keep: bool = True) -> str:
    """Apply ``keep_freed_memory`` when ``keep`` (a benchmark's default; ``--default-malloc``
    turns it off) and say in a few words what the heap does, for the benchmark's header."""
    if not keep:
        return "glibc default"
    return "freed buffers kept" if keep_freed_memory() else "system default"
