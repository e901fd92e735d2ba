"""One AZR training step's executor work, at the paper's sizes, from CRUXEval and MBPP+.

    .venv/bin/python bench/azr_step.py [--sandbox process|gvisor] [--zygotes N] [--repeat R]
                                       [--fork-per-input] [--python PATH] [--baseline]
                                       [--reference]

Phases (all through the sandbox pool, as the `/v1/azr/*` routes run them):
- validate:     64 deduction + 64 abduction proposals (CRUXEval programs and inputs) and
                64 induction proposals with 10 inputs each (MBPP+ canonical programs);
- learnability: 8 answers for each of the 192 tasks, mixing right and wrong, all distinct;
- solve:        192 solver answers (one per task, right and wrong alternating).
Prints the wall time of each phase and of the whole step, and the number of sandbox jobs.
Each measured step starts with nothing remembered by the service from earlier steps
(`forget_remembered`), as a training step's new proposals would.
`--python`: the zygotes' interpreter (`AZR_EXECUTOR_PYTHON`; default: the one running the
service). Any CPython of the service's version works; how it was built changes the figures.

This machine's speed changes from day to day (a bare fork cost 0.85-1.0 ms one afternoon and
0.40-0.55 ms on another day), so the bench first prints what a bare fork + exit + wait costs
from the zygotes' interpreter (inside gVisor in gVisor mode), and after each step the floor
that the step's forks alone set (forks x that cost / zygotes). The step is CPU-bound, so an
isolation that forks this often takes at least about that floor plus the programs' own time
(what `--baseline` measures) on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import json
import marshal
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from azr_executor.azr import (
    forget_remembered,
    score_learnability,
    validate_proposals,
    verify_items,
)
from azr_executor.azr.pool_runner import PoolRunner
from azr_executor.sandbox import SandboxPool
from azr_executor.sandbox.gvisor import runsc_prefix
from azr_executor.settings import ExecutorSettings
from azr_proto.azr import (
    ExecutionOptions,
    LearnabilityItem,
    LearnabilityOptions,
    Proposal,
    Task,
    VerifyItem,
    VerifyOptions,
)

DATA = Path(__file__).resolve().parents[1] / "data"
N = 64  # proposals per task type (the paper's batch size)
K = 8  # learnability rollouts per task
FRESH = False  # validation: a fork per induction input in job B (--fork-per-input)


class CountingRunner(PoolRunner):
    """Counts sandbox jobs, the processes the harness forks in them, and their CPU, per phase."""

    jobs = 0
    forks = 0
    cpu_ms = 0.0
    phase = "validate"
    by_phase: dict[str, list[float]] = {}  # phase -> [jobs, forks, sandbox CPU ms]

    units: dict[str, list[dict[str, Any]]] = {}  # phase -> the units its jobs ran

    async def run(self, code: str, stdin: bytes, **kwargs: Any):  # type: ignore[override]
        # one fork per unit, plus one per call but the last of a forked unit (the last call runs
        # in the unit's own process); the spec is our own marshal (`judging.build_spec`)
        spec = marshal.loads(stdin)
        units = [u | {"program": spec["programs"][u["program"]]} for u in spec["units"]]
        CountingRunner.units.setdefault(CountingRunner.phase, []).extend(units)
        forks = sum(1 + (len(u["calls"]) - 1 if u["mode"] == "forked" else 0) for u in units)
        CountingRunner.jobs += 1
        CountingRunner.forks += forks
        outcome = await super().run(code, stdin, **kwargs)
        CountingRunner.cpu_ms += outcome.cpu_ms
        row = CountingRunner.by_phase.setdefault(CountingRunner.phase, [0, 0, 0.0])
        row[0] += 1
        row[1] += forks
        row[2] += outcome.cpu_ms
        return outcome


def proposals() -> list[Proposal]:
    crux = [json.loads(line) for line in (DATA / "cruxeval" / "cruxeval.jsonl").open()]
    with gzip.open(DATA / "mbppplus" / "MbppPlus.jsonl.gz", "rt") as fh:
        mbpp = [json.loads(line) for line in fh]
    out = [
        Proposal(task_type="deduction", program=r["code"], inputs=[r["input"]]) for r in crux[:N]
    ]
    out += [
        Proposal(task_type="abduction", program=r["code"], inputs=[r["input"]])
        for r in crux[N : 2 * N]
    ]
    for r in mbpp:
        inputs = (r["base_input"] + list(r["plus_input"] or []))[:10]
        if len(inputs) < 10 or sum(len(repr(i)) for i in inputs) > 2000:
            continue
        program = (
            f"{r['canonical_solution']}\n\ndef f(*args):\n    return {r['entry_point']}(*args)\n"
        )
        args = [", ".join(repr(a) for a in i) for i in inputs]
        out.append(
            Proposal(task_type="induction", program=program, inputs=args, message=r["task_id"])
        )
        if len(out) == 3 * N:
            break
    return out


def answers_for(task: Task, right: int, salt: int) -> list[str]:
    """`right` right answers and K - right wrong ones, all distinct strings."""
    answers = []
    for k in range(K):
        ok = k < right
        if task.task_type == "deduction":
            gold = task.outputs[0]
            answers.append(f"{gold}{' ' * k}" if ok else f"[{gold}, {k}]")
        elif task.task_type == "abduction":
            answers.append(f"{task.inputs[0]}{' ' * k}" if ok else f"{task.inputs[0]}, {k}")
        else:
            body = task.program if ok else "def f(*args):\n    return None\n"
            # a distinct syntax tree per rollout, so no two answers are graded as one
            answers.append(f"{body}\n_rollout = {salt * K + k}\n")
    return answers


_BARE_FORK = """
import os, sys
n = int(sys.argv[1])
rounds = []
for _ in range(3):
    t0 = os.times()
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
    t1 = os.times()
    cpu = t1.user - t0.user + t1.system - t0.system
    cpu += t1.children_user - t0.children_user + t1.children_system - t0.children_system
    rounds.append(cpu / n * 1000)
