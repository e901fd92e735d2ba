"""Helpers for the compose e2e tests: exec in a container, capability masks."""

from __future__ import annotations

from docker.models.containers import Container

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
