"""Network, import tricks, processes: no socket of any family, and every child dies with the run."""

from __future__ import annotations

import time
from urllib.parse import urlparse

from azr_proto.statuses import RunStatus
from executor_security_support import sandbox_processes


def _denied(ex, code: str) -> None:
    r = ex.run(code)
    assert r.status is RunStatus.RUNTIME_ERROR, r
    assert r.exception is not None and r.exception.type == "PermissionError", r.exception


def test_tcp_socket_is_denied(ex):
    _denied(ex, "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_STREAM)")


def test_udp_socket_is_denied(ex):
    _denied(
        ex,
        "import socket\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('8.8.8.8', 53))",
    )


def test_ipv6_socket_is_denied(ex):
    _denied(ex, "import socket\nsocket.socket(socket.AF_INET6, socket.SOCK_STREAM)")


def test_unix_socket_is_denied(ex):
    _denied(
        ex,
        "import socket\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM).connect('/run/docker.sock')",
    )


def test_socketpair_is_denied(ex):
    _denied(ex, "import socket\nsocket.socketpair()")


def test_connecting_to_the_service_port_is_denied(ex):
    port = urlparse(ex.url).port
    _denied(ex, f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)")


def test_urllib_cannot_reach_the_service(ex):
    r = ex.run(f"import urllib.request\nurllib.request.urlopen('{ex.url}/healthz', timeout=1)")
    assert r.status is RunStatus.RUNTIME_ERROR
    assert "Operation not permitted" in r.stderr


def test_raw_socket_syscall_through_ctypes_is_denied(ex):
    code = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.syscall(41, 2, 1, 0), ctypes.get_errno())\n"
    assert ex.run(code).stdout == "-1 1\n"


def test_import_tricks_do_not_reach_the_network(ex):
    code = (
        "import importlib\nout = []\n"
        "for make in (lambda: __import__('_socket').socket(),\n"
        "             lambda: importlib.import_module('socket').socket(),\n"
        "             lambda: importlib.__import__('_socket').socket(2, 1)):\n"
        "    try:\n        make()\n        out.append('open')\n    except PermissionError:\n        out.append('denied')\nprint(out)\n"
    )
    assert ex.run(code).stdout == "['denied', 'denied', 'denied']\n"


def test_ctypes_cannot_undo_the_filter(ex):
    code = "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nprint(libc.prctl(22, 0, 0, 0, 0), ctypes.get_errno())\n"
    r = ex.run(code)  # PR_SET_SECCOMP to mode 0 is refused by the kernel: filters only stack
    assert r.stdout.startswith("-1 ")
    assert ex.run("import socket\nsocket.socket()").status is RunStatus.RUNTIME_ERROR


def test_subprocess_runs_confined(ex):
    code = "import subprocess\nprint(subprocess.run(['id', '-u'], capture_output=True, text=True).stdout.strip())\n"
    r = ex.run(code)
    assert r.status is RunStatus.OK, r
    assert int(r.stdout) in ex.pool.sandbox_uids() or not ex.pool.sandbox_uids()


def test_subprocess_python_cannot_open_sockets(ex):
    code = (
        "import subprocess, sys\n"
        "p = subprocess.run([sys.executable, '-c', 'import socket; socket.socket()'], capture_output=True, text=True)\n"
        "print(p.returncode != 0, 'Operation not permitted' in p.stderr)\n"
    )
    r = ex.run(code, wall_s=4.0, cpu_s=4)
    assert r.stdout == "True True\n", r


def test_forked_children_die_with_the_run(ex):
    code = "import os, time\nif os.fork() == 0:\n    time.sleep(60)\n    os._exit(0)\nprint('parent done')\n"
    r = ex.run(code)
    assert r.status is RunStatus.OK
    time.sleep(0.1)
    assert sandbox_processes(ex.pool.sandbox_uids()) == []


def test_double_fork_daemon_does_not_outlive_the_run(ex):
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(60)\n        os._exit(0)\n    os._exit(0)\n"
        "time.sleep(0.2)\nprint('launched')\n"
    )
    r = ex.run(code)
    assert r.stdout == "launched\n"
    time.sleep(0.1)
    assert sandbox_processes(ex.pool.sandbox_uids()) == []


def test_daemon_ignoring_sigterm_is_killed_too(ex):
    code = (
        "import os, signal, time\n"
        "if os.fork() == 0:\n    os.setsid()\n    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n    signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "    if os.fork() == 0:\n        while True:\n            time.sleep(0.01)\n    os._exit(0)\nprint('ok')\n"
    )
    assert ex.run(code).stdout == "ok\n"
    time.sleep(0.1)
    assert sandbox_processes(ex.pool.sandbox_uids()) == []
