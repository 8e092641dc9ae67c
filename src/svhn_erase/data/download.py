"""Fetch the official SVHN archives (SPEC §1): resumable, verified, unpacked safely.

``download_svhn(root, splits, formats)`` puts Format 1 splits at ``root/<split>/`` (from
``<split>.tar.gz``) and Format 2 files at ``root/<split>_32x32.mat``. Each transfer goes to
``<file>.part`` and continues from where it stopped (HTTP Range) when rerun or retried; it
is checked against the size the server announced (Content-Length / Content-Range) and an
MD5 (the published ones for the Format 2 files, a ``Content-MD5`` header, or one passed in),
and only then renamed to its final name. Archives are unpacked into a temporary folder
beside the target with every member checked (no absolute paths, no ``..``, no links or
devices) and the split folder renamed into place, so no half-written file or folder ever
carries a final name. urllib only.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import logging
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath

from svhn_erase.errors import SvhnEraseError
from svhn_erase.paths import make_folder

log = logging.getLogger(__name__)

BASE_URL = "http://ufldl.stanford.edu/housenumbers/"
SPLITS = ("train", "test", "extra")
# MD5s of the Format 2 files as published with common SVHN loaders (e.g. torchvision).
# No MD5 is published for the Format 1 tar.gz archives: those are checked by size and by a
# Content-MD5 header when the server sends one (or a checksum passed by the caller).
KNOWN_MD5 = {
    "train_32x32.mat": "e26dedcc434d2e4c54c9b2d4a06d8373",
    "test_32x32.mat": "eb5a983be6a315427106f1b164d9cef3",
    "extra_32x32.mat": "a93ce644f1a588dc4d68dda5feec44a7",
}
_CHUNK = 1 << 20
_TRANSFER_ERRORS = (urllib.error.URLError, http.client.HTTPException, ConnectionError,
                    TimeoutError, OSError)


def archive_name(split: str, fmt: int) -> str:
    """File name of a split's archive on the server: ``train.tar.gz`` / ``train_32x32.mat``."""
    if split not in SPLITS:
        raise SvhnEraseError(f"unknown split {split!r} (one of {', '.join(SPLITS)})")
    if fmt == 1:
        return f"{split}.tar.gz"
    if fmt == 2:
        return f"{split}_32x32.mat"
    raise SvhnEraseError(f"unknown format {fmt} (1: full numbers, 2: 32x32 crops)")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _total_size(response: http.client.HTTPResponse, start: int) -> int | None:
    """The full size of the file from Content-Range (partial reply) or Content-Length."""
    content_range = response.headers.get("Content-Range")
    if content_range and "/" in content_range and not content_range.endswith("/*"):
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return start + int(length) if length is not None else None


def _transfer_once(url: str, part: Path, timeout: float, progress: bool) -> tuple[int | None,
                                                                                  str | None]:
    """Append the rest of ``url`` to ``part``; return (announced total size, Content-MD5)."""
    start = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={start}-"} if start else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and start:  # nothing left to send, or a stale .part: start over
            part.unlink()
            return _transfer_once(url, part, timeout, progress)
        raise SvhnEraseError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
    with response:
        if start and response.status != 206:  # the server ignored the range: start over
            start = 0
        if start:
            content_range = response.headers.get("Content-Range", "")
            if not content_range.startswith(f"bytes {start}-"):
                raise SvhnEraseError(f"{url}: server resumed at the wrong place "
                                     f"({content_range!r}, wanted byte {start})")
        total = _total_size(response, start)
        md5_header = response.headers.get("Content-MD5")
        from tqdm import tqdm

        with open(part, "ab" if start else "wb") as out, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, unit_divisor=1024,
            desc=part.name.removesuffix(".part"), disable=None if progress else True,
        ) as bar:
            while block := response.read(_CHUNK):
                out.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if total is not None and size < total:
        raise ConnectionError(f"connection closed at byte {size} of {total}")
    if total is not None and size > total:
        part.unlink()
        raise SvhnEraseError(f"{url}: got {size} bytes but the server announced {total}; "
                             "the download was removed: rerun to fetch it again")
    return total, md5_header


