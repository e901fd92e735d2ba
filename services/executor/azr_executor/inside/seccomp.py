"""The child's seccomp filter: a hand-written classic-BPF program for x86_64, loaded by prctl.

Why by hand (no pyseccomp/libseccomp): this package is stdlib-only and starts fast inside gVisor,
where the host's libseccomp may not be on the sandbox's library path; the filter is small (a
deny list plus argument checks on `kill`/`tkill`/`tgkill`/`clone`) and is built once per zygote,
then patched with each child's pid (about 20 microseconds per child).

Guarantees (once `PreparedFilter.install` returned):
- a syscall of another architecture, or an x32 one, kills the process;
- EPERM for: every socket call; ptrace and `process_vm_*`, `kcmp`; mount, umount, pivot_root,
  chroot; unshare, setns and namespace flags on `clone` (`clone3` answers ENOSYS so libc falls
  back to `clone`, whose flags the filter can read); module loading, kexec, bpf, perf,
  userfaultfd, io_uring, keyrings, fanotify; every SysV IPC and POSIX message-queue call, so
  no object can outlive the run or reach another's; `pidfd_send_signal`, `pidfd_getfd`,
  `rt_*sigqueueinfo`; clock setting; personality, reboot, swap, quotas, syslog; and the calls
  that move or reprioritise a process (`sched_setaffinity`, `sched_setscheduler`,
  `sched_setparam`, `sched_setattr`, `setpriority`, `ioprio_set`), so a run cannot leave its
  pinned CPU or renice its zygote for later runs (under gVisor, whose uid checks differ, too);
- signals: `kill(0)`, `kill(-own_pgid)` and `kill(own_pid)` pass; any other negative pid is
  denied; a positive pid and `kill(-1)` pass when the child dropped to its sandbox uid, where
  the kernel confines them to the run's own processes, or when it lives in its zygote's PID
  namespace (user-namespace mode), where every pid but 1 (the zygote: denied, and spared by
  `kill(-1)`) is the run's own; otherwise only its own threads. (The harness kills what one
  unit left before the next starts with `kill(-1)`.)

Does not guarantee:
- anything on a CPU other than x86_64: `check_architecture` refuses to run there, unless the
  service is told to run without seccomp (`AZR_EXECUTOR_SECCOMP=false`);
- protection from the syscalls it allows (read, write, mmap, fork...): the kernel's own
  checks, the uid drop, the mounts and the cgroup do that.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:  # the zygote does not import typing: a smaller zygote forks faster
    from typing import Any

__all__ = [
    "CapabilityDrop",
    "PreparedFilter",
    "check_architecture",
    "drop_bounding_set",
    "libc",
    "prctl",
    "seccomp_program",
]

_BPF_LD_W_ABS = 0x20
_BPF_JEQ = 0x15
_BPF_JSET = 0x45
_BPF_JGE = 0x35
_BPF_RET = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_KILL_PROCESS = 0x80000000
_RET_ERRNO = 0x00050000
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_BIT = 0x40000000
_NR = {
    "socket": 41, "connect": 42, "accept": 43, "bind": 49, "listen": 50, "socketpair": 53,
    "accept4": 288, "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311,
    "kcmp": 312, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "unshare": 272, "setns": 308, "swapon": 167, "swapoff": 168, "reboot": 169,
    "sethostname": 170, "setdomainname": 171, "iopl": 172, "ioperm": 173, "init_module": 175,
    "delete_module": 176, "finit_module": 313, "kexec_load": 246, "kexec_file_load": 320,
    "acct": 163, "quotactl": 179, "syslog": 103, "bpf": 321, "perf_event_open": 298,
    "userfaultfd": 323, "keyctl": 250, "add_key": 248, "request_key": 249,
    "open_by_handle_at": 304, "name_to_handle_at": 303, "io_uring_setup": 425,
    "io_uring_enter": 426, "io_uring_register": 427, "fanotify_init": 300,
    "pidfd_send_signal": 424, "pidfd_getfd": 438, "rt_sigqueueinfo": 129,
    "rt_tgsigqueueinfo": 297, "mq_open": 240, "msgget": 68, "semget": 64, "shmget": 29,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "settimeofday": 164, "clock_settime": 227,
    "clock_adjtime": 305, "adjtimex": 159, "personality": 135, "vhangup": 153,
    "lookup_dcookie": 212, "uselib": 134, "process_madvise": 440, "quotactl_fd": 443,
    "memfd_secret": 447, "process_mrelease": 448,
    # SysV IPC and POSIX queues beyond the *get calls: an id guessed from another namespace
    "shmat": 30, "shmctl": 31, "shmdt": 67, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
    "semop": 65, "semctl": 66, "semtimedop": 220, "mq_unlink": 241, "mq_timedsend": 242,
    "mq_timedreceive": 243, "mq_notify": 244, "mq_getsetattr": 245,
    # CPU placement and priorities: a run stays on its zygote's CPU and cannot renice anyone
    "sched_setaffinity": 203, "sched_setscheduler": 144, "sched_setparam": 142,
    "sched_setattr": 314, "setpriority": 141, "ioprio_set": 251,
}  # fmt: skip
_NR_KILL, _NR_TKILL, _NR_TGKILL, _NR_CLONE, _NR_CLONE3 = 62, 200, 234, 56, 435
_CLONE_NS_FLAGS = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_CLONE_NS_FLAGS |= 0x00020000  # CLONE_NEWNS
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args are 64-bit, low word first


def seccomp_program(
    own_pid: int, uid_dropped: bool, pid_ns: bool = False
) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) tuples; jumps are resolved from symbolic labels.

    `pid_ns`: the child is in a PID namespace of its zygote's (no root: user namespaces), where
    the only process that is not the run's own is the zygote, pid 1: positive pids pass, 1 not.
    """
    deny = _RET_ERRNO | errno.EPERM
    positive = _RET_ALLOW if uid_dropped or pid_ns else deny
    not_init = [(_BPF_JEQ, "deny", 0, 1)] if pid_ns and not uid_dropped else []
    ops: list[tuple[Any, ...]] = [
        (_BPF_LD_W_ABS, 0, 0, _OFF_ARCH),
        (_BPF_JEQ, 0, "kill_process", _AUDIT_ARCH_X86_64),
        (_BPF_LD_W_ABS, 0, 0, _OFF_NR),
        (_BPF_JGE, "kill_process", 0, _X32_BIT),
    ]
    ops += [(_BPF_JEQ, "deny", 0, nr) for nr in sorted(_NR.values())]
    ops += [
        (_BPF_JEQ, "kill", 0, _NR_KILL),
        (_BPF_JEQ, "tkill", 0, _NR_TKILL),
        (_BPF_JEQ, "tkill", 0, _NR_TGKILL),
        (_BPF_JEQ, "clone", 0, _NR_CLONE),
        (_BPF_JEQ, "enosys", 0, _NR_CLONE3),
        (_BPF_RET, 0, 0, _RET_ALLOW),
        # kill(pid, sig): own group, own pid, or (uid dropped) any positive pid.
        ("kill", _BPF_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_BPF_JEQ, "allow", 0, 0),
        (_BPF_JEQ, "allow", 0, (-own_pid) & 0xFFFFFFFF),
        (_BPF_JEQ, "allow", 0, own_pid),
        (_BPF_JEQ, "broadcast", 0, 0xFFFFFFFF),
        (_BPF_JSET, "deny", 0, 0x80000000),
        *not_init,
        (_BPF_RET, 0, 0, positive),
        # kill(-1): every process the kernel lets this one signal, which after a uid drop (or
        # in the zygote's PID namespace, where pid 1 is spared) is the run's own, no other.
        ("broadcast", _BPF_RET, 0, 0, positive),
        # tkill(tid)/tgkill(tgid, ...): the kernel's uid check confines them after a uid drop.
        ("tkill", _BPF_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_BPF_JEQ, "allow", 0, own_pid),
        *not_init,
        (_BPF_RET, 0, 0, positive),
        ("clone", _BPF_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_BPF_JSET, "deny", 0, _CLONE_NS_FLAGS),
        ("allow", _BPF_RET, 0, 0, _RET_ALLOW),
        ("deny", _BPF_RET, 0, 0, deny),
        ("enosys", _BPF_RET, 0, 0, _RET_ERRNO | errno.ENOSYS),
        ("kill_process", _BPF_RET, 0, 0, _RET_KILL_PROCESS),
    ]
    labels: dict[str, int] = {}
    plain: list[tuple[Any, ...]] = []
    for op in ops:
        if isinstance(op[0], str):
            labels[op[0]] = len(plain)
            plain.append(op[1:])
        else:
            plain.append(op)
    out = []
    for i, (code, jt, jf, k) in enumerate(plain):
        jt = labels[jt] - i - 1 if isinstance(jt, str) else jt
        jf = labels[jf] - i - 1 if isinstance(jf, str) else jf
        if not (0 <= jt <= 255 and 0 <= jf <= 255):
            raise ValueError("seccomp jump out of range")
        out.append((code, jt, jf, k))
    return out


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 22, 2


