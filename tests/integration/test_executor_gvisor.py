"""gVisor mode: the zygotes run inside long-lived `runsc do` sandboxes (installed by the suite)."""

from __future__ import annotations

import pytest
from azr_proto.executor import RunLimits, RunRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus

pytestmark = pytest.mark.gvisor


def test_zygotes_run_inside_gvisor(gvisor_server):
    zyg = gvisor_server.pool._zygotes[0]
    assert zyg is not None and any("runsc" in part for part in zyg.config.command_prefix)
    # gVisor's own kernel answers uname: its release string is not the host's
    r = gvisor_server.run("import platform\nprint(platform.release())", wall_s=10.0, cpu_s=10)
    assert r.status is RunStatus.OK, r
    import platform

    assert r.stdout.strip() != platform.release()


async def test_runs_return_results_over_http(gvisor_server):
    async with ExecutorClient(gvisor_server.url) as client:
        answer = await client.run_batch([RunRequest(code=f"print({i} + 1)") for i in range(5)])
    assert [r.stdout for r in answer.results] == [f"{i + 1}\n" for i in range(5)]


def test_sockets_are_denied_inside_gvisor(gvisor_server):
    r = gvisor_server.run("import socket\nsocket.socket()", wall_s=10.0, cpu_s=10)
    assert r.status is RunStatus.RUNTIME_ERROR
    assert r.exception is not None and r.exception.type == "PermissionError"


async def test_wall_timeout_inside_gvisor(gvisor_server):
    req = RunRequest(code="while True:\n    pass\n", limits=RunLimits(wall_timeout_s=1.0))
    async with ExecutorClient(gvisor_server.url) as client:
        r = await client.run(req)
    assert r.status is RunStatus.TIMEOUT


def test_runs_drop_to_the_sandbox_uid_inside_gvisor(gvisor_server):
    r = gvisor_server.run("import os\nprint(os.getuid())", wall_s=10.0, cpu_s=10)
    assert int(r.stdout) in gvisor_server.pool.sandbox_uids()


def test_daemons_and_files_do_not_survive_inside_gvisor(gvisor_server):
    code = (
        "import os, time\nopen('left', 'w').write('x')\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n    os._exit(0)\n"
        "time.sleep(0.3)\n"
    )
    assert gvisor_server.run(code, wall_s=10.0, cpu_s=10).status is RunStatus.OK
    stats = gvisor_server.call(gvisor_server.pool.zygote_stats())
    assert stats[0]["children"] == 0 and stats[0]["work_root_entries"] == []
    r = gvisor_server.run(
        "import os\nprint(os.listdir('.'), os.path.exists('/tmp/left'))", wall_s=10.0, cpu_s=10
    )
    assert r.stdout == "[] False\n"


def test_disk_and_inode_fills_are_contained_inside_gvisor(gvisor_server):
    # A disk fill stops at the scratch size (the old runsc tmpfs takes `size`)...
    fill = (
        "n = 0\ntry:\n    while True:\n        with open(f'f{n}', 'wb') as fh:\n"
        "            fh.write(b'x' * (8 << 20))\n        n += 1\n"
        "except OSError as exc:\n    print(n, exc.errno)\n"
    )
    r = gvisor_server.run(fill, wall_s=10.0, cpu_s=10)
    files, errno_ = (int(v) for v in r.stdout.split())
    assert r.status is RunStatus.OK and errno_ == 28, r  # ENOSPC
    assert files * 8 <= gvisor_server.settings.scratch_mb  # each file holds 8 MB
    # ...an inode fill (no inode cap there) ends at the wall limit, and nothing is left behind.
    inodes = "n = 0\nwhile True:\n    open(f'i{n}', 'w').close()\n    n += 1\n"
    r = gvisor_server.run(inodes, wall_s=2.0, cpu_s=10)
    assert r.status in (RunStatus.TIMEOUT, RunStatus.RUNTIME_ERROR), r
    stats = gvisor_server.call(gvisor_server.pool.zygote_stats())
    assert stats[0]["children"] == 0 and stats[0]["work_root_entries"] == []
    r = gvisor_server.run("import os\nprint(len(os.listdir('.')))", wall_s=10.0, cpu_s=10)
    assert (r.status, r.stdout) == (RunStatus.OK, "0\n"), r


