"""`/v1/tests` throughput: one request of N call cases against one program, over HTTP.

    .venv/bin/python bench/tests_batching.py            # 200 cases, 3 repetitions per workload

Workloads: `trivial` (def f(x): return x * x) and `humaneval+` (HumanEval/0's canonical
solution against its first plus inputs, from data/humanevalplus/HumanEvalPlus.jsonl.gz; the
expected values are computed here by running the solution in this process). The machine is
shared and noisy: the load average is printed with each figure.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import gzip
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from azr_proto.executor import CallCase, RunLimits, TestsRequest
from azr_proto.executor_client import ExecutorClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executor import start_server

REPO = Path(__file__).resolve().parents[1]


def workloads(n: int) -> dict[str, tuple[str, str, list[CallCase]]]:
    square = "def f(x):\n    return x * x\n"
    trivial = [CallCase(args=str(i), expected=str(i * i)) for i in range(n)]
    with gzip.open(REPO / "data" / "humanevalplus" / "HumanEvalPlus.jsonl.gz", "rt") as fh:
        row = json.loads(fh.readline())
    code = row["prompt"] + row["canonical_solution"]
    scope: dict[str, Any] = {}
    exec(code, scope)  # trusted benchmark data, to compute the expected values
    entry = scope[row["entry_point"]]
    raw = row["plus_input"]
    inputs = list(ast.literal_eval(raw) if isinstance(raw, str) else raw)
    while len(inputs) < n:
        inputs = inputs + inputs
    he = [CallCase(args=", ".join(repr(a) for a in args), expected=repr(entry(*args)))
          for args in inputs[:n]]  # fmt: skip
    return {"trivial": (square, "f", trivial), "humaneval+": (code, row["entry_point"], he)}


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


async def bench(url: str, n: int, reps: int) -> None:
    async with ExecutorClient(url, timeout_s=600, max_retries=0) as client:
        for name, (code, entry, cases) in workloads(n).items():
            req = TestsRequest(code=code, entry_point=entry, cases=cases,
                               limits=RunLimits(wall_timeout_s=2.0, cpu_timeout_s=2))  # fmt: skip
            walls = []
            for _ in range(reps):
                t0 = time.perf_counter()
                answer = await client.tests(req)
                walls.append(time.perf_counter() - t0)
                if not answer.all_passed:
                    bad = [r for r in answer.results if r.verdict != "passed"][:3]
                    raise SystemExit(f"{name}: not all cases passed: {bad}")
            wall = statistics.median(walls)
            print(f"{name:11s} {n} cases: {wall * 1000:8.0f} ms/request  "
                  f"{wall * 1000 / n:6.2f} ms/case  {n / wall:7.0f} cases/s  "
                  f"(median of {reps}; load {load()})", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--url", help="an executor already running (default: start one here)")
    args = parser.parse_args()
    if args.url:
        asyncio.run(bench(args.url, args.cases, args.reps))
        return
    proc, url = start_server({})
    try:
        asyncio.run(bench(url, args.cases, args.reps))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
