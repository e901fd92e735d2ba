"""A cgroup per zygote for its runs: one memory and pids limit for the whole run, OOM kills
counted, and every process of the run killed by the zygote (root), never from the sandbox uid.

The server creates the groups (`discover`, `create_groups`: cgroup v2, or v1 with the memory,
pids and freezer controllers); each zygote opens its own group's files once (`RunGroup`), sets
the run's limits before the fork (only when they change), and the child moves itself in before
it drops its uid. After the run the zygote kills whatever is left in the group: v2 writes
`cgroup.kill`; v1 freezes the group, kills every task and thaws it, so a task can neither fork
nor stop the killer between the listing and the kill.

Guarantees (root, a cgroup hierarchy with those controllers):
- the memory a run holds counts every process of it together, and counts anonymous memory,
  page cache, tmpfs, shmem and memfd pages alike; over the limit the kernel's OOM killer acts
  inside the group only, and the run's status is `memory_limit` (from the group's `oom_kill`
  counter, which the program cannot touch);
- `pids.max` bounds the run's tasks (threads count) whatever their uid;
- no process of a run survives it: the kill reaches processes that left the run's process
  group and session, stopped processes, and processes forked during the kill;
- every wait has a bound (`KILL_WAIT_S`); past it the zygote reports it and is replaced.

Does not guarantee:
- anything without root or without those controllers: `available` is then False, the service
  logs what is not enforced at start, and the rlimits remain (RLIMIT_AS per process, which
  does not count shmem or memfd; RLIMIT_NPROC per uid);
- under gVisor (runsc 2022-12): its own cgroupfs takes `memory.limit_in_bytes` but does not
  enforce it, and has no freezer; there the service puts each zygote's whole sandbox in a host
  cgroup instead (`sandbox/cgroups.py`), which bounds the zygote and its run together.
"""

from __future__ import annotations

import errno
import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["KILL_WAIT_S", "V1_CONTROLLERS", "V2_CONTROLLERS", "RunGroup", "discover"]

V1_CONTROLLERS = ("memory", "pids", "freezer")
V2_CONTROLLERS = ("memory", "pids")
KILL_WAIT_S = 5.0
_FREEZE_WAIT_S = 0.2
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def discover(proc: str = "/proc/self") -> dict[str, Any] | None:
    """Where this process may create cgroups: its own group in each hierarchy, or None.

    `{"version": 2, "path": dir}` when a cgroup2 mount offers the memory and pids controllers,
    else `{"version": 1, "memory": dir, "pids": dir, "freezer": dir}` when v1 mounts offer them.
    """
    with open(f"{proc}/mountinfo") as fh:
        mounts = [line.split() for line in fh]
    with open(f"{proc}/cgroup") as fh:
        own = {}
        for line in fh:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    v1: dict[str, str] = {}
    for fields in mounts:
        sep = fields.index("-")
        fstype, root, point, superopts = fields[sep + 1], fields[3], fields[4], fields[-1]
        if fstype == "cgroup2" and "" in own:
            path = _under(point, root, own[""])
            try:
                with open(os.path.join(path, "cgroup.controllers")) as fh:
                    offered = fh.read().split()
            except OSError:
                continue
            if all(c in offered for c in V2_CONTROLLERS):
                return {"version": 2, "path": path}
        elif fstype == "cgroup":
            for name in V1_CONTROLLERS:
                if name in superopts.split(",") and name in own and name not in v1:
                    v1[name] = _under(point, root, own[name])
    if all(name in v1 for name in V1_CONTROLLERS):
        return {"version": 1, **v1}
    return None


def _exists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return False
    return True


def _under(mount_point: str, mount_root: str, group: str) -> str:
    """The directory of `group` (a path in the hierarchy) below a mount of `mount_root`."""
    if mount_root != "/" and (group == mount_root or group.startswith(mount_root + "/")):
        group = group[len(mount_root) :]
    elif mount_root != "/":
        return mount_point  # our group is outside this mount's view: its root is ours
    return os.path.join(mount_point, group.lstrip("/")).rstrip("/") or "/"