# What a run leaves for its zygote to clean up (old runsc's tmpfs has no inode cap) must never
# make it a sandbox_error: the zygote's cleanup has a budget, past which it retires instead.
LEFTOVERS = {
    # a chain of directories as deep as 2.5 s allow (tens of thousands of levels)
    "deep_tree": "import os, time\nt = time.time()\nwhile time.time() - t < 2.5:\n"
    "    os.mkdir('d')\n    os.chdir('d')\n",
    # the same, each level closed to its owner (the cleanup must reopen every one)
    "deep_closed_tree": "import os, time\nt = time.time()\nwhile time.time() - t < 2.5:\n"
    "    os.mkdir('d')\n    os.chdir('d')\n    os.chmod('.', 0o300)\n",
    # processes that leave the run's group and hop from parent to child, at the wall limit
    "hoppers": "import os, time\ntime.sleep(2.7)\nfor _ in range(4):\n    if os.fork() == 0:\n"
    "        os.setsid()\n        while True:\n            try:\n                if os.fork():\n"
    "                    os._exit(0)\n            except OSError:\n                pass\n"
    "time.sleep(5)\n",
}


@pytest.mark.parametrize("name", sorted(LEFTOVERS))
def test_what_a_run_leaves_never_makes_it_a_sandbox_error_inside_gvisor(gvisor_server, name):
    r = gvisor_server.run(LEFTOVERS[name], wall_s=3.0, cpu_s=10)
    assert r.status in (RunStatus.OK, RunStatus.TIMEOUT, RunStatus.RUNTIME_ERROR), r
    r = gvisor_server.run("import os\nprint(len(os.listdir('.')))", wall_s=10.0, cpu_s=10)
    assert (r.status, r.stdout) == (RunStatus.OK, "0\n"), r


def test_forged_fault_frames_are_not_statuses_inside_gvisor(gvisor_server):
    code = (
        "import os\nfor fd in range(65):\n    for f in (b'S\\0x', b'\\x02x', b'E\\0MemoryError\\0\\0'):\n"
        "        try:\n            os.write(fd, f)\n        except OSError:\n            pass\nos._exit(70)\n"
    )
    r = gvisor_server.run(code, wall_s=10.0, cpu_s=10)
    assert r.status is RunStatus.RUNTIME_ERROR, r


def test_renice_and_cpu_moves_are_denied_inside_gvisor(gvisor_server):
    code = (
        "import os\nout = []\n"
        "for name, call in [('renice_zygote', lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)),\n"
        "                   ('nice', lambda: os.nice(1)),\n"
        "                   ('affinity', lambda: os.sched_setaffinity(0, {0}))]:\n"
        "    try:\n        call()\n        out.append(name)\n    except OSError:\n        pass\nprint(out)\n"
    )
    r = gvisor_server.run(code, wall_s=10.0, cpu_s=10)
    assert r.stdout == "[]\n", r


def test_each_gvisor_sandbox_is_held_by_a_host_cgroup(gvisor_server):
    from pathlib import Path

    slots = gvisor_server.pool._slots
    assert slots, "no host cgroup for the gVisor sandboxes"
    for index, slot in slots.items():
        zyg = gvisor_server.pool._zygotes[index]
        memory = Path(slot.get("memory") or slot["path"])
        procs = (memory / "cgroup.procs").read_text().split()
        assert str(zyg.proc.pid) in procs  # the runsc process joined before it started
        limit = (memory / "memory.limit_in_bytes").read_text()
        assert int(limit) < 1 << 40


