"""Escapes and snooping: files, environment, /proc, signals, ptrace, privileges."""

from __future__ import annotations

import asyncio
import os
import threading

from azr_executor.sandbox import Job, JobResult, Limits
from azr_proto.statuses import RunStatus

# Every path a run might try to write outside its working directory.
OUTSIDE = ["/tmp/azr-escape", "/var/tmp/azr-escape", "/dev/shm/azr-escape", "/etc/azr-escape",
           "/root/azr-escape", "../azr-escape", "/run/azr-escape", "/azr-escape"]  # fmt: skip


def test_writes_outside_the_working_directory_fail(ex, isolated):
    code = (
        f"paths = {OUTSIDE!r}\nok = []\n"
        "for p in paths:\n    try:\n        open(p, 'w').write('x')\n        ok.append(p)\n    except OSError:\n        pass\n"
        "print(ok)\n"
    )
    r = ex.run(code)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "[]\n"
    for path in OUTSIDE[:5]:
        assert not os.path.exists(path)


def test_working_directory_starts_empty_and_private(ex):
    r = ex.run(
        "import os, stat\nst = os.stat('.')\nprint(os.listdir('.'), oct(st.st_mode & 0o777), st.st_uid == os.getuid())"
    )
    assert r.stdout == "[] 0o700 True\n"


def test_files_are_not_left_for_the_next_run(ex):
    for _ in range(4):  # both zygotes, twice each
        r = ex.run(
            "import os\nprint(os.listdir('.'))\nopen('leftover', 'w').write('secret')\nos.mkdir('dir')\n"
        )
        assert r.stdout == "[]\n", r


def test_another_runs_files_are_unreachable(ex, isolated):
    writer = (
        "import os, time\nopen('secret.txt', 'w').write('s3cr3t')\n"
        "print(os.path.abspath('secret.txt'), flush=True)\ntime.sleep(1.5)\n"
    )
    results = {}

    def run_writer():
        results["w"] = ex.run(writer, wall_s=3.0)

    t = threading.Thread(target=run_writer)
    t.start()
    import time

    time.sleep(0.4)
    # Every zygote's scratch directory, as paths: the reader runs on some other zygote.
    paths = [f"{ex.pool._root}/z{i}/run/secret.txt" for i in range(3)]
    reader = f"out = []\nfor p in {paths!r}:\n    try:\n        out.append(open(p).read())\n    except OSError as e:\n        out.append(type(e).__name__)\nprint(out)\n"
    seen = [ex.run(reader) for _ in range(3)]
    t.join()
    assert results["w"].status is RunStatus.OK
    for r in seen:
        assert "s3cr3t" not in r.stdout, r.stdout


def test_service_environment_is_invisible(ex):
    os.environ["AZR_EXECUTOR_TEST_SECRET"] = "do-not-leak"
    try:
        r = ex.run("import os\nprint(sorted(os.environ))")
    finally:
        del os.environ["AZR_EXECUTOR_TEST_SECRET"]
    assert r.stdout == "['HOME', 'LANG', 'PATH', 'TMPDIR']\n"


def test_server_environ_and_memory_are_unreadable(ex):
    pid = os.getpid()
    code = (
        "out = []\n"
        f"for p in ['/proc/{pid}/environ', '/proc/{pid}/maps', '/proc/{pid}/mem', '/proc/1/environ']:\n"
        "    try:\n        open(p, 'rb').read(10)\n        out.append('read')\n"
        "    except OSError as e:\n        out.append(type(e).__name__)\nprint(out)\n"
    )
    r = ex.run(code)
    assert "read" not in r.stdout, r.stdout


def test_token_file_is_unreadable(ex, tmp_path, isolated):
    secret = tmp_path / "tokens"
    secret.write_text("super-secret-token\n")
    secret.chmod(0o600)
    home_copy = os.path.expanduser("~/.azr-executor-test-token")
    with open(home_copy, "w") as fh:
        fh.write("super-secret-token\n")
    try:
        code = f"for p in [{str(secret)!r}, {home_copy!r}]:\n    try:\n        print(open(p).read())\n    except OSError as e:\n        print(type(e).__name__)\n"
        r = ex.run(code)
    finally:
        os.unlink(home_copy)
    assert "super-secret-token" not in r.stdout
    assert r.stdout.count("Error") == 2


