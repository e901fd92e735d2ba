"""Constants and helpers of the compose e2e tests: the project, its ports and tokens, exec in a
container, capability masks. (A uniquely named module: tests import from here, not conftest.)"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path

from docker.models.containers import Container
from ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def env_port(name: str) -> int:
    """The port in environment variable `name`, or a free one when it is unset or 0."""
    value = os.environ.get(name, "").strip()
    if not value or value == "0":
        return free_port()
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{name}={value!r} is not a TCP port")
    return int(value)


# Several checkouts may run the e2e suite on one Docker engine at once (developers, CI runners
# sharing a host): the default project name is unique per checkout and the published ports are
# picked free, so two stacks never tear each other down or fight over a port. AZR_E2E_PROJECT,
# AZR_E2E_EXECUTOR_PORT and AZR_E2E_BUFFER_PORT fix them.
PROJECT = os.environ.get("AZR_E2E_PROJECT") or (
    "azr-e2e-" + hashlib.sha256(str(ROOT).encode()).hexdigest()[:8]
)
EXECUTOR_PORT = env_port("AZR_E2E_EXECUTOR_PORT")
BUFFER_PORT = env_port("AZR_E2E_BUFFER_PORT")
# The buffer of the PostgreSQL project (profile postgres), a second stack next to the first.
PG_BUFFER_PORT = env_port("AZR_E2E_PG_BUFFER_PORT")
POSTGRES_IMAGE = "azr-postgres:local"
TRAINER_IMAGE = "azr-trainer:local"
SERVICES = ("executor", "executor-gateway", "buffer")
IMAGES = ("azr-executor:local", "azr-buffer:local")
HEALTHY_TIMEOUT_S = 120.0
# Both services run with authentication on: the tokens reach them the way an operator's would
# (a compose secret file for the executor, the environment for the buffer).
EXECUTOR_TOKEN = secrets.token_urlsafe(24)
BUFFER_TOKEN = secrets.token_urlsafe(24)
# Written (0600) by the stack fixture, removed at teardown.
EXECUTOR_TOKENS_FILE = os.path.join(tempfile.gettempdir(), f"azr-e2e-executor-tokens-{os.getpid()}")

# Linux capability numbers (include/uapi/linux/capability.h) of the ones the stack may add.
CAPS = {
    "CHOWN": 0,
    "DAC_OVERRIDE": 1,
    "FOWNER": 3,
    "KILL": 5,
    "SETGID": 6,
    "SETUID": 7,
    "SYS_ADMIN": 21,
}


def cap_mask(names: set[str]) -> int:
    """The capability bit mask of `names`, as /proc/PID/status shows it."""
    mask = 0
    for name in names:
        mask |= 1 << CAPS[name]
    return mask


def exec_out(container: Container, cmd: list[str]) -> str:
    """Run `cmd` in the container; return its output, failing on a non-zero exit."""
    code, out = container.exec_run(cmd)
    assert code == 0, f"{cmd} exited {code}: {out[-2000:]!r}"
    return out.decode()


def exec_ok(container: Container, cmd: list[str]) -> None:
    """Run `cmd` in the container and fail unless it exits 0."""
    exec_out(container, cmd)
