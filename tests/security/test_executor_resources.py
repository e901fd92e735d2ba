"""Resource abuse: each hostile program is contained with the right status."""

from __future__ import annotations

from azr_proto.statuses import RunStatus


def test_fork_bomb_is_contained(ex):
    code = (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"
    )
    r = ex.run(code, wall_s=1.0)
    assert r.status is RunStatus.TIMEOUT
    assert r.wall_ms < 3000


def test_fork_bomb_hits_the_process_limit(ex):
    code = (
        "import os\nn = 0\n"
        "try:\n    while True:\n        if os.fork() == 0:\n            import time; time.sleep(30)\n        n += 1\n"
        "except OSError as e:\n    print('limit', n < 64, e.errno)\n"
    )
    r = ex.run(code, wall_s=2.0, processes=16)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "limit True 11\n"  # EAGAIN from RLIMIT_NPROC


def test_memory_bomb_ends_in_memory_limit(ex):
    r = ex.run("chunks = []\nwhile True:\n    chunks.append(bytearray(10 ** 7))\n", memory_mb=128)
    assert r.status is RunStatus.MEMORY_LIMIT
    assert r.exception is not None and r.exception.type == "MemoryError"


def test_single_huge_allocation_ends_in_memory_limit(ex):
    r = ex.run("x = bytearray(2 ** 36)", memory_mb=128)
    assert r.status is RunStatus.MEMORY_LIMIT


def test_cpu_spin_ends_in_wall_timeout(ex):
    r = ex.run("while True:\n    pass\n", wall_s=0.7)
    assert r.status is RunStatus.TIMEOUT
    assert r.kill_reason == "wall"


def test_program_that_closes_its_pipes_and_sleeps_still_times_out(ex):
    # The wall limit holds even when nothing is left to read from the child: the zygote used
    # to block in wait4 here, until the pool killed it as stuck (a sandbox_error, retried).
    code = "import os, time\nos.close(1)\nos.close(2)\nos.close(3)\ntime.sleep(30)\n"
    r = ex.run(code, wall_s=0.7)
    assert r.status is RunStatus.TIMEOUT, r
    assert r.kill_reason == "wall"
    assert r.wall_ms < 3000


def test_cpu_limit_ends_in_cpu_timeout(ex):
    r = ex.run("while True:\n    pass\n", wall_s=10.0, cpu_s=1)
    assert r.status is RunStatus.TIMEOUT
    assert r.kill_reason == "cpu"
    assert r.cpu_ms >= 500  # rusage and the kernel's RLIMIT_CPU accounting differ under load


def test_huge_power_is_stopped(ex):
    r = ex.run("x = 10 ** 10 ** 8\nprint(len(str(x)))", wall_s=1.5, memory_mb=256)
    assert r.status in (RunStatus.TIMEOUT, RunStatus.MEMORY_LIMIT, RunStatus.RUNTIME_ERROR)
    assert r.status is not RunStatus.OK


def test_deep_recursion_is_a_runtime_error(ex):
    r = ex.run("def f(n):\n    return f(n + 1)\nf(0)\n")
    assert r.status is RunStatus.RUNTIME_ERROR
    assert r.exception is not None and r.exception.type == "RecursionError"


def test_unbounded_c_recursion_is_killed_not_escaped(ex):
    code = "import sys\nsys.setrecursionlimit(10 ** 8)\ndef f(n):\n    return f(n + 1)\nf(0)\n"
    r = ex.run(code, memory_mb=256)
    assert r.status in (RunStatus.KILLED, RunStatus.MEMORY_LIMIT, RunStatus.TIMEOUT)
    if r.status is RunStatus.KILLED:
        assert r.signal == 11


def test_runaway_stdout_is_truncated_with_output_limit(ex):
    r = ex.run("print('start')\nwhile True:\n    print('x' * 1000)\n", output_bytes=4096)
    assert r.status is RunStatus.OUTPUT_LIMIT
    assert r.truncated
    assert r.stdout.startswith("start\nxxx")
    assert "bytes truncated" in r.stdout
    assert len(r.stdout) < 4096 + 200


def test_runaway_stderr_is_truncated_with_output_limit(ex):
    r = ex.run(
        "import sys\nwhile True:\n    sys.stderr.write('e' * 999 + '\\n')\n", output_bytes=2048
    )
    assert r.status is RunStatus.OUTPUT_LIMIT
    assert r.truncated and "bytes truncated" in r.stderr


def test_output_slightly_over_the_cap_keeps_head_and_tail(ex):
    r = ex.run("print('HEAD' + 'm' * 3000 + 'TAIL')", output_bytes=1024)
    assert r.status is RunStatus.OUTPUT_LIMIT
    assert r.stdout.startswith("HEAD") and r.stdout.rstrip().endswith("TAIL")


def test_disk_fill_stops_at_the_scratch_bound(ex):
    code = (
        "import errno\ni = 0\n"
        "try:\n    while True:\n        with open(f'f{i}', 'wb') as fh:\n            fh.write(b'0' * (8 << 20))\n        i += 1\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno], i < 16)\n"
    )
    r = ex.run(code, wall_s=5.0, cpu_s=5)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "ENOSPC True\n"


def test_one_file_cannot_outgrow_the_file_size_limit(ex):
    code = "import errno\ntry:\n    open('big', 'wb').write(b'0' * (3 << 20))\nexcept OSError as e:\n    print(errno.errorcode[e.errno])\n"
    r = ex.run(code, file_size_mb=2)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "EFBIG\n"


def test_inode_fill_stops_at_the_scratch_bound(ex):
    code = (
        "import errno, os\ni = 0\n"
        "try:\n    while True:\n        os.mkdir(f'd{i}')\n        i += 1\n"
        "except OSError as e:\n    print(errno.errorcode[e.errno], i < 5000)\n"
    )
    r = ex.run(code, wall_s=5.0, cpu_s=5)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "ENOSPC True\n"


def test_threads_run_and_are_bounded(ex):
    code = (
        "import threading\nres = []\n"
        "ts = [threading.Thread(target=lambda i=i: res.append(i * i)) for i in range(8)]\n"
        "[t.start() for t in ts]\n[t.join() for t in ts]\nprint(sorted(res))\n"
        "n = 0\ntry:\n    while True:\n        threading.Thread(target=__import__('time').sleep, args=(5,), daemon=True).start()\n        n += 1\n"
        "except RuntimeError:\n    print('thread limit', n < 64)\n"
    )
    r = ex.run(code, wall_s=3.0, processes=32)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "[0, 1, 4, 9, 16, 25, 36, 49]\nthread limit True\n"


def test_sigterm_ignoring_program_is_killed_at_the_wall_limit(ex):
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    r = ex.run(code, wall_s=0.6)
    assert r.status is RunStatus.TIMEOUT


def test_a_program_that_kills_itself_is_reported_killed(ex):
    r = ex.run("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert r.status is RunStatus.KILLED
    assert r.signal == 9


def test_core_dumps_are_disabled(ex):
    r = ex.run("import resource\nprint(resource.getrlimit(resource.RLIMIT_CORE))")
    assert r.stdout == "(0, 0)\n"