def test_proc_shows_only_the_runs_own_processes(ex, isolated):
    r = ex.run(
        "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nprint(pids == [str(os.getpid())])"
    )
    assert r.stdout == "True\n", r


def test_cannot_signal_the_zygote(ex):
    zygote_pids = [z.proc.pid for z in ex.pool._zygotes if z is not None]
    code = f"import os\nfor pid in {zygote_pids!r}:\n    try:\n        os.kill(pid, 9)\n        print('sent')\n    except OSError as e:\n        print(type(e).__name__)\n"
    r = ex.run(code)
    assert "sent" not in r.stdout
    assert all(z.alive for z in ex.pool._zygotes if z is not None)


def test_cannot_signal_the_server(ex):
    r = ex.run(
        f"import os\ntry:\n    os.kill({os.getpid()}, 9)\nexcept OSError as e:\n    print(type(e).__name__)\n"
    )
    # Denied (root: another uid; no PID namespace: seccomp), or absent (its own PID namespace).
    assert r.stdout in ("PermissionError\n", "ProcessLookupError\n")


def test_broadcast_kill_reaches_only_the_runs_own_processes(ex):
    # kill(-1) passes the filter where the kernel confines it to the run (a sandbox uid, or the
    # zygote's PID namespace): the harness kills what a unit left with it. It must reach the
    # caller's own children, and nothing of the zygotes, the server or a concurrent run.
    limits = Limits(wall_s=10, cpu_s=10, memory_mb=256)
    sleeper = Job(code="import time\ntime.sleep(1.5)\nprint('slept')", limits=limits)
    broadcast = Job(
        code="import os, time\nchild = os.fork()\nif child == 0:\n    time.sleep(30)\n"
        "    os._exit(0)\ntime.sleep(0.3)\ntry:\n    os.kill(-1, 9)\nexcept OSError as e:\n"
        "    print(type(e).__name__)\nprint(os.waitpid(child, 0)[1] & 0x7F, 'alive')\n",
        limits=limits,
    )

    async def both() -> list[JobResult]:
        return list(await asyncio.gather(ex.pool.run(sleeper), ex.pool.run(broadcast)))

    slept, r = ex.call(both())
    if ex.pool.sweeps_units:
        assert r.stdout == "9 alive\n", r
    else:  # the weak mode: denied
        assert r.stdout.startswith("PermissionError"), r
    assert (slept.status, slept.stdout) == (RunStatus.OK, "slept\n"), slept
    assert all(z.alive for z in ex.pool._zygotes if z is not None)


def test_signalling_another_process_group_is_denied(ex):
    r = ex.run(
        f"import os\ntry:\n    os.killpg({os.getpgid(0)}, 9)\nexcept OSError as e:\n    print(type(e).__name__)\n"
    )
    assert r.stdout == "PermissionError\n"


def test_signalling_its_own_group_is_allowed(ex):
    r = ex.run("import os, signal\nos.killpg(0, signal.SIGKILL)\n")
    assert r.status is RunStatus.KILLED and r.signal == 9


def test_ptrace_is_denied(ex):
    code = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.ptrace(16, os.getppid(), 0, 0), ctypes.get_errno())\n"
    r = ex.run(code)
    assert r.stdout == "-1 1\n"  # EPERM


def test_process_vm_readv_is_denied(ex):
    code = "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(310, os.getppid(), 0, 0, 0, 0, 0), ctypes.get_errno())\n"
    assert ex.run(code).stdout == "-1 1\n"


def test_mount_and_namespaces_are_denied(ex):
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "print(libc.mount(b'none', b'.', b'tmpfs', 0, None), ctypes.get_errno())\n"
        "print(libc.unshare(0x10000000), ctypes.get_errno())\n"  # CLONE_NEWUSER
        "print(libc.syscall(56, 0x40000000 | 17, 0, 0, 0, 0), ctypes.get_errno())\n"  # clone(NEWNET)
    )
    assert ex.run(code).stdout == "-1 1\n-1 1\n-1 1\n"


