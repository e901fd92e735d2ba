"""Zygote and one-shot child: the only code that ever runs next to a submitted program.

Stdlib only: this file runs as a script (`python -s -S -P child.py CONFIG`) in a small interpreter
of its own, outside the web server, possibly inside a gVisor sandbox. It is a *zygote*: it reads
jobs from the server on fd 0 (length-prefixed `marshal`), forks a fresh one-shot child for each
job, and writes one JSON result per job on fd 1. The zygote never parses a byte of submitted code;
the child confines itself completely before it compiles the program.

Confinement of the child, in this order, before any submitted byte is parsed:

1. `setsid`: a new session and process group (the child's pid is the group id);
2. rlimits: CPU seconds, address space, file size, open files, processes, core dumps = 0;
3. inherited descriptors closed: only 0 (stdin, a memfd), 1 and 2 (capture pipes) and 3 (the
   result pipe to the zygote) stay open;
4. `chdir` into a fresh empty directory (0700) created for this run and removed after it;
5. when the zygote runs as root: `setgroups([])`, then gid and uid dropped to this zygote's own
   sandbox id (one id per zygote, never the service's);
6. a clean environment (PATH, HOME, TMPDIR, LANG only);
7. `PR_SET_NO_NEW_PRIVS`;
8. a seccomp filter (below).

Seccomp route: a hand-written classic-BPF program loaded with `prctl(PR_SET_SECCOMP)` through
`ctypes`. Why not pyseccomp/libseccomp: this module must stay stdlib-only and start fast inside
gVisor, where the host's libseccomp may not be on the sandbox's library path; the filter is small
(a deny list plus argument checks on `kill`/`tkill`/`tgkill`/`clone`), and building it by hand
costs about 20 microseconds per child. It kills the process on a foreign architecture or an x32
syscall, answers EPERM to: every socket call (TCP, UDP, Unix, netlink), ptrace and
`process_vm_*`, mount/umount/pivot_root/chroot, unshare/setns and namespace flags on clone,
module loading, kexec, bpf, perf_event_open, userfaultfd, io_uring, keyrings, SysV IPC and POSIX
message queues (objects that would outlive the run), `pidfd_send_signal`, `rt_*sigqueueinfo`,
clock setting, personality and reboot; `clone3` answers ENOSYS so libc falls back to `clone`,
whose flags the filter can read.

Signals: `kill(0)`, `kill(-own_pgid)` and `kill(own_pid)` are always allowed; `kill(-1)` and any
other negative pid (another process group) are denied. A positive pid is allowed only when the
child runs under its own sandbox uid, where the kernel's permission check already confines it to
processes of this very run (the zygote and the server run as root; each zygote has its own uid).
Without a uid drop (service not root), positive pids other than the child's own are denied, and
`tkill`/`tgkill` only reach the child's own threads.

Guarantees (process mode, service running as root):
- the program cannot open any socket, trace, signal or read the memory of the zygote, the server
  or another run; it cannot read the server's environment (`/proc/<pid>/environ` needs ptrace
  rights) and sees only its own processes in `/proc` when hidepid could be mounted;
- it cannot write outside its working directory: `/tmp`, `/var/tmp` and `/dev/shm` are read-only
  empty tmpfs mounts in the zygote's private mount namespace, and the working root is a size- and
  inode-limited tmpfs, so disk and inode fills stop at that bound;
- every process it starts dies with the run: the group is killed, the zygote is a child
  subreaper so daemons that escape the group come back to it, and when any survives, every process
  of the sandbox uid is killed (`kill(-1)` from a helper running as that uid). RLIMIT_NPROC bounds
  fork bombs per uid. Nothing is left unreaped.

Does not guarantee:
- protection against kernel exploits (use gVisor mode or the hardened compose stack for a second
  wall), or against side channels and CPU contention between concurrent runs;
- without root: no uid drop, no private mounts, no hidepid; the program runs as the service user
  (seccomp and rlimits still apply, and positive-pid signals are denied by the filter).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import gc
import json
import marshal
import os
import resource
import select
import shutil
import signal
import struct
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # the zygote does not import typing: a smaller zygote forks faster
    from typing import Any

# --------------------------------------------------------------------------------------------
# Seccomp (hand-written classic BPF, x86_64)

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
}  # fmt: skip
_NR_KILL, _NR_TKILL, _NR_TGKILL, _NR_CLONE, _NR_CLONE3 = 62, 200, 234, 56, 435
_CLONE_NS_FLAGS = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000
_CLONE_NS_FLAGS |= 0x00020000  # CLONE_NEWNS
_OFF_NR, _OFF_ARCH, _OFF_ARG0 = 0, 4, 16  # struct seccomp_data; args are 64-bit, low word first


def seccomp_program(own_pid: int, uid_dropped: bool) -> list[tuple[int, int, int, int]]:
    """The filter as (code, jt, jf, k) tuples; jumps are resolved from symbolic labels."""
    deny = _RET_ERRNO | errno.EPERM
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
        (_BPF_JSET, "deny", 0, 0x80000000),
        (_BPF_RET, 0, 0, _RET_ALLOW if uid_dropped else deny),
        # tkill(tid)/tgkill(tgid, ...): the kernel's uid check confines them after a uid drop.
        ("tkill", _BPF_LD_W_ABS, 0, 0, _OFF_ARG0),
        (_BPF_JEQ, "allow", 0, own_pid),
        (_BPF_RET, 0, 0, _RET_ALLOW if uid_dropped else deny),
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


_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_PR_SET_CHILD_SUBREAPER, _PR_SET_PDEATHSIG = 36, 1


# Left untyped on purpose: with `argtypes`, every call converts each argument through its type's
# `from_param` into a new object, and the first call in a forked child cost it about 23
# copy-on-write page faults, against 11 for plain ints passed as C ints (every value passed here
# is a small non-negative int, or the filter's address as a prebuilt c_void_p).
_libc_prctl = _libc["prctl"]  # its own function object: `_libc.prctl` is shared and cached
_libc_prctl.restype = ctypes.c_int


def _prctl(option: int, arg2: int, arg3: int | ctypes.c_void_p = 0) -> None:
    if _libc_prctl(option, arg2, arg3, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl({option}): {os.strerror(err)}")


_CLOSE_ALL = 1 << 30  # os.closerange bound: every descriptor above 3
_PID_MARK = 0x3FFFFFF1  # placeholder pid in the prebuilt filter; patched in each child
_templates: dict[bool, tuple[bytearray, list[int], list[int]]] = {}


def _template(uid_dropped: bool) -> tuple[bytearray, list[int], list[int]]:
    """The packed filter for a placeholder pid, and the offsets of `pid` and `-pid` constants."""
    if uid_dropped not in _templates:
        prog = seccomp_program(_PID_MARK, uid_dropped)
        raw = bytearray(b"".join(struct.pack("=HBBI", *ins) for ins in prog))
        pos = [i * 8 + 4 for i, ins in enumerate(prog) if ins[3] == _PID_MARK]
        neg = [i * 8 + 4 for i, ins in enumerate(prog) if ins[3] == (-_PID_MARK) & 0xFFFFFFFF]
        _templates[uid_dropped] = (raw, pos, neg)
    return _templates[uid_dropped]


class _PreparedFilter:
    """The packed filter in a ctypes buffer, built once in the zygote before it forks.

    A child only patches its own pid into the buffer (its private copy-on-write page) and makes
    one prctl call: no list, bytes or ctypes object is built per run.
    """

    __slots__ = ("buf", "fprog", "fprog_ptr", "neg", "pos")

    def __init__(self, uid_dropped: bool) -> None:
        template, self.pos, self.neg = _template(uid_dropped)
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
        _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, self.fprog_ptr)


# --------------------------------------------------------------------------------------------
# Zygote setup (runs once, as the zygote's own user)

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE, _MS_BIND, _MS_REMOUNT = 0x4000, 1 << 18, 0x1000, 0x20
_CLONE_NEWNS = 0x00020000


def _mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    rc = _libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                     data.encode() if data else None)  # fmt: skip
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def private_mounts(cfg: dict[str, Any]) -> list[str]:
    """Give the zygote (and so every child) its own mount namespace; returns warnings."""
    warnings: list[str] = []
    if _libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    try:
        _mount("none", "/", "", _MS_REC | _MS_PRIVATE)
    except OSError as exc:  # gVisor: the sandbox's mounts are private to it already
        warnings.append(f"mount propagation left as is: {exc}")
    root = cfg["work_root"]
    os.makedirs(root, mode=0o711, exist_ok=True)
    size, inodes = f"size={cfg['scratch_mb']}m", f"nr_inodes={cfg['scratch_inodes']}"
    for opts in (f"{size},{inodes},mode=0711", f"{size},mode=0711", "mode=0711"):
        try:
            _mount("azr-scratch", root, "tmpfs", _MS_NOSUID | _MS_NODEV, opts)
            break
        except OSError as exc:  # old gVisor tmpfs takes fewer options
            if exc.errno != errno.EINVAL or opts == "mode=0711":
                raise
            warnings.append(f"scratch tmpfs without some of {opts!r}: {exc}")
    if cfg.get("gvisor"):
        _open_prefix_in_overlay(sys.base_prefix)
    else:
        _expose_prefix(sys.base_prefix)
    for shared in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
        if os.path.isdir(shared) and not os.path.islink(shared):
            # Read-only and empty: no file can be left there for a later run to find.
            flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
            try:
                _mount("azr-ro", shared, "tmpfs", flags, "size=4k,nr_inodes=4,mode=0755")
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                _mount("azr-ro", shared, "tmpfs", flags, "mode=0755")
    try:
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
    except OSError as exc:
        warnings.append(f"hidepid /proc not mounted: {exc}")
    return warnings


def _expose_prefix(prefix: str) -> None:
    """Make the interpreter's stdlib readable for the sandbox uid when it lives in a private
    directory (e.g. pyenv under /root): the closed ancestor is hidden behind an empty tmpfs, and
    only the prefix is bind-mounted back, read-only. The rest of that home stays invisible."""
    path = os.path.realpath(prefix)
    closed = None
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        if not os.stat(current).st_mode & 0o001:
            closed = current
            break
    if closed is None:
        return
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY)
    try:
        _mount("azr-mask", closed, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=64k,mode=0755")
        os.makedirs(path, mode=0o755, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, "", _MS_BIND | _MS_REC)
        _mount("none", path, "", _MS_BIND | _MS_REMOUNT | _MS_RDONLY | _MS_REC)
    finally:
        os.close(fd)


def _open_prefix_in_overlay(prefix: str) -> None:
    """gVisor (no bind mounts in older runsc): let others traverse the prefix's closed
    ancestors. The host root is a read-only lower layer there, so this chmod changes only the
    sandbox's private overlay, never the host."""
    current = "/"
    for part in os.path.realpath(prefix).strip("/").split("/"):
        current = os.path.join(current, part)
        mode = os.stat(current).st_mode
        if not mode & 0o001:
            os.chmod(current, (mode & 0o7777) | 0o001)


