"""The one harness both `/v1/tests` and `/v1/azr` run inside the sandbox: it loads programs in
forks of itself, calls them, and reports what happened. Standard library only; the server sends
this file's text as the job's code (`HARNESS_SOURCE`) and reads the report with `read_report`.

Protocol. stdin holds one `marshal` spec (plain data only: no code object ever travels in it):
    {"nonce": bytes, "sweep": bool, "programs": [source], "tests": [source],
     "units": [{"program": int, "module": str, "entry": str, "calls": [call],
                "mode": "shared" | "fresh" | "forked", "reverse": bool, "passes": int,
                "stop_on_error": bool, "timeout_s": float, "max_chars": int, "report_cap": int}]}
A call is either `bytes`, the `marshal` of an `(args, kwargs)` pair of plain values that the
server read with the literal grammar (`azr_proto.literals`), loaded afresh for every call: model
text is never evaluated here; or an `int`, the index of a test source in `tests` (`/v1/tests`
assert cases: code written by the test's author, run in the program's namespace with the hook
`_azr_check_(i, value)`, which reports `value` for check `i`).

Processes. This process (the *parent*) never runs submitted code. It compiles every program and
test (parsing runs nothing), then runs each unit in its own fork (the *unit process*), one after
another, under the unit's wall deadline. The unit process loads its program and runs its calls:
- shared: the program is loaded once and the calls run in order in this process, `passes`
  times over (a second pass catches state kept between calls);
- fresh: every call gets a fresh exec of the program (a new namespace) in this one process;
- forked: the program is loaded once and every call runs in its own fork of that process (the
  last in the unit process itself, which no call touched), so no call sees another's effects;
- reverse: the calls run in reverse order (results are reported in input order).

Reports. One line per unit on a private duplicate of fd 1, written by this parent:
    nonce + index + ":" + header + "\t" + body + "\n"
The header is this process's own JSON (no tab in it): how the unit process ended, as observed
here: {"end": "exit" | "signal" | "timeout" | "over_cap", "code": int, "signal": int,
"wall_ms", "cpu_ms", "rss_kb", "bytes": what it wrote}. The body is the unit process's JSON,
passed through unparsed (a parse here costs every later fork copied pages), or empty when it
wrote none or one this parent refused (not one JSON object on one line):
    {"load": null | result, "passes": [[result | null, ...], ...]}
where a result is {"repr": str}, {"error": kind, "type": str, "message": str}, or for a test
{"checks": [[i, result], ...]} (plus the error keys if the test raised). `null` marks a call
not run (an earlier one failed with `stop_on_error`).

Guarantees:
- the unit process holds no descriptor but /dev/null on fds 0-2 and its own report file: the
  job's stdin (every unit's spec), the report stream, the sandbox's fault channel and every
  other unit's report file are closed in it, so a program can corrupt only its own body, and
  a body cannot forge a header or another unit's line (the parent writes the nonce, index and
  header, and refuses a body with a newline);
- with `sweep` (the server sets it where a run's `kill(-1)` reaches only the run's own
  processes: a sandbox uid, or the zygote's PID namespace), nothing a unit started outlives
  it: this parent is their subreaper and kills them all with `kill(-1)` before the next unit
  starts, so no unit can signal, slow, starve or (under gVisor, where a process may reopen
  another's files through /proc) write into a later unit of the job. When that fails, the
  parent stops: the units not reported yet run again elsewhere;
- how a unit ended (timeout, signal, report over its cap), its wall and CPU time come from this
  parent's observation (its deadline, `wait4`), never from the unit's own bytes;
- an output is accepted only when it is plain data of exact builtin types (None, bool, int,
  float, complex, str, bytes, list, tuple, dict, set, frozenset), at most `max_chars` long as a
  repr, and that repr reads back to an equal value: true for those types except non-finite
  floats (checked on the value, without parsing; a unit test pins it to the grammar). No method
  of a program-defined class runs while an output is inspected.

Does not guarantee:
- anything about a value or a test result against the program that produced it: the unit
  process is the program's, so it can report any value for its own calls (which is no more than
  returning it) and can claim that a test ran to its end. A test's verdict rests on lifted
  `assert <expr> == <literal>` checks whose expected values never enter the sandbox; any other
  assert passes if the program's process says so (see `checking.py`);
- against a unit that signals or stops this parent (its uid is the units'): then the parent's
  reports stop, which fails the job, never passes it (the server runs the units not reported
  again, each alone);
- without `sweep` (the weak mode), a unit's leftover processes may live on beside later units.
"""

