"""Process-table helpers of the executor security suite."""

from __future__ import annotations

import subprocess
import time


def _ps(uids: list[int]) -> list[str]:
    out = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,uid=,stat=,args="], capture_output=True, text=True, check=True
    ).stdout
    return [
        line for line in out.splitlines() if len(line.split()) >= 3 and int(line.split()[2]) in uids
    ]


def sandbox_processes(uids: list[int], settle_s: float = 2.0) -> list[str]:
    """`ps` lines of every process (zombies included) owned by a sandbox uid.

    Waits up to `settle_s` for the list to empty (a process killed a moment ago may still be
    on its way out); whatever is still listed after the wait survived, and each line names
    its parent so a failure says who failed to kill or reap it.
    """
    deadline = time.monotonic() + settle_s
    lines = _ps(uids)
    while lines and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = _ps(uids)
    described = []
    for line in lines:
        ppid = line.split()[1]
        parent = subprocess.run(
            ["ps", "-o", "pid=,uid=,args=", "-p", ppid], capture_output=True, text=True
        ).stdout
        described.append(f"{line} <- parent: {parent.strip()[:160]}")
    return described
