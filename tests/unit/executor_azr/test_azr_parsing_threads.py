"""The service parses in worker threads (a big body never stalls its event loop), and CPython
3.11 builds syntax trees with per-interpreter state: every tree the service builds must be built
one thread at a time, or a normal request can fail with a SystemError (a 500)."""

from __future__ import annotations

import gc
import threading

from azr_executor.azr.inputs import parse_program
from azr_proto.literals import parse_literal

PROGRAM = (
    "def f(x):\n"
    + "".join(f"    y{i} = [x, ({i}, {{'a': [x, x + {i}]}})]\n" for i in range(300))
    + "    return x\n"
)
LITERAL = repr([{"k": (i, [i, {i}], "s" * 3)} for i in range(300)])


class _Finalized:
    """Garbage whose collection runs Python code: a thread switch in the middle of a parse."""

    def __del__(self) -> None:
        sum(range(50))


def test_threads_that_parse_at_once_never_get_a_system_error() -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def parse(work) -> None:  # type: ignore[no-untyped-def]
        try:
            for _ in range(40):
                work()
        except SystemError as exc:  # "AST constructor recursion depth mismatch"
            errors.append(exc)

    def churn() -> None:
        for _ in range(200_000):
            if stop.is_set():
                return
            a, b = _Finalized(), _Finalized()
            a.other, b.other = b, a  # type: ignore[attr-defined]

    threshold = gc.get_threshold()
    gc.set_threshold(50, 5, 5)
    try:
        workers = [
            threading.Thread(target=parse, args=(lambda: parse_program(PROGRAM),)),
            threading.Thread(target=parse, args=(lambda: parse_program(PROGRAM),)),
            threading.Thread(target=parse, args=(lambda: parse_literal(LITERAL),)),
            threading.Thread(target=parse, args=(lambda: parse_literal(LITERAL),)),
        ]
        churner = threading.Thread(target=churn)
        churner.start()
        for t in workers:
            t.start()
        for t in workers:
            t.join()
    finally:
        stop.set()
        churner.join()
        gc.set_threshold(*threshold)
    assert errors == []
