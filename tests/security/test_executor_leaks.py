"""Class 9: smaller leaks. SysV IPC of the host, CPU placement and priorities, slow HTTP
clients, and a CPU the seccomp filter does not know."""

from __future__ import annotations

import ctypes
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from azr_executor.settings import ExecutorSettings
from azr_proto.statuses import RunStatus

_libc = ctypes.CDLL(None, use_errno=True)
_IPC_CREAT, _IPC_RMID, _IPC_PRIVATE = 0o1000, 0, 0


def test_host_sysv_shared_memory_is_out_of_reach(ex):
    shmid = _libc.shmget(_IPC_PRIVATE, 4096, _IPC_CREAT | 0o666)
    assert shmid >= 0
    _libc.shmat.restype = ctypes.c_void_p
    addr = _libc.shmat(shmid, None, 0)
    ctypes.memmove(addr, b"host-ipc-secret", 15)
    code = (
        "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
        f"a = libc.shmat({shmid}, None, 0)\n"
        "print('attached' if a not in (None, 2**64 - 1) else 'denied', ctypes.get_errno())\n"
        "if a not in (None, 2**64 - 1):\n    print(ctypes.string_at(a, 15))\n"
        "print(open('/proc/sysvipc/shm').read().count('\\n'))\n"
    )
    try:
        r = ex.run(code)
    finally:
        _libc.shmdt(ctypes.c_void_p(addr))
        _libc.shmctl(shmid, _IPC_RMID, None)
    assert r.status is RunStatus.OK, r
    assert "host-ipc-secret" not in r.stdout
    assert r.stdout.splitlines()[0].startswith("denied"), r.stdout
    assert r.stdout.splitlines()[-1] == "1", r.stdout  # only the header: a namespace of its own


def test_a_run_cannot_take_the_hosts_pseudo_terminals(ex, isolated):
    # kernel.pty.max is one pool for the whole machine: 32 processes x 60 descriptors held
    # most of it for a run's wall time. A run gets no pseudo-terminal at all.
    code = (
        "import os, pty\ntry:\n    fd = os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY)\n"
        "    print(os.isatty(fd))\nexcept OSError as e:\n    print(type(e).__name__)\n"
        "try:\n    pty.openpty()\n    print('pty')\nexcept OSError as e:\n"
        "    print(type(e).__name__)\nprint(os.path.exists('/dev/pts/ptmx'))\n"
    )
    r = ex.run(code)
    assert r.status is RunStatus.OK, r
    first, second, third = r.stdout.split()
    assert first in ("False", "PermissionError", "FileNotFoundError", "OSError"), r.stdout
    assert second != "pty" and third == "False", r.stdout


def test_a_run_cannot_leave_its_cpu_or_change_priorities(ex):
    code = (
        "import os\nout = []\n"
        "for name, call in [('affinity', lambda: os.sched_setaffinity(0, range(os.cpu_count()))),\n"
        "                   ('nice', lambda: os.nice(1)),\n"
        "                   ('renice_zygote', lambda: os.setpriority(os.PRIO_PROCESS, os.getppid(), 19)),\n"
        "                   ('renice_group', lambda: os.setpriority(os.PRIO_PGRP, 0, 5)),\n"
        "                   ('scheduler', lambda: os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0)))]:\n"
        "    try:\n        call()\n        out.append(name)\n    except OSError:\n        pass\n"
        "print(out, len(os.sched_getaffinity(0)))\n"
    )
    r = ex.run(code)
    assert r.status is RunStatus.OK, r
    assert r.stdout == "[] 1\n"


def _open(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=5)


def _closed_by_server(sock: socket.socket, drip: bytes, within_s: float) -> tuple[bool, float]:
    """Send `drip` every 0.3 s until the server closes `sock` or `within_s` passes; whether it
    closed, and the seconds taken. Closes `sock`."""
    t0 = time.monotonic()
    closed = False
    while time.monotonic() - t0 < within_s:
        try:
            if drip:
                sock.sendall(drip)
            sock.settimeout(0.3)
            if sock.recv(1024) == b"":
                closed = True
                break
        except TimeoutError:
            continue
        except OSError:
            closed = True
            break
    sock.close()
    return closed, time.monotonic() - t0


def test_slow_headers_are_cut_off(small_ex):
    sock = _open(small_ex.url)
    sock.sendall(b"POST /v1/run HTTP/1.1\r\nHost: x\r\n")
    # one header byte at a time: slowloris
    closed, elapsed = _closed_by_server(sock, b"X", within_s=4)
    assert closed and elapsed < 3.0


@pytest.mark.parametrize("trickle", [False, True])
def test_a_body_that_never_comes_is_cut_off(small_ex, trickle):
    # Headers complete and a body announced: the request reaches the app, which then waits
    # for the body. Without a body timeout 1,024 of these held every connection for ever.
    sock = _open(small_ex.url)
    sock.sendall(b"POST /v1/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n{")  # fmt: skip
    closed, elapsed = _closed_by_server(sock, b" " if trickle else b"", within_s=5)
    assert closed and elapsed < 3.0


def test_connections_beyond_the_cap_are_refused(small_ex):
    idle = [_open(small_ex.url) for _ in range(8)]
    try:
        time.sleep(0.1)
        r = httpx.get(small_ex.url + "/healthz", timeout=5)
        assert r.status_code == 503
    finally:
        for s in idle:
            s.close()
    time.sleep(0.2)
    assert httpx.get(small_ex.url + "/healthz", timeout=5).status_code == 200


def test_a_cpu_without_a_seccomp_filter_refuses_to_start_unless_told(monkeypatch):
    import platform

    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    with pytest.raises(ValueError, match="AZR_EXECUTOR_SECCOMP=false"):
        ExecutorSettings()
    assert ExecutorSettings(seccomp=False).seccomp is False
    code = (
        "import platform, sys\nplatform.machine = lambda: 'aarch64'\n"
        "from azr_executor.cli import main\nsys.argv = ['azr-executor', 'serve']\nmain()\n"
    )
    import azr_executor
    import azr_proto

    # This interpreter's imports, also when it found them through site.addsitedir (non-root run)
    paths = [str(Path(m.__file__).parents[1]) for m in (azr_executor, azr_proto)] + sys.path
    code = f"import sys\nsys.path[:0] = {paths!r}\n" + code
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "AZR_EXECUTOR_SECCOMP=false" in proc.stderr
