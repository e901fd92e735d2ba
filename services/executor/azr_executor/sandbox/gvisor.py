"""gVisor mode: each zygote runs inside its own long-lived `runsc do` sandbox.

A sandbox per run costs about 190 ms here; a zygote inside one long-lived sandbox forks its
children inside it, so the per-run cost is a fork inside gVisor (about 14-30 ms) and a kernel
escape must beat gVisor as well as the child's own confinement. The sandbox sees the host root
read-only with a private in-memory overlay, and has no network (`--network=none`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["RunscMissing", "runsc_prefix"]


class RunscMissing(RuntimeError):
    """gVisor mode was asked for, but no runsc binary was found."""


def runsc_prefix(runsc: str, state_dir: Path, index: int) -> list[str]:
    """The command prefix that runs the zygote inside a fresh `runsc do` sandbox."""
    binary = shutil.which(runsc)
    if binary is None:
        raise RunscMissing(
            f"AZR_EXECUTOR_SANDBOX=gvisor needs `{runsc}` on PATH; install it with scripts/ensure-runsc.sh"
        )
    root = state_dir / f"runsc-{index}"
    root.mkdir(parents=True, exist_ok=True)
    return [
        binary,
        "--rootless=false",
        "--network=none",
        f"--root={root}",
        "--ignore-cgroups",
        "do",
        "--quiet",
    ]