class RunGroup:
    """One zygote's run group, opened once: `cfg` is the server's `{"version": .., dirs}`."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.version = int(cfg["version"])
        names = ("path",) if self.version == 2 else V1_CONTROLLERS
        self.dirs = {name: os.open(cfg[name], _DIR) for name in names}
        self.main = self.dirs["path" if self.version == 2 else "memory"]
        self.freezer = self.dirs.get("freezer", -1)
        # The child writes "0" (itself) here in every hierarchy: kept open, so joining costs one
        # write each and works after the zygote masked /sys/fs/cgroup.
        self.join_fds = tuple(
            self._open("cgroup.procs", d, os.O_WRONLY) for d in self.dirs.values()
        )
        # Read by name each time: a kept descriptor of a cgroup file answers its first read's
        # content again, even after a seek to 0 (seen on 6.18).
        self.oom_file = "memory.events" if self.version == 2 else "memory.oom_control"
        self.memory = -1
        self.pids = -1
        self.has_memsw = self.version == 1 and _exists("memory.memsw.limit_in_bytes", self.main)
        self.oom_seen = self.oom_kills()
        if self.version == 2:
            self._write("memory.oom.group", b"1", self.main, missing_ok=True)
            self._write("memory.swap.max", b"0", self.main, missing_ok=True)

    # ---- before a run

    def set_limits(self, memory_bytes: int, pids: int | None) -> None:
        """The run's limits (written only when they differ from the last run's)."""
        if memory_bytes != self.memory:
            if self.version == 2:
                self._write("memory.max", b"%d" % memory_bytes, self.main)
            else:
                self._set_v1_memory(memory_bytes)
            self.memory = memory_bytes
        if pids is not None and pids != self.pids:
            self._write(
                "pids.max", b"%d" % pids, self.dirs["path" if self.version == 2 else "pids"]
            )
            self.pids = pids

    def _set_v1_memory(self, limit: int) -> None:
        # With swap accounting, memsw bounds memory + swap and must stay >= the memory limit:
        # raise it first when raising, lower it last when lowering (a new group is unlimited).
        names = ["memory.limit_in_bytes"]
        if self.has_memsw:
            names.append("memory.memsw.limit_in_bytes")
        if 0 <= self.memory < limit:
            names.reverse()
        for name in names:
            try:
                self._write(name, b"%d" % limit, self.main)
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise
                # Usage (page cache left by earlier runs) above the new limit: drop it, retry.
                self._write("memory.force_empty", b"0", self.main, missing_ok=True)
                self._write(name, b"%d" % limit, self.main)

    # ---- after a run

    def occupied(self) -> list[int]:
        """The pids in the group (empty in the common case: one read)."""
        return [int(x) for x in self._read("cgroup.procs", self.main).split()]

    def oom_kills(self) -> int:
        """The group's OOM-kill counter (kernel 4.13 or later; 0 when it has none)."""
        for line in self._read(self.oom_file, self.main).splitlines():
            key, _, value = line.partition(b" ")
            if key == b"oom_kill":
                return int(value)
        return 0

    def new_oom_kills(self) -> int:
        """OOM kills since the last call (so, during the run that just ended)."""
        now = self.oom_kills()
        delta, self.oom_seen = now - self.oom_seen, now
        return delta

    def kill_all(self, reap: Any, wait_s: float = KILL_WAIT_S) -> bool:
        """Kill every process of the group, reaping with `reap()`; False past `wait_s`."""
        deadline = time.monotonic() + wait_s
        if self.version == 2 and self._write("cgroup.kill", b"1", self.main, missing_ok=True):
            return self._wait_empty(reap, deadline)
        # A task busy in reclaim at the memory limit may take a while to freeze: kill anyway
        # after a short wait (a task forked meanwhile is born into the freezing group).
        self._freeze(True, min(deadline, time.monotonic() + _FREEZE_WAIT_S))
        self._kill_listed()
        self._freeze(False, deadline)
        while not self._wait_empty(reap, min(deadline, time.monotonic() + 0.05)):
            if time.monotonic() >= deadline:
                return False
            self._kill_listed()  # not frozen in time: whatever it forked since
        return True

    def _kill_listed(self) -> None:
        for pid in self.occupied():
            try:  # noqa: SIM105
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _freeze(self, on: bool, deadline: float) -> bool:
        if self.version == 2:
            name, value, done = "cgroup.freeze", b"1" if on else b"0", b"frozen 1"
            check = "cgroup.events"
            fd = self.main
        else:
            name, value, done = "freezer.state", b"FROZEN" if on else b"THAWED", b"FROZEN"
            check, fd = "freezer.state", self.freezer
        if not self._write(name, value, fd, missing_ok=True):
            return False
        if not on:
            return True
        while time.monotonic() < deadline:
            if done in self._read(check, fd):
                return True
            time.sleep(0.001)
        return False

    def _wait_empty(self, reap: Any, deadline: float) -> bool:
        while True:
            reap()
            if not self.occupied():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.001)

    # ---- files

    @staticmethod
    def _open(name: str, dir_fd: int, flags: int) -> int:
        return os.open(name, flags | os.O_CLOEXEC, dir_fd=dir_fd)

    def _write(self, name: str, data: bytes, dir_fd: int, missing_ok: bool = False) -> bool:
        try:
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC, dir_fd=dir_fd)
        except FileNotFoundError:
            if missing_ok:
                return False
            raise
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        return True

    @staticmethod
    def _read(name: str, dir_fd: int) -> bytes:
        fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            chunks = []
            while data := os.read(fd, 1 << 16):
                chunks.append(data)
            return b"".join(chunks)
        finally:
            os.close(fd)

    def close(self) -> None:
        for fd in (*self.join_fds, *self.dirs.values()):
            os.close(fd)
