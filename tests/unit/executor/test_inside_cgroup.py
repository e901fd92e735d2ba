"""The run cgroup against fake cgroupfs trees: v2 (written from the kernel's cgroup-v2.rst,
not mounted with controllers on these machines) and v1, and discovery from /proc files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from azr_executor.inside import cgroup
from azr_executor.inside.cgroup import RunGroup, discover
from azr_executor.sandbox.cgroups import PoolGroups

V2_FILES = {
    "cgroup.procs": "", "cgroup.kill": "", "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.freeze": "0", "memory.max": "max", "memory.swap.max": "max",
    "memory.oom.group": "0", "memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n",
    "pids.max": "max",
}  # fmt: skip
V1_FILES = {
    "memory": {"cgroup.procs": "", "memory.limit_in_bytes": "9223372036854771712",
               "memory.memsw.limit_in_bytes": "9223372036854771712", "memory.force_empty": "",
               "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 5\n"},
    "pids": {"cgroup.procs": "", "pids.max": "max"},
    "freezer": {"cgroup.procs": "", "freezer.state": "THAWED"},
}  # fmt: skip


def _tree(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text)
    return root


def test_v2_limits_oom_counter_and_kill(tmp_path):
    d = _tree(tmp_path / "z0", V2_FILES)
    group = RunGroup({"version": 2, "path": str(d)})
    assert (d / "memory.oom.group").read_text() == "1"  # an OOM kills the whole run
    assert (d / "memory.swap.max").read_text() == "0"
    group.set_limits(64 << 20, 16)
    assert (d / "memory.max").read_text() == str(64 << 20)
    assert (d / "pids.max").read_text() == "16"
    (d / "memory.max").write_text("untouched")
    group.set_limits(64 << 20, 16)  # unchanged limits: nothing written
    assert (d / "memory.max").read_text() == "untouched"
    assert group.new_oom_kills() == 0
    (d / "memory.events").write_text("oom 2\noom_kill 4\n")
    assert group.new_oom_kills() == 2
    (d / "cgroup.procs").write_text("123\n")
    assert group.occupied() == [123]

    def reap():
        if (d / "cgroup.kill").read_text() == "1":  # the kernel empties the group
            (d / "cgroup.procs").write_text("")

    assert group.kill_all(reap, wait_s=1.0)
    assert (d / "cgroup.kill").read_text() == "1"
    group.close()


def test_v2_kill_is_bounded_when_the_group_never_empties(tmp_path):
    d = _tree(tmp_path / "z0", V2_FILES)
    (d / "cgroup.procs").write_text("123\n")
    group = RunGroup({"version": 2, "path": str(d)})
    assert group.kill_all(lambda: None, wait_s=0.1) is False
    group.close()


def test_v1_memsw_order_freezer_and_oom_counter(tmp_path):
    cfg = {"version": 1}
    for name, files in V1_FILES.items():
        cfg[name] = str(_tree(tmp_path / name / "z0", files))
    group = RunGroup(cfg)
    mem = Path(cfg["memory"])
    group.set_limits(64 << 20, 8)  # from unlimited: memory first, then memsw
    assert (mem / "memory.limit_in_bytes").read_text() == str(64 << 20)
    assert (mem / "memory.memsw.limit_in_bytes").read_text() == str(64 << 20)
    assert Path(cfg["pids"], "pids.max").read_text() == "8"
    assert group.new_oom_kills() == 0
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 6\n")
    assert group.new_oom_kills() == 1
    # A real process listed in the fake group: frozen, killed, thawed, reaped.
    proc = subprocess.Popen(["sleep", "30"])
    (mem / "cgroup.procs").write_text(f"{proc.pid}\n")

    def reap():
        if proc.poll() is not None:
            (mem / "cgroup.procs").write_text("")

    assert group.kill_all(reap, wait_s=2.0)
    assert proc.wait(2) == -9
    assert Path(cfg["freezer"], "freezer.state").read_text() == "THAWED"
    group.close()


def _proc_dir(tmp_path: Path, mountinfo: str, cgroups: str) -> str:
    d = tmp_path / "proc_self"
    d.mkdir()
    (d / "mountinfo").write_text(mountinfo)
    (d / "cgroup").write_text(cgroups)
    return str(d)


def test_discover_prefers_v2_with_controllers(tmp_path):
    mount = _tree(tmp_path / "unified", {"cgroup.controllers": "cpu memory pids"})
    _tree(mount / "system.slice" / "azr.service", {"cgroup.controllers": "memory pids"})
    proc = _proc_dir(
        tmp_path,
        f"30 25 0:26 / {mount} rw,nosuid - cgroup2 cgroup2 rw\n",
        "0::/system.slice/azr.service\n",
    )
    assert discover(proc) == {"version": 2, "path": str(mount / "system.slice" / "azr.service")}


def test_discover_falls_back_to_v1_and_maps_a_namespaced_root(tmp_path):
    unified = _tree(tmp_path / "unified", {"cgroup.controllers": ""})
    lines = [f"30 25 0:26 / {unified} rw - cgroup2 cgroup2 rw"]
    for i, name in enumerate(("memory", "pids", "freezer")):
        (tmp_path / name).mkdir()
        root = "/docker/abc" if name == "memory" else "/"
        lines.append(f"3{i + 1} 25 0:2{i} {root} {tmp_path / name} rw - cgroup cgroup rw,{name}")
    proc = _proc_dir(
        tmp_path, "\n".join(lines) + "\n", "4:memory:/docker/abc\n8:pids:/\n6:freezer:/x\n0::/\n"
    )
    found = discover(proc)
    assert found == {"version": 1, "memory": str(tmp_path / "memory"),
                     "pids": str(tmp_path / "pids"), "freezer": str(tmp_path / "freezer" / "x")}  # fmt: skip


def test_discover_without_controllers_is_none(tmp_path):
    unified = _tree(tmp_path / "unified", {"cgroup.controllers": ""})
    proc = _proc_dir(tmp_path, f"30 25 0:26 / {unified} rw - cgroup2 cgroup2 rw\n", "0::/\n")
    assert discover(proc) is None


@pytest.mark.skipif(os.geteuid() != 0, reason="creating pool groups needs root")
def test_pool_groups_at_a_v2_root(tmp_path, monkeypatch):
    root = _tree(tmp_path / "delegated", {"cgroup.controllers": "memory pids",
                                          "cgroup.subtree_control": "memory pids"})  # fmt: skip

    def fake_mkdir(self, *args, exist_ok=False, **kwargs):  # the kernel fills a new group
        os.makedirs(self, exist_ok=exist_ok)
        for name, text in {**V2_FILES, "cgroup.subtree_control": ""}.items():
            with open(self / name, "w") as fh:
                fh.write(text)

    monkeypatch.setattr(Path, "mkdir", fake_mkdir)
    groups, why = PoolGroups.create(root)
    assert groups is not None, why
    pool = groups.pool_dirs["path"]
    assert (pool / "cgroup.subtree_control").read_text() == "+memory +pids"
    slot = groups.slot(0)
    assert slot == {"version": 2, "path": str(pool / "z0")}
    script = groups.join_command(slot)
    assert script[:2] == ["/bin/sh", "-c"] and f"{pool}/z0/cgroup.procs" in script[2]
    assert cgroup.V2_CONTROLLERS == ("memory", "pids")
