"""Download against a loopback HTTP server the test starts: fetch + verify + unpack, resume
after a cut transfer, checksum mismatch, unsafe archives. No outside network."""

from __future__ import annotations

import base64
import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from svhn_erase import cli
from svhn_erase.data.digitstruct import read_digitstruct, write_digitstruct
from svhn_erase.data.download import download_svhn, fetch, unpack
from svhn_erase.errors import SvhnEraseError

pytestmark = pytest.mark.usefixtures("cli_logging")  # log records on stderr, as the CLI shows


class _Server:
    """Serves ``files`` (name -> bytes) with Range support; ``cut[name] = n`` makes the next
    transfer of ``name`` stop after n bytes (connection closed)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.content_md5: dict[str, str] = {}
        self.ranges: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                name = self.path.rsplit("/", 1)[-1]
                if name not in outer.files:
                    self.send_error(404)
                    return
                data = outer.files[name]
                header = self.headers.get("Range")
                outer.ranges.append(header)
                start = int(header.split("=")[1].split("-")[0]) if header else 0
                if start >= len(data) and header:
                    self.send_error(416)
                    return
                self.send_response(206 if header else 200)
                if header:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                if name in outer.content_md5:
                    self.send_header("Content-MD5", outer.content_md5[name])
                self.end_headers()
                body = data[start:]
                if name in outer.cut:
                    body = body[: outer.cut.pop(name)]
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/housenumbers/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[_Server]:
    with _Server() as s:
        yield s


def _tar_gz(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buf.getvalue()


def _split_archive(tmp_path: Path, split: str) -> bytes:
    src = tmp_path / f"src-{split}"
    src.mkdir()
    write_digitstruct(src / "digitStruct.mat", ["1.png"], [np.array([[3, 1, 2, 5, 6]])])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 5000  # contents do not matter here
    payload = {f"{split}/1.png": png, f"{split}/digitStruct.mat":
               (src / "digitStruct.mat").read_bytes()}
    return _tar_gz(payload)


def test_download_format1_and_2(tmp_path: Path, server: _Server) -> None:
    server.files["test.tar.gz"] = _split_archive(tmp_path, "test")
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"X": np.zeros((32, 32, 3, 2), np.uint8), "y": np.array([[10], [3]])})
    server.files["test_32x32.mat"] = buf.getvalue()
    root = tmp_path / "data"
    done = download_svhn(root, splits=["test"], formats=[1, 2], base_url=server.url,
                         checksums={"test_32x32.mat": hashlib.md5(buf.getvalue()).hexdigest()},
                         progress=False)
    assert done == [root / "test", root / "test_32x32.mat"]
    assert read_digitstruct(root / "test" / "digitStruct.mat")["label"].tolist() == [3]
    assert (root / "test_32x32.mat").read_bytes() == buf.getvalue()
    assert sorted(p.name for p in root.iterdir()) == ["test", "test_32x32.mat"]  # no leftovers
    # a rerun finds everything in place and fetches nothing
    requests = len(server.ranges)
    download_svhn(root, splits=["test"], formats=[1, 2], base_url=server.url, progress=False,
                  checksums={"test_32x32.mat": hashlib.md5(buf.getvalue()).hexdigest()})
    assert len(server.ranges) == requests


def test_resume_after_cut_transfer(tmp_path: Path, server: _Server) -> None:
    data = np.random.default_rng(0).bytes(300_000)
    server.files["train_32x32.mat"] = data
    server.cut["train_32x32.mat"] = 100_000
    dest = tmp_path / "train_32x32.mat"
    md5 = hashlib.md5(data).hexdigest()
    with pytest.raises(SvhnEraseError, match="rerun the same command to resume"):
        fetch(server.url + "train_32x32.mat", dest, md5=md5, retries=0, progress=False)
    part = tmp_path / "train_32x32.mat.part"
    assert not dest.exists() and part.stat().st_size == 100_000
    fetch(server.url + "train_32x32.mat", dest, md5=md5, retries=0, progress=False)
    assert server.ranges == [None, "bytes=100000-"]
    assert dest.read_bytes() == data and not part.exists()


def test_resume_within_one_call(tmp_path: Path, server: _Server,
                                capsys: pytest.CaptureFixture[str]) -> None:
    data = np.random.default_rng(1).bytes(50_000)
    server.files["test.tar.gz"] = data
    server.cut["test.tar.gz"] = 20_000
    server.content_md5["test.tar.gz"] = base64.b64encode(hashlib.md5(data).digest()).decode()
    fetch(server.url + "test.tar.gz", tmp_path / "test.tar.gz", retries=2, progress=False)
    assert (tmp_path / "test.tar.gz").read_bytes() == data
    assert server.ranges == [None, "bytes=20000-"]
    assert "resuming" in capsys.readouterr().err


def test_checksum_mismatch(tmp_path: Path, server: _Server) -> None:
    server.files["test_32x32.mat"] = b"x" * 1000
    with pytest.raises(SvhnEraseError, match="checksum mismatch"):
        download_svhn(tmp_path, splits=["test"], formats=[2], base_url=server.url,
                      checksums={"test_32x32.mat": "0" * 32}, progress=False)
    assert list(tmp_path.iterdir()) == []
    # the published MD5 is used when none is given: a wrong file never gets the final name
    with pytest.raises(SvhnEraseError, match="checksum mismatch"):
        download_svhn(tmp_path, splits=["test"], formats=[2], base_url=server.url,
                      progress=False)
    server.content_md5["test.tar.gz"] = base64.b64encode(b"\x00" * 16).decode()
    server.files["test.tar.gz"] = b"y" * 10
    with pytest.raises(SvhnEraseError, match="checksum mismatch"):
        fetch(server.url + "test.tar.gz", tmp_path / "t.tar.gz", progress=False)


def test_http_error_and_cli(tmp_path: Path, server: _Server,
                            capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["data", "download", "--root", str(tmp_path), "--split", "extra",
                     "--format", "2", "--url", server.url])
    assert code == 2
    err = capsys.readouterr().err
    assert "404" in err and "extra_32x32.mat" in err and "Traceback" not in err


@pytest.mark.parametrize("entries,links", [
    ({"../evil.txt": b"x"}, None),
    ({"/abs/evil.txt": b"x"}, None),
    ({"train/ok.txt": b"x"}, {"train/link": "/etc/passwd"}),
])
def test_unsafe_archives_are_refused(tmp_path: Path, entries, links) -> None:
    archive = tmp_path / "train.tar.gz"
    archive.write_bytes(_tar_gz(entries, links))
    root = tmp_path / "root"
    with pytest.raises(SvhnEraseError, match="nothing was unpacked"):
        unpack(archive, root)
    assert list(root.iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_corrupt_archive(tmp_path: Path) -> None:
    (tmp_path / "train.tar.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(SvhnEraseError, match="not a readable"):
        unpack(tmp_path / "train.tar.gz", tmp_path / "root")
