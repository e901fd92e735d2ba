"""Trusted harness that runs *inside* the sandbox for `/v1/tests` (stdlib only; sent as code).

stdin holds one JSON spec: {"nonce", "program", "entry", "wall_s", "output_bytes", "cases":
[{"index", "kind": "call" | "assert", "args" | "test"}, ...]}. The harness loads the program
once as `__main__`, then runs every case in its own fork of the loaded process (so no case sees
what another one did), under its own wall deadline (the case's process is killed past it) and
the job's rlimits, which each fork inherits afresh (CPU seconds, address space). A case calls the
entry function with its argument list (`call`) or runs its rewritten test code (`assert`).

Reports: one line per case, `<nonce><json>`, on a private duplicate of fd 1, written as each case
ends: {"case": index, "status": ok | runtime_error | timeout | memory_limit | output_limit |
killed, "records": [...], "error": {"type", "message"} | null, "wall_ms", "cpu_ms", "rss_kb"},
where records are {"check": i, "repr": str} (or {"check": i, "error": "not_literal"}) and a final
{"done": true} when the case ran to its end. The program's own output goes to /dev/null.

Expected values never enter the sandbox: the service keeps them and compares the reported
values (repr of exact builtin types only, checked here, read back outside with
`ast.literal_eval`). A program can therefore lie only about its own return values, which is no
different from returning them; it cannot learn what would pass. Everything this process needs
after the program is loaded is bound before it loads, so patching modules or builtins changes
nothing here.
"""

import builtins
import io
import json
import os
import select
import signal
import sys
import time

_PLAIN = (type(None), bool, int, float, complex, str, bytes)
_NESTED = (list, tuple, set, frozenset)


def _plain(value: object, budget: int = 100000) -> bool:
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        budget -= 1
        kind = type(item)
        if budget < 0 or depth > 100:
            return False
        if kind in _NESTED:
            stack.extend((x, depth + 1) for x in item)  # type: ignore[attr-defined]
        elif kind is dict:
            for k, v in item.items():  # type: ignore[attr-defined]
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif kind not in _PLAIN:
            return False
    return True


class _Sink(io.TextIOBase):
    def write(self, s: str) -> int:
        return len(s)

    def writable(self) -> bool:
        return True


def main() -> None:
    spec = json.loads(sys.stdin.read())
    nonce = spec.pop("nonce")
    program = spec.pop("program")
    cases = spec.pop("cases")
    wall_s, cap = float(spec["wall_s"]), int(spec["output_bytes"])
    dumps, loads, write, read, repr_ = json.dumps, json.loads, os.write, os.read, builtins.repr
    fork, pipe, close, exit_, kill, wait4 = os.fork, os.pipe, os.close, os._exit, os.kill, os.wait4
    sel, now, plain, type_, str_ = select.select, time.monotonic, _plain, type, str
    memory_error = MemoryError
    wtermsig, wifsignaled, wifexited = os.WTERMSIG, os.WIFSIGNALED, os.WIFEXITED
    report_fd = os.dup(1)
    try:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        os.close(quiet)
    except OSError:  # no /dev/null in this sandbox: the nonce still guards the reports
        pass
    sys.stdout = sys.stderr = _Sink()

    def report(record: dict[str, object]) -> None:
        data = (nonce + dumps(record) + "\n").encode()
        while data:
            data = data[write(report_fd, data) :]

    def error_of(exc: BaseException) -> dict[str, str]:
        try:
            message = str_(exc)[:2000]
        except BaseException:  # a custom __str__ may raise anything
            message = "<unprintable exception>"
        return {"type": type_(exc).__name__, "message": message}

    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    try:
        exec(compile(program, "<program>", "exec"), namespace)
    except BaseException as exc:  # every case fails the same way; none runs
        status = "memory_limit" if isinstance(exc, memory_error) else "runtime_error"
        err = error_of(exc)
        for case in cases:
            report({"case": case["index"], "status": status, "records": [], "error": err})
        exit_(0)

    def run_case(case: dict[str, str], out_fd: int) -> None:
        """In the case's own fork: run it and write its records as one JSON line."""
        records: list[dict[str, object]] = []

        def check(index: int, value: object) -> None:
            if not plain(value):
                records.append(
                    {"check": index, "error": "not_literal", "type": type_(value).__name__}
                )
            else:
                records.append({"check": index, "repr": repr_(value)})

        status, err = "ok", None
        try:
            if case["kind"] == "call":

                def collect(
                    *args: object, **kwargs: object
                ) -> tuple[tuple[object, ...], dict[str, object]]:
                    return args, kwargs

                scope = {"__builtins__": builtins, "_azr_args_": collect}
                args, kwargs = eval(compile(case["args"], "<args>", "eval"), scope)
                value = namespace[spec["entry"]](*args, **kwargs)  # type: ignore[operator]
                check(0, value)
            else:
                namespace["_azr_check_"] = check
                exec(compile(case["test"], "<test>", "exec"), namespace)
            records.append({"done": True})
        except BaseException as exc:
            status = "memory_limit" if isinstance(exc, memory_error) else "runtime_error"
            err = error_of(exc)
        try:
            data = (dumps({"status": status, "records": records, "error": err}) + "\n").encode()
        except BaseException:
            data = b'{"status": "memory_limit", "records": [], "error": null}\n'
        while data:
            data = data[write(out_fd, data) :]

    for case in cases:
        read_fd, write_fd = pipe()
        t0 = now()
        pid = fork()
        if pid == 0:
            close(read_fd)
            close(report_fd)
            try:
                run_case(case, write_fd)
            finally:
                exit_(0)
        close(write_fd)
        deadline = t0 + wall_s
        chunks: list[bytes] = []
        size, status = 0, ""
        while True:
            left = deadline - now()
            if left <= 0 or not sel([read_fd], [], [], left)[0]:
                status = "timeout"
                break
            chunk = read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                status = "output_limit"
                break
            if chunk.endswith(b"\n"):
                break
        close(read_fd)
        rusage, wstatus = None, 0
        if status:
            try:
                kill(pid, signal.SIGKILL)
            except OSError:  # not allowed without a uid drop: it dies with the job
                pid = 0
        if pid:
            _, wstatus, rusage = wait4(pid, 0)
        record: dict[str, object] = {"case": case["index"], "wall_ms": (now() - t0) * 1000.0}
        if rusage is not None:
            record["cpu_ms"] = (rusage.ru_utime + rusage.ru_stime) * 1000.0
            record["rss_kb"] = rusage.ru_maxrss
        if not status:
            try:
                record.update(loads(b"".join(chunks)))
            except ValueError:  # died before reporting (a signal, os._exit, a full CPU limit)
                sig = wtermsig(wstatus) if pid and wifsignaled(wstatus) else None
                status = "timeout" if sig in (signal.SIGXCPU, signal.SIGKILL) else "killed"
                if pid and wifexited(wstatus):
                    status = "runtime_error"
                    record["error"] = {"type": "SystemExit", "message": "exited before its end"}
        if status:
            record["status"] = status
            record["records"] = []
        report(record)
    exit_(0)


main()
