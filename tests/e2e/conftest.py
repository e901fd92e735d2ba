"""Session fixture for the compose e2e tests: the real stack under gVisor, torn down afterwards.

`make test` / `make test-compose` first run `compose-ready` (Docker, runsc and Compose installed
and running, images built from the wheelhouse). This fixture brings the stack up under its own
project name, waits for every healthcheck, yields, and then removes every container, volume and
network of the project, checking that nothing is left. With AZR_SKIP_COMPOSE=1 (never in CI) the
tests skip, saying why.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import docker
import httpx
import pytest
from azr_proto.buffer_client import BufferClient
from azr_proto.executor_client import ExecutorClient
from docker.models.containers import Container
from tests_e2e_support import (
    BUFFER_PORT,
    BUFFER_TOKEN,
    EXECUTOR_PORT,
    EXECUTOR_TOKEN,
    EXECUTOR_TOKENS_FILE,
    HEALTHY_TIMEOUT_S,
    IMAGES,
    PG_BUFFER_PORT,
    POSTGRES_IMAGE,
    PROJECT,
    ROOT,
    SERVICES,
)

pytestmark = pytest.mark.compose


@dataclass(frozen=True)
class Stack:
    """The running compose project, and how to reach it."""

    client: docker.DockerClient
    executor_url: str
    buffer_url: str
    project: str = PROJECT
    env: dict[str, str] | None = None

    def container(self, service: str) -> Container:
        found = self.client.containers.list(
            all=True,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={service}",
                ]
            },
        )
        assert len(found) == 1, f"expected one {service} container, found {len(found)}"
        return found[0]

    def compose(self, *args: str) -> subprocess.CompletedProcess[str]:
        return compose(*args, project=self.project, env=self.env)

    def wait_healthy(self, services: tuple[str, ...] = SERVICES) -> None:
        wait_healthy(self.client, services, self.project, self.env)


def compose_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AZR_EXECUTOR_PUBLISH_PORT=str(EXECUTOR_PORT),
        AZR_BUFFER_PUBLISH_PORT=str(BUFFER_PORT),
        AZR_BIND_ADDRESS="127.0.0.1",
        AZR_EXECUTOR_TOKENS_FILE=EXECUTOR_TOKENS_FILE,
        AZR_BUFFER_TOKENS=BUFFER_TOKEN,
    )
    return env


def compose(
    *args: str, check: bool = True, project: str = PROJECT, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run scripts/compose.sh (Compose v2 or v1) on the e2e project (or `project`, with `env`)."""
    cmd = [str(ROOT / "scripts" / "compose.sh"), "-p", project, *args]
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env or compose_env(), capture_output=True, text=True, timeout=300
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def wait_healthy(
    client: docker.DockerClient,
    services: tuple[str, ...],
    project: str = PROJECT,
    env: dict[str, str] | None = None,
) -> None:
    """Wait on the compose healthchecks (what `docker compose up --wait` does in Compose v2)."""
    deadline = time.monotonic() + HEALTHY_TIMEOUT_S
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        for service in services:
            found = client.containers.list(
                all=True,
                filters={
                    "label": [
                        f"com.docker.compose.project={project}",
                        f"com.docker.compose.service={service}",
                    ]
                },
            )
            health = found[0].attrs["State"].get("Health", {}) if found else {}
            states[service] = health.get("Status", "missing")
        if all(s == "healthy" for s in states.values()):
            return
        time.sleep(0.5)
    logs = {
        s: compose("logs", "--tail", "30", s, check=False, project=project, env=env).stdout
        for s in services
    }
    raise RuntimeError(f"services not healthy after {HEALTHY_TIMEOUT_S:.0f} s: {states}\n{logs}")


