"""The zygote's namespaces (mount, IPC; and, without root, user and PID), and the per-run
working directory.

Guarantees (the zygote is root, or the root of its own user namespace, and `private_mounts` is
on):
- the zygote, and so every child, lives in its own mount namespace and its own IPC namespace
  (SysV objects and POSIX queues of the host are out of reach; seccomp denies those calls too);
- `/tmp`, `/var/tmp`, `/dev/shm`, `/run/lock`, `/dev/mqueue` are empty read-only tmpfs mounts,
  so no file can be left there for a later run to find; `/sys/fs/cgroup` is masked the same way
  once the zygote holds its cgroup descriptors; `/dev/ptmx` and `/dev/pts` are masked too (the
  host's pseudo-terminals are one pool for the whole machine);
- `/proc` is mounted with `hidepid=2`: a run sees only the processes of its own uid;
- a closed home holding the interpreter (pyenv under /root) is masked, only the interpreter's
  prefix is bind-mounted back read-only;
- each run's working directory is private (owned by the sandbox uid, mode 0700) on the zygote's
  size- and inode-limited scratch tmpfs, and removed after the run without recursion, whatever
  its depth or its modes (`remove_tree`).

Does not guarantee:
- without root and without user namespaces: the runs then share the service's mounts and the
  working directory lies on the host's disk (bounded by RLIMIT_FSIZE per file only); the
  service refuses to start that way unless `ALLOW_WEAK_ISOLATION` says so;
- in a user namespace, a fresh /proc can only be mounted where the outer /proc has nothing
  mounted over it (not in a default Docker container): the zygote then logs it, and the runs'
  /proc shows the outer processes, whose memory, environment and descriptors stay closed to them
  (the service and the zygotes are not dumpable);
- under gVisor's old runsc (2022-12): no `nr_inodes` on tmpfs (inode fills are bounded by the
  run's wall limit and the sandbox's memory), and hidepid has no effect (each zygote has a
  sandbox of its own, so /proc shows the zygote and the run's own processes, nothing else).
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys
import time

from azr_executor.inside.seccomp import libc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["RunDir", "enter_user_namespace", "mask", "private_mounts", "remove_tree"]

_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE, _MS_BIND, _MS_REMOUNT = 0x4000, 1 << 18, 0x1000, 0x20
_CLONE_NEWNS, _CLONE_NEWIPC = 0x00020000, 0x08000000
_CLONE_NEWUSER, _CLONE_NEWPID = 0x10000000, 0x20000000


def _mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    rc = libc.mount(source.encode(), target.encode(), fstype.encode(), ctypes.c_ulong(flags),
                     data.encode() if data else None)  # fmt: skip
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {fstype} on {target}: {os.strerror(err)}")


def private_mounts(cfg: dict[str, Any]) -> list[str]:
    """Give the zygote (and so every child) its own mount namespace; returns warnings."""
    warnings: list[str] = []
    if libc.unshare(_CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    if libc.unshare(_CLONE_NEWIPC) != 0:
        err = ctypes.get_errno()
        warnings.append(f"no private IPC namespace: unshare: {os.strerror(err)}")
    try:
        _mount("none", "/", "", _MS_REC | _MS_PRIVATE)
    except OSError as exc:  # gVisor: the sandbox's mounts are private to it already
        warnings.append(f"mount propagation left as is: {exc}")
    root = os.path.realpath(cfg["work_root"])
    if cfg.get("gvisor"):
        _open_prefix_in_overlay(sys.base_prefix)
    else:
        _expose_prefix(sys.base_prefix)
    for shared in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue"):
        if os.path.isdir(shared) and not os.path.islink(shared):
            _empty_read_only(shared, root)
    # Pseudo-terminals are a host-wide pool (kernel.pty.max): a run could hold thousands of
    # them for its wall time. Runs get none (their stdio are pipes).
    for pty in ("/dev/ptmx", "/dev/pts"):
        try:
            if os.path.exists(pty) and not os.path.islink(pty):
                mask(pty)
        except OSError as exc:  # gVisor: its pseudo-terminals are the sandbox's own anyway
            warnings.append(f"{pty} left as is: {exc}")
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
    if cfg.get("userns"):
        # The runs share the zygote's uid here, so they could write into (or chmod) a scratch
        # root owned by it: the run directory is a mount of its own, and the root read-only.
        run = os.path.join(root, "run")
        os.mkdir(run, 0o700)
        _mount("azr-run", run, "tmpfs", _MS_NOSUID | _MS_NODEV, f"{opts.replace('0711', '0700')}")
        _mount("none", root, "", _MS_REMOUNT | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    try:
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2")
    except OSError as exc:
        warnings.append(f"hidepid /proc not mounted: {exc}")
    for path in cfg.get("mask_paths", ()):  # the service's secrets: the token file
        if os.path.lexists(path):
            mask(path)
    return warnings


def _empty_read_only(shared: str, work_root: str) -> None:
    """An empty read-only tmpfs over `shared`: nothing can be left there for a later run. When
    the work root lies below it (without root the default is under $TMPDIR), the path to it is
    made first, then the tmpfs turned read-only; the scratch tmpfs is mounted there after."""
    flags = _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    inside = work_root.startswith(shared.rstrip("/") + "/")
    opts = "size=64k,nr_inodes=64,mode=0755" if inside else "size=4k,nr_inodes=4,mode=0755"
    try:
        _mount("azr-ro", shared, "tmpfs", flags | (0 if inside else _MS_RDONLY), opts)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        _mount("azr-ro", shared, "tmpfs", flags | (0 if inside else _MS_RDONLY), "mode=0755")
    if inside:
        os.makedirs(work_root, mode=0o711, exist_ok=True)
        _mount("none", shared, "", _MS_REMOUNT | _MS_RDONLY | flags)


def enter_user_namespace() -> None:
    """Without root: make this process PID 1 of new user, mount, PID and IPC namespaces, as
    the root of a user namespace that maps only the service's own uid and gid.

    The caller's process stays outside as a waiter and leaves with the zygote's status; it
    closes its copies of the pipes, so the server sees the zygote's end of stream as before.
    The new PID namespace dies with the zygote (the kernel kills every process in it).
    """
    uid, gid = os.getuid(), os.getgid()
    flags = _CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWIPC
    if libc.unshare(flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(user, mount, pid, ipc namespaces): {os.strerror(err)}")
    try:
        with open("/proc/self/setgroups", "w") as fh:
            fh.write("deny")
    except PermissionError:  # gVisor refuses it, and does not need it for gid_map
        pass
    for name, text in (("uid_map", f"0 {uid} 1"), ("gid_map", f"0 {gid} 1")):
        with open(f"/proc/self/{name}", "w") as fh:
            fh.write(text)
    pid = os.fork()
    if pid == 0:
        return  # pid 1 of the new namespace: the zygote
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE: the waiter is closed to the service's uid too
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):
        os.dup2(null, fd)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF if os.WIFEXITED(status) else 1)


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


def mask(path: str) -> None:
    """Hide `path`: a file behind /dev/null, a directory behind an empty read-only tmpfs
    (descriptors opened before stay valid)."""
    if not os.path.isdir(path):
        _mount("/dev/null", path, "", _MS_BIND)
        return
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    try:
        _mount("azr-mask", path, "tmpfs", flags, "size=4k,nr_inodes=4,mode=0755")
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        _mount("azr-mask", path, "tmpfs", flags, "mode=0755")


class RunDir:
    """The working directory of every run of one zygote: created empty, gone after the run.

    A plain directory on the zygote's scratch tmpfs (as root; its size and inode limits bound
    what a run can leave there, and the pages count against the run's cgroup). The common case
    costs one `mkdir` and one `rmdir`; a run that left anything is removed by `remove_tree`.
    When even that fails, `clean` returns False and the zygote retires. (A tmpfs mounted per
    run was measured: its mount and lazy unmount cost about 160 microseconds of wall time a
    run here, for nothing `remove_tree` does not do.)
    """

    __slots__ = ("mounted", "path", "uid")

    def __init__(self, path: str, uid: int | None, mounted: bool = False) -> None:
        self.path = path
        self.uid = uid
        self.mounted = mounted  # a mount of its own (user-namespace mode): emptied, never removed

    def setup(self) -> None:
        """Once per zygote: nothing left from an earlier zygote of this slot."""
        if self.mounted:
            self._empty()
        elif os.path.lexists(self.path):
            remove_tree(self.path)

    def create(self) -> None:
        """Before a run: an empty directory owned by the sandbox uid, mode 0700."""
        if self.mounted:
            os.chmod(self.path, 0o700)  # the last run may have changed it
            return
        os.mkdir(self.path, 0o700)
        if self.uid is not None:
            os.chown(self.path, self.uid, self.uid)

    def clean(self, deadline: float | None = None) -> bool:
        """After a run (its processes are gone): True when the next run may start; False when
        the directory could not be emptied, or not before `deadline` (`time.monotonic()`)."""
        if self.mounted:
            return self._empty(deadline)
        try:
            os.rmdir(self.path)  # the common case: the run left nothing behind
            return True
        except OSError:
            pass
        return remove_tree(self.path, deadline)

    def _empty(self, deadline: float | None = None) -> bool:
        try:
            names = os.listdir(self.path)
        except PermissionError:
            os.chmod(self.path, 0o700)
            names = os.listdir(self.path)
        return all(remove_tree(os.path.join(self.path, name), deadline) for name in names)


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: str, deadline: float | None = None) -> bool:
    """Remove `path` and everything under it; True when it is gone, False when it could not
    be removed or `deadline` (`time.monotonic()`) passed first (a run can leave more than any
    budget removes: a tree hundreds of thousands of levels deep, where tmpfs has no inode
    bound, as under old gVisor; its zygote then retires).

    Iterative (no recursion limit: a run may leave a tree millions of levels deep), one open
    directory at a time (no descriptor limit), never following a symlink; a directory whose
    mode forbids listing or removing (chmod 000, by a non-root run) is given 0700 first. Only
    called when every process of the run is dead, so nothing moves under it.
    """
    late = _late_check(deadline)
    parent, _, name = os.path.abspath(path).rpartition("/")
    try:
        top = os.open(parent or "/", _DIR_FLAGS)
    except OSError:
        return not os.path.lexists(path)
    stack: list[str] = []  # names from `path` down to the directory `fd` is open on
    fd = top
    try:
        if not _descend(fd, name, stack):
            return not os.path.lexists(path)
        fd = _open_dir(top, name)
        while True:
            child = _next_subdir(fd, late)
            if late():
                return False
            if child is not None:
                stack.append(child)
                sub = _open_dir(fd, child)
                os.close(fd)
                fd = sub
                continue
            done = stack.pop()
            up = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = up
            os.rmdir(done, dir_fd=fd)
            if not stack:
                return True
    except OSError:
        return not os.path.lexists(path)
    finally:
        if fd != top:
            os.close(fd)
        os.close(top)


def _descend(parent_fd: int, name: str, stack: list[str]) -> bool:
    """Start at `name`: False when it is gone; a non-directory is simply unlinked."""
    try:
        st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=parent_fd)
        return False
    stack.append(name)
    return True


def _open_dir(parent_fd: int, name: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=parent_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)


def _late_check(deadline: float | None) -> Any:
    """A function telling whether `deadline` has passed (the clock is read every 64 calls: a
    read per removed entry would cost more than the removal on tmpfs); once True, always True."""
    if deadline is None:
        return lambda: False
    state = [0, False]  # calls, passed

    def late() -> bool:
        state[0] += 1
        if not state[1] and not state[0] & 63:
            state[1] = time.monotonic() > deadline
        return bool(state[1])

    return late


def _next_subdir(fd: int, late: Any) -> str | None:
    """Unlink every non-directory in `fd`; return one subdirectory's name, or None (also when
    `late()` says the time is up: the caller checks it again)."""
    mode = os.fstat(fd).st_mode
    if mode & 0o700 != 0o700:
        os.fchmod(fd, 0o700)
    removed = True
    while removed:  # entries unlinked mid-listing may hide others: list again until none is
        removed = False
        with os.scandir(fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    return entry.name
                os.unlink(entry.name, dir_fd=fd)
                removed = True
                if late():
                    return None
    return None
