"""Runs last in the security suite: nothing survived, nothing leaked, benign runs still work."""

from __future__ import annotations

import os

from azr_executor.sandbox.pool import _UID_SPAN
from azr_proto.statuses import RunStatus
from executor_security_support import sandbox_processes


def test_no_process_of_any_sandbox_uid_survives(ex):
    assert sandbox_processes(ex.pool.sandbox_uids()) == []


def test_no_zombie_is_left_in_the_process_table(ex):
    """No run's process (a sandbox uid) and no runsc helper (`exe`) is left as a zombie of the
    service or of a zygote. Other zombies of this test process are not the executor's: the
    suite's own subprocesses (a browser's crash handler) are orphaned here because the pool made
    the process a subreaper, and their starters wait for them."""
    import subprocess

    out = subprocess.run(
        ["ps", "-eo", "pid=,ppid=,uid=,stat=,comm="], capture_output=True, text=True
    ).stdout
    ours = {z.proc.pid for z in ex.pool._zygotes if z is not None} | {os.getpid()}
    base = ex.settings.sandbox_uid_base
    zombies = []
    for line in out.splitlines():
        _, ppid, uid, stat, comm = line.split(None, 4)
        sandboxed = base <= int(uid) < base + _UID_SPAN or comm == "exe"
        if stat.startswith("Z") and int(ppid) in ours and sandboxed:
            zombies.append(line)
    assert zombies == []


def test_zygotes_have_no_children_and_empty_scratch(ex):
    stats = ex.call(ex.pool.zygote_stats())
    assert len(stats) >= 2
    for s in stats:
        assert s["children"] == 0, s
        assert s["work_root_entries"] == [], s


def test_host_scratch_root_and_tmp_hold_no_leftovers(ex):
    root = ex.settings.resolved_work_root()
    for z in root.iterdir():
        if z.name.startswith("z"):
            assert list(z.iterdir()) == [], z  # the tmpfs lives in the zygote's namespace only
    assert not any(p.startswith("azr-escape") for p in os.listdir("/tmp"))


def test_benign_runs_still_return_correct_results(ex):
    for i in range(20):
        r = ex.run(f"print(sum(range({i})))")
        assert r.status is RunStatus.OK
        assert r.stdout == f"{sum(range(i))}\n"
