"""The service process keeps its secrets to itself: not dumpable, and nothing of its environment
left where another process could read it.

`PR_SET_DUMPABLE=0` closes `/proc/<pid>/{environ,mem,fd,maps}` and ptrace to every process of
the same uid without CAP_SYS_PTRACE, which matters without root, where runs share the service's
uid. Not every kernel honours it: gVisor's runsc 2022-12 (the Kubernetes Deployment's) lets
any uid read `/proc/<pid>/environ` of a non-dumpable root process. So `scrub_environment`
also leaves that file empty: the tokens (read once: settings, then `load_tokens`) are removed
from `os.environ`, every other variable is copied into memory of its own (`setenv`), and the
original environment block, which `/proc/<pid>/environ` shows even after `unsetenv`, is
overwritten with zeros. `os.environ` and `getenv` keep working with the copies.
"""

from __future__ import annotations

import ctypes
import logging
import os

__all__ = ["SECRET_VARIABLES", "detach_stdin", "make_non_dumpable", "scrub_environment"]

logger = logging.getLogger(__name__)

SECRET_VARIABLES = ("AZR_EXECUTOR_TOKENS",)
_PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(None, use_errno=True)


def make_non_dumpable() -> None:
    """This process: no core dumps, and no /proc or ptrace access for same-uid processes."""
    if _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        logger.warning("PR_SET_DUMPABLE: %s", os.strerror(ctypes.get_errno()))


def scrub_environment(names: tuple[str, ...] = SECRET_VARIABLES) -> list[str]:
    """Remove `names` from the environment and zero the process's original environment block
    (the other variables live on in copies); returns those of `names` that were set."""
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
    addresses = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))
    original: list[tuple[bytes, bytes, int, int]] = []  # key, value, address, length
    i = 0
    while environ[i] is not None:
        entry = environ[i]
        key, _, value = entry.partition(b"=")
        original.append((key, value, addresses[i], len(entry)))
        i += 1
    removed = []
    for key, value, _, _ in original:
        name = os.fsdecode(key)
        if name in names:
            os.environ.pop(name, None)  # unsetenv: the pointer goes, the bytes stay
            removed.append(name)
        elif key and b"\0" not in key:
            os.putenv(key, value)  # setenv: a copy of its own, the pointer moves to it
    for _, _, address, length in original:
        ctypes.memset(address, 0, length)
    return removed


def detach_stdin() -> None:
    """Fd 0 on this system's /dev/null. The service never reads stdin, and the one a container
    is given can be a host device of mode 0666 (gVisor): the one descriptor of the service that
    a run of another uid could reopen through /proc/<pid>/fd/0."""
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:
        os.dup2(null, 0)
        os.close(null)