def kill_uid(uid: int) -> None:
    """Kill every process of `uid` (`kill(-1)` from a helper running as that uid); reap it."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        except BaseException:
            os._exit(1)
        os._exit(0)
    os.waitpid(pid, 0)


# False when the kernel refused PR_SET_CHILD_SUBREAPER (gVisor gives it to init only): escaped
# processes are then re-parented to init, out of waitpid's reach, and found by uid instead.
_SUBREAPER = True


def _uid_has_processes(uid: int) -> bool:
    for name in os.listdir("/proc"):
        if name.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{name}").st_uid == uid:
                    return True
    return False


def reap_strays(uid: int | None) -> int:
    """Reap every descendant (the zygote is a subreaper); kill survivors. Returns how many."""
    count = 0
    for _ in range(1000):
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            if not _SUBREAPER and uid is not None and _uid_has_processes(uid):
                kill_uid(uid)  # orphans of the run, now init's children
                continue
            return count
        if pid:
            count += 1
            continue
        # Descendants alive outside the killed group: a daemon that escaped with setsid.
        if uid is not None:
            kill_uid(uid)
        else:
            for child in _children_of(os.getpid()):
                with contextlib.suppress(OSError):
                    os.killpg(child, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
        time.sleep(0.001)
    return count


def _children_of(ppid: int) -> list[int]:
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as fh:
                    stat = fh.read()
            except OSError:
                continue
            fields = stat[stat.rfind(b")") + 2 :].split()
            if len(fields) > 1 and int(fields[1]) == ppid:
                out.append(int(name))
    return out


# --------------------------------------------------------------------------------------------
# The one-shot child


class _Quitter:
    """`exit`/`quit` as the `site` module defines them (the zygote runs without site)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code: object = None) -> None:
        raise SystemExit(code)


