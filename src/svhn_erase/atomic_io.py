"""Atomic file writes: write to a temporary file beside the target, then rename.

A reader never sees a half-written output, and an interrupted run leaves either the old
file or the new one, never a truncated mix. A temporary file is named
``.<target name>.tmp-<pid>-<random>``: hidden, and never ending in the target's suffix, so
that no glob such as ``*.png`` and no rerun ever takes one for an output; ``clean_temporaries``
removes those a killed process left behind. A target that cannot be written (a folder, an
unwritable place, a full disk) is a ``SvhnEraseError`` naming it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from svhn_erase import image_formats  # noqa: F401  (registers HEIF with Pillow)
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)

_UMASK = os.umask(0)
os.umask(_UMASK)
_TMP_MARK = ".tmp-"
STALE_SECONDS = 24 * 3600  # a temporary this old is stale even if its process id is alive


def _temporary_name(target: Path) -> Path:
    return target.with_name(f".{target.name}{_TMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def _cannot_write(target: Path, exc: OSError) -> SvhnEraseError:
    return SvhnEraseError(f"{target}: cannot write it ({exc.strerror or exc})")


def check_target(target: str | os.PathLike[str]) -> Path:
    """``target`` as a Path, or a clear error when it is an existing folder or its folder is
    a file: checked before any work, so that a long run does not fail at its end."""
    target = Path(target)
    if target.is_dir():
        raise SvhnEraseError(f"{target}: is a folder; give a file name")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SvhnEraseError(f"{target}: {parent} is a file, not a folder")
            break
    return target


def check_writable(target: str | os.PathLike[str]) -> Path:
    """``check_target``, and that a file can be made where ``target`` goes (its folder, or the
    nearest folder above it that exists, takes a new file: no permission, a read-only disk
    or an immutable folder are refused). A command calls it at its start, so that it does
    not fail at its end; the check's file has no name and leaves nothing behind."""
    target = check_target(target)
    folder = next((p for p in target.absolute().parents if p.exists()), Path("/"))
    try:
        probe_folder(folder)
    except OSError as exc:
        raise SvhnEraseError(f"{target}: cannot write in {folder} ({exc.strerror or exc})") \
            from exc
    return target


