"""Helpers for the web tests: a free port, a photo to erase, and a live server.

``live_server`` runs the app under uvicorn in a thread of the test process (the browser
test); ``serve_subprocess`` runs ``svhn-erase serve`` as its own process with its own home,
temporary folder and working directory (the concurrency test checks that nothing lands
outside ``--workdir``).
"""

from __future__ import annotations

import contextlib
import io
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def photo(width: int = 120, height: int = 60, seed: int = 0) -> tuple[np.ndarray, list]:
    """A textured wall with two dark bars drawn as "digits", and their boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = 150 + 40 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + rng.normal(0, 6, (height, width))
    image = np.stack([base, base * 0.9 + 10, base * 0.8 + 20], -1)
    boxes = [[30, 15, 14, 30], [60, 14, 16, 32]]
    for left, top, w, h in boxes:
        image[top + 4:top + h - 4, left + 4:left + w - 4] = (30, 30, 40)
    return np.clip(image, 0, 255).astype(np.uint8), boxes


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def wait_until_up(url: str, seconds: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with status {proc.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url + "/api/settings", timeout=5).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not start in {seconds} s")


@contextlib.contextmanager
def live_server(app) -> Iterator[str]:
    """``app`` served by uvicorn in a thread on a free port; yields its URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextlib.contextmanager
def serve_subprocess(root: Path, *options: str) -> Iterator[tuple[str, Path]]:
    """``svhn-erase serve`` in its own process: home, temporary folder and current folder
    are empty folders under ``root``; yields the URL and the working folder."""
    workdir = root / "work"
    for name in ("home", "tmp", "cwd"):
        (root / name).mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(root / "home"), "TMPDIR": str(root / "tmp"),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("MPLCONFIGDIR", None)
    port = free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([sys.executable, "-m", "svhn_erase.cli", "serve", "--port",
                             str(port), "--workdir", str(workdir), *options],
                            cwd=root / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, proc=proc)
        yield url, workdir
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
