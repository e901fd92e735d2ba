"""What one harness unit costs: CPU, wall time and copy-on-write page faults per unit.

    .venv/bin/python bench/harness_units.py [--step] [--units N] [--jobs J] [--repeat R]
                                            [--replay] [--cpu C] [--harness FILE ...]

A unit is one fork of the harness's parent (`inside/harness.py`): every AZR proposal, answer
and `/v1/tests` case costs at least one, so this is the figure the AZR step multiplies.
- jobs: J jobs of N trivial units (`def f(x): return x`, one call), or with `--step` the jobs
  of one `bench/azr_step.py` step (recorded after a warm-up step);
- through the sandbox pool (1 zygote): the job's CPU as the zygote measured it (`wait4`), and
  its wall time, per unit;
- `--replay`: the same jobs run by the harness outside the sandbox, in a process set up as a
  zygote is (its modules and preloads imported, the heap frozen), pinned to CPU C (default 1),
  as the zygotes are: CPU and wall per unit, and the minor page faults per unit of the
  harness's parent (its own, with its set-up spread over the units) and of the units. Fault
  counts do not depend on the machine's load; run it twice to see how much CPU times do.
- `--harness FILE ...`: other versions of the harness (e.g. `main`'s), run in turns with the
  current one, each job with the same stdin: side-by-side figures in one run.
Min and median over the repeats are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import marshal
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from azr_executor.inside import harness as current
from azr_executor.judging import UnitSpec, build_spec, encode_arguments
from azr_executor.sandbox import Job, Limits, SandboxPool
from azr_executor.sandbox.zygote_process import PACKAGE_DIR
from azr_executor.settings import DEFAULT_PRELOAD, ExecutorSettings

# Runs as `python -s -S -P -c REPLAY pkg preload harness jobs repeat`: a zygote's set-up (as
# `inside/zygote.py` main() does it, without confinement), then each job in a forked child that
# runs the harness with the job on stdin. The harness's own `main` ends in `os._exit`, wrapped
# here to send its rusage first (the units' processes exit through the unwrapped one).
REPLAY = r"""
import gc, json, marshal, os, resource, sys, time
pkg, preload, harness_file, jobs_file, repeat = sys.argv[1:6]
m = type(sys)("azr_executor"); m.__path__ = [pkg]; sys.modules["azr_executor"] = m
from azr_executor.inside import zygote
from azr_executor.inside import child
for name in json.loads(preload):
    __import__(name)
compile("def _warm(a, *b, c=1, **d):\n    return [x for x in (a, b, c, d)]\n", "<warm>", "exec")
gc.collect(); gc.freeze(); gc.disable()
os.environ.clear(); os.environ.update(PATH="/usr/bin:/bin", HOME="/tmp", LANG="C.UTF-8")
child.prepare_program_runtime()
gc.collect(); gc.freeze()
zygote._reserve_low_fds()
code = compile(open(harness_file).read(), "<program>", "exec")
jobs = marshal.load(open(jobs_file, "rb"))

def run(stdin):
    out_r, out_w = os.pipe()
    st_r, st_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        os.dup2(out_w, 1); os.dup2(st_w, 3)
        fd = os.memfd_create("stdin"); os.write(fd, stdin); os.lseek(fd, 0, 0); os.dup2(fd, 0)
        os.closerange(4, 1 << 16)
        gc.enable()
        namespace = child._PROGRAM_MAIN.__dict__
        exec(code, namespace)
        real_exit, me = os._exit, os.getpid()
        def report_and_exit(status):
            if os.getpid() == me:
                s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
                os.write(3, marshal.dumps((s.ru_utime + s.ru_stime, s.ru_minflt,
                                           c.ru_utime + c.ru_stime, c.ru_minflt)))
            real_exit(status)
        os._exit = report_and_exit
        namespace["main"]()
    os.close(out_w); os.close(st_w)
    t0 = time.perf_counter()
    lines = 0
    while data := os.read(out_r, 1 << 16):
        lines += data.count(b"\n")
    wall = time.perf_counter() - t0
    stats = os.read(st_r, 4096)
    os.close(out_r); os.close(st_r); os.waitpid(pid, 0)
    return (wall, lines, *marshal.loads(stats))

rounds = []
for _ in range(int(repeat)):
    rounds.append([run(stdin) for stdin in jobs])
