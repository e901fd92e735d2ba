"""Trusted harness that runs *inside* the sandbox for `/v1/tests` (stdlib only; sent as code).

stdin holds one JSON spec: {"nonce", "program", "kind": "call" | "assert", "entry", "args",
"test"}. The harness runs the program as `__main__`, then either calls the entry function with
the argument list (`call`) or runs the rewritten test code (`assert`), and writes its reports as
lines `<nonce><json>` on a private duplicate of fd 1.

Expected values never enter the sandbox: the service keeps them and compares the reported
values (repr of exact builtin types only, checked here, read back outside with
`ast.literal_eval`). A program can therefore lie only about its own return values, which is no
different from returning them; it cannot learn what would pass.
"""

import builtins
import json
import os
import sys

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


def main() -> None:
    spec = json.loads(sys.stdin.read())
    nonce = spec["nonce"]
    report_fd = os.dup(1)
    dumps, write, repr_ = json.dumps, os.write, builtins.repr

    def report(record: dict[str, object]) -> None:
        write(report_fd, (nonce + dumps(record) + "\n").encode())

    def check(index: int, value: object) -> None:
        if not _plain(value):
            report({"check": index, "error": "not_literal", "type": type(value).__name__})
        else:
            report({"check": index, "repr": repr_(value)})

    namespace: dict[str, object] = {"__name__": "__main__", "__builtins__": builtins}
    kind = spec["kind"]
    exec(compile(spec.pop("program"), "<program>", "exec"), namespace)
    if kind == "call":

        def collect(
            *args: object, **kwargs: object
        ) -> tuple[tuple[object, ...], dict[str, object]]:
            return args, kwargs

        scope = {"__builtins__": builtins, "_azr_args_": collect}
        args, kwargs = eval(compile(spec["args"], "<args>", "eval"), scope)
        entry = namespace[spec["entry"]]
        value = entry(*args, **kwargs)  # type: ignore[operator]
        check(0, value)
    else:
        namespace["_azr_check_"] = check
        exec(compile(spec["test"], "<test>", "exec"), namespace)
    report({"done": True})


main()