from __future__ import annotations

import builtins
import gc
import io
import json
import marshal
import math
import os
import signal
import sys
import time

# No `typing` at run time: importing it costs every job about 7 ms of CPU in the sandbox.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Result = dict[str, Any]

_ATOMS: tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes)
_COLLECTIONS: tuple[type, ...] = (list, tuple, set, frozenset)
_SHORT_INT = 10**15  # an int whose repr has at most 16 characters
MAX_DEPTH = 100  # output nesting; the grammar (azr_proto.literals) reads up to 128
_MAX_MESSAGE = 500
_MAX_FD = 65536
_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
_SWEEP_S = 1.0  # what a unit left must be gone by then, or the job stops


# Everything the unit process calls after its program loads, bound here before any program runs:
# a program that patches builtins, `json` or `os` in its process (`builtins.repr = ...`) does not
# change what the harness calls. (It can still reach these names; see "Does not guarantee".)
_str, _type, _len, _repr, _int, _list, _range, _any = str, type, len, repr, int, list, range, any
_exec, _callable, _isinstance, _memoryview = exec, callable, isinstance, memoryview
_dumps, _loads, _mloads, _isfinite, _join = (
    json.dumps,
    json.loads,
    marshal.loads,
    math.isfinite,
    b"".join,
)
_fork, _close, _exit, _write = os.fork, os.close, os._exit, os.write
_waitpid, _wtermsig, _wifsignaled = os.waitpid, os.WTERMSIG, os.WIFSIGNALED
_memfd, _closerange, _wait4, _monotonic = os.memfd_create, os.closerange, os.wait4, time.monotonic
# The C functions: `signal.pthread_sigmask` turns masks into enum sets (~20 copied pages a unit).
_signal = sys.modules["_signal"]  # what `signal` wraps (always loaded with it)
_sigmask, _sigwait = _signal.pthread_sigmask, _signal.sigtimedwait
_lseek, _pread, _wexitstatus = os.lseek, os.pread, os.WEXITSTATUS
_MFD_CLOEXEC, _WNOHANG, _SEEK_END = os.MFD_CLOEXEC, os.WNOHANG, os.SEEK_END
_SIGXFSZ, _SIG_SETMASK = signal.SIGXFSZ, signal.SIG_SETMASK
_SIGCHLD_SET = {signal.SIGCHLD}
_UNBLOCKED: set[int] = set()  # the signal mask the unit processes get: main() sets it


def _json_writer() -> Any:
    """`json.dumps` with its defaults, as one prebuilt C encoder: `json.dumps` builds a new
    encoder (and touches the Python side of `json`) on every call, which costs each unit process
    about 30 copy-on-write page faults; this touches only the value. No circular-reference check:
    the harness's own reports are trees."""
    try:
        from json import encoder

        make = getattr(encoder, "c_make_encoder", None)  # the C accelerator, when built
        if make is None:
            return json.dumps
        encode = make(
            None, None, encoder.encode_basestring_ascii, None, ": ", ", ", False, False, True
        )
        join = "".join
        return lambda value: join(encode(value, 0))
    except (ImportError, AttributeError, TypeError):
        return json.dumps


_dumps = _json_writer()


class _Sink(io.TextIOBase):
    """A text stream that discards everything: the program's prints cost no memory."""

    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True


