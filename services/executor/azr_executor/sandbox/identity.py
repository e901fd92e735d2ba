"""How each run gets an identity that cannot see the service: decided once, at start.

- `root`: the service is root; each zygote's runs drop to a sandbox uid of their own
  (claimed per zygote), in private mount and IPC namespaces, under a cgroup.
- `userns`: the service is not root (a Kubernetes pod with every capability dropped); each
  zygote is pid 1 of its own user, mount, PID and IPC namespaces, so its runs see only their
  own processes and the zygote, get private mounts (the token file masked), and drop every
  capability. They keep the service's uid on the outside (an unprivileged user namespace maps
  just one uid): what keeps them from the service is the PID namespace, the masks, and the
  service and zygotes being non-dumpable. Measured cost per run: one `capset` in the child.
- `userns-nomounts`: user and PID namespaces work but mounts inside them do not (gVisor's runsc
  2022-12 as a non-root pod): runs cannot signal outside their PID namespace and have no
  capabilities, but keep the pod's /proc and files with the service's uid (measured there: the
  service's environment and pipes, another run's output and directory); deploy/k8s runs the
  service as root inside gVisor for that reason.
- `weak`: no user namespace either; the runs share the service's uid, mounts and processes
  (seccomp, rlimits, the non-dumpable service and the scrubbed environment still apply).
The last two are weaker: the service refuses to start in them unless
`AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true` says so.
"""

from __future__ import annotations

import os
import subprocess
from typing import Literal

from azr_executor.settings import ExecutorSettings

__all__ = ["IsolationUnavailable", "Mode", "decide_mode", "user_namespaces_work"]

Mode = Literal["root", "userns", "userns-nomounts", "weak"]

# The same calls the zygote makes (`inside.mounts.enter_user_namespace`), in a throwaway process.
_PROBE = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "uid, gid = os.getuid(), os.getgid()\n"
    "if libc.unshare(0x10000000 | 0x00020000 | 0x20000000 | 0x08000000) != 0:\n"
    "    raise SystemExit(os.strerror(ctypes.get_errno()))\n"
    "try:\n    open('/proc/self/setgroups', 'w').write('deny')\n"
    "except PermissionError:\n    pass  # gVisor: not needed there, and refused\n"
    "open('/proc/self/uid_map', 'w').write(f'0 {uid} 1')\n"
    "open('/proc/self/gid_map', 'w').write(f'0 {gid} 1')\n"
    "pid = os.fork()\n"
    "if pid == 0:  # pid 1 of the new namespace: may it mount?\n"
    "    ok = libc.mount(b'none', b'/', None, 0x4000 | (1 << 18), None) == 0\n"
    "    ok = ok and libc.mount(b'azr-probe', b'/tmp', b'tmpfs', 0, b'size=4k') == 0\n"
    "    os._exit(0 if ok else 3)\n"
    "_, status = os.waitpid(pid, 0)\n"
    "raise SystemExit(os.waitstatus_to_exitcode(status))\n"
)


class IsolationUnavailable(RuntimeError):
    """Neither root nor user namespaces, and the weaker mode was not accepted."""


def user_namespaces_work(python: str) -> tuple[bool, bool, str]:
    """Whether this process may create the zygote's namespaces, whether it may mount inside
    them, and why not."""
    try:
        proc = subprocess.run([python, "-s", "-S", "-c", _PROBE], capture_output=True,
                              text=True, timeout=30, env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, False, str(exc)
    if proc.returncode == 0:
        return True, True, ""
    if proc.returncode == 3:
        return True, False, "no mounts inside a user namespace"
    return False, False, (proc.stderr.strip().splitlines() or ["unknown error"])[-1]


def decide_mode(settings: ExecutorSettings) -> Mode:
    """The isolation mode this host allows; raises `IsolationUnavailable` when it is `weak`
    and the settings do not accept it."""
    if os.geteuid() == 0:
        return "root"
    why = "AZR_EXECUTOR_USER_NAMESPACES=false"
    works = mounts = False
    if settings.user_namespaces:
        works, mounts, why = user_namespaces_work(settings.python)
        if works and mounts:
            return "userns"
    if settings.allow_weak_isolation:
        return "userns-nomounts" if works else "weak"
    what = "files" if works else "uid, mounts and processes"
    raise IsolationUnavailable(
        f"runs would share the service's {what}: not root, and {why}; run as root, allow "
        "unprivileged user namespaces (with mounts), or set "
        "AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true to accept that"
    )
