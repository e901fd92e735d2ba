"""The trusted harness that runs inside the sandbox: loads one program, runs its calls, and reports
one JSON document. Standard library only; `jobs.py` sends this file's text as the job's code.

Protocol. stdin holds one JSON spec with one *unit* per program:
    {"nonce": str, "max_output_chars": int, "unit_timeout_s": float,
     "units": [{"program": str, "entry": str, "calls": [input source, ...],
                "mode": "sequential" | "forked", "reverse": bool, "passes": int,
                "stop_on_error": bool}, ...]}
This process never runs program code: each unit runs in its own fork of it, killed at its
deadline, so units share nothing and one slow unit does not cost the others their results.
Inside a unit:
- sequential: the program is loaded once and the calls run in order in that process, `passes`
  times over (a second pass catches state kept between calls);
- forked: the program is loaded once, then every call runs in its own fork of the loaded process
  (the last one in that process itself, which no other call touched), so no call sees what
  another one did;
- reverse: the calls run in reverse order (results are still reported in input order).
The report is one line per unit on the original stdout, `nonce + unit index + ":" + JSON`, as
each unit finishes:
    AZR-<nonce>:<unit>:{"load": null | error, "passes": [[result, ...], ...]}
where a result is {"repr": str} or {"error": kind, "type": str, "message": str}. The JSON is the
unit's process's own, passed through unparsed (the service parses it, and a corrupt one makes
that unit `crashed`); this process writes the index and refuses a report with a newline in it.

Guarantees:
- the program's own `print`s and writes to sys.stdout/sys.stderr are discarded, and fds 1 and 2
  point at /dev/null while it runs; the report goes to a private duplicate of fd 1 that the
  program's process does not hold (every fd but stdio and its own result pipe is closed in it),
  tagged with a nonce, so a program cannot forge another program's result;
- every BaseException (SystemExit, KeyboardInterrupt, StopIteration, custom ones) is an error;
- an output is accepted only when it is plain data built from exact builtin types (None, bool,
  int, float, complex, str, bytes, list, tuple, dict, set), its repr fits in `max_output_chars`,
  and `ast.literal_eval(repr)` equals it. That last rule is checked on the value itself, without
  parsing the repr (a parse costs each unit's process ~40 copy-on-write page faults): for those
  exact types the repr reads back to an equal value except where a float or complex part is not
  finite (`nan`, `inf`) and for `frozenset`, which has no literal form; a unit test checks this
  against `ast.literal_eval` on generated values. No method of a program-defined class runs
  while an output is inspected.

Does not guarantee:
- anything against a program that escapes the policy and tampers with this process (reads the
  nonce from memory, writes to other fds): the sandbox contains it, and the service treats a
  missing or corrupt report as a failure of the proposal.
"""

from __future__ import annotations

import _ast  # the parser's node types: `ast.py` costs each job ~4 ms to import
import builtins
import gc
import io
import json
import math
import os
import select
import signal
import sys
import time

# No `typing` at run time: importing it costs every job about 7 ms of CPU in the sandbox.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Result = dict[str, Any]
    Prepared = tuple[list[Any], Any]

_ATOMS: tuple[type, ...] = (type(None), bool, int, float, complex, str, bytes)
_COLLECTIONS: tuple[type, ...] = (list, tuple, set, frozenset)
_MAX_DEPTH = 100
_MAX_MESSAGE = 500
_MAX_FD = 65536


class _Sink(io.TextIOBase):
    """A text stream that discards everything: the program's prints cost no memory."""

    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True


