"""Worker processes for benchmarks that time two copies of the package in one run: each
worker is this same script started with ``PYTHONPATH`` at one copy's ``src`` and one thread
(torch, OpenCV, OMP, MKL), says which package it imported, then answers one JSON line for
each line it is sent."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def start(script: str, src: str, worker_args: list[str]) -> subprocess.Popen:
    """``script --worker *worker_args`` importing the package under ``src``; prints which."""
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, script, "--worker", *worker_args], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    print(f"{src}: {json.loads(proc.stdout.readline())['package']}", flush=True)
    return proc


def ask(proc: subprocess.Popen, line: str) -> dict:
    """Send ``line`` to a worker; its JSON answer."""
    proc.stdin.write(line + "\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())
