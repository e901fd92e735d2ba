"""The one-shot child: confines itself completely, says so once, then runs one program.

Confinement, in this order, before any submitted byte is parsed (the zygote forked this process
and calls `run_child`; nothing here returns):

1. `PR_SET_PDEATHSIG` (the zygote died: so does the run), `setsid` (a new session and group);
2. the run's cgroup, in every hierarchy (before anything can fork);
3. rlimits: CPU seconds, address space, file size, open files, processes, core dumps = 0;
4. descriptors: 0 is a fresh memfd for stdin, 1 and 2 the capture pipes, 3 the report pipe,
   4 the setup pipe; every other inherited descriptor is closed;
5. `chdir` into the run's fresh, empty, private working directory;
6. as root: `setgroups([])`, then gid and uid dropped to this zygote's sandbox id; without root,
   in the zygote's user namespace: every capability dropped (the bounding set is already empty);
7. `PR_SET_NO_NEW_PRIVS`, then the seccomp filter (`seccomp.py`);
8. `CONFINED` written on the setup pipe, which is then closed.

Guarantees:
- a fault in steps 1-7 is reported on the setup pipe and the run ends as `sandbox_error`;
  after step 8 the program cannot reach that pipe (closed; the zygote's end is root's), so no
  program can make its run, or any other, a `sandbox_error`;
- everything else the zygote reports is what it observed (exit status, signal, rusage, byte
  counts, cgroup events). The program's own uncaught exception goes on the report pipe, tagged
  with the run's nonce; it is the only status input a program controls, and it can only make
  the program fail (`runtime_error`, or `memory_limit` for its own MemoryError);
- the environment is the zygote's fixed minimal one (PATH, HOME, TMPDIR, LANG).

Does not guarantee: secrecy of the zygote's own memory (a run can read what the zygote held at
fork time: its code, and remnants of earlier runs' jobs it handled; never a later job's).
"""

from __future__ import annotations

import gc
import marshal
import os
import resource
import signal
import sys

from azr_executor.inside.layout import apply_salt
from azr_executor.inside.protocol import CONFINED, FAULT, FLAG_COMPILED
from azr_executor.inside.seccomp import CapabilityDrop, PreparedFilter, prctl

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["prepare_program_runtime", "run_child"]

_PR_SET_NO_NEW_PRIVS, _PR_SET_PDEATHSIG = 38, 1
_CLOSE_ALL = 1 << 30  # os.closerange bound
_SETUP_FD = 4  # the setup pipe, in the child, until CONFINED is written