# Left untyped on purpose: with `argtypes`, every call converts each argument through its type's
# `from_param` into a new object, and the first call in a forked child cost it about 23
# copy-on-write page faults, against 11 for plain ints passed as C ints (every value passed here
# is a small non-negative int, or the filter's address as a prebuilt c_void_p).
_libc_prctl = libc["prctl"]  # its own function object: `libc.prctl` is shared and cached
_libc_prctl.restype = ctypes.c_int


def prctl(option: int, arg2: int, arg3: int | ctypes.c_void_p = 0) -> None:
    if _libc_prctl(option, arg2, arg3, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


_PID_MARK = 0x3FFFFFF1  # placeholder pid in the prebuilt filter; patched in each child
_templates: dict[tuple[bool, bool], tuple[bytearray, list[int], list[int]]] = {}


def _template(uid_dropped: bool, pid_ns: bool = False) -> tuple[bytearray, list[int], list[int]]:
    """The packed filter for a placeholder pid, and the offsets of `pid` and `-pid` constants."""
    key = (uid_dropped, pid_ns)
    if key not in _templates:
        prog = seccomp_program(_PID_MARK, uid_dropped, pid_ns)
        raw = bytearray(b"".join(struct.pack("=HBBI", *ins) for ins in prog))
        pos = [i * 8 + 4 for i, ins in enumerate(prog) if ins[3] == _PID_MARK]
        neg = [i * 8 + 4 for i, ins in enumerate(prog) if ins[3] == (-_PID_MARK) & 0xFFFFFFFF]
        _templates[key] = (raw, pos, neg)
    return _templates[key]


class PreparedFilter:
    """The packed filter in a ctypes buffer, built once in the zygote before it forks.

    A child only patches its own pid into the buffer (its private copy-on-write page) and makes
    one prctl call: no list, bytes or ctypes object is built per run.
    """

    __slots__ = ("buf", "fprog", "fprog_ptr", "neg", "pos")

    def __init__(self, uid_dropped: bool, pid_ns: bool = False) -> None:
        template, self.pos, self.neg = _template(uid_dropped, pid_ns)
        self.buf = ctypes.create_string_buffer(bytes(template), len(template))
        self.fprog = _SockFprog(len(template) // 8, ctypes.addressof(self.buf))
        self.fprog_ptr = ctypes.c_void_p(ctypes.addressof(self.fprog))

    def install(self, own_pid: int) -> None:
        """Load the filter for `own_pid` into the calling (single-threaded) process."""
        buf = self.buf
        for off in self.pos:
            struct.pack_into("=I", buf, off, own_pid)
        for off in self.neg:
            struct.pack_into("=I", buf, off, (-own_pid) & 0xFFFFFFFF)
        prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self.fprog_ptr)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]  # fmt: skip