def _error(kind: str, exc: BaseException | None = None, message: str = "") -> Result:
    if exc is not None:
        try:
            message = _str(exc)[:_MAX_MESSAGE]
        except BaseException:  # a custom __str__ may raise anything
            message = "<unprintable exception>"
    return {
        "error": kind,
        "type": _type(exc).__name__ if exc is not None else "",
        "message": message,
    }


def _check_plain(value: object, max_chars: int) -> tuple[Result | None, str]:
    """(None, "") when `value` is plain data whose repr may fit in `max_chars` and reads back as
    a literal equal to it; else the error, or (None, why its repr is no literal).

    Walks without recursion and with a budget: every element costs at least one repr character,
    so a walk over budget proves the repr too long (this also ends self-referential values).
    The walk goes on past a part with no literal form, so that an output both too long and not
    a literal is reported as too long, as the repr's length is checked first.
    """
    stack: list[tuple[object, int]] = [(value, 0)]
    budget = max_chars + 1
    not_literal = ""
    while stack:
        item, depth = stack.pop()
        budget -= 1
        if depth > MAX_DEPTH:
            return _error("output_not_literal", message=f"nested deeper than {MAX_DEPTH}"), ""
        kind = _type(item)
        if kind is str or kind is bytes:
            budget -= _len(item)  # type: ignore[arg-type]
        elif kind is int:
            budget -= _int(item.bit_length() * 0.30103)  # type: ignore[attr-defined]
        elif kind is float:
            if not not_literal and not _isfinite(item):  # type: ignore[arg-type]
                not_literal = f"{item!r} has no literal form"
        elif kind is complex:
            if not not_literal and not (
                _isfinite(item.real) and _isfinite(item.imag)  # type: ignore[attr-defined]
            ):
                not_literal = f"{item!r} has no literal form"
        elif kind in _COLLECTIONS:
            stack.extend((x, depth + 1) for x in item)  # type: ignore[attr-defined]
        elif kind is dict:
            for k, v in item.items():  # type: ignore[attr-defined]
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif kind not in _ATOMS:
            message = f"returned a {kind.__name__}; outputs must be plain literals"
            return _error("output_not_literal", message=message), ""
        if budget < 0:
            return _error(
                "output_too_long", message=f"the output is over {max_chars} characters"
            ), ""
    return None, not_literal


def describe(value: object, max_chars: int) -> Result:
    """The result record of one value: its repr, or why it is not acceptable."""
    kind = _type(value)
    if (
        value is None
        or kind is bool
        or (kind is int and -_SHORT_INT < value < _SHORT_INT)  # type: ignore[operator]
        or (kind is str and _len(value) * 10 + 2 <= max_chars)  # type: ignore[arg-type]
    ) and max_chars >= 16:
        # The common outputs, checked without the general walk (whose code and objects each
        # fork would touch, and copy): a repr that fits, and reads back equal (a str's repr is
        # at most 10 characters per character, plus quotes).
        return {"repr": _repr(value)}
    problem, not_literal = _check_plain(value, max_chars)
    if problem is not None:
        return problem
    try:
        text = _repr(value)  # exact builtin types only: no program code runs here
    except ValueError as exc:  # e.g. an int over the str-conversion digit limit
        return _error("output_too_long", exc)
    if _len(text) > max_chars:
        return _error("output_too_long", message=f"the output is over {max_chars} characters")
    if not_literal:
        return _error("output_not_literal", message=not_literal)
    return {"repr": text}


def _call(
    entry: Any, call: Any, namespace: dict[str, Any], code: list[Any], max_chars: int
) -> Result:
    """Run one call: the entry on marshalled arguments, or a test's code in the namespace."""
    if _type(call) is bytes:
        args, kwargs = _mloads(call)  # plain data the server read: nothing to evaluate
        try:
            value = entry(*args, **kwargs)
        except BaseException as exc:
            return _error("runtime_error", exc)
        return describe(value, max_chars)
    test = code[call]
    if _type(test) is dict:  # the test did not compile
        failed: Result = test
        return failed
    checks: list[list[Any]] = []

    def check(index: int, value: object) -> object:
        checks.append([index, describe(value, max_chars)])
        return value

    namespace["_azr_check_"] = check
    try:
        _exec(test, namespace)
    except BaseException as exc:
        return _error("runtime_error", exc) | {"checks": checks}
    return {"checks": checks}


