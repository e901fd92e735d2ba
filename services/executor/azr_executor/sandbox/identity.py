"""How each run gets an identity that cannot see the service: decided once, at start.

- `root`: the service is root; each zygote's runs drop to a sandbox uid of their own
  (claimed per zygote), in private mount and IPC namespaces, under a cgroup.
- `userns`: the service is not root (a Kubernetes pod with every capability dropped); each
  zygote is pid 1 of its own user, mount, PID and IPC namespaces, so its runs see only their
  own processes and the zygote, get private mounts (the token file masked), and drop every
  capability. They keep the service's uid on the outside (an unprivileged user namespace maps
  just one uid): what keeps them from the service is the PID namespace, the masks, and the
  service and zygotes being non-dumpable. Measured cost per run: one `capset` in the child.
- `weak`: neither is possible; the runs share the service's uid, mounts and processes (seccomp
  and rlimits still apply). The service refuses to start this way unless
  `AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true` says so.
"""

from __future__ import annotations

import os
import subprocess
from typing import Literal

from azr_executor.settings import ExecutorSettings

__all__ = ["IsolationUnavailable", "Mode", "decide_mode", "user_namespaces_work"]

Mode = Literal["root", "userns", "weak"]

# The same calls the zygote makes (`inside.mounts.enter_user_namespace`), in a throwaway process.
_PROBE = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "uid, gid = os.getuid(), os.getgid()\n"
    "if libc.unshare(0x10000000 | 0x00020000 | 0x20000000 | 0x08000000) != 0:\n"
    "    raise SystemExit(os.strerror(ctypes.get_errno()))\n"
    "for name, text in (('setgroups', 'deny'), ('uid_map', f'0 {uid} 1'), ('gid_map', f'0 {gid} 1')):\n"
    "    open(f'/proc/self/{name}', 'w').write(text)\n"
)


class IsolationUnavailable(RuntimeError):
    """Neither root nor user namespaces, and the weaker mode was not accepted."""


def user_namespaces_work(python: str) -> tuple[bool, str]:
    """Whether this process may create the zygote's namespaces (and why not)."""
    try:
        proc = subprocess.run([python, "-s", "-S", "-c", _PROBE], capture_output=True,
                              text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if proc.returncode == 0:
        return True, ""
    return False, (proc.stderr.strip().splitlines() or ["unknown error"])[-1]


def decide_mode(settings: ExecutorSettings) -> Mode:
    """The isolation mode this host allows; raises `IsolationUnavailable` when it is `weak`
    and the settings do not accept it."""
    if os.geteuid() == 0:
        return "root"
    why = "AZR_EXECUTOR_USER_NAMESPACES=false"
    if settings.user_namespaces:
        works, why = user_namespaces_work(settings.python)
        if works:
            return "userns"
    if settings.allow_weak_isolation:
        return "weak"
    raise IsolationUnavailable(
        f"runs would share the service's uid, mounts and processes: not root, and no user "
        f"namespace ({why}); run as root, allow unprivileged user namespaces, or set "
        "AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true to accept that"
    )
