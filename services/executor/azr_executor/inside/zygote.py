"""The zygote: a small warm interpreter that forks one confined child per job, watches it from
outside, and reports what it observed.

Started by the server as `python -s -S -P -c <bootstrap> CONFIG` (`BOOTSTRAP`): the bootstrap
makes this package importable without putting anything on `sys.path`, so a run's `import` sees
the standard library only. Jobs arrive on fd 0, one at a time and never read ahead (a job queued
behind this one is never in memory when this one's child is forked); frames go out on fd 1
(`protocol.py`).

Guarantees:
- a run's status is decided here from what the zygote observed: whether the child reported
  `CONFINED` on the setup pipe before its pipe closed, the wall clock, the byte counts, the exit
  status and signal, rusage, and the cgroup's OOM kills; the only bytes of the run that count
  are its stdout and stderr (as data) and its nonce-tagged exception report (`child.py`);
- output caps hold on the bytes that go into a frame (head and tail, `Capture`), so a frame is
  never over `protocol.max_frame_bytes(cap)`;
- a fault while cleaning up after a run (a process that does not die, a directory that cannot
  be removed) never ends the zygote in the middle of a frame: the result says `retire`, the
  zygote exits after writing it, and the server re-dispatches the jobs queued behind it;
- cleaning up after a run takes at most `protocol.AFTER_RUN_BUDGET_S` (past it: `retire`), so
  what a run leaves for its zygote never makes the server call the zygote stuck, and never
  makes the run a `sandbox_error`.

Does not guarantee: anything about the zygote's own failure modes beyond being replaced (a
zygote that dies or stalls past a run's wall limit is killed by the server; that run ends as
`sandbox_error`, a retryable fault).
"""

from __future__ import annotations

import gc
import json
import marshal
import os
import select
import signal
import sys
import time