def test_bpf_io_uring_and_keyrings_are_denied(ex):
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "for nr in (321, 425, 250, 298, 323):\n    print(libc.syscall(nr, 0, 0, 0, 0, 0), ctypes.get_errno())\n"
    )
    assert ex.run(code).stdout == "-1 1\n" * 5


def test_x32_syscalls_kill_the_process(ex):
    code = "import ctypes\nctypes.CDLL(None).syscall(0x40000000 | 39)\nprint('survived')\n"
    r = ex.run(code)
    assert r.status is RunStatus.KILLED
    assert r.signal == 31  # SIGSYS


def test_runs_as_an_unprivileged_uid_that_is_not_the_services(ex, root_only):
    r = ex.run("import os\nprint(os.getuid(), os.geteuid(), os.getgid(), os.getgroups())")
    uid, euid, gid, groups = r.stdout.split(maxsplit=3)
    assert int(uid) == int(euid) == int(gid)
    assert int(uid) in ex.pool.sandbox_uids()
    assert int(uid) != os.getuid()
    assert groups.strip() == "[]"


def test_privileges_cannot_be_regained(ex, root_only):
    code = "import os\nfor f in (lambda: os.setuid(0), lambda: os.setgid(0), lambda: os.seteuid(0)):\n    try:\n        f()\n        print('root')\n    except PermissionError:\n        print('no')\n"
    assert ex.run(code).stdout == "no\nno\nno\n"


def test_capabilities_are_gone(ex, isolated):
    r = ex.run(
        "s = open('/proc/self/status').read()\n"
        "print({l.split()[0]: l.split()[1] for l in s.splitlines() if l.startswith('Cap')})"
    )
    caps = eval(r.stdout)
    assert caps["CapEff:"] == caps["CapPrm:"] == caps["CapInh:"] == "0000000000000000", caps
    if ex.pool.mode == "userns":  # uid 0 of its namespace: nothing left to regain, even by exec
        assert caps["CapBnd:"] == "0000000000000000", caps


def test_no_new_privs_and_seccomp_are_on(ex):
    r = ex.run(
        "s = open('/proc/self/status').read()\nprint([l.split()[1] for l in s.splitlines() if l.startswith(('NoNewPrivs', 'Seccomp:'))])"
    )
    assert r.stdout == "['1', '2']\n"


def test_inherited_descriptors_are_closed(ex):
    r = ex.run("import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))")
    fds = eval(r.stdout)
    assert [f for f in fds if f <= 3] == [0, 1, 2, 3]
    assert len(fds) <= 5  # 0-3 plus the descriptor listdir itself opened


def test_state_does_not_leak_between_runs(ex):
    ex.run(
        "import builtins, sys, json\nbuiltins.print = None\nsys.modules['json'] = None\njson.dumps = None\n"
    )
    for _ in range(3):
        r = ex.run("import json\nprint(json.dumps([1]))")
        assert r.stdout == "[1]\n", r


def test_a_stuck_zygote_is_replaced_and_the_run_is_a_sandbox_error(ex):
    zyg = next(z for z in ex.pool._zygotes if z is not None and not z.config.spare)
    fut = ex.call(_run_on(ex, zyg))
    assert fut.status is RunStatus.SANDBOX_ERROR
    r = ex.run("print('still serving')")
    assert r.stdout == "still serving\n"


async def _run_on(ex, zyg):
    """Kill one zygote while it serves a run: the run becomes sandbox_error, the pool recovers."""
    import asyncio

    task = asyncio.ensure_future(
        ex.pool.run(Job(code="import time; time.sleep(5)", limits=Limits(wall_s=6)))
    )
    await asyncio.sleep(0.3)
    for z in ex.pool._zygotes:
        if z is not None and z.inflight:
            z.proc.kill()
    result = await task
    for _ in range(100):
        if ex.pool.ready and all(z is not None for z in ex.pool._zygotes):
            break
        await asyncio.sleep(0.05)
    return result
