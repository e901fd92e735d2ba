"""Issue 21: nothing of the service is readable from a run, root or not. A run hunts for the
service's tokens in /proc, in its environment and in every file it can read, and finds none."""

from __future__ import annotations

import ctypes
import os

from azr_proto.statuses import RunStatus

HUNT = """
import os, sys, time
needles = [{env!r}.encode(), {file!r}.encode()]
found = []
def look(path, data):
    for n in needles:
        if n in data:
            found.append(path)
def read(path, n):
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe must not block the hunt
    try:
        return os.read(fd, n)
    except BlockingIOError:
        return b''
    finally:
        os.close(fd)
for pid in os.listdir('/proc'):
    if pid.isdigit():
        for name in ('environ', 'cmdline', 'maps', 'mem'):
            try:
                look(f'/proc/{{pid}}/{{name}}', read(f'/proc/{{pid}}/{{name}}', 1 << 20))
            except (OSError, ValueError):
                pass
        try:
            for fd in os.listdir(f'/proc/{{pid}}/fd'):
                try:
                    look(f'/proc/{{pid}}/fd/{{fd}}', read(f'/proc/{{pid}}/fd/{{fd}}', 1 << 16))
                except OSError:
                    pass
        except OSError:
            pass
look('environ', repr(dict(os.environ)).encode())
skip = ('/proc', '/sys', '/dev', '/usr', '/lib', '/lib64', '/bin', '/sbin', '/boot', '/snap')
end = time.monotonic() + 12
files = 0
for top in sorted(os.listdir('/')):
    root = '/' + top
    if root in skip or os.path.islink(root):
        continue
    for dirpath, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ('.venv', 'node_modules', '.git')]
        for name in names:
            path = os.path.join(dirpath, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > (1 << 20):
                    continue
                look(path, read(path, 1 << 20))
                files += 1
            except OSError:
                pass
        if time.monotonic() > end:
            break
print(files > 0, found)
"""


def test_a_run_finds_no_token_anywhere(secret_ex):
    ex, env_token, file_token = secret_ex
    r = ex.run(HUNT.format(env=env_token, file=file_token), wall_s=20.0, cpu_s=20)
    assert r.status is RunStatus.OK, (r.status, r.stderr[-500:])
    assert r.stdout == "True []\n", r.stdout[-2000:]


def test_the_service_is_not_dumpable_and_its_environment_holds_no_token(secret_ex):
    ex, env_token, _file_token = secret_ex
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(3, 0, 0, 0, 0) == 0  # PR_GET_DUMPABLE of this (the service's) process
    try:
        with open("/proc/self/environ", "rb") as fh:
            assert env_token.encode() not in fh.read()  # the original bytes were overwritten
    except PermissionError:  # not root: not dumpable closes it even to the service itself
        assert os.geteuid() != 0
    assert "AZR_EXECUTOR_TOKENS" not in os.environ
    for zyg in ex.pool._zygotes:
        assert zyg is not None
        # The zygote's environment never held a token; and, for its own uid (no root), its
        # /proc entries are closed: it is not dumpable.
        try:
            with open(f"/proc/{zyg.proc.pid}/environ", "rb") as fh:
                assert env_token.encode() not in fh.read()
            assert os.geteuid() == 0, "a non-dumpable zygote's environ opened by its own uid"
        except PermissionError:
            assert os.geteuid() != 0