def _error(kind: str, exc: BaseException | None = None, message: str = "") -> Result:
    if exc is not None:
        try:
            message = str(exc)[:_MAX_MESSAGE]
        except BaseException:  # a custom __str__ may raise anything
            message = "<unprintable exception>"
    return {
        "error": kind,
        "type": type(exc).__name__ if exc is not None else "",
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
        if depth > _MAX_DEPTH:
            return _error("output_not_literal", message=f"nested deeper than {_MAX_DEPTH}"), ""
        kind = type(item)
        if kind is str or kind is bytes:
            budget -= len(item)  # type: ignore[arg-type]
        elif kind is int:
            budget -= int(item.bit_length() * 0.30103)  # type: ignore[attr-defined]
        elif kind is float:
            if not not_literal and not math.isfinite(item):  # type: ignore[arg-type]
                not_literal = f"{item!r} has no literal form"
        elif kind is complex:
            if not not_literal and not (
                math.isfinite(item.real) and math.isfinite(item.imag)  # type: ignore[attr-defined]
            ):
                not_literal = f"{item!r} has no literal form"
        elif kind in _COLLECTIONS:
            if kind is frozenset and not not_literal:
                not_literal = "a frozenset has no literal form (use a set or a tuple)"
            stack.extend((x, depth + 1) for x in item)  # type: ignore[attr-defined]
        elif kind is dict:
            for k, v in item.items():  # type: ignore[attr-defined]
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif kind not in _ATOMS:
            return _error(
                "output_not_literal",
                message=f"returned a {kind.__name__}; outputs must be plain literals",
            ), ""
        if budget < 0:
            message = f"the output is over {max_chars} characters"
            return _error("output_too_long", message=message), ""
    return None, not_literal


def _describe(value: object, max_chars: int) -> Result:
    """The output record of one return value: its repr, or why it is not acceptable."""
    problem, not_literal = _check_plain(value, max_chars)
    if problem is not None:
        return problem
    try:
        text = repr(value)  # exact builtin types only: no program code runs here
    except ValueError as exc:  # e.g. an int over the str-conversion digit limit
        return _error("output_too_long", exc)
    if len(text) > max_chars:
        return _error("output_too_long", message=f"the output is over {max_chars} characters")
    if not_literal:
        return _error("output_not_literal", message=not_literal)
    return {"repr": text}


def _collect_args(*args: object, **kwargs: object) -> tuple[tuple[object, ...], dict[str, object]]:
    return args, kwargs


def _run_call(entry: Any, code: Any, max_chars: int) -> Result:
    """Evaluate one compiled argument list in a builtins-only namespace, call the entry."""
    namespace = {"__builtins__": builtins, "_azr_args_": _collect_args}
    try:
        args, kwargs = eval(code, namespace)
    except BaseException as exc:
        return _error("input_error", exc)
    try:
        value = entry(*args, **kwargs)
    except BaseException as exc:
        return _error("runtime_error", exc)
    return _describe(value, max_chars)


def _run_forked(entry: Any, code: Any, max_chars: int) -> Result:
    """Run one call in a fork of this (loaded) process and read its result from a pipe."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: run, report, and leave without running any finalizer
        os.close(read_fd)
        try:
            data = json.dumps(_run_call(entry, code, max_chars)).encode()
        except BaseException:
            data = b'{"error": "crashed", "type": "", "message": "could not report"}'
        _write_all(write_fd, data)
        os._exit(0)
    os.close(write_fd)
    chunks = []
    while chunk := os.read(read_fd, 1 << 16):
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    try:
        result: Result = json.loads(b"".join(chunks))
    except ValueError:
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        return _error("crashed", message=f"the call's process died (signal {sig})")
    return result


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _compile_input(source: str) -> Any:
    """Compile an argument list as `_azr_args_(<source>)`, refusing anything but that one call."""
    tree: Any = compile("_azr_args_(" + source + ")", "<input>", "eval", _ast.PyCF_ONLY_AST)
    call = tree.body
    if not (isinstance(call, _ast.Call) and isinstance(call.func, _ast.Name)):
        raise SyntaxError("not a single argument list")
    if call.func.id != "_azr_args_":
        raise SyntaxError("not a single argument list")
    return compile(tree, "<input>", "eval")


def prepare(spec: dict[str, Any], inputs: dict[str, Any] | None = None) -> Prepared:
    """Compile a unit's inputs and program: (input codes or errors, program code or error).

    Compiling runs none of the unit's code (the service has parsed all of it already), so the
    harness does it before forking the unit: a fork then only executes, and does not pay for
    the parser's and compiler's pages again. `inputs`: compiled inputs by source, shared by the
    units of a job (the answers to one task run on the same inputs; a code object is never
    changed in this process, and each unit runs in a fork of its own).
    """
    if inputs is None:
        inputs = {}
    codes: list[Any] = []
    for source in spec["calls"]:
        code = inputs.get(source)
        if code is None:
            try:
                code = _compile_input(source)
            except BaseException as exc:
                code = _error("input_error", exc)
            inputs[source] = code
        codes.append(code)
    try:
        program: Any = compile(spec["program"], "<program>", "exec")
    except BaseException as exc:
        program = _error("program_error", exc)
    return codes, program


def run(spec: dict[str, Any], prepared: Prepared | None = None) -> dict[str, Any]:
    """Load the program and run its calls as `spec` says; the report (without the nonce)."""
    max_chars = int(spec["max_output_chars"])
    report: dict[str, Any] = {"load": None, "passes": []}
    namespace: dict[str, Any] = {"__name__": "__azr_program__", "__builtins__": builtins}
    codes, program = prepared if prepared is not None else prepare(spec)
    if isinstance(program, dict):
        report["load"] = program
        return report
    try:
        exec(program, namespace)
    except BaseException as exc:
        report["load"] = _error("program_error", exc)
        return report
    entry = namespace.get(spec["entry"])
    if not callable(entry):
        report["load"] = _error("program_error", message=f"{spec['entry']} is not callable")
        return report
    forked = spec["mode"] == "forked"
    order = list(range(len(codes)))
    if spec.get("reverse"):
        order.reverse()
    passes = int(spec["passes"])
    for pass_index in range(passes):
        results: list[Result | None] = [None] * len(codes)
        report["passes"].append(results)
        for index in order:
            code = codes[index]
            # Forked mode: the very last call runs in this process itself, which no other call
            # has touched (each ran in its own fork): as fresh as a fork, one fork fewer.
            last = pass_index == passes - 1 and index == order[-1]
            if isinstance(code, dict):
                result = code
            elif forked and not last:
                result = _run_forked(entry, code, max_chars)
            else:
                result = _run_call(entry, code, max_chars)
            results[index] = result
            if "error" in result and spec["stop_on_error"]:
                return report  # calls not run stay null
    return report


def _run_unit_forked(unit: dict[str, Any], prepared: Prepared, timeout_s: float) -> bytes:
    """Run one unit (one program) in a fork of this pristine process, under a wall deadline;
    its report as JSON bytes."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: load the program and run its calls; this process dies afterwards
        # Keep only stdio (pointing at /dev/null) and this unit's pipe: the program can reach
        # neither the report stream nor the sandbox's own result channel.
        os.closerange(3, write_fd)
        os.closerange(write_fd + 1, _MAX_FD)
        try:
            data = json.dumps(run(unit, prepared)).encode()
        except BaseException:
            data = (
                b'{"load": {"error": "crashed", "type": "", "message": "no report"}, "passes": []}'
            )
        _write_all(write_fd, data)
        os._exit(0)
    os.close(write_fd)
    deadline = time.monotonic() + timeout_s
    chunks: list[bytes] = []
    timed_out = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([read_fd], [], [], left)[0]:
            timed_out = True
            os.kill(pid, signal.SIGKILL)
            break
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if timed_out:
        message = f"the program ran past {timeout_s:g} s"
        return json.dumps({"load": _error("timeout", message=message), "passes": []}).encode()
    data = b"".join(chunks)
    # Not parsed here: a JSON round trip in this process costs every unit's fork about 50
    # copy-on-write page faults. A report with a newline could forge another unit's line.
    if data[:1] == b"{" and data[-1:] == b"}" and b"\n" not in data:
        return data
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    kind = "timeout" if sig == signal.SIGXCPU else "crashed"
    message = f"the program's process died (signal {sig})"
    return json.dumps({"load": _error(kind, message=message), "passes": []}).encode()


def _warm_up() -> None:
    """Run the per-call machinery (input compile, output check, JSON) once here, before any fork.

    State built lazily on first use (type method caches, specialised bytecode, the parser's and
    `ast`'s internals) is then built in this process and shared by every fork, instead of being
    rebuilt, one copied page at a time, in each of them. No submitted code runs here.
    """
    sample: list[object] = [None, True, 1, -2.5, 3j, "s", b"b", (1,), [2], {3: 4}, {5}, frozenset()]
    for _ in range(20):
        code = _compile_input("1, 'a', x=[2.0, (None,)]")
        report = {"load": None, "passes": [[_describe(sample, 1000), _error("x")]]}
        json.dumps(report)
        json.dumps(_run_call(len, code, 1000))


def main() -> None:
    """Read the spec, silence stray output, run every unit in its own fork, and stream one
    tagged report line per unit as it finishes (so a job killed midway keeps what is done)."""
    spec = json.loads(sys.stdin.buffer.read())
    nonce = spec.pop("nonce").encode()
    report_fd = os.dup(1)
    try:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        os.close(quiet)
    except OSError:  # no /dev/null in this sandbox: the nonce still guards the report
        pass
    sys.stdout = sys.stderr = _Sink()
    sys.stdin = io.StringIO("")
    # Objects that exist now are never scanned by the collector again, so the forked children
    # do not write to (and copy) the parent's pages when they collect.
    # Everything is compiled and warmed before the first fork: after a fork, every page this
    # process writes costs it a copy, so the loop below does as little as it can.
    units = spec["units"]
    for unit in units:
        unit["max_output_chars"] = spec["max_output_chars"]
    timeout_s = float(spec["unit_timeout_s"])
    inputs: dict[str, Any] = {}
    prepared = [prepare(unit, inputs) for unit in units]
    _warm_up()
    gc.freeze()
    for index, unit in enumerate(units):
        report = _run_unit_forked(unit, prepared[index], timeout_s)
        _write_all(report_fd, b"%s%d:%s\n" % (nonce, index, report))
    os._exit(0)  # skip atexit hooks and finalizers