from azr_executor.inside import protocol
from azr_executor.inside.cgroup import RunGroup
from azr_executor.inside.child import prepare_program_runtime, run_child
from azr_executor.inside.mounts import RunDir, enter_user_namespace, mask, private_mounts
from azr_executor.inside.protocol import CONFINED, FAULT, NONCE_BYTES, decode_report, encode_frame
from azr_executor.inside.reap import Sweeper, children_of, wait_exit
from azr_executor.inside.seccomp import (
    CapabilityDrop,
    PreparedFilter,
    check_architecture,
    drop_bounding_set,
    prctl,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["BOOTSTRAP", "Capture", "Zygote", "classify", "main"]

# `python -s -S -P -c BOOTSTRAP % repr(package_dir)`: the package `azr_executor` limited to
# this directory, without executing its `__init__` (which is the service's, not ours).
BOOTSTRAP = (
    "import sys;m=type(sys)('azr_executor');m.__path__=[%r];sys.modules['azr_executor']=m;"
    "from azr_executor.inside.zygote import main;main()"
)
_PR_SET_CHILD_SUBREAPER, _PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 36, 1, 4
_REPORT_CAP = 1 << 16


class Capture:
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

    def output(self) -> tuple[bytes, bool]:
        """The bytes for the frame; over the cap, the first and last cap/2 around a marker
        (never more than cap + `protocol.MARKER_MAX_BYTES`)."""
        if self.total <= self.cap:
            return bytes(self.head) + bytes(self.tail), False
        half = self.cap // 2
        both = bytes(self.head) + bytes(self.tail)
        head = both[:half]
        tail = bytes(self.tail[-(self.cap - half) :]) if self.tail else b""
        skipped = self.total - len(head) - len(tail)
        return head + f"\n...[{skipped} bytes truncated]...\n".encode() + tail, True


class Zygote:
    """Reads jobs on fd 0, runs each in a fresh child, writes one frame per job on fd 1."""

    def __init__(self, cfg: dict[str, Any], group: RunGroup | None, subreaper: bool) -> None:
        self.cfg = cfg
        self.uid: int | None = cfg["uid"]
        self.has_pidfd = hasattr(os, "pidfd_open")
        mounted = bool(cfg.get("userns") and cfg["private_mounts"])
        self.rundir = RunDir(workdir_of(cfg), self.uid, mounted)
        userns = bool(cfg.get("userns"))
        self.seccomp = PreparedFilter(self.uid is not None, userns) if cfg["seccomp"] else None
        self.caps = CapabilityDrop() if userns else None
        self.group = group
        self.join_fds = group.join_fds if group is not None else ()
        self.sweeper = Sweeper(group, self.uid, subreaper)
        self.retire = False
        self.after_run_deadline = 0.0  # set when a run's child is killed (`_supervise`)

    def serve(self) -> None:
        while not self.retire:
            header = _read_exact(0, protocol.JOB_LENGTH.size)
            if len(header) < protocol.JOB_LENGTH.size:
                return
            (size,) = protocol.JOB_LENGTH.unpack(header)
            msg = marshal.loads(_read_exact(0, size))
            out = err = b""
            if msg[0] == "run":
                result, out, err = self.run(msg)
            elif msg[0] == "stats":
                result = self.stats()
            else:
                result = {"status": "sandbox_error", "reason": f"unknown message {msg[0]!r}"}
            _write_all(1, encode_frame(result, out, err))

    def stats(self) -> dict[str, Any]:
        root = self.cfg["work_root"]
        entries = sorted(os.listdir(root)) if os.path.isdir(root) else []
        if self.rundir.mounted:  # the run directory's mount point stays; what is in it counts
            entries = [e for e in entries if e != "run"] + os.listdir(self.rundir.path)
        return {
            "status": "ok",
            "work_root_entries": entries,
            "children": len(children_of(os.getpid())),
            "group_procs": len(self.group.occupied()) if self.group is not None else None,
        }

    def run(self, job: tuple[Any, ...]) -> tuple[dict[str, Any], bytes, bytes]:
        t_start = time.monotonic()
        wall_s, cpu_s, memory_mb, output_bytes, nproc, *_ = job[5]
        try:
            if self.group is not None:
                self.group.set_limits(memory_mb << 20, nproc)
            self.rundir.create()
        except OSError as exc:
            self.retire = True
            return {"status": "sandbox_error", "reason": "zygote", "retire": True,
                    "detail": f"cannot prepare the run: {exc}"}, b"", b""  # fmt: skip
        nonce = os.urandom(NONCE_BYTES)
        pipes = [os.pipe2(os.O_CLOEXEC) for _ in range(4)]  # stdout, stderr, report, setup
        pid = os.fork()
        if pid == 0:
            run_child(job, self.cfg, tuple(w for _, w in pipes), self.rundir.path,  # type: ignore[arg-type]
                      self.seccomp, self.join_fds, nonce, self.caps)  # fmt: skip
        t_fork = time.monotonic()
        for _, w in pipes:
            os.close(w)
        reads = tuple(r for r, _ in pipes)
        try:
            result, out, err = self._supervise(pid, reads, t_fork, wall_s, output_bytes, nonce)
        finally:
            for fd in reads:
                os.close(fd)
            # Whatever the run left, cleaning up after it fits in one budget (see protocol.py).
            deadline = self.after_run_deadline
            clean = self.sweeper.sweep(max(0.0, deadline - time.monotonic()))
            clean = self.rundir.clean(deadline) and clean
        if self.group is not None and self.group.new_oom_kills():
            result["oom_killed"] = True
        classify(result, cpu_s)
        if not clean:
            result["retire"] = self.retire = True
        result["service_ms"] = (time.monotonic() - t_start) * 1000.0
        return result, out, err

    def _supervise(self, pid: int, fds: tuple[int, ...], t_fork: float, wall_s: float,
                   output_bytes: int, nonce: bytes) -> tuple[dict[str, Any], bytes, bytes]:  # fmt: skip
        out_r, err_r, rep_r, setup_r = fds
        out, err = Capture(output_bytes), Capture(output_bytes)
        report, setup = bytearray(), bytearray()
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
                if fd == setup_r:
                    setup += data[: 4096 - len(setup)]
                    if not data or setup[:1] == CONFINED:  # nothing more is read from it
                        poller.unregister(fd)
                        open_fds.discard(fd)
                elif not data:
                    poller.unregister(fd)
                    open_fds.discard(fd)
                elif fd == rep_r:
                    report += data[: max(0, _REPORT_CAP - len(report))]
                else:
                    sinks[fd].feed(data)
            if out.total > hard_cap or err.total > hard_cap:
                reason = "output"
                break
        # The whole group, before the child is reaped: its id cannot be reused while the child
        # (its leader, still a zombie when it exited by itself) exists, so this never hits
        # another group and never fails with ESRCH.
        _killpg(pid)
        self.after_run_deadline = time.monotonic() + protocol.AFTER_RUN_BUDGET_S
        # A SIGKILLed child not gone within the whole budget is a kernel-side stall.
        waited = wait_exit(pid, pidfd, protocol.AFTER_RUN_BUDGET_S)
        if pidfd >= 0:
            os.close(pidfd)
        t_end = time.monotonic()
        if setup_r in open_fds and setup[:1] != CONFINED:  # a fault message not read yet
            setup += _drain(setup_r, 4096 - len(setup))
        open_fds.discard(setup_r)
        for fd in open_fds:  # drain what the group wrote before it died
            if fd == rep_r:
                report += _drain(fd, _REPORT_CAP - len(report))
            else:
                sinks[fd].feed(_drain(fd, hard_cap - sinks[fd].total))
        stdout, trunc_out = out.output()
        stderr, trunc_err = err.output()
        result: dict[str, Any] = {
            "truncated": trunc_out or trunc_err,
            "exit_code": None,
            "signal": None,
            "exception": None,
            "wall_ms": (t_end - t_fork) * 1000.0,
            "cpu_ms": 0.0,
            "peak_rss_kb": 0,
            "reason": reason,
            "over_cap": out.total > output_bytes or err.total > output_bytes,
            "confined": setup[:1] == CONFINED,
        }
        if setup[:1] == FAULT:
            result["fault"] = setup[1:].decode("utf-8", "replace")
        if waited is None:
            self.retire = True
            result["fault"] = "the run's first process did not die within its bound"
            result["confined"] = False
            return result, stdout, stderr
        status, rusage = waited
        result["exit_code"] = os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None
        result["signal"] = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        result["cpu_ms"] = (rusage.ru_utime + rusage.ru_stime) * 1000.0
        result["peak_rss_kb"] = rusage.ru_maxrss
        result["exception"] = decode_report(bytes(report), nonce)
        return result, stdout, stderr


def classify(result: dict[str, Any], cpu_s: int) -> None:
    """Decide the one status of a run from what the zygote observed (in place).

    Only the exception report comes from the program, and only when it exited non-zero: it can
    make the program's own run a `runtime_error` or a `memory_limit`, nothing else.
    """
    reason, sig, exc = result["reason"], result["signal"], result["exception"]
    if result["exit_code"] in (0, None):
        result["exception"] = exc = None
    if not result.pop("confined", False):
        result["status"], result["reason"] = "sandbox_error", "confinement"
        result["detail"] = result.get("fault") or "the child died before it was confined"
    elif reason == "wall":
        result["status"] = "timeout"
    elif reason == "output" or result["over_cap"]:
        result["status"], result["reason"] = "output_limit", "output"
    elif result.get("oom_killed"):
        result["status"], result["reason"] = "memory_limit", "memory"
    elif sig == signal.SIGXCPU or (sig == signal.SIGKILL and result["cpu_ms"] >= cpu_s * 1000 - 50):
        result["status"], result["reason"] = "timeout", "cpu"
    elif exc is not None and exc["type"] == "MemoryError":
        result["status"], result["reason"] = "memory_limit", "memory"
    elif sig is not None:
        result["status"], result["reason"] = "killed", "signal"
    elif result["exit_code"] == 0:
        result["status"] = "ok"
    else:
        result["status"] = "runtime_error"
    result.pop("over_cap", None)
    result.pop("fault", None)


def _drain(fd: int, limit: int) -> bytes:
    """What is buffered in `fd` now (non-blocking), up to `limit` bytes kept."""
    os.set_blocking(fd, False)
    kept = bytearray()
    try:
        while data := os.read(fd, 1 << 16):
            kept += data[: max(0, limit - len(kept))]
            if len(kept) >= limit:
                break
    except BlockingIOError:
        pass
    return bytes(kept)


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


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


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


def workdir_of(cfg: dict[str, Any]) -> str:
    """The working directory of every run of this zygote (one run at a time; emptied after)."""
    return os.path.join(cfg["work_root"], "run")


def _reserve_low_fds() -> None:
    """Keep descriptors 3 and 4 taken, so that no run pipe is numbered 3 or 4 (the child
    dup2()s its report and setup pipes onto those numbers)."""
    while True:
        fd = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if fd > 4:
            os.close(fd)
        if fd >= 4:
            return


def main() -> None:
    """Zygote entry point (see `BOOTSTRAP`); `sys.argv[1]` is the JSON config."""
    cfg = json.loads(sys.argv[1])
    try:
        check_architecture(cfg["seccomp"])
    except OSError as exc:
        sys.stderr.write(f"azr zygote: {exc.strerror}\n")
        sys.exit(78)
    prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # the server died: so does the zygote
    if cfg.get("userns"):  # no root: pid 1 of user, mount, PID and IPC namespaces of its own
        enter_user_namespace()
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)  # its waiter (the server's child) died
    _reserve_low_fds()
    warnings: list[str] = []
    subreaper = True
    try:
        prctl(_PR_SET_CHILD_SUBREAPER, 1)
    except OSError as exc:
        subreaper = False
        # gVisor (runsc 2022-12, as Debian 12 ships it) refuses this to any process but the
        # sandbox's init, which the zygote is not inside a container. Escaped processes then go
        # to init, and the sweep finds them by uid.
        warnings.append(f"not a child subreaper: {exc}")
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    group = RunGroup(cfg["cgroup"]) if cfg.get("cgroup") else None
    if cfg["private_mounts"]:
        warnings += private_mounts(cfg)
        if group is not None and os.path.isdir("/sys/fs/cgroup"):
            mask("/sys/fs/cgroup")  # the group's files stay open to us, out of the runs' sight
    else:
        os.makedirs(cfg["work_root"], mode=0o711, exist_ok=True)
    if cfg.get("userns"):
        drop_bounding_set()  # no child can gain a capability back, even through exec
    # Not dumpable: a process of the same uid (a run, without root) cannot open this one's
    # /proc/<pid>/{environ,mem,fd}, nor ptrace it.
    prctl(_PR_SET_DUMPABLE, 0)
    zygote = Zygote(cfg, group, subreaper)
    zygote.rundir.setup()
    if not zygote.sweeper.sweep():  # a previous zygote of this slot may have left processes
        warnings.append("processes of a previous zygote survived the start-up sweep")
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
             "warnings": warnings, "magic": _frozen_importlib_external.MAGIC_NUMBER.hex(),
             "cgroup": group is not None}  # fmt: skip
    workdir = zygote.rundir.path
    os.environ.clear()  # what every child inherits: nothing of the server, not even the seed
    os.environ.update(PATH="/usr/local/bin:/usr/bin:/bin", HOME=workdir, TMPDIR=workdir,
                      LANG="C.UTF-8")  # fmt: skip
    _write_all(1, encode_frame(hello))
    prepare_program_runtime()
    gc.collect()
    gc.freeze()
    try:
        zygote.serve()
    finally:
        zygote.sweeper.sweep()
