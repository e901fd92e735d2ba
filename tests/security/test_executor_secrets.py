"""Issue 21: nothing of the service is readable from a run, root or not. A run hunts for the
service's tokens in /proc, in its environment and in every file it can read, and finds none."""

from __future__ import annotations

import ctypes
import os

from azr_proto.statuses import RunStatus
from secret_hunt import hunt_program


def test_a_run_finds_no_token_anywhere(secret_ex):
    ex, env_token, file_token = secret_ex
    hunt = hunt_program([env_token, file_token], report="files > 0, found")
    r = ex.run(hunt, wall_s=20.0, cpu_s=20)
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
