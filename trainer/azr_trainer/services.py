"""Starts the executor and buffer services as local processes, for `make run` and the tests.

The trainer never imports the services: it runs their console scripts and talks HTTP.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["LocalServices", "local_services"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalServices:
    """Base URLs of services started by `local_services`."""

    executor_url: str
    buffer_url: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _script(name: str) -> str:
    """The console script beside this interpreter (the venv), else on PATH."""
    local = Path(sys.executable).with_name(name)
    if local.exists():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed; run `make setup`")
    return found


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"service for {url} exited with code {proc.returncode} at start")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"service at {url} was not ready within {timeout_s:.0f} s")


@contextmanager
def local_services(
    workdir: Path, *, env: dict[str, str] | None = None, timeout_s: float = 60.0
) -> Iterator[LocalServices]:
    """Run `azr-executor serve` and `azr-buffer serve` on free loopback ports until exit.

    The buffer keeps its SQLite file under `workdir`. Logs go to `workdir/*.log`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, **(env or {})}
    ports = {"executor": _free_port(), "buffer": _free_port()}
    base_env.setdefault("AZR_BUFFER_DATABASE_URL", f"sqlite:///{workdir / 'buffer.sqlite'}")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, port in ports.items():
            log = (workdir / f"{name}.log").open("ab")
            cmd = [_script(f"azr-{name}"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=base_env)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, proc in procs.items():
            _wait_healthy(urls[name], proc, timeout_s)
        logger.info("services ready: executor=%s buffer=%s", urls["executor"], urls["buffer"])
        yield LocalServices(executor_url=urls["executor"], buffer_url=urls["buffer"])
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