print(sorted(rounds)[1])
"""


def bare_fork_ms(settings: ExecutorSettings) -> float:
    """CPU ms of one bare fork + exit + wait from the zygotes' interpreter (parent and child),
    median of 3 rounds in one process; under gVisor inside one `runsc do` sandbox, as the
    zygotes run (with fewer forks a round: one costs 10-14 ms there)."""
    gvisor = settings.sandbox == "gvisor"
    with tempfile.TemporaryDirectory() as state:
        prefix = runsc_prefix(settings.runsc, Path(state), 0) if gvisor else []
        command = [
            *prefix,
            settings.python,
            "-s",
            "-S",
            "-c",
            _BARE_FORK,
            "100" if gvisor else "1000",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
    return float(done.stdout)


async def step(runner: PoolRunner, props: list[Proposal]) -> dict[str, float]:
    """One step's executor work; `props` are loaded beforehand (reading the datasets from disk
    is the bench's setup, not the executor's work: it was timed in validate before 2026-11-25
    09:00 UTC and cost about 0.15 s)."""
    times: dict[str, float] = {}
    CountingRunner.phase = "validate"
    t0 = time.perf_counter()
    results = await validate_proposals(
        runner, props, ExecutionOptions(fresh_process_per_call=FRESH)
    )
    times["validate"] = time.perf_counter() - t0
    invalid = Counter(str(r.reason) for r in results if not r.valid)
    print(f"  invalid proposals by reason: {dict(invalid)}")
    tasks = [
        Task(task_type=p.task_type, program=p.program, inputs=p.inputs, outputs=r.outputs or [],
             message=p.message)
        for p, r in zip(props, results, strict=True)
        if r.valid
    ]  # fmt: skip
    times["valid_tasks"] = len(tasks)
    CountingRunner.phase = "learnability"
    t1 = time.perf_counter()
    items = [
        LearnabilityItem(task=t, answers=answers_for(t, i % (K + 1), i))
        for i, t in enumerate(tasks)
    ]
    scored = await score_learnability(runner, items, LearnabilityOptions())
    times["learnability"] = time.perf_counter() - t1
    times["mean_solve_rate"] = sum(s.solve_rate or 0 for s in scored) / len(scored)
    CountingRunner.phase = "solve"
    t2 = time.perf_counter()
    solver = [
        VerifyItem(task=t, answers=answers_for(t, 1 - i % 2, 10_000 + i)[:1])
        for i, t in enumerate(tasks)
    ]
    await verify_items(runner, solver, VerifyOptions())
    times["solve"] = time.perf_counter() - t2
    times["total"] = time.perf_counter() - t0
    return times


def as_reference(by_phase: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """The step's calls as the reference's executor runs them: every call its own job (the
    program exec'd anew, the input eval'd from source), validation's first run as two calls in
    one process (its j = 2 check) and no second run in another process."""
    out: dict[str, list[Any]] = {}
    for phase, units in by_phase.items():
        jobs = out.setdefault(phase, [])
        for unit in units:
            if phase == "validate" and unit["passes"] != 2:
                continue  # job B: the reference has no second process
            for call in unit["calls"]:
                args, kwargs = marshal.loads(call)
                jobs.append(unit | {"calls": [(args, kwargs)], "mode": "shared", "source": True})
    return out


async def unsandboxed(
    python: str, workers: int, by_phase: dict[str, list[Any]], label: str = ""
) -> None:
    """Replay one step's units on `workers` reused processes with no isolation at all (the
    reference's pool at its best), phase after phase, taking units as workers free up; print
    the wall time per phase. Same programs, calls and passes as the sandboxed step."""
    worker = str(Path(__file__).with_name("_unsandboxed_worker.py"))
    procs = [
        await asyncio.create_subprocess_exec(
            python, "-s", "-S", worker, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(workers)
    ]  # fmt: skip

    async def drain(proc: Any, queue: list[bytes]) -> int:
        done = 0
        while queue:
            proc.stdin.write(queue.pop())
            done += int(await proc.stdout.readline())
        return done

    try:
        unit = {"program": "def f(x):\n    return x\n", "entry": "f",
                "calls": [marshal.dumps(((1,), {}))], "mode": "shared", "passes": 1,
                "stop_on_error": True}  # fmt: skip
        warm = [_line(unit)] * (4 * workers)
        await asyncio.gather(*(drain(p, warm) for p in procs))
        times: dict[str, float] = {}
        calls = 0
        for phase, units in by_phase.items():
            # in the order the jobs sent them (the queue pops its end)
            queue = [_line(u) for u in reversed(units)]
            t0 = time.perf_counter()
            calls += sum(await asyncio.gather(*(drain(p, queue) for p in procs)))
            times[phase] = time.perf_counter() - t0
        total = sum(times.values())
        print(
            f"{label or 'unsandboxed pool'} ({workers} reused processes, no isolation): "
            f"total {total:.2f} s | "
            + " | ".join(f"{phase} {t:.2f} s" for phase, t in times.items())
            + f" | {calls} calls returned | python={python}"
        )
    finally:
        for proc in procs:
            proc.stdin.close()
            await proc.wait()


def _line(unit: dict[str, Any]) -> bytes:
    if unit.get("source"):  # reference mode: the arguments travel as source, eval'd there
        unit = unit | {"calls": [repr(call) for call in unit["calls"]]}
    return base64.b64encode(marshal.dumps(unit)) + b"\n"


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sandbox", choices=["process", "gvisor"], default="process")
    parser.add_argument("--zygotes", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--fork-per-input",
        action="store_true",
        help="validate with fresh_process_per_call=True (job B forks once per input, as before "
        "issue 20)",
    )
    parser.add_argument(
        "--python",
        default=None,
        help="interpreter of the zygotes (default: AZR_EXECUTOR_PYTHON, else this one)",
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="then replay the last step's calls as the AZR reference's pool runs them: one job "
        "per call on reused unsandboxed processes, the program exec'd and the input eval'd for "
        "each, validation as two calls in one process (j = 2), no second process",
    )
    parser.add_argument(
        "--baseline",
        action="store_true",
        help="then replay the last step's programs on reused unsandboxed processes (same "
        "interpreter, one per zygote): the reference's pool at its best, for the ratio",
    )
    args = parser.parse_args()
    global FRESH
    FRESH = args.fork_per_input
    overrides: dict[str, Any] = {"sandbox": args.sandbox}
    if args.zygotes:
        overrides["zygotes"] = args.zygotes
    if args.python:
        overrides["python"] = args.python
    settings = ExecutorSettings(**overrides)
    fork_ms = bare_fork_ms(settings)
    print(
        f"machine: a bare fork + exit + wait from {settings.python} costs {fork_ms:.3f} ms CPU"
        + (" inside gVisor" if settings.sandbox == "gvisor" else "")
    )
    async with SandboxPool.start(settings) as pool:
        runner = CountingRunner(pool)
        props = proposals()
        await step(runner, props)  # warm-up: zygotes started and warmed
        for r in range(args.repeat):
            # A real step validates new proposals: nothing of the warm-up (or of the previous
            # step) is remembered by the service; reuse within the step (validation, then
            # learnability and solve on the same tasks) is kept, as in training.
            forget_remembered()
            CountingRunner.jobs, CountingRunner.forks, CountingRunner.cpu_ms = 0, 0, 0.0
            CountingRunner.by_phase = {}
            CountingRunner.units = {}
            cpu0 = time.process_time()
            t = await step(runner, props)
            service_cpu = time.process_time() - cpu0
            # Under gVisor a job's CPU is what runsc's own accounting reports (97 s for a 41 s
            # step on 2 cores, 2026-11-25): not a figure to compare, so it is not printed.
            native = args.sandbox == "process"
            sandbox_cpu = f"{CountingRunner.cpu_ms / 1000:.2f} s" if native else "n/a (gVisor)"
            print(
                f"run {r}: total {t['total']:.2f} s | validate {t['validate']:.2f} s "
                f"({int(t['valid_tasks'])}/192 valid) | learnability {t['learnability']:.2f} s "
                f"(mean solve rate {t['mean_solve_rate']:.2f}) | solve {t['solve']:.2f} s | "
                f"{CountingRunner.jobs} sandbox jobs, {CountingRunner.forks} forks | "
                f"CPU: sandbox {sandbox_cpu}, "
                f"service {service_cpu:.2f} s | sandbox={args.sandbox} zygotes={settings.zygotes} "
                f"fresh_process_per_call={FRESH} python={settings.python}"
            )
            floor = CountingRunner.forks * fork_ms / 1000 / settings.zygotes
            print(f"  the forks' floor: {floor:.2f} s ({CountingRunner.forks} bare forks "
                  f"on {settings.zygotes} zygotes), before any program runs")  # fmt: skip
            for phase, (jobs, forks, cpu_ms) in CountingRunner.by_phase.items():
                cpu = f", sandbox CPU {cpu_ms / 1000:.2f} s ({cpu_ms / max(forks, 1):.2f} ms per fork)"
                print(f"  {phase}: {int(jobs)} jobs, {int(forks)} forks" + (cpu if native else ""))
    if args.baseline:
        await unsandboxed(settings.python, settings.zygotes, CountingRunner.units)
    if args.reference:
        await unsandboxed(settings.python, settings.zygotes, as_reference(CountingRunner.units),
                          label="reference pool (one job per call, as the AZR reference)")  # fmt: skip


if __name__ == "__main__":
    asyncio.run(main())
