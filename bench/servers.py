"""Starting gunicorn for the benchmarks: the application and its hello-world baseline, same configuration."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(app: str, env: dict[str, str], workers: int, chdir: Path) -> tuple[subprocess.Popen, str]:
    """Serve `app` with `workers` sync workers on a free port; returns the process and its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--workers",
            str(workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{port}",
            "--chdir",
            str(chdir),
            "--log-level",
            "warning",
            app,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                requests.get(base + "/", timeout=10)
                return process, base
            except requests.RequestException:
                time.sleep(0.2)
    except BaseException:
        process.terminate()
        raise
    process.terminate()
    raise RuntimeError(f"gunicorn {app} did not start")