def _call_forked(
    entry: Any, call: Any, namespace: dict[str, Any], code: list[Any], max_chars: int
) -> Result:
    """One call in a fork of this (loaded) process; its result read from a file of its own once
    the call's process has ended (no deadline here: the unit's own ends it)."""
    result_fd = _memfd("call-result", _MFD_CLOEXEC)
    pid = _fork()
    if pid == 0:  # the call's process: dies with the unit process, reports, leaves
        _die_with_parent()
        try:
            data = _dumps(_call(entry, call, namespace, code, max_chars)).encode()
        except BaseException:
            data = b'{"error": "crashed", "type": "", "message": "could not report"}'
        _write_all(result_fd, data)
        _exit(0)
    _, status = _waitpid(pid, 0)
    data = os.pread(result_fd, os.fstat(result_fd).st_size, 0)
    _close(result_fd)
    try:
        result: Result = _loads(data)
    except ValueError:
        sig = _wtermsig(status) if _wifsignaled(status) else None
        kind = "timeout" if sig == signal.SIGXCPU else "crashed"
        return _error(kind, message=f"the call's process died (signal {sig})")
    return result


_prctl: list[Any] = []
_subreaper: list[bool] = []  # whether this process became its units' subreaper


def _die_with_parent() -> None:
    """PR_SET_PDEATHSIG: a call's process dies when its unit process is killed at its deadline,
    instead of running on beside the next units until the job ends."""
    if _prctl:
        _prctl[0](_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def run_unit(unit: dict[str, Any], program: Any, code: list[Any]) -> dict[str, Any]:
    """Load the unit's program and run its calls as `unit` says; the unit's report."""
    max_chars = _int(unit["max_chars"])
    report: dict[str, Any] = {"load": None, "passes": []}
    if _isinstance(program, dict):  # it did not compile
        report["load"] = program
        return report
    mode = unit["mode"]
    entry, namespace = _load(unit, program)
    if _isinstance(entry, dict):
        report["load"] = entry
        return report
    calls = unit["calls"]
    order = _list(_range(_len(calls)))
    if unit["reverse"]:
        order.reverse()
    passes = _int(unit["passes"])
    for pass_index in _range(passes):
        results: list[Result | None] = [None] * _len(calls)
        report["passes"].append(results)
        for index in order:
            # Forked: the very last call runs in this process itself, which no other call has
            # touched (each ran in its own fork): as fresh as a fork, one fork fewer.
            last = pass_index == passes - 1 and index == order[-1]
            if mode == "forked" and not last:
                result = _call_forked(entry, calls[index], namespace, code, max_chars)
            else:
                if mode == "fresh" and (pass_index or index != order[0]):
                    entry, namespace = _load(unit, program)
                    if _isinstance(entry, dict):
                        result = entry  # a fresh load failed where the first one did not
                        results[index] = result
                        if unit["stop_on_error"]:
                            return report
                        continue
                result = _call(entry, calls[index], namespace, code, max_chars)
            results[index] = result
            if "error" in result and unit["stop_on_error"]:
                return report  # calls not run stay null
    return report


def _load(unit: dict[str, Any], program: Any) -> tuple[Any, dict[str, Any]]:
    """Exec the program in a new namespace: (its entry, or the load error; the namespace)."""
    namespace: dict[str, Any] = {"__name__": unit["module"], "__builtins__": builtins}
    try:
        _exec(program, namespace)
    except BaseException as exc:
        return _error("program_error", exc), namespace
    if not _any(_type(c) is bytes for c in unit["calls"]):
        return None, namespace  # test code only: no entry needed
    entry = namespace.get(unit["entry"])
    if not _callable(entry):
        return _error("program_error", message=f"{unit['entry']} is not callable"), namespace
    return entry, namespace


def _run_unit_forked(unit: dict[str, Any], program: Any, code: list[Any]) -> bytes:
    """Run one unit in a fork of this pristine process under its wall deadline; the report
    line's header and body, tab-separated (without nonce and index)."""
    # The unit's report goes into a file of its own, read once the unit process is gone: this
    # parent then wakes once per unit (its exit), not for the report's bytes, the pipe's end
    # of file and a polling sleep (~0.2 ms of idle CPU a unit, with the unit on this core).
    # After each fork every page this process writes is copied (or faults): this loop does
    # as little as it can.
    report_fd = _memfd("unit-report", _MFD_CLOEXEC)
    t0 = _monotonic()
    pid = _fork()
    if pid == 0:  # the unit process: load the program, run its calls, die
        _unit_process(unit, program, code, report_fd)
    deadline = t0 + unit["timeout_s"]
    while True:  # wait for the unit's end, never past its deadline (then it is killed)
        done, status, rusage = _wait4(pid, _WNOHANG)
        if done:
            end = b""
            break
        left = deadline - _monotonic()
        if left <= 0:
            end, status, rusage = b"timeout", *_kill(pid)
            break
        _sigwait(_SIGCHLD_SET, left)  # a child ended or stopped, or the time is up
    size = _lseek(report_fd, 0, _SEEK_END)
    body = b""
    code_ = sig = 0
    if end:
        pass
    elif size > unit["report_cap"] or (_wifsignaled(status) and _wtermsig(status) == _SIGXFSZ):
        end = b"over_cap"  # SIGXFSZ: its report filled a file to the job's file-size limit
    elif _wifsignaled(status):
        end, sig = b"signal", _wtermsig(status)
    else:
        end, code_ = b"exit", _wexitstatus(status)
        body = _pread(report_fd, size, 0)
        # Not parsed here (see the module docstring); a body with a newline could forge a line.
        if not (body[:1] == b"{" and body[-1:] == b"}" and b"\n" not in body):
            body = b""
    _close(report_fd)
    if rusage is None:
        cpu_ms, rss_kb = 0.0, 0
    else:
        cpu_ms, rss_kb = (rusage.ru_utime + rusage.ru_stime) * 1000.0, rusage.ru_maxrss
    return b'{"end": "%s", "code": %d, "signal": %d, "wall_ms": %.3f, "cpu_ms": %.3f, "rss_kb": %d, "bytes": %d}\t%s' % (
        end, code_, sig, (_monotonic() - t0) * 1000.0, cpu_ms, rss_kb, size, body)  # fmt: skip


def _unit_process(unit: dict[str, Any], program: Any, code: list[Any], report_fd: int) -> None:
    """The unit process: keep only stdio (pointing at /dev/null) and this unit's report file,
    so that the program can reach neither the report stream nor the sandbox's own result
    channel; run the unit; write the report; exit. Never returns."""
    _closerange(3, report_fd)
    _closerange(report_fd + 1, _MAX_FD)
    _sigmask(_SIG_SETMASK, _UNBLOCKED)  # the program runs with the usual mask
    try:
        data = _dumps(run_unit(unit, program, code)).encode()
    except BaseException:
        data = b'{"load": {"error": "crashed", "type": "", "message": "no report"}, "passes": []}'
    _write_all(report_fd, data)
    _exit(0)


def _kill(pid: int) -> tuple[int, Any]:
    """SIGKILL the unit process and reap it: (status, rusage or None)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:  # not allowed without a uid drop: it dies with the job
        return 0, None
    _, status, rusage = _wait4(pid, 0)
    return status, rusage


def _write_all(fd: int, data: bytes) -> None:
    written = _write(fd, data)  # all of it, but for a pipe's or a signal's short writes
    if written < _len(data):
        view = _memoryview(data)[written:]
        while view:
            view = view[_write(fd, view) :]


def sweep() -> bool:
    """Kill and reap whatever the last unit left, before the next one starts; True when nothing
    is left alive. `kill(-1)` from here reaches every process of the job but this one (see the
    module docstring for when the server asks for it): one kernel walk, which a process that
    forks or hops from parent to child cannot slip through. Orphans come back to this process
    (its subreaper); where they cannot (gVisor refuses the subreaper to all but its init),
    /proc, which is not hidden there, shows what is still alive."""
    if _subreaper and _subreaper[0] and not _has_children():
        # Every process a unit started is this one's descendant, and comes back to it when
        # its parent dies: no child at all, nothing left (the common case, without the
        # kill(-1) that walks the host's whole process table).
        return True
    deadline = time.monotonic() + _SWEEP_S
    while True:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return True  # no other process at all
        except PermissionError:
            return False  # asked to sweep where the sandbox forbids it
        while True:  # reap every exited child
            try:
                pid, _status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
        if not _others_alive():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.001)


def _has_children() -> bool:
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def _others_alive() -> bool:
    try:
        if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
            return True  # a child that has not exited yet
    except ChildProcessError:
        pass
    me, uid = os.getpid(), os.getuid()
    try:
        names = os.listdir("/proc")
    except OSError:
        return False
    for name in names:
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as fh:
                fields = dict(
                    line.split(b":", 1) for line in fh.read().splitlines() if b":" in line
                )
        except OSError:
            continue
        state = fields.get(b"State", b"").split()
        uids = fields.get(b"Uid", b"").split()
        if uids[:1] == [str(uid).encode()] and state[:1] not in ([b"Z"], [b"X"]):
            return True
    return False


def _compile(source: str, name: str) -> Any:
    try:
        return compile(source, name, "exec")
    except BaseException as exc:
        return _error("program_error", exc)


# Pure standard-library modules (importing one defines things and nothing else) that the parent
# imports before forking when a program of the job imports them, so that each unit process finds
# them loaded instead of importing them itself (`typing` alone costs a unit ~2.5 ms natively).
# Only these: importing runs the module's code, and this parent never runs anything chosen by a
# program beyond picking from this list.
PRELOADABLE = frozenset(
    {"typing", "collections", "collections.abc", "itertools", "functools", "math", "cmath",
     "re", "string", "heapq", "bisect", "operator", "copy", "fractions", "decimal",
     "statistics", "dataclasses", "enum", "numbers", "array", "textwrap", "unicodedata", "json",
     "struct", "abc", "keyword", "difflib", "pprint"}
)  # fmt: skip


def _preload(codes: list[Any]) -> None:
    """Import the `PRELOADABLE` modules that the compiled programs name anywhere (`co_names`
    of every nested code object: an `import x` names `x`)."""
    names: set[str] = set()
    stack = [c for c in codes if not isinstance(c, dict)]
    code_type = type(_preload.__code__)
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if type(c) is code_type)
    for name in sorted(names & PRELOADABLE):
        try:  # noqa: SIM105 (no contextlib import in the sandbox's hot path)
            __import__(name)
        except BaseException:  # a unit that needs it fails on its own
            pass


def _warm_up() -> None:
    """Run the per-call machinery (argument loading, output check, JSON) once here, before any
    fork: state built lazily on first use (type caches, specialised bytecode) is then shared by
    every fork instead of being rebuilt, one copied page at a time, in each. No submitted code
    runs here."""
    sample: list[object] = [None, True, 1, -2.5, 3j, "s", b"b", (1,), [2], {3: 4}, {5}, frozenset()]
    call = marshal.dumps(((1, "a"), {"x": [2.0, (None,)]}))
    for _ in range(20):
        report = {"load": None, "passes": [[describe(sample, 1000), _error("x")]]}
        json.dumps(report)
        json.dumps(_call(len, call, {}, [], 1000))
        json.dumps(describe(marshal.loads(call), 1000))


def main() -> None:
    """Read the spec, silence stray output, run every unit in its own fork, and stream one
    report line per unit as it finishes (a job killed midway keeps what is done)."""
    spec = marshal.loads(sys.stdin.buffer.read())
    nonce = spec.pop("nonce")
    # Defense in depth: never as the host's root (uid 0 outside the zygote's PID namespace,
    # whose pid 1 is our parent), where `kill(-1)` would reach the whole machine.
    sweeping = bool(spec.pop("sweep", False)) and (os.getuid() != 0 or os.getppid() == 1)
    report_fd = os.dup(1)
    try:
        quiet = os.open(os.devnull, os.O_RDWR)
        os.dup2(quiet, 0)  # the spec (every unit's programs and inputs) is read: no unit sees it
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        os.close(quiet)
    except OSError:  # no /dev/null in this sandbox: the pipe and nonce still guard the report
        empty, closed = os.pipe()  # stdin: an end of file that nothing can write to
        os.close(closed)
        os.dup2(empty, 0)
        os.close(empty)
    sys.stdout = sys.stderr = _Sink()
    sys.stdin = io.StringIO("")
    try:
        import ctypes  # loaded by the zygote already: a dictionary hit

        _prctl.append(ctypes.CDLL(None)["prctl"])
        _die_with_parent()  # already so for this process (the zygote set it): warms the call
        if sweeping:  # what a unit leaves comes back here, to be killed by `sweep`
            _subreaper.append(_prctl[0](_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (ImportError, OSError, AttributeError):  # no libc: call processes may outlive units
        pass
    # Everything is compiled and warmed before the first fork: after a fork, every page this
    # process writes costs it a copy, so the loop below does as little as it can.
    programs = [_compile(source, "<program>") for source in spec["programs"]]
    tests = [_compile(source, "<test>") for source in spec["tests"]]
    _preload(programs + tests)
    _warm_up()
    # Objects that exist now are never scanned by the collector again, so the forks do not
    # write to (and copy) this process's pages when they collect.
    gc.freeze()
    # SIGCHLD is taken with `sigtimedwait` by `_run_unit_forked` (a unit's own end, or one of
    # its leftovers' when this is their subreaper: they are told apart with `wait4`).
    _UNBLOCKED.update(_sigmask(signal.SIG_BLOCK, _SIGCHLD_SET))
    for index, unit in enumerate(spec["units"]):
        line = _run_unit_forked(unit, programs[unit["program"]], tests)
        _write_all(report_fd, b"%s%d:%s\n" % (nonce, index, line))
        if sweeping and not sweep():
            os._exit(3)  # something of this unit lives on: the later units run elsewhere
    os._exit(0)  # skip atexit hooks and finalizers


def read_report(stdout: str, nonce: str, n_units: int) -> list[tuple[dict[str, Any], Any] | None]:
    """The server's reading of a job's report lines: per unit, (header, body) or None when the
    job wrote no line for it. The body is the unit's parsed JSON, or None when it wrote none or
    a corrupt or refused one (then the header has `"corrupt": true`)."""
    found: list[tuple[dict[str, Any], Any] | None] = [None] * n_units
    for line in stdout.split("\n"):
        if not line.startswith(nonce):
            continue
        index_text, colon, rest = line[len(nonce) :].partition(":")
        header_text, tab, body_text = rest.partition("\t")
        if not (colon and tab and index_text.isascii() and index_text.isdigit()):
            continue
        index = int(index_text)
        if index >= n_units or found[index] is not None:
            continue
        try:
            header = json.loads(header_text)
        except ValueError:
            continue
        body = None
        if not body_text and header.get("bytes"):
            header["corrupt"] = True
        if body_text:
            try:
                body = json.loads(body_text)
            except (ValueError, RecursionError):
                body = None
            if not isinstance(body, dict):
                body, header["corrupt"] = None, True
        found[index] = (header, body)
    return found