def _child(
    job: tuple[Any, ...],
    cfg: dict[str, Any],
    fds: tuple[int, int, int],
    workdir: str,
    seccomp: _PreparedFilter | None,
) -> None:
    """Confine this freshly forked process, then run the program. Never returns."""
    out_w, err_w, res_w = fds
    try:
        _, _job_id, code, stdin, files, limits, flags = job
        _wall_s, cpu_s, memory_mb, _output_bytes, nproc, nofile, fsize_mb = limits
        own_pid = os.getpid()
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the zygote died: so does the run
        os.setsid()
        for lim, value in (
            (resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
            (resource.RLIMIT_AS, (memory_mb << 20,) * 2),
            (resource.RLIMIT_FSIZE, (fsize_mb << 20,) * 2),
            (resource.RLIMIT_NOFILE, (nofile,) * 2),
            (resource.RLIMIT_NPROC, (nproc,) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
        ):
            resource.setrlimit(lim, value)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        stdin_fd = os.memfd_create("stdin", 0)
        if stdin_fd != 0:
            os.dup2(stdin_fd, 0)
        if cfg["gvisor"]:
            # Close what is open rather than a huge range: under gVisor's ptrace platform every
            # close is an expensive syscall, and old runsc has no close_range.
            for name in os.listdir("/proc/self/fd"):
                if int(name) > 3:
                    try:  # noqa: SIM105 (no contextlib import in the child's hot path)
                        os.close(int(name))
                    except OSError:
                        pass
        else:  # one close_range(2) call; listing /proc/self/fd costs the child ~35 page faults
            os.closerange(4, _CLOSE_ALL)
        os.chdir(workdir)
        uid = cfg["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        # The environment is already clean: the server started the zygote with a fixed minimal
        # one, and `main()` reduced it to exactly this run's once (the workdir path is fixed).
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if seccomp is not None:
            seccomp.install(own_pid)
    except BaseException as exc:  # confinement failed: a sandbox fault, never the program's
        try:
            msg = f"S\0{type(exc).__name__}: {exc}".encode()
            try:
                os.write(res_w, msg)
            except OSError:
                os.write(3, msg)
        finally:
            os._exit(70)
    # ---- confined from here on: submitted bytes may be parsed ----
    try:
        os.write(0, stdin)
        os.lseek(0, 0, os.SEEK_SET)
        for name, data in files:
            _write_file(name, data)
    except OSError as exc:
        _report_raw(f"E\0OSError\0cannot prepare stdin or files: {exc}\0".encode())
        os._exit(1)
    del stdin, files
    # sys.stdin/stdout/stderr, exit/quit and a fresh __main__ were prepared once in the zygote
    # (`_prepare_program_runtime`); the dup2 calls above pointed fds 0-2 at this run's streams.
    gc.enable()
    exit_code = _exec_program(code, _PROGRAM_MAIN.__dict__, bool(flags & _FLAG_COMPILED))
    os._exit(exit_code)


def _prepare_program_runtime() -> None:
    """Once per zygote: the Python-level stdio, argv and `exit`/`quit` every child inherits.

    The stream objects wrap fds 0, 1 and 2 by number; each child dup2()s its own stdin memfd
    and capture pipes onto those numbers, so nothing is rebuilt per run.
    """
    import builtins
    import io

    sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace")  # fmt: skip
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", line_buffering=True)  # fmt: skip
    setattr(sys, "__stdin__", sys.stdin)  # noqa: B010 (typeshed marks these Final)
    setattr(sys, "__stdout__", sys.stdout)  # noqa: B010
    setattr(sys, "__stderr__", sys.stderr)  # noqa: B010
    sys.argv = ["<program>"]
    builtins.exit = _Quitter("exit")  # type: ignore[assignment]
    builtins.quit = _Quitter("quit")  # type: ignore[assignment]
    global _PROGRAM_MAIN
    _PROGRAM_MAIN = _new_main()  # the zygote never runs code in it: pristine in every child


_PROGRAM_MAIN: Any = None


def _new_main() -> Any:
    import builtins

    main = type(sys)("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    return main


def _write_file(name: str, data: bytes) -> None:
    parts = [p for p in name.split("/") if p]
    if not parts or name.startswith("/") or any(p in (".", "..") for p in parts):
        raise ValueError(f"bad file name {name!r}")
    for i in range(1, len(parts)):
        os.makedirs("/".join(parts[:i]), exist_ok=True)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


# Job flag: `code` is the server's own program, compiled by the server (`marshal` bytes of a
# code object for this very bytecode version, see `hello["magic"]`), so the run skips compiling
# it. Submitted code never takes this path: the API only ever sends source.
_FLAG_COMPILED = 1


def _exec_program(code: str | bytes, namespace: dict[str, Any], compiled: bool = False) -> int:
    """Run the program like `python prog.py` would; report an uncaught exception on fd 3."""
    exit_code = 0
    try:
        try:
            if compiled and isinstance(code, bytes):
                program = marshal.loads(code)
            else:
                program = compile(code, "<program>", "exec")
            exec(program, namespace)
        finally:
            if "threading" in sys.modules:
                sys.modules["threading"]._shutdown()
    except SystemExit as exc:
        exit_code = _exit_code(exc)
    except MemoryError:
        _report_raw(b"E\0MemoryError\0\0")
        exit_code = 1
    except BaseException as exc:
        _report_exception(exc)
        exit_code = 1
    try:
        import atexit

        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        pass
    return exit_code


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    with contextlib.suppress(BaseException):
        sys.stderr.write(f"{exc.code}\n")
    return 1


def _report_exception(exc: BaseException) -> None:
    try:
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next
                                                if exc.__traceback__ else None))  # fmt: skip
        message = str(exc)
        with contextlib.suppress(BaseException):
            sys.stderr.write(tb)
        report = f"E\0{type(exc).__name__}\0{message[:2000]}\0{tb[-8000:]}"
        _report_raw(report.encode("utf-8", "backslashreplace"))
    except MemoryError:
        _report_raw(b"E\0MemoryError\0\0")
    except BaseException:
        _report_raw(f"E\0{type(exc).__name__}\0\0".encode())


def _report_raw(data: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(3, data)


# --------------------------------------------------------------------------------------------
# The zygote: one job at a time, results streamed back in order


class _Capture:
    """Head and tail of one output stream, with the total byte count."""

    __slots__ = ("cap", "head", "tail", "total")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, data: bytes) -> None:
        self.total += len(data)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        if data:
            self.tail += data
            if len(self.tail) > self.cap:
                del self.tail[: len(self.tail) - self.cap]

    def text(self) -> tuple[str, bool]:
        """Decoded output; over the cap, the first and last cap/2 bytes around a marker."""
        if self.total <= self.cap:
            return (bytes(self.head) + bytes(self.tail)).decode("utf-8", "replace"), False
        half = self.cap // 2
        both = bytes(self.head) + bytes(self.tail)
        head = both[:half]
        tail = bytes(self.tail[-(self.cap - half) :]) if self.tail else b""
        skipped = self.total - len(head) - len(tail)
        marker = f"\n...[{skipped} bytes truncated]...\n".encode()
        return (head + marker + tail).decode("utf-8", "replace"), True


class Zygote:
    """Reads jobs on fd 0, runs each in a fresh child, writes results on fd 1."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.uid: int | None = cfg["uid"]
        self.counter = 0
        self.has_pidfd = hasattr(os, "pidfd_open")
        self.workdir = workdir_of(cfg)
        self.seccomp = _PreparedFilter(self.uid is not None) if cfg["seccomp"] else None

    def serve(self) -> None:
        while True:
            header = _read_exact(0, 4)
            if len(header) < 4:
                return
            (size,) = struct.unpack("<I", header)
            msg = marshal.loads(_read_exact(0, size))
            if msg[0] == "run":
                result = self.run(msg)
            elif msg[0] == "stats":
                result = self.stats()
            else:
                result = {"status": "sandbox_error", "reason": f"unknown message {msg[0]!r}"}
            payload = "".join(_encode_json(result, 0)).encode()
            os.write(1, struct.pack("<I", len(payload)) + payload)

    def stats(self) -> dict[str, Any]:
        root = self.cfg["work_root"]
        return {
            "status": "ok",
            "work_root_entries": sorted(os.listdir(root)) if os.path.isdir(root) else [],
            "children": len(_children_of(os.getpid())),
        }

    def run(self, job: tuple[Any, ...]) -> dict[str, Any]:
        t_start = time.monotonic()
        wall_s, cpu_s, _memory_mb, output_bytes, *_ = job[5]
        self.counter += 1
        workdir = self.workdir
        os.mkdir(workdir, 0o700)
        if self.uid is not None:
            os.chown(workdir, self.uid, self.uid)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        res_r, res_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:
            _child(job, self.cfg, (out_w, err_w, res_w), workdir, self.seccomp)
        t_fork = time.monotonic()
        os.close(out_w)
        os.close(err_w)
        os.close(res_w)
        try:
            return self._supervise(pid, (out_r, err_r, res_r), t_fork, wall_s, cpu_s, output_bytes,
                                   t_start)  # fmt: skip
        finally:
            for fd in (out_r, err_r, res_r):
                os.close(fd)
            reap_strays(self.uid)
            try:
                os.rmdir(workdir)  # the common case: the run left nothing behind
            except OSError:
                shutil.rmtree(workdir, ignore_errors=True)

    def _supervise(self, pid: int, fds: tuple[int, int, int], t_fork: float, wall_s: float,
                   cpu_s: int, output_bytes: int, t_start: float) -> dict[str, Any]:  # fmt: skip
        out_r, err_r, res_r = fds
        out, err = _Capture(output_bytes), _Capture(output_bytes)
        report = bytearray()
        sinks = {out_r: out, err_r: err}
        hard_cap = max(4 * output_bytes, output_bytes + (1 << 20))
        poller = select.poll()
        for fd in fds:
            poller.register(fd, select.POLLIN)
        pidfd = -1
        if self.has_pidfd:
            try:
                pidfd = os.pidfd_open(pid)
                poller.register(pidfd, select.POLLIN)
            except OSError:
                self.has_pidfd = False
        deadline = t_fork + wall_s
        open_fds = set(fds)
        reason = None
        exited = False
        # Until the child itself has exited: a program that closes its pipes and goes on
        # (or sleeps) is still under the wall limit.
        while not exited:
            left = deadline - time.monotonic()
            if left <= 0:
                reason = "wall"
                break
            # Without a pidfd (old gVisor), look at the child every few ms.
            wait_ms = left * 1000 if pidfd >= 0 else min(left * 1000, 20 if open_fds else 1)
            events = poller.poll(wait_ms)
            if pidfd < 0 and (not events or not open_fds):
                exited = _has_exited(pid)
            for fd, _ev in events:
                if fd == pidfd:
                    exited = True
                    continue
                data = os.read(fd, 1 << 16)
                if not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                elif fd == res_r:
                    if len(report) < 1 << 16:
                        report += data
                else:
                    sinks[fd].feed(data)
            if out.total > hard_cap or err.total > hard_cap:
                reason = "output"
                break
        if pidfd >= 0:
            os.close(pidfd)
        # The whole group, before the child is reaped: its id cannot be reused while the child
        # (its leader, still a zombie when it exited by itself) exists, so this never hits
        # another group and never fails with ESRCH.
        _killpg(pid)
        _, status, rusage = os.wait4(pid, 0)
        t_end = time.monotonic()
        for fd in open_fds:  # drain what the group wrote before it died
            os.set_blocking(fd, False)
            try:
                while data := os.read(fd, 1 << 16):
                    if fd == res_r:
                        report += data[: max(0, (1 << 16) - len(report))]
                    else:
                        sinks[fd].feed(data)
                        if sinks[fd].total > hard_cap:
                            break
            except BlockingIOError:
                pass
        stdout, trunc_out = out.text()
        stderr, trunc_err = err.text()
        cpu_ms = (rusage.ru_utime + rusage.ru_stime) * 1000.0
        result: dict[str, Any] = {
            "stdout": stdout,
            "stderr": stderr,
            "truncated": trunc_out or trunc_err,
            "exit_code": os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "exception": None,
            "wall_ms": (t_end - t_fork) * 1000.0,
            "cpu_ms": cpu_ms,
            "peak_rss_kb": rusage.ru_maxrss,
            "reason": reason,
        }
        _classify(
            result, bytes(report), cpu_s, out.total > output_bytes or err.total > output_bytes
        )
        result["service_ms"] = (time.monotonic() - t_start) * 1000.0
        return result


def _classify(result: dict[str, Any], report: bytes, cpu_s: int, over_cap: bool) -> None:
    """Decide the one status of a run from how it ended."""
    reason, sig = result["reason"], result["signal"]
    if report.startswith(b"S\0"):
        result["status"], result["reason"] = "sandbox_error", "confinement"
        result["stderr"] = report[2:].decode("utf-8", "replace")
        return
    if report.startswith(b"E\0"):
        parts = report[2:].decode("utf-8", "replace").split("\0")
        parts += [""] * (3 - len(parts))
        result["exception"] = {"type": parts[0][:200], "message": parts[1], "traceback": parts[2]}
    if reason == "wall":
        result["status"] = "timeout"
    elif reason == "output" or over_cap:
        result["status"], result["reason"] = "output_limit", "output"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and result["cpu_ms"] >= cpu_s * 1000 - 50):
        result["status"], result["reason"] = "timeout", "cpu"
    elif result["exception"] is not None and result["exception"]["type"] == "MemoryError":
        result["status"], result["reason"] = "memory_limit", "memory"
    elif sig is not None:
        result["status"], result["reason"] = "killed", "signal"
    elif result["exit_code"] == 0:
        result["status"] = "ok"
    else:
        result["status"] = "runtime_error"


def _read_exact(fd: int, size: int) -> bytes:
    """Exactly `size` bytes (fewer at end of stream). No read-ahead on purpose: jobs queued
    behind this one must not sit in the zygote's memory when it forks this job's child."""
    chunks = []
    while size > 0:
        data = os.read(fd, min(size, 1 << 20))
        if not data:
            break
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def _has_exited(pid: int) -> bool:
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _killpg(pgid: int) -> None:
    try:  # noqa: SIM105 (once per run: a plain try costs no context-manager object)
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _no_default(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# One compact JSON encoder for every result (json.dumps builds a new one per call).
_encode_json = json.encoder.c_make_encoder(  # type: ignore[attr-defined]
    None, _no_default, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
)


def workdir_of(cfg: dict[str, Any]) -> str:
    """The working directory of every run of this zygote (one run at a time; emptied after)."""
    return os.path.join(cfg["work_root"], "run")


def main() -> None:
    """Zygote entry point: `child.py '<json config>'`."""
    cfg = json.loads(sys.argv[1])
    if os.uname().machine != "x86_64" and cfg["seccomp"]:
        sys.stderr.write("azr zygote: the seccomp filter supports x86_64 only\n")
        sys.exit(78)
    warnings: list[str] = []
    global _SUBREAPER
    try:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    except OSError as exc:
        _SUBREAPER = False
        # gVisor (runsc 2022-12, as Debian 12 ships it) refuses this to any process but the
        # sandbox's init, which the zygote is not inside a container. Escaped processes then go
        # to init (tini in compose reaps them) and reap_strays kills them by uid.
        warnings.append(f"not a child subreaper: {exc}")
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the server died: so does the zygote
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if cfg["private_mounts"]:
        warnings += private_mounts(cfg)
    else:
        os.makedirs(cfg["work_root"], mode=0o711, exist_ok=True)
    if cfg["uid"] is not None:
        kill_uid(cfg["uid"])  # a previous zygote of this slot may have left processes behind
    for name in cfg["preload"]:
        try:
            __import__(name)
        except ImportError as exc:
            warnings.append(f"preload {name}: {exc}")
    # The first compile() in a process builds the AST types (about 100 heap types): done once
    # here, so no child pays for it again (it was ~70 page faults per run).
    compile("def _warm(a, *b, c=1, **d):\n    return [x for x in (a, b, c, d)]\n", "<warm>", "exec")
    gc.collect()
    gc.freeze()  # keeps the shared pages shared across forks
    gc.disable()
    import _frozen_importlib_external  # always loaded: the import system's bootstrap

    hello = {"status": "ready", "pid": os.getpid(), "hash_seed": os.environ.get("PYTHONHASHSEED"),
             "warnings": warnings, "magic": _frozen_importlib_external.MAGIC_NUMBER.hex()}  # fmt: skip
    workdir = workdir_of(cfg)
    if os.path.lexists(workdir):
        shutil.rmtree(workdir, ignore_errors=True)
    os.environ.clear()  # what every child inherits: nothing of the server, not even the seed
    os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=workdir, TMPDIR=workdir,
                      LANG="C.UTF-8")  # fmt: skip
    payload = json.dumps(hello).encode()
    os.write(1, struct.pack("<I", len(payload)) + payload)
    zygote = Zygote(cfg)
    _prepare_program_runtime()
    gc.collect()
    gc.freeze()
    try:
        zygote.serve()
    finally:
        if cfg["uid"] is not None:
            kill_uid(cfg["uid"])
        reap_strays(cfg["uid"])


if __name__ == "__main__":
    main()
