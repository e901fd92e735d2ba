"""The pool's cgroups, from the server's side: created at start, killed and removed at the end.

Layout: below the service's own group (or `AZR_EXECUTOR_CGROUP_ROOT`), one directory per pool
(`azr-executor-<pid>-<random>`) and one per zygote slot (`z<i>`). In process mode a slot is the
zygote's run group: the zygote sets its limits per run, its children join it
(`inside/cgroup.py`). In gVisor mode the whole `runsc` sandbox of a zygote joins its slot, whose
memory limit (`GVISOR_OVERHEAD_MB` above the largest run's) bounds the sandbox and its run
together, since gVisor's own cgroupfs does not enforce memory limits.

On cgroup v2, controllers must be enabled in the parent's `cgroup.subtree_control`, which the
kernel refuses while the parent holds processes: the service then moves the processes of its own
group into a leaf (`service`) first, as container init systems do. Name a delegated directory
in `AZR_EXECUTOR_CGROUP_ROOT` to avoid that.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from azr_executor.inside.cgroup import V1_CONTROLLERS, V2_CONTROLLERS, RunGroup, discover

__all__ = ["GVISOR_OVERHEAD_MB", "PoolGroups"]

logger = logging.getLogger(__name__)

GVISOR_OVERHEAD_MB = 1024  # the sentry, the gofer and the zygote next to the run's own memory


class PoolGroups:
    """One pool's cgroup directories; `create` returns None when cgroups are unavailable."""

    def __init__(self, version: int, pool_dirs: dict[str, Path]) -> None:
        self.version = version
        self.pool_dirs = pool_dirs  # controller (or "path" on v2) -> this pool's directory

    @classmethod
    def create(cls, root: Path | None = None) -> tuple[PoolGroups | None, str]:
        """The pool's groups, or None and the reason they cannot be had."""
        if os.geteuid() != 0:
            return None, "the service is not root"
        try:
            found = discover()
        except OSError as exc:
            return None, f"cannot read the cgroup hierarchy: {exc}"
        if found is None and root is None:
            return None, "no cgroup v2 with memory+pids, nor v1 with memory, pids and freezer"
        if root is not None:
            found = _at_root(root)
        assert found is not None
        tag = f"azr-executor-{os.getpid()}-{secrets.token_hex(3)}"
        version = int(found["version"])
        try:
            if version == 2:
                parent = Path(found["path"])
                _enable_v2_controllers(parent)
                pool = parent / tag
                pool.mkdir()
                (pool / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in V2_CONTROLLERS)
                )
                return cls(2, {"path": pool}), ""
            dirs = {}
            for name in V1_CONTROLLERS:
                dirs[name] = Path(found[name]) / tag
                dirs[name].mkdir()
            return cls(1, dirs), ""
        except OSError as exc:
            return None, f"cannot create the pool's cgroups: {exc}"

    def slot(self, index: int) -> dict[str, Any]:
        """The zygote slot's group (created, emptied): the config `RunGroup` takes."""
        cfg: dict[str, Any] = {"version": self.version}
        for name, pool in self.pool_dirs.items():
            path = pool / f"z{index}"
            path.mkdir(exist_ok=True)
            cfg[name] = str(path)
        self.kill(cfg)
        return cfg

    def limit_memory(self, cfg: dict[str, Any], memory_mb: int) -> None:
        """A fixed memory limit on a slot (gVisor mode: the whole sandbox)."""
        group = RunGroup(cfg)
        try:
            group.set_limits(memory_mb << 20, None)
        finally:
            group.close()

    def join_command(self, cfg: dict[str, Any]) -> list[str]:
        """A command prefix that moves itself into the slot, then runs the rest (gVisor)."""
        files = [str(Path(cfg[name]) / "cgroup.procs") for name in cfg if name != "version"]
        script = "".join(f'echo $$ > "{f}" && ' for f in files) + 'exec "$@"'
        return ["/bin/sh", "-c", script, "azr-join"]

    @staticmethod
    def oom_kills(cfg: dict[str, Any]) -> int:
        group = RunGroup(cfg)
        try:
            return group.oom_kills()
        finally:
            group.close()

    @staticmethod
    def kill(cfg: dict[str, Any]) -> bool:
        """Kill every process in a slot, as root (the server is outside every sandbox uid)."""
        group = RunGroup(cfg)
        try:
            return group.occupied() == [] or group.kill_all(lambda: None)
        finally:
            group.close()

    def remove(self) -> None:
        """Kill what is left in every slot and remove the pool's directories (bounded)."""
        first = next(iter(self.pool_dirs.values()))
        for slot in sorted(first.glob("z*")):
            cfg = {"version": self.version, **{n: str(d / slot.name)
                                               for n, d in self.pool_dirs.items()}}  # fmt: skip
            with contextlib.suppress(OSError):
                self.kill(cfg)
        for pool in self.pool_dirs.values():
            for slot in sorted(pool.glob("z*")):
                _rmdir(slot)
            _rmdir(pool)


def _at_root(root: Path) -> dict[str, Any]:
    if (root / "cgroup.controllers").exists():
        return {"version": 2, "path": str(root)}
    return {"version": 1, **{name: str(root / name) for name in V1_CONTROLLERS}}


def _enable_v2_controllers(parent: Path) -> None:
    control = parent / "cgroup.subtree_control"
    if all(c in control.read_text().split() for c in V2_CONTROLLERS):
        return
    wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS)
    try:
        control.write_text(wanted)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    # "No internal processes": move this group's processes into a leaf, then enable.
    leaf = parent / "service"
    leaf.mkdir(exist_ok=True)
    for pid in (parent / "cgroup.procs").read_text().split():
        with contextlib.suppress(OSError):  # a process that exited meanwhile
            (leaf / "cgroup.procs").write_text(pid)
    logger.warning("cgroup v2: moved the processes of %s into %s to enable %s", parent, leaf,
                   wanted)  # fmt: skip
    control.write_text(wanted)


def _rmdir(path: Path) -> None:
    for _ in range(100):  # a group is removable only once its last task is reaped
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                logger.warning("cannot remove cgroup %s: %s", path, exc)
                return
            time.sleep(0.01)
    logger.warning("cgroup %s still busy; left behind", path)