def probe_folder(folder: Path) -> None:
    """Make and drop a nameless file in ``folder``: an ``OSError`` if it takes none (no
    permission, a read-only disk, an immutable folder); nothing is left behind."""
    with tempfile.TemporaryFile(dir=folder):
        pass


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    On an exception the temporary file is removed and ``target`` is untouched; an ``OSError``
    (unwritable folder, full disk) becomes a ``SvhnEraseError`` naming ``target``. The
    temporary name does not end in the target's suffix: a writer that picks its format from
    the extension must be told the format (``write_image`` does). ``suffix`` is ignored
    (older callers pass it).
    """
    target = check_target(target)
    tmp = _temporary_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch(mode=0o600, exist_ok=False)
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # give the usual permissions
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _cannot_write(target, exc) from exc
        raise


def clean_temporaries(folder: str | os.PathLike[str]) -> int:
    """Remove the temporary files that writers in ``folder`` left behind when they were
    killed (their process is gone, or they are over a day old); returns how many."""
    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for entry in entries:
        name = entry.name
        if not (name.startswith(".") and _TMP_MARK in name) or not entry.is_file():
            continue
        pid_text = name.rsplit(_TMP_MARK, 1)[1].split("-", 1)[0]
        try:
            age = time.time() - entry.stat().st_mtime
        except OSError:
            continue
        if not pid_text.isdigit() or not _alive(int(pid_text)) or age > STALE_SECONDS:
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_bytes(target, text.encode("utf-8"))


def write_json(target: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    write_text(target, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def write_safetensors(target: str | os.PathLike[str], tensors: dict, metadata: dict[str, str]
                      ) -> None:
    """Save ``tensors`` (name -> CPU tensor) with ``metadata`` as a safetensors file,
    atomically, and byte for byte the same for the same tensors and metadata.

    safetensors writes its JSON header in a random key order (a Rust hash map), so two saves
    of the same weights differed and a weights file's sha256 said nothing. The header is
    written again with its keys sorted: the same JSON, the same length (safetensors pads it
    with spaces), the same tensor offsets."""
    from safetensors.torch import save

    data = save(tensors, metadata=metadata)
    size = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + size]), sort_keys=True, separators=(",", ":"),
                        ensure_ascii=False).encode("utf-8")
    if len(header) <= size:  # always, unless the JSON escapes differ; then keep safetensors'
        data = data[:8] + header + b" " * (size - len(header)) + data[8 + size:]
    write_bytes(target, data)


LOSSY_QUALITY = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95},
                 "HEIF": {"quality": 95}, "AVIF": {"quality": 95}}
ALPHA_FORMATS = frozenset({"PNG", "WEBP", "TIFF", "HEIF", "AVIF"})  # hold an alpha channel


def write_image(target: str | os.PathLike[str], image: np.ndarray,
                icc_profile: bytes | None = None, alpha: np.ndarray | None = None) -> None:
    """Write an RGB (H, W, 3) or gray (H, W) uint8 array as an image, atomically; JPEG and
    WebP at quality 95 (``LOSSY_QUALITY``; Pillow's default, 75, would blur the whole photo
    around a few erased boxes). ``icc_profile``, the colour profile of the photo the pixels
    came from (``split.rgb_profile``), is embedded where the format holds one, and so is
    ``alpha``, its (H, W) transparency (``split.upright_rgba``, ``with_alpha``); a format
    without one (JPEG) gets the RGB, and one log line naming ``target`` says so."""
    from PIL import Image

    fmt = image_format(target)
    options = dict(LOSSY_QUALITY.get(fmt, {}))
    if icc_profile is not None and image.ndim == 3:
        options["icc_profile"] = icc_profile
    if alpha is not None and image.ndim == 3 and fmt not in ALPHA_FORMATS:
        log.warning("%s: %s holds no transparency; written as RGB, without the photo's alpha "
                    "channel (write .png, .webp or .tif to keep it)", target, fmt)
    pixels = with_alpha(image, alpha, fmt)
    with atomic_path(target) as tmp:
        Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, format=fmt, **options)


def with_alpha(image: np.ndarray, alpha: np.ndarray | None, fmt: str) -> np.ndarray:
    """An RGB ``image`` with its photo's ``alpha`` as a fourth channel (RGBA) when the Pillow
    format ``fmt`` holds one (``ALPHA_FORMATS``); else (JPEG, a gray mask, no alpha) ``image``
    as it is."""
    if alpha is None or image.ndim != 3 or fmt not in ALPHA_FORMATS:
        return image
    return np.dstack([image, alpha])


def image_format(target: str | os.PathLike[str]) -> str:
    """The Pillow format that writes ``target``'s extension (``.png``: ``"PNG"``); a clear
    error when the extension is missing or no writable image format."""
    from PIL import Image

    suffix = Path(target).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise SvhnEraseError(f"{target}: unknown image file extension {suffix or '(none)'!r}; "
                             "use .png (or another format Pillow writes, e.g. .jpg, .tif)")
    return fmt


def write_npy(target: str | os.PathLike[str], array: np.ndarray) -> None:
    """Save a NumPy array (``.npy``) atomically."""
    with atomic_path(target) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def figure_png(fig: Any, dpi: int = 100, **savefig: Any) -> bytes:
    """A matplotlib figure as PNG bytes; the figure is closed."""
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, **savefig)
    finally:
        plt.close(fig)
    return buf.getvalue()


def write_figure(target: str | os.PathLike[str], fig: Any, dpi: int = 100,
                 **savefig: Any) -> None:
    """Save a matplotlib figure as a PNG at ``target`` atomically; the figure is closed."""
    write_bytes(target, figure_png(fig, dpi=dpi, **savefig))


def new_figure(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots(*args, **kwargs)`` on the file-only Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)