def project_leftovers(client: docker.DockerClient, project: str = PROJECT) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return (
        [f"container {c.name}" for c in client.containers.list(all=True, filters=label)]
        + [f"volume {v.name}" for v in client.volumes.list(filters=label)]
        + [f"network {n.name}" for n in client.networks.list(filters=label)]
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if os.environ.get("AZR_SKIP_COMPOSE") == "1":
        pytest.skip("AZR_SKIP_COMPOSE=1: compose e2e tests explicitly skipped")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(
            f"Docker is not reachable ({exc}). Run `make test-compose`, which installs and starts "
            "Docker with gVisor, or set AZR_SKIP_COMPOSE=1 to skip these tests explicitly.",
            pytrace=False,
        )
    missing = [image for image in IMAGES if not client.images.list(name=image)]
    if missing:
        pytest.fail(f"images {missing} not built: run `make images-services`", pytrace=False)

    fd = os.open(EXECUTOR_TOKENS_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        # The trainer has one token for both services: the buffer's is accepted here too.
        f.write(f"# e2e\n{EXECUTOR_TOKEN}\n{BUFFER_TOKEN}\n")
    compose("down", "--volumes", "--remove-orphans")  # leftovers of an interrupted run
    try:
        compose("up", "--detach", "--no-build")
        wait_healthy(client, SERVICES)
        yield Stack(
            client=client,
            executor_url=f"http://127.0.0.1:{EXECUTOR_PORT}",
            buffer_url=f"http://127.0.0.1:{BUFFER_PORT}",
        )
    finally:
        compose("down", "--volumes", "--remove-orphans", "--timeout", "5")
        leftovers = project_leftovers(client)
        client.close()
        os.unlink(EXECUTOR_TOKENS_FILE)
        assert not leftovers, f"compose down left {leftovers}"


@pytest.fixture(scope="module")
def pg_stack(stack: Stack) -> Iterator[Stack]:
    """The buffer on PostgreSQL (profile `postgres`), as a second compose project of its own.

    Only postgres and buffer run there (no executor); the password reaches PostgreSQL as a compose
    secret and the buffer in its database URL, the way README tells users to set it up.
    """
    if not stack.client.images.list(name=POSTGRES_IMAGE):
        pytest.fail(f"image {POSTGRES_IMAGE} not built: run `make image-postgres`", pytrace=False)
    project = f"{PROJECT}-pg"
    password = secrets.token_urlsafe(18)
    secret_dir = tempfile.mkdtemp(prefix="azr-e2e-pg-")
    password_file = os.path.join(secret_dir, "postgres_password")
    with open(password_file, "w") as f:
        f.write(password + "\n")
    os.chmod(password_file, 0o644)  # read by uid 10004 in the container (the folder is 0700)
    env = compose_env()
    env.update(
        AZR_BUFFER_PUBLISH_PORT=str(PG_BUFFER_PORT),
        AZR_POSTGRES_PASSWORD_FILE=password_file,
        AZR_BUFFER_DATABASE_URL=f"postgresql+psycopg://azr:{password}@postgres:5432/azr",
    )
    pg = Stack(
        client=stack.client,
        executor_url="",
        buffer_url=f"http://127.0.0.1:{PG_BUFFER_PORT}",
        project=project,
        env=env,
    )
    profile = ("--profile", "postgres")
    pg.compose(*profile, "down", "--volumes", "--remove-orphans")
    try:
        pg.compose(*profile, "up", "--detach", "--no-build", "postgres", "buffer")
        pg.wait_healthy(("postgres", "buffer"))
        yield pg
    finally:
        pg.compose(*profile, "down", "--volumes", "--remove-orphans", "--timeout", "5")
        shutil.rmtree(secret_dir)
        leftovers = project_leftovers(stack.client, project)
        assert not leftovers, f"compose down left {leftovers}"


@pytest.fixture
def executor_http(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {EXECUTOR_TOKEN}"}
    with httpx.Client(base_url=stack.executor_url, timeout=30.0, headers=headers) as http:
        yield http


@pytest.fixture
def buffer_http(stack: Stack) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {BUFFER_TOKEN}"}
    with httpx.Client(base_url=stack.buffer_url, timeout=30.0, headers=headers) as http:
        yield http


@pytest.fixture
async def executor(stack: Stack) -> AsyncIterator[ExecutorClient]:
    # Enough retries to ride out a restart of the executor container (about 5-15 s here).
    client = ExecutorClient(
        stack.executor_url, token=EXECUTOR_TOKEN, max_retries=30, max_backoff_s=1.0
    )
    async with client:
        yield client


@pytest.fixture
async def buffer(stack: Stack) -> AsyncIterator[BufferClient]:
    async with BufferClient(stack.buffer_url, token=BUFFER_TOKEN) as client:
        yield client
