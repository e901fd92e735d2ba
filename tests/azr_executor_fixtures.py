"""Session fixtures for the executor tests: a real uvicorn server in a thread (process mode),
a synchronous handle on its sandbox pool, and (lazily) a gVisor-mode server.

Registered from tests/conftest.py through `pytest_plugins`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from azr_executor.app import create_app
from azr_executor.sandbox import Job, JobResult, Limits, SandboxPool
from azr_executor.server import uvicorn_config
from azr_executor.settings import ExecutorSettings
from fastapi import FastAPI

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]


@dataclass
class RunningExecutor:
    """A live executor: its URL, app, settings, and the event loop it runs in."""

    url: str
    app: FastAPI
    settings: ExecutorSettings
    loop: asyncio.AbstractEventLoop

    @property
    def pool(self) -> SandboxPool:
        pool: SandboxPool = self.app.state.pool
        return pool

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60) -> T:
        """Run a coroutine in the server's loop (where the pool lives) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def run(
        self, code: str, *, wall_s: float = 2.0, stdin: bytes = b"", **limits: Any
    ) -> JobResult:
        """Run one program on the server's pool with short limits."""
        lim = Limits(wall_s=wall_s, cpu_s=int(limits.pop("cpu_s", 2)), **limits)
        return self.call(self.pool.run(Job(code=code, stdin=stdin, limits=lim)))


def _serve(settings: ExecutorSettings) -> Iterator[RunningExecutor]:
    app = create_app(settings)
    config = uvicorn_config(app, settings, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    holder: dict[str, asyncio.AbstractEventLoop] = {}

    def target() -> None:
        loop = asyncio.new_event_loop()
        holder["loop"] = loop
        loop.run_until_complete(server.serve())
        loop.close()

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 120
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the executor server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield RunningExecutor(f"http://127.0.0.1:{port}", app, settings, holder["loop"])
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="session")
def executor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningExecutor]:
    """The process-mode executor every executor test shares (2 zygotes)."""
    settings = ExecutorSettings(
        zygotes=2,
        work_root=tmp_path_factory.mktemp("executor-scratch") if os.geteuid() != 0 else None,
        wall_timeout_s=5.0,
        cpu_timeout_s=5,
        max_batch=2048,
    )
    yield from _serve(settings)


@pytest.fixture(scope="session")
def runsc_installed() -> str:
    """Make sure runsc is installed (scripts/ensure-runsc.sh); fail loudly when it cannot be."""
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / "ensure-runsc.sh")], capture_output=True, text=True
    )
    if proc.returncode != 0:
        message = f"runsc could not be installed: {proc.stdout[-1000:]} {proc.stderr[-2000:]}"
        if os.environ.get("AZR_SKIP_GVISOR") == "1":
            pytest.skip(message + " (AZR_SKIP_GVISOR=1)")
        pytest.fail(message + "; set AZR_SKIP_GVISOR=1 to skip gVisor tests on purpose")
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="session")
def gvisor_server(runsc_installed: str) -> Iterator[RunningExecutor]:
    """A gVisor-mode executor (one zygote inside `runsc do`, plus its spare)."""
    if os.geteuid() != 0:
        pytest.fail("gVisor mode (runsc --rootless=false) needs root")
    settings = ExecutorSettings(
        sandbox="gvisor", zygotes=1, runsc=runsc_installed, wall_timeout_s=10.0
    )
    yield from _serve(settings)


# Tokens of `shared_executor`, an executor deployed for several teams: token -> tenant name.
TEAM_TOKENS = {"tok-alpha": "alpha", "tok-beta": "beta", "tok-gamma": "gamma"}


@pytest.fixture(scope="session")
def shared_executor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningExecutor]:
    """A process-mode executor with one token per team (named tenants, `TEAM_TOKENS`), as an
    organisation-wide deployment runs it: what other RL stacks and the fairness tests talk to."""
    token_file = tmp_path_factory.mktemp("team-tokens") / "tokens"
    token_file.write_text("".join(f"{t} {name}\n" for t, name in TEAM_TOKENS.items()))
    settings = ExecutorSettings(
        zygotes=2,
        work_root=tmp_path_factory.mktemp("shared-scratch") if os.geteuid() != 0 else None,
        token_file=token_file,
        max_queue=2000,  # a tenant may hold 1000 runs (tenant_queue_share 0.5)
        wall_timeout_s=5.0,
        cpu_timeout_s=5,
    )
    yield from _serve(settings)
