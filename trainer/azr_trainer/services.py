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

from azr_trainer.errors import UsageError

__all__ = ["LocalServices", "local_services"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalServices:
    """Base URLs of services started by `local_services` ("" for one not started)."""

    executor_url: str = ""
    buffer_url: str = ""


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


def _wait_healthy(
    name: str, url: str, proc: subprocess.Popen[bytes], log: Path, timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            lines = log.read_text(errors="replace").strip().splitlines() or ["(empty log)"]
            raise UsageError(
                f"azr-{name} exited with code {proc.returncode} at start: "
                f"{lines[-1]}\n  (the whole log: {log})"
            )
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"service at {url} was not ready within {timeout_s:.0f} s")


@contextmanager
def local_services(
    workdir: Path,
    *,
    executor: bool = True,
    buffer: bool = True,
    env: dict[str, str] | None = None,
    timeout_s: float = 60.0,
) -> Iterator[LocalServices]:
    """Run `azr-executor serve` and/or `azr-buffer serve` on free loopback ports until exit.

    The buffer keeps its SQLite file under `workdir`. Logs go to `workdir/*.log`.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, **(env or {})}
    wanted = [name for name, on in (("executor", executor), ("buffer", buffer)) if on]
    ports = {name: _free_port() for name in wanted}
    base_env.setdefault("AZR_BUFFER_DATABASE_URL", f"sqlite:///{workdir / 'buffer.sqlite'}")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for name, port in ports.items():
            log = (workdir / f"{name}.log").open("ab")
            cmd = [_script(f"azr-{name}"), "serve", "--host", "127.0.0.1", "--port", str(port)]
            procs[name] = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=base_env)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        for name, proc in procs.items():
            _wait_healthy(name, urls[name], proc, workdir / f"{name}.log", timeout_s)
        yield LocalServices(
            executor_url=urls.get("executor", ""), buffer_url=urls.get("buffer", "")
        )
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