_PR_CAPBSET_DROP, _LINUX_CAPABILITY_VERSION_3 = 24, 0x20080522


class CapabilityDrop:
    """Every capability of the calling process gone (user-namespace mode: the child stays uid 0
    of its namespace, so it drops what that uid holds there); buffers built once, in the zygote.
    With `no_new_privs` and an empty bounding set, no exec can give them back."""

    __slots__ = ("data", "data_ptr", "header", "header_ptr")

    def __init__(self) -> None:
        self.header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        self.data = (_CapData * 2)()  # zeroed: no capability in any set
        self.header_ptr = ctypes.c_void_p(ctypes.addressof(self.header))
        self.data_ptr = ctypes.c_void_p(ctypes.addressof(self.data))

    def install(self) -> None:
        if libc.capset(self.header_ptr, self.data_ptr) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"capset: {os.strerror(err)}")


def drop_bounding_set() -> None:
    """Empty this process's capability bounding set (inherited by every child)."""
    for cap in range(64):
        if _libc_prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # past the last capability this kernel knows
                return
            err = ctypes.get_errno()
            raise OSError(err, f"PR_CAPBSET_DROP({cap}): {os.strerror(err)}")


def check_architecture(seccomp: bool) -> None:
    """Refuse to start a zygote with seccomp asked for on a CPU the filter does not know."""
    machine = os.uname().machine
    if seccomp and machine != "x86_64":
        raise OSError(
            errno.ENOSYS,
            f"the seccomp filter supports x86_64 only, this CPU is {machine}: set "
            "AZR_EXECUTOR_SECCOMP=false to run without it (and without its guarantees)",
        )
