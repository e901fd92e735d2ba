"""A reused, unsandboxed worker for `bench/azr_step.py --baseline` (stdlib only; not a bench).

The reference's process pool at its best: one long-lived process that runs program after
program with no isolation at all (no fresh process, no limits, no second hash seed). It reads
one unit per line from stdin, base64 of the harness's marshal form (program, calls as marshal
of (args, kwargs), passes, mode),
loads the program into a fresh namespace, runs its calls as often as the harness would, and
answers one line per unit. Only for the benchmark's own dataset programs: never run model code
this way.
"""

from __future__ import annotations

import base64
import builtins
import marshal
import sys
from typing import Any


def run(unit: dict[str, Any]) -> int:
    """Run one unit's calls as the harness does; the number of calls that returned."""
    namespace = {"__name__": "__azr_program__", "__builtins__": builtins}
    try:
        exec(compile(unit["program"], "<program>", "exec"), namespace)
        entry = namespace[unit["entry"]]
    except BaseException:
        return 0
    passes = 1 if unit["mode"] == "forked" else int(unit["passes"])
    done = 0
    for _ in range(passes):
        for call in unit["calls"]:
            try:
                # reference mode: the source of (args, kwargs), eval'd as the reference does
                args, kwargs = eval(call) if unit.get("source") else marshal.loads(call)
                repr(entry(*args, **kwargs))
                done += 1
            except BaseException:
                if unit["stop_on_error"]:
                    return done
    return done


def main() -> None:
    for line in sys.stdin:
        print(run(marshal.loads(base64.b64decode(line))), flush=True)


if __name__ == "__main__":
    main()
