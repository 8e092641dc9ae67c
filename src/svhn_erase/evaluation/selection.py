"""What a benchmark run takes: which methods (``--methods``) and which photos (``--files``).

``headline_names`` are the methods ``bench`` runs unless told otherwise: every registered
method whose class says ``headline`` (the undilated ``*_raw`` baselines say no).
``select_methods`` turns ``--methods`` into method names (``all``: every registered one);
``select_files`` keeps the files whose number is in a ``--files`` range such as ``1601-2000``.
``image_counts`` and ``chunks`` are how both benchmark modes walk the photos;
``method_settings`` what the methods' defaults are (the demo reruns its benchmark when they
change).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods.base import RemovalMethod, create, method_class, method_names

T = TypeVar("T")
ALL = "all"


def headline_names(with_truth: bool = True) -> list[str]:
    """Registered methods in the headline comparison, in registration order; without those
    that need ground truth when ``with_truth`` is False."""
    return [n for n in method_names(with_truth) if method_class(n).headline]


def method_settings(names: Sequence[str] | None = None) -> dict[str, dict]:
    """Per method (default: the headline ones) its default settings, as JSON stores them
    (what a cached benchmark result depends on: new defaults invalidate it)."""
    return json.loads(json.dumps({n: create(n).settings()
                                  for n in (names if names is not None else headline_names())}))


def select_methods(requested: Sequence[str] | None, with_truth: bool = True) -> list[str]:
    """Method names for ``--methods``: None means the headline methods, ``all`` every
    registered one, else the names given (comma- or space-separated, registration order kept
    as given). Without ground truth (``with_truth`` False) the methods that need it are left
    out; a user error when none remains or a name is unknown."""
    if not requested:
        names = headline_names(with_truth)
    else:
        given = [n for item in requested for n in item.replace(",", " ").split()]
        names = method_names() if ALL in given else list(dict.fromkeys(given))
        for name in names:
            method_class(name)  # a user error naming the choices when unknown
        if not with_truth:
            names = [n for n in names if not method_class(n).needs_truth]
    if not names:
        raise SvhnEraseError("no method to run: the ones asked for need ground truth, which "
                             "this split does not have")
    return names


_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


def parse_files(spec: str) -> list[tuple[int, int]]:
    """``"1601-2000"``, ``"7"`` or ``"1-10,25"`` as inclusive ranges of file numbers."""
    ranges = []
    for part in spec.split(","):
        match = _RANGE.match(part)
        if not match:
            raise SvhnEraseError(f"--files {spec!r}: expected numbers and ranges such as "
                                 "1601-2000 or 1-10,25")
        first, last = int(match[1]), int(match[2] or match[1])
        if last < first:
            raise SvhnEraseError(f"--files {spec!r}: the range {part.strip()} is empty")
        ranges.append((first, last))
    return ranges


def select_files(files: Sequence[str], spec: str | None) -> list[str]:
    """The files (``N.png``) whose number ``N`` lies in one of ``spec``'s ranges, in the
    given order; all of them when ``spec`` is None. A user error when none matches."""
    if spec is None:
        return list(files)
    ranges = parse_files(spec)
    kept = [f for f in files if Path(f).stem.isdigit()
            and any(a <= int(Path(f).stem) <= b for a, b in ranges)]
    if not kept:
        raise SvhnEraseError(f"--files {spec}: no image of the split is numbered so")
    return kept


def image_counts(methods: Sequence[RemovalMethod], n_files: int,
                 seed_limit: int | None) -> dict[str, int]:
    """How many images each method runs on: all, ``seed`` only the first ``seed_limit``."""
    counts = {m.name: n_files for m in methods}
    if "seed" in counts and seed_limit is not None:
        counts["seed"] = min(n_files, max(0, int(seed_limit)))
    return counts


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter)."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