def run_child(
    job: tuple[Any, ...],
    cfg: dict[str, Any],
    fds: tuple[int, int, int, int],
    workdir: str,
    seccomp: PreparedFilter | None,
    join_fds: tuple[int, ...],
    nonce: bytes,
    caps: CapabilityDrop | None = None,
) -> None:
    """Confine this freshly forked process, then run the program. Never returns."""
    out_w, err_w, rep_w, setup_w = fds
    try:
        _, _job_id, code, stdin, files, limits, flags, salt = job
        _wall_s, cpu_s, memory_mb, _output_bytes, nproc, nofile, fsize_mb = limits
        own_pid = os.getpid()
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        os.setsid()
        for fd in join_fds:
            os.write(fd, b"0")
        # With a cgroup, its pids.max is the run's limit (any uid, threads too) and the rlimit
        # only a backstop; without one, RLIMIT_NPROC of the sandbox uid is the limit.
        nproc_rlimit = nproc + 16 if join_fds else nproc
        for lim, value in (
            (resource.RLIMIT_CPU, (cpu_s, cpu_s + 1)),
            (resource.RLIMIT_AS, (memory_mb << 20,) * 2),
            (resource.RLIMIT_FSIZE, (fsize_mb << 20,) * 2),
            (resource.RLIMIT_NOFILE, (nofile,) * 2),
            (resource.RLIMIT_NPROC, (nproc_rlimit,) * 2),
            (resource.RLIMIT_CORE, (0, 0)),
        ):
            resource.setrlimit(lim, value)
        # The zygote keeps 3 and 4 occupied, so these pipes are numbered 5 or above.
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(rep_w, 3)
        os.dup2(setup_w, _SETUP_FD)
        stdin_fd = os.memfd_create("stdin", 0)
        if stdin_fd != 0:
            os.dup2(stdin_fd, 0)
        if cfg["gvisor"]:
            # Close what is open rather than a huge range: under gVisor's ptrace platform every
            # close is an expensive syscall, and old runsc has no close_range.
            for name in os.listdir("/proc/self/fd"):
                if int(name) > _SETUP_FD:
                    try:  # noqa: SIM105 (no contextlib import in the child's hot path)
                        os.close(int(name))
                    except OSError:
                        pass
        else:  # one close_range(2) call; listing /proc/self/fd costs the child ~35 page faults
            os.closerange(_SETUP_FD + 1, _CLOSE_ALL)
        os.chdir(workdir)
        uid = cfg["uid"]
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        if caps is not None:  # user-namespace mode: uid 0 of the namespace, without its powers
            caps.install()
        # The environment is already clean: the server started the zygote with a fixed minimal
        # one, and the zygote reduced it to exactly this run's once (the workdir path is fixed).
        prctl(_PR_SET_NO_NEW_PRIVS, 1)
        if seccomp is not None:
            seccomp.install(own_pid)
        os.write(_SETUP_FD, CONFINED)
        os.close(_SETUP_FD)
    except BaseException as exc:  # confinement failed: a sandbox fault, never the program's
        try:
            msg = FAULT + f"{type(exc).__name__}: {exc}".encode()
            try:
                os.write(_SETUP_FD, msg)
            except OSError:
                os.write(setup_w, msg)
        finally:
            os._exit(70)
    # ---- confined from here on: submitted bytes may be parsed ----
    try:
        os.write(0, stdin)
        os.lseek(0, 0, os.SEEK_SET)
        for name, data in files:
            _write_file(name, data)
    except (OSError, ValueError) as exc:
        _report(nonce, f"E\0OSError\0cannot prepare stdin or files: {exc}\0".encode())
        os._exit(1)
    del stdin, files, job
    # sys.stdin/stdout/stderr, exit/quit and a fresh __main__ were prepared once in the zygote
    # (`prepare_program_runtime`); the dup2 calls above pointed fds 0-2 at this run's streams.
    gc.enable()
    exit_code = _exec_program(
        code, _PROGRAM_MAIN.__dict__, bool(flags & FLAG_COMPILED), salt, nonce
    )
    os._exit(exit_code)


class _Quitter:
    """`exit`/`quit` as the `site` module defines them (the zygote runs without site)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code: object = None) -> None:
        raise SystemExit(code)


def prepare_program_runtime() -> None:
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


def _exec_program(code: str | bytes, namespace: dict[str, Any], compiled: bool, salt: int,
                  nonce: bytes) -> int:  # fmt: skip
    """Run the program like `python prog.py` would; report an uncaught exception on fd 3."""
    exit_code = 0
    try:
        try:
            if compiled and isinstance(code, bytes):
                program = marshal.loads(code)
            else:
                program = compile(code, "<program>", "exec")
            del code
            keep = apply_salt(salt)  # after compiling: only the program's own allocations move
            exec(program, namespace)
            del keep
        finally:
            if "threading" in sys.modules:
                sys.modules["threading"]._shutdown()
    except SystemExit as exc:
        exit_code = _exit_code(exc)
    except MemoryError:
        _report(nonce, b"E\0MemoryError\0\0")
        exit_code = 1
    except BaseException as exc:
        _report_exception(exc, nonce)
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
    try:  # noqa: SIM105
        sys.stderr.write(f"{exc.code}\n")
    except BaseException:
        pass
    return 1


def _report_exception(exc: BaseException, nonce: bytes) -> None:
    try:
        import traceback

        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next
                                                if exc.__traceback__ else None))  # fmt: skip
        message = str(exc)
        try:  # noqa: SIM105
            sys.stderr.write(tb)
        except BaseException:
            pass
        report = f"E\0{type(exc).__name__}\0{message[:2000]}\0{tb[-8000:]}"
        _report(nonce, report.encode("utf-8", "backslashreplace"))
    except MemoryError:
        _report(nonce, b"E\0MemoryError\0\0")
    except BaseException:
        _report(nonce, f"E\0{type(exc).__name__}\0\0".encode())


def _report(nonce: bytes, data: bytes) -> None:
    try:  # noqa: SIM105
        os.write(3, nonce + data)
    except OSError:
        pass
