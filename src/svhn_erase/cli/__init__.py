"""The ``svhn-erase`` command line: argument parsing only; the work lives in the stages.

One module per stage declares its commands (``data``, ``model``, ``removal``,
``evaluation``); each command has an ``_add_<name>`` that declares its arguments and a
``_run_<name>`` that calls into the package. A user's mistake (``SvhnEraseError``) is
printed as one line and exits with status 2; Ctrl-C exits with status 130.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from svhn_erase import __version__
from svhn_erase.allocator import keep_freed_memory
from svhn_erase.cli.apps import _add_serve
from svhn_erase.cli.data import _add_data
from svhn_erase.cli.detection import _add_detection
from svhn_erase.cli.evaluation import _add_bench, _add_demo
from svhn_erase.cli.model import _add_classify, _add_train
from svhn_erase.cli.removal import _add_erase, _add_erase_image, _add_explain
from svhn_erase.cli.student import _add_train_student
from svhn_erase.errors import SvhnEraseError

# In the order of the data's path; 'svhn-erase --help' lists them so.
COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_data, _add_train, _add_classify, _add_detection,
    _add_erase, _add_erase_image, _add_explain,
    _add_train_student,
    _add_bench, _add_demo, _add_serve,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="svhn-erase",
        description="Read street-view house numbers and remove them from the photos, "
        "unsupervised. Run 'svhn-erase demo' to see the whole mission on generated data.",
    )
    parser.add_argument("--version", action="version", version=f"svhn-erase {__version__}")
    parser.add_argument("--cache-dir", type=Path, default=None, metavar="DIR",
                        help="put the index and crop caches of every split under DIR (default: "
                        "beside the split when it is writable, else ~/.cache/svhn-erase; "
                        "the SVHN_ERASE_CACHE_DIR variable does the same)")
    sub = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


class _StderrHandler(logging.StreamHandler):
    """Log records as ``svhn-erase: message`` lines on whatever ``sys.stderr`` is now, above
    any progress bar."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("svhn-erase: %(message)s"))

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it
        pass

    def emit(self, record: logging.LogRecord) -> None:
        """The line through ``tqdm.write``: above a progress bar, which is redrawn below it
        (a plain write would break the bar in two)."""
        from tqdm import tqdm

        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # as logging's own handlers: report, never raise
            self.handleError(record)


def _setup_logging() -> None:
    """The package logs; the command line shows INFO and above on stderr."""
    logger = logging.getLogger("svhn_erase")
    if not any(isinstance(h, _StderrHandler) for h in logger.handlers):
        logger.addHandler(_StderrHandler())
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _joined_boxes(argv: Sequence[str]) -> list[str]:
    """``--box -20,-20,60,60`` as ``--box=-20,-20,60,60``: argparse takes a value that starts
    with '-' and is no plain number for an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] == "--box" and i + 1 < len(argv) and argv[i + 1][:1] == "-" \
                and "," in argv[i + 1]:
            out.append(f"--box={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(_joined_boxes(sys.argv[1:] if argv is None else argv))
    _setup_logging()
    from svhn_erase.data import cache

    cache.set_cache_root(args.cache_dir)  # None: the default place
    keep_freed_memory()  # a command is a long loop over big tensors: reuse freed buffers
    try:
        result = args.func(args)
    except SvhnEraseError as exc:
        print(f"svhn-erase: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
        return 2
    except KeyboardInterrupt:
        print("\nsvhn-erase: interrupted; rerun the same command to continue.", file=sys.stderr)
        return 130
    return int(result or 0)


