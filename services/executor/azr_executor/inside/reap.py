"""After a run: every process it started is killed and reaped, by the zygote, within a bound.

The zygote is a child subreaper (where the kernel allows it), so processes that left the run's
process group come back to it as children. `Sweeper.sweep` kills what is left: through the
run's cgroup when there is one (`cgroup.RunGroup.kill_all`), else, when the zygote is pid 1 of
its own PID namespace (gVisor's sandbox, the user-namespace mode), with one `kill(-1)`, else the
zygote's descendants level by level, else (no subreaper) every process of the sandbox uid
found in /proc. The
killer is always the zygote itself (root when there is a sandbox uid): it never drops to the
sandbox uid, so no process of a run can signal, stop or outlive it.

Guarantees:
- every wait has a bound (`wait_exit`, `Sweeper.sweep`); past it the sweep says so and the
  zygote retires (the server kills it and its groups, and starts a fresh one);
- nothing is left unreaped, and a process that makes itself non-dumpable (so /proc/<pid> turns
  root-owned) is still found: uids are read from /proc/<pid>/status.

Does not guarantee:
- without a cgroup and without a subreaper, a process that escapes the sandbox uid (it cannot:
  no setuid binary works under no_new_privs) would not be found.
"""

from __future__ import annotations

import os
import select
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Sweeper", "children_of", "reap_zombies", "uid_processes", "wait_exit"]

SWEEP_WAIT_S = 5.0


def wait_exit(pid: int, pidfd: int, timeout_s: float) -> tuple[int, Any] | None:
    """`wait4` the (killed) child, at most `timeout_s`; None when it did not die in time."""
    deadline = time.monotonic() + timeout_s
    while True:
        done, status, rusage = os.wait4(pid, os.WNOHANG)
        if done:
            return status, rusage
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        if pidfd >= 0:
            select.select([pidfd], [], [], left)
        else:
            time.sleep(min(left, 0.001))


def reap_zombies() -> int:
    """Reap every exited child; returns how many (stops at the first live one)."""
    count = 0
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return count
        if not pid:
            return count
        count += 1


def has_children() -> bool:
    """True while the zygote has a child, alive or not yet reaped."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def children_of(pid: int) -> list[int]:
    """The direct children of `pid` (one read of /proc/<pid>/task/*/children)."""
    out: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as fh:
                out += [int(x) for x in fh.read().split()]
        except OSError:
            continue
    return out


def uid_processes(uid: int) -> list[int]:
    """Every process whose real or effective uid is `uid` (read as root from .../status)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                for line in fh:
                    if line.startswith(b"Uid:"):
                        real, effective = line.split()[1:3]
                        if int(real) == uid or int(effective) == uid:
                            found.append(int(name))
                        break
        except (OSError, ValueError):
            continue
    return found


class Sweeper:
    """Kills and reaps what a run left behind. `group`: a `RunGroup` or None."""

    def __init__(self, group: Any, uid: int | None, subreaper: bool) -> None:
        self.group = group
        self.uid = uid
        self.subreaper = subreaper
        self.me = os.getpid()
        # pid 1 of its own PID namespace (gVisor's sandbox, or the user-namespace mode): every
        # other process in it is the run's, and every orphan comes back to the zygote.
        self.init = self.me == 1

    def sweep(self, wait_s: float = SWEEP_WAIT_S) -> bool:
        """Kill and reap everything the run left; False when something outlived `wait_s`."""
        reap_zombies()
        deadline = time.monotonic() + wait_s
        if self.group is not None:
            clean = True
            # With a subreaper, every live process of the run is a descendant of the zygote:
            # no child left means an empty group, without reading it (the common case).
            if (has_children() or not self.subreaper) and self.group.occupied():
                clean = self.group.kill_all(reap_zombies, wait_s)
            return self._drain(deadline) and clean
        if self.init:
            return self._kill_namespace(deadline)
        if not self.subreaper and self.uid is not None:
            while pids := uid_processes(self.uid):
                _kill_all(pids)
                reap_zombies()
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.001)
        return self._drain(deadline)

    def _kill_namespace(self, deadline: float) -> bool:
        """As the init of the namespace: `kill(-1)` reaches every other process in it at once
        (one kernel walk: a process that forks or hops from parent to child cannot slip
        between two kills, as it can between reading /proc and killing)."""
        while True:
            try:  # noqa: SIM105 (no contextlib in the zygote)
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
            reap_zombies()
            if not has_children():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)

    def _drain(self, deadline: float) -> bool:
        """Kill the zygote's children level by level until none is left (subreaper)."""
        while has_children():
            _kill_all(children_of(self.me))
            reap_zombies()
            if not has_children():
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.001)
        return True


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        try:  # noqa: SIM105 (no contextlib in the zygote's hot path)
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