print(json.dumps(rounds))
"""


def trivial_jobs(units: int, jobs: int, sweep: bool) -> list[bytes]:
    specs = [
        UnitSpec(f"def f(x):\n    return x\n\n_k = {k}\n", [encode_arguments((k,), {})],
                 timeout_s=10.0, max_chars=1000)
        for k in range(units)
    ]  # fmt: skip
    return [build_spec(specs, sweep=sweep)[0]] * jobs


async def step_jobs() -> list[bytes]:
    """The harness jobs of one AZR step, recorded after a warm-up step."""
    sys.path.insert(0, str(Path(__file__).parent))
    import azr_step  # the step bench, imported only here
    from azr_executor.azr import forget_remembered

    recorded: list[bytes] = []

    class Recording(azr_step.CountingRunner):
        async def run(self, code: str, stdin: bytes, **kwargs: object):  # type: ignore[override]
            recorded.append(stdin)
            return await super().run(code, stdin, **kwargs)

    async with SandboxPool.start(ExecutorSettings()) as pool:
        runner = Recording(pool)
        props = azr_step.proposals()
        await azr_step.step(runner, props)
        recorded.clear()
        forget_remembered()
        await azr_step.step(runner, props)
    return recorded


async def _pool_sweeps() -> bool:
    async with SandboxPool.start(ExecutorSettings(zygotes=1)) as pool:
        return pool.sweeps_units


def n_units(stdin: bytes) -> int:
    return len(marshal.loads(stdin)["units"])


async def through_pool(sources: dict[str, str], jobs: list[bytes], repeat: int) -> None:
    settings = ExecutorSettings(zygotes=1)
    units = sum(n_units(s) for s in jobs)
    compiled = {
        name: marshal.dumps(compile(src, "<program>", "exec")) for name, src in sources.items()
    }
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in sources}
    async with SandboxPool.start(settings) as pool:
        for _ in range(repeat):
            for name, src in sources.items():
                cpu = wall = 0.0
                for stdin in jobs:
                    job = Job(code=src, stdin=stdin, compiled=compiled[name], pipelined=False,
                              limits=Limits(wall_s=60, cpu_s=60, output_bytes=8 << 20))  # fmt: skip
                    t0 = time.perf_counter()
                    result = await pool.run(job)
                    wall += time.perf_counter() - t0
                    cpu += result.cpu_ms
                    if result.status != "ok" or result.stdout.count("\n") != n_units(stdin):
                        raise SystemExit(f"{name}: the job failed: {result.status} {result.stderr}")
                figures[name].append((cpu / units, wall * 1000 / units))
    for name, rows in figures.items():
        print(f"{name}: pool (1 zygote), {len(jobs)} jobs, {units} units: "
              f"CPU {_span([c for c, _ in rows])} ms/unit, wall {_span([w for _, w in rows])} ms/unit")  # fmt: skip


def replay(files: dict[str, str], jobs: list[bytes], repeat: int, cpu: int) -> None:
    units = sum(n_units(s) for s in jobs)
    # Never a sweep here: outside a sandbox its `kill(-1)` would reach this user's processes.
    jobs = [marshal.dumps(marshal.loads(stdin) | {"sweep": False}) for stdin in jobs]
    with tempfile.TemporaryDirectory() as tmp:
        jobs_file = Path(tmp, "jobs")
        jobs_file.write_bytes(marshal.dumps(jobs))
        figures: dict[str, list[list[float]]] = {name: [] for name in files}
        for _ in range(repeat):
            for name, harness_file in files.items():
                done = subprocess.run(
                    ["taskset", "-c", str(cpu), sys.executable, "-s", "-S", "-P", "-c", REPLAY,
                     str(PACKAGE_DIR), json.dumps(DEFAULT_PRELOAD), harness_file, str(jobs_file), "1"],
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                (rows,) = json.loads(done.stdout)
                if sum(r[1] for r in rows) != units:
                    raise SystemExit(f"{name}: the replay lost report lines")
                wall, _, p_cpu, p_flt, u_cpu, u_flt = (sum(col) for col in zip(*rows, strict=True))
                figures[name].append([(p_cpu + u_cpu) * 1000 / units, wall * 1000 / units,
                                      p_flt / units, u_flt / units])  # fmt: skip
    for name, rows in figures.items():
        cols = list(zip(*rows, strict=True))
        print(f"{name}: replay on CPU {cpu}, {len(jobs)} jobs, {units} units: "
              f"CPU {_span(cols[0])} ms/unit, wall {_span(cols[1])} ms/unit, page faults/unit: "
              f"parent {statistics.median(cols[2]):.0f}, units {statistics.median(cols[3]):.0f}")  # fmt: skip


def _span(values: list[float] | tuple[float, ...]) -> str:
    return f"{min(values):.3f} (median {statistics.median(values):.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument(
        "--step", action="store_true", help="one AZR step's jobs (default: trivial)"
    )
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--replay", action="store_true", help="replay outside the sandbox too")
    parser.add_argument("--cpu", type=int, default=1, help="the CPU the replay is pinned to")
    parser.add_argument("--harness", nargs="*", default=[], help="other harness files, in turn")
    args = parser.parse_args()
    if args.step:
        jobs = asyncio.run(step_jobs())
    else:  # a sweep between units where the pool would ask for one (`sweeps_units`)
        jobs = trivial_jobs(args.units, args.jobs, asyncio.run(_pool_sweeps()))
    files = {"current": current.__file__} | {
        f"{Path(f).resolve()}": str(Path(f).resolve()) for f in args.harness
    }
    if os.cpu_count() == 1:
        args.cpu = 0
    sources = {name: Path(f).read_text() + "\nmain()\n" for name, f in files.items()}
    asyncio.run(through_pool(sources, jobs, args.repeat))
    if args.replay:
        replay(files, jobs, args.repeat, args.cpu)


if __name__ == "__main__":
    main()
