"""Helpers of the security suite: every hostile program runs on the shared process-mode server."""

from __future__ import annotations

import os
import subprocess

import pytest

SANDBOX_UID_SPAN = 64


def sandbox_processes(uids: list[int]) -> list[str]:
    """`ps` lines of every live process owned by a sandbox uid."""
    out = subprocess.run(
        ["ps", "-eo", "pid=,uid=,stat=,args="], capture_output=True, text=True, check=True
    )
    lines = []
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) >= 2 and int(parts[1]) in uids:
            lines.append(line)
    return lines


@pytest.fixture
def ex(executor_server):
    """The shared executor (process mode, 2 zygotes)."""
    return executor_server


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.fail("the security suite checks the uid drop and private mounts: run it as root")
