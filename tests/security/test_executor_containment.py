"""Classes 4 and 5: a run cannot outlive its limits, and its memory and processes are held
together by its cgroup (shmem, memfd and tmpfs pages included), from outside its uid."""

from __future__ import annotations

import re
import time
from pathlib import Path

from azr_proto.statuses import RunStatus
from executor_security_support import sandbox_processes

# A daemon (its own session, twice forked) that SIGSTOPs every other process of its uid as fast
# as it can: what a killer running as the sandbox uid would be.
STOPPER = """
import os, signal, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(3):
            if os.fork() == 0:
                break
        me = os.getpid()
        end = time.monotonic() + 20
        while time.monotonic() < end:
            # The killer is forked right after the run: its pid is one of the next few.
            for pid in range(me + 1, me + 400):
                try:
                    os.kill(pid, signal.SIGSTOP)
                except OSError:
                    pass
            for name in os.listdir('/proc'):
                if name.isdigit() and int(name) != me:
                    try:
                        os.kill(int(name), signal.SIGSTOP)
                    except OSError:
                        pass
    os._exit(0)
time.sleep(0.3)
print('parent done')
"""

FORKER = """
import os, time
if os.fork() == 0:
    os.setsid()
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            if os.fork() == 0:
                time.sleep(0.05)
                os._exit(0)
        except OSError:
            pass
        try:
            os.waitpid(-1, os.WNOHANG)
        except OSError:
            pass
    os._exit(0)
time.sleep(0.3)
print('parent done')
"""


def _held_mb(stdout: str) -> int:
    numbers = [int(n) for n in re.findall(r"held (\d+)", stdout)]
    return max(numbers, default=0)


def test_daemons_do_not_survive_their_run(ex):
    # The daemon that stops its killers won about half the time against a killer running as
    # the sandbox uid; each variant runs a few times.
    for code in [STOPPER] * 6 + [FORKER] * 3:
        t0 = time.monotonic()
        r = ex.run(code, wall_s=3.0)
        assert r.status is RunStatus.OK, r
        assert time.monotonic() - t0 < 4.0
        assert sandbox_processes(ex.pool.sandbox_uids(), settle_s=0.5) == []
    stats = ex.call(ex.pool.zygote_stats())
    assert all(s["children"] == 0 for s in stats), stats
    if ex.pool._groups is not None:  # and nothing is left in the runs' cgroups
        assert all(s["group_procs"] == 0 for s in stats), stats


MEMFD = """
import os
fds = []
for i in range(60):
    fd = os.memfd_create('fill')
    for _ in range(15):
        os.write(fd, b'x' * (1 << 20))
    fds.append(fd)
    print('held', 15 * len(fds), flush=True)
"""

TMPFS = """
import os
for i in range(60):
    with open(f'f{i}', 'wb') as fh:
        fh.write(b'x' * (1 << 20))
    print('held', i + 1, flush=True)
"""

CHILDREN = """
import os, time
for _ in range(4):
    if os.fork() == 0:
        b = bytearray(60 << 20)
        for i in range(0, len(b), 4096):
            b[i] = 1
        time.sleep(3)
        os._exit(0)
time.sleep(2)
print('held', 240, flush=True)
"""


def test_memfd_fill_is_held_to_the_memory_limit(ex, needs_cgroups):
    # RLIMIT_AS does not count memfd pages, and RLIMIT_FSIZE caps each memfd, not their sum.
    r = ex.run(MEMFD, memory_mb=96, wall_s=5.0)
    assert r.status is RunStatus.MEMORY_LIMIT, r
    assert r.kill_reason == "memory" and r.exception is None  # the kernel's OOM kill, not Python
    assert _held_mb(r.stdout) <= 96, r.stdout[-200:]


def test_tmpfs_fill_of_the_working_directory_is_held_to_the_memory_limit(ex, needs_cgroups):
    r = ex.run(TMPFS, memory_mb=40, wall_s=5.0)
    assert r.status in (RunStatus.MEMORY_LIMIT, RunStatus.RUNTIME_ERROR), r
    assert _held_mb(r.stdout) <= 40, r.stdout[-200:]


def test_several_children_are_held_to_one_memory_limit(ex, needs_cgroups):
    r = ex.run(CHILDREN, memory_mb=128, wall_s=6.0, cpu_s=6)
    assert r.status is RunStatus.MEMORY_LIMIT, r
    assert "held 240" not in r.stdout or r.status is RunStatus.MEMORY_LIMIT


def test_memory_limit_comes_from_oom_events_even_when_the_program_hides_it(ex, needs_cgroups):
    # Every error swallowed, the run's own process never reports a MemoryError: the status
    # comes from the cgroup's oom_kill counter.
    code = "import os\ntry:\n" + "".join(
        "    " + line + "\n" for line in MEMFD.strip().splitlines()
    )
    code += "except BaseException:\n    os._exit(0)\n"
    r = ex.run(code, memory_mb=64, wall_s=5.0)
    assert r.status is RunStatus.MEMORY_LIMIT, r


def _pids_events(ex) -> int:
    total = 0
    for slot in ex.pool._slots.values():
        if "pids" in slot:
            events = Path(slot["pids"], "pids.events").read_text()
        else:
            events = Path(slot["path"], "pids.events").read_text()
        total += int(re.search(r"max (\d+)", events).group(1))
    return total


def test_fork_bomb_is_held_by_the_pids_cgroup(ex, needs_cgroups):
    before = _pids_events(ex)
    code = (
        "import os, time\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n"
        "            time.sleep(30)\n        n += 1\nexcept OSError as e:\n    print('stopped', n, e.errno)\n"
    )
    r = ex.run(code, wall_s=3.0, processes=12)
    assert r.status is RunStatus.OK, r
    assert r.stdout.startswith("stopped 11 11"), r.stdout  # the run itself is the 12th task
    assert _pids_events(ex) > before  # refused by the kernel's pids controller
    assert sandbox_processes(ex.pool.sandbox_uids(), settle_s=0.5) == []
