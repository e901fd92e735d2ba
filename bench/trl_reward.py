"""The TRL reward path: completions scored per second, 10 test cases each, over HTTP.

    .venv/bin/python bench/trl_reward.py          # 64 completions (a GRPO batch), 3 repetitions

Starts `azr-executor serve` (default zygotes: one per core). Each completion is a fenced Python
program, half of them right, checked against 10 cases. Paths:
- `reward-sync` / `reward-async`: `azr_proto.rewards.code_reward` / `async_code_reward`, what a
  TRL user calls (one `/v1/tests` per completion, 32 in flight);
- `run_code-per-case`: SandboxFusion's protocol on the same executor, one `/run_code` request
  per case with 32 in flight, as veRL's sandbox-fusion reward sends them (stdio only).
Workloads: `stdio` (reads n, prints n*n) and `call` (def f(x): return x * x). The machine is
shared and noisy: the load average is printed with each figure; compare rows of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from azr_proto.executor import RunLimits
from azr_proto.rewards import async_code_reward, code_reward

sys.path.insert(0, str(Path(__file__).resolve().parent))
from executor import start_server

CASES = 10
LIMITS = RunLimits(wall_timeout_s=2.0, cpu_timeout_s=2)
PROGRAMS = {
    "stdio": ("n = int(input())\nprint(n * n)\n", "n = int(input())\nprint(n + n)\n"),
    "call": ("def f(x):\n    return x * x\n", "def f(x):\n    return x + x\n"),
}


def batch(kind: str, n: int) -> tuple[list[str], list[list[dict[str, Any]]]]:
    """`n` completions (alternately right and wrong) and their cases."""
    right, wrong = PROGRAMS[kind]
    completions = [f"Here:\n```python\n{right if i % 2 == 0 else wrong}```\n" for i in range(n)]
    if kind == "stdio":
        case = [{"kind": "stdio", "stdin": f"{x}\n", "expected_stdout": f"{x * x}\n"}
                for x in range(3, 3 + CASES)]  # fmt: skip
    else:
        case = [
            {"kind": "call", "args": str(x), "expected": str(x * x)} for x in range(3, 3 + CASES)
        ]
    return completions, [case] * n


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


async def run_code_per_case(
    url: str, completions: list[str], cases: list[Any]
) -> list[float | None]:
    """SandboxFusion's way: one /run_code per case; the reward is the pass fraction."""
    gate = asyncio.Semaphore(32)
    async with httpx.AsyncClient(base_url=url, timeout=120) as http:

        async def one(code: str, case: dict[str, Any]) -> bool:
            body = {"code": code, "stdin": case["stdin"], "language": "python", "run_timeout": 2}
            async with gate:
                resp = (await http.post("/run_code", json=body)).json()
            out = (resp["run_result"] or {}).get("stdout") or ""
            return bool(resp["status"] == "Success" and out == case["expected_stdout"])

        rewards = []
        for completion, sample in zip(completions, cases, strict=True):
            code = completion.split("```python\n")[1].split("```")[0]
            rewards.append(asyncio.gather(*(one(code, c) for c in sample)))
        return [sum(r) / len(r) for r in await asyncio.gather(*rewards)]


def paths_for(
    kind: str, url: str, sync_reward: Any, async_reward: Any, completions: list[str], cases: Any
) -> dict[str, Callable[[], list[float | None]]]:
    """The scoring paths compared on one workload."""
    paths: dict[str, Callable[[], list[float | None]]] = {
        "reward-sync": lambda: sync_reward(completions=completions, test_cases=cases),
        "reward-async": lambda: asyncio.run(
            async_reward(completions=completions, test_cases=cases)
        ),
    }
    if kind == "stdio":
        paths["run_code-per-case"] = lambda: asyncio.run(run_code_per_case(url, completions, cases))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--completions", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    proc, url = start_server({})
    try:
        sync_reward = code_reward(url, limits=LIMITS)
        async_reward = async_code_reward(url, limits=LIMITS)
        print(f"{args.completions} completions x {CASES} cases, median of {args.reps}; "
              f"zygotes={os.cpu_count()}")  # fmt: skip
        for kind in PROGRAMS:
            completions, cases = batch(kind, args.completions)
            paths = paths_for(kind, url, sync_reward, async_reward, completions, cases)
            paths["reward-sync"]()  # warm up
            for name, path in paths.items():
                times = []
                for _ in range(args.reps):
                    seconds, rewards = timed(path)
                    assert rewards == [1.0, 0.0] * (args.completions // 2), rewards[:4]
                    times.append(seconds)
                med = statistics.median(times)
                load = "/".join(f"{x:.1f}" for x in os.getloadavg())
                print(f"{kind:5s} {name:18s} {args.completions / med:7.1f} completions/s "
                      f"({med * 1000 / args.completions:6.2f} ms each)  load {load}")  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main()