def test_the_judge_holds_inside_gvisor(gvisor_server):
    """The one harness under gVisor: model text is data, abduction answers never share a program
    process, validation's fresh exec per call still rejects order dependence, and a program
    cannot fake a lifted check."""
    import httpx

    url = gvisor_server.url
    counter = "seen = []\ndef f(x):\n    seen.append(x)\n    return len(seen)"
    task = {"task_type": "abduction", "program": counter, "inputs": ["0"], "outputs": ["1"]}
    body = {"items": [{"task": task, "answers": ["1", "2", "3", "lambda: 1"]}]}
    verdicts = httpx.post(url + "/v1/azr/verify", json=body, timeout=300).json()["results"][0]
    assert [v["verdict"] for v in verdicts["verdicts"]] == ["correct"] * 3 + ["invalid"]
    first_wins = (
        "import string\ndef f(x):\n    try:\n        first = string.first\n"
        "    except AttributeError:\n        first = string.first = x\n    return first + x"
    )
    proposals = [{"task_type": "induction", "program": p, "inputs": ["3", "1", "2"], "message": "m"}
                 for p in (first_wins, "def f(x):\n    return x * 2")]  # fmt: skip
    results = httpx.post(url + "/v1/azr/validate", json={"proposals": proposals}, timeout=300)
    bad, good = results.json()["results"]
    assert (bad["status"], bad["reason"]) == ("invalid", "nondeterministic")
    assert good["status"] == "valid" and good["outputs"] == ["6", "2", "4"]
    attack = "import builtins\nbuiltins.repr = lambda v: '9'\ndef f(x):\n    return 0\n"
    cases = [{"kind": "call", "args": "3", "expected": "9"},
             {"kind": "assert", "test": "assert f(3) == 9\n"}]  # fmt: skip
    answer = httpx.post(url + "/v1/tests", json={"code": attack, "cases": cases}, timeout=300)
    assert answer.json()["passed"] == 0


def test_an_answer_cannot_touch_later_answers_inside_gvisor(gvisor_server):
    """Under gVisor the harness cannot be the units' subreaper (orphans go to the zygote, the
    sandbox's init): what a unit left is still killed, and found through /proc, before the
    next unit starts."""
    import httpx

    task = {"task_type": "induction", "program": "def f(x):\n    return x\n",
            "inputs": ["1", "2", "3", "4"], "outputs": ["1", "2", "3", "4"], "message": "m"}  # fmt: skip
    honest = "def f(x):\n    for _ in range(300_000):\n        pass\n    return x\n"
    # an answer that leaves a daemon killing every process forked after it (the next answer's)
    saboteur = (
        "import os, time\nstarted = []\ndef f(x):\n    if started:\n        return x\n"
        "    started.append(1)\n    ready, armed = os.pipe()\n    if os.fork() == 0:\n"
        "        os.setsid()\n        if os.fork() == 0:\n            me = os.getpid()\n"
        "            os.write(armed, b'1')\n            os.closerange(0, 4096)\n"
        "            end = time.time() + 10\n            while time.time() < end:\n"
        "                for pid in range(me + 1, me + 200):\n                    try:\n"
        "                        os.kill(pid, 9)\n                    except OSError:\n"
        "                        pass\n            os._exit(0)\n        os._exit(0)\n"
        "    os.read(ready, 1)\n    return x\n"
    )
    NO_POLICY = {"allowed_modules": ["*"], "forbidden_modules": [], "forbidden_names": [],
                 "forbidden_attributes": []}  # fmt: skip
    # one zygote plus its spare: 2 jobs, each a saboteur and then an honest answer
    items = [{"task": task, "answers": [saboteur]}] * 2 + [{"task": task, "answers": [honest]}] * 2
    body = {"items": items, "options": {"policy": NO_POLICY, "timeout_s": 5}}
    results = httpx.post(gvisor_server.url + "/v1/azr/verify", json=body, timeout=300).json()
    verdicts = [r["verdicts"][0] for r in results["results"][2:]]
    assert [v["verdict"] for v in verdicts] == ["correct"] * 2, verdicts
