"""The service process keeps its secrets to itself: not dumpable, and its secrets gone from
its environment once read.

`PR_SET_DUMPABLE=0` closes `/proc/<pid>/{environ,mem,fd,maps}` and ptrace to every process of
the same uid without CAP_SYS_PTRACE, which matters without root, where runs share the service's
uid. The tokens are read once (settings, then `load_tokens`); `scrub_environment` then removes
them from `os.environ` and overwrites the original bytes of the process's environment block,
which `/proc/<pid>/environ` shows even after `unsetenv`.
"""

from __future__ import annotations

import ctypes
import logging
import os

__all__ = ["SECRET_VARIABLES", "make_non_dumpable", "scrub_environment"]

logger = logging.getLogger(__name__)

SECRET_VARIABLES = ("AZR_EXECUTOR_TOKENS",)
_PR_SET_DUMPABLE = 4
_libc = ctypes.CDLL(None, use_errno=True)


def make_non_dumpable() -> None:
    """This process: no core dumps, and no /proc or ptrace access for same-uid processes."""
    if _libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        logger.warning("PR_SET_DUMPABLE: %s", os.strerror(ctypes.get_errno()))


def scrub_environment(names: tuple[str, ...] = SECRET_VARIABLES) -> list[str]:
    """Remove `names` from the environment, bytes included; returns those that were set."""
    environ = ctypes.POINTER(ctypes.c_char_p).in_dll(_libc, "environ")
    addresses = ctypes.cast(environ, ctypes.POINTER(ctypes.c_void_p))
    found = []
    i = 0
    while environ[i] is not None:
        entry = environ[i]
        key = entry.split(b"=", 1)[0].decode(errors="replace")
        if key in names:
            found.append((key, addresses[i], len(entry)))
        i += 1
    for key, address, length in found:
        os.environ.pop(key, None)  # unsetenv: the pointer goes, the bytes stay
        ctypes.memset(address, 0, length)
    return [key for key, _, _ in found]