def fetch(url: str, dest: str | os.PathLike[str], md5: str | None = None, retries: int = 3,
          timeout: float = 60.0, progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part`` (resumed if present), check size
    and MD5, then rename. An existing ``dest`` is kept (checked against ``md5`` if given).
    A transfer that breaks is retried ``retries`` times from where it stopped; if it still
    fails, ``dest.part`` stays for the next run to resume."""
    dest = Path(dest)
    if dest.is_file():
        if md5 is not None and _md5(dest) != md5.lower():
            raise SvhnEraseError(f"{dest}: exists but its MD5 is not {md5}; remove it and rerun")
        return dest
    make_folder(dest.parent)
    part = dest.with_name(dest.name + ".part")
    for attempt in range(retries + 1):
        try:
            total, md5_header = _transfer_once(url, part, timeout, progress)
            break
        except SvhnEraseError:
            raise
        except _TRANSFER_ERRORS as exc:
            have = part.stat().st_size if part.exists() else 0
            if attempt == retries:
                raise SvhnEraseError(
                    f"{url}: transfer interrupted after {have} bytes ({exc}); {part} is kept: "
                    "rerun the same command to resume") from exc
            log.warning("%s: transfer interrupted after %d bytes (%s); resuming", url, have, exc)
    expected = md5.lower() if md5 else None
    if expected is None and md5_header:
        with contextlib.suppress(ValueError):
            expected = base64.b64decode(md5_header, validate=True).hex()
    if expected is not None:
        got = _md5(part)
        if got != expected:
            part.unlink()
            raise SvhnEraseError(f"{url}: checksum mismatch (MD5 {got}, expected {expected}); "
                                 "the download was removed: rerun to fetch it again")
    os.replace(part, dest)
    return dest


def _check_member(archive: Path, member: tarfile.TarInfo) -> None:
    name = PurePosixPath(member.name)
    if name.is_absolute() or ".." in name.parts or "\\" in member.name:
        raise SvhnEraseError(f"{archive}: unsafe path {member.name!r} in the archive; "
                             "nothing was unpacked")
    if not (member.isfile() or member.isdir()):
        raise SvhnEraseError(f"{archive}: {member.name!r} is a link or special file; "
                             "nothing was unpacked")


def unpack(archive: str | os.PathLike[str], root: str | os.PathLike[str]) -> list[Path]:
    """Unpack a .tar.gz into ``root`` safely; return the top-level entries it created.

    Every member is checked first (plain files and folders below the archive's root only);
    the archive is unpacked into a temporary folder in ``root`` and each top-level entry is
    renamed into place, so an interrupted unpack leaves no partial split behind."""
    archive, root = Path(archive), Path(root)
    make_folder(root)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(archive, member)
            tops = sorted({PurePosixPath(m.name).parts[0] for m in members
                           if PurePosixPath(m.name).parts and m.name not in (".", "./")})
            for top in tops:
                if (root / top).exists():
                    raise SvhnEraseError(f"{root / top}: already exists but is incomplete "
                                         f"(no digitStruct.mat?); remove it and rerun")
            with tempfile.TemporaryDirectory(prefix=".unpack-", dir=root) as tmp:
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: a second guard
                    tar.extractall(tmp, members=members, filter="data")
                else:  # pragma: no cover - members were checked above
                    tar.extractall(tmp, members=members)
                for top in tops:
                    os.replace(Path(tmp) / top, root / top)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise SvhnEraseError(f"{archive}: not a readable .tar.gz archive ({exc})") from exc
    return [root / top for top in tops]


def download_svhn(root: str | os.PathLike[str], splits: Iterable[str] = ("train", "test"),
                  formats: Iterable[int] = (1,), base_url: str | None = None,
                  checksums: Mapping[str, str] | None = None, keep_archives: bool = False,
                  retries: int = 3, timeout: float = 60.0, progress: bool = True) -> list[Path]:
    """Fetch and unpack SVHN: Format 1 splits to ``root/<split>/``, Format 2 files to
    ``root/<split>_32x32.mat``. Returns what is now in place. Whatever is already complete
    is skipped, so rerunning after an interruption continues.

    ``base_url`` replaces the official site; ``checksums`` maps archive file names to MD5s
    (added to / overriding ``KNOWN_MD5``). Format 1 archives are removed after unpacking
    unless ``keep_archives``."""
    root = Path(root)
    base = (base_url or BASE_URL).rstrip("/") + "/"
    md5s = {**KNOWN_MD5, **(checksums or {})}
    done: list[Path] = []
    for fmt in dict.fromkeys(formats):
        for split in dict.fromkeys(splits):
            name = archive_name(split, fmt)
            if fmt == 1 and (root / split / "digitStruct.mat").is_file():
                log.info("%s: already there", root / split)
                done.append(root / split)
                continue
            path = fetch(base + name, root / name, md5=md5s.get(name), retries=retries,
                         timeout=timeout, progress=progress)
            if fmt == 2:
                done.append(path)
                continue
            unpacked = unpack(path, root)
            if not (root / split / "digitStruct.mat").is_file():
                raise SvhnEraseError(f"{path}: unpacked {[p.name for p in unpacked]} but no "
                                     f"{split}/digitStruct.mat")
            if not keep_archives:
                path.unlink()
            done.append(root / split)
            log.info("%s: ready", root / split)
    return done
