"""The first-hour commands work as the README writes them: `make up` detaches, waits, prints the
URLs and the token, `make down` stops everything; a failed start leaves nothing running; and plain
Compose (`docker-compose up -d`, v1, as Debian ships it) starts a fresh clone once the images
exist. Each test runs its own project on its own ports next to the session's stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import docker
import httpx
import pytest
from tests_e2e_support import ROOT, free_port

pytestmark = pytest.mark.compose


def _env(project: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZR_", "COMPOSE_"))}
    ports = {
        "AZR_EXECUTOR_PUBLISH_PORT": str(free_port()),
        "AZR_BUFFER_PUBLISH_PORT": str(free_port()),
    }
    return {**env, "COMPOSE_PROJECT_NAME": project, **ports, **extra}


def _leftover_containers(client: docker.DockerClient, project: str) -> list[str]:
    label = {"label": f"com.docker.compose.project={project}"}
    return [c.name for c in client.containers.list(all=True, filters=label)]


def _cleanup(cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "compose.sh"), "down", "--volumes", "--remove-orphans"],
        cwd=cwd, env=env, capture_output=True, timeout=300,
    )  # fmt: skip


def test_make_up_waits_and_prints_where_and_make_down_stops(stack):
    env = _env("azr-e2e-up")
    try:
        up = subprocess.run(
            ["scripts/up.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert up.returncode == 0, up.stderr[-3000:]
        executor = f"http://127.0.0.1:{env['AZR_EXECUTOR_PUBLISH_PORT']}"
        buffer = f"http://127.0.0.1:{env['AZR_BUFFER_PUBLISH_PORT']}"
        assert f"executor: {executor}" in up.stdout and f"buffer:   {buffer}" in up.stdout
        assert "token:    none" in up.stdout
        assert f"--set executor_urls=[{executor}] --set buffer_url={buffer}" in up.stdout
        # Detached and healthy when it returns: both answer right away.
        assert httpx.get(f"{executor}/readyz", timeout=5).status_code == 200
        assert httpx.get(f"{buffer}/readyz", timeout=5).status_code == 200
        down = subprocess.run(
            ["make", "--no-print-directory", "down"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr[-3000:]
        assert _leftover_containers(stack.client, "azr-e2e-up") == []
    finally:
        _cleanup(ROOT, env)


def test_a_failed_start_leaves_nothing_running(stack, tmp_path):
    # A missing secret file: Compose v1 used to stop there with the buffer already running.
    env = _env("azr-e2e-upfail", AZR_EXECUTOR_TOKENS_FILE=str(tmp_path / "missing" / "tokens"))
    try:
        up = subprocess.run(
            ["scripts/up.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
        )
        assert up.returncode != 0
        assert "taking the stack down (nothing is left running)" in up.stderr
        assert _leftover_containers(stack.client, "azr-e2e-upfail") == []
    finally:
        _cleanup(ROOT, env)


def test_plain_compose_up_works_on_a_fresh_clone(stack, tmp_path):
    # What a clone holds (tracked files, and new ones not ignored): no secrets, no .env.
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    clone = tmp_path / "clone"
    for name in files:
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    env = _env("azr-e2e-plain")
    plain = ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
    try:
        up = subprocess.run(
            [*plain, "up", "-d"], cwd=clone, env=env, capture_output=True, text=True, timeout=600
        )
        assert up.returncode == 0, up.stderr[-3000:]
        url = f"http://127.0.0.1:{env['AZR_EXECUTOR_PUBLISH_PORT']}/readyz"
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(url, timeout=3).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the executor never became ready"
            time.sleep(2)
    finally:
        _cleanup(clone, env)
    assert _leftover_containers(stack.client, "azr-e2e-plain") == []
