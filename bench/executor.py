"""Executor throughput and latency: isolated runs per second, p50/p99, 1 vs 2 zygotes,
native and gVisor, through the Python API (`SandboxPool`) and over HTTP `/v1/run/batch`.

    .venv/bin/python bench/executor.py                 # everything (about 2-3 minutes)
    .venv/bin/python bench/executor.py --quick         # fewer runs, no gVisor

Workloads: `trivial` (print(1)) and `cruxeval` (the 800 CRUXEval programs of
data/cruxeval/cruxeval.jsonl, each printing repr(f(input))). The machine is shared and noisy:
the load average is printed before and after each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from azr_executor.sandbox import Job, Limits, SandboxPool
from azr_executor.settings import ExecutorSettings

REPO = Path(__file__).resolve().parents[1]
LIMITS = Limits(wall_s=10.0, cpu_s=10)


def workloads() -> dict[str, list[str]]:
    crux = []
    with open(REPO / "data" / "cruxeval" / "cruxeval.jsonl") as fh:
        for line in fh:
            row = json.loads(line)
            crux.append(f"{row['code']}\nprint(repr(f({row['input']})))\n")
    return {"trivial": ["print(1)"], "cruxeval": crux}


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def cpu_s(pids: list[int]) -> float:
    """CPU seconds of this process, plus the zygotes and their reaped children (native only)."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    total = me.ru_utime + me.ru_stime
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
    return total


async def bench_api(settings: ExecutorSettings, programs: list[str], n: int) -> dict[str, float]:
    async with SandboxPool.start(settings) as pool:
        await pool.run_many([Job(code="pass", limits=LIMITS) for _ in range(20)])  # warm up
        jobs = [Job(code=programs[i % len(programs)], limits=LIMITS) for i in range(n)]
        pids = [z.proc.pid for z in pool._zygotes if z is not None]
        c0 = cpu_s(pids)
        t0 = time.perf_counter()
        results = await pool.run_many(jobs)
        elapsed = time.perf_counter() - t0
        cpu_ms = (cpu_s(pids) - c0) / n * 1000
        bad = sum(r.status.value not in ("ok", "runtime_error") for r in results)
        # latency of one run at a time, end to end through the pool
        lat = []
        for i in range(min(100, n)):
            t = time.perf_counter()
            await pool.run(Job(code=programs[i % len(programs)], limits=LIMITS))
            lat.append((time.perf_counter() - t) * 1000)
    return {"runs_per_s": n / elapsed, "p50_ms": statistics.median(lat), "p99_ms": pct(lat, 0.99),
            "failed": bad, "cpu_ms": cpu_ms}  # fmt: skip


def start_server(env_extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = 18000 + os.getpid() % 1000
    env = {**os.environ, "AZR_EXECUTOR_PORT": str(port), "AZR_EXECUTOR_LOG_LEVEL": "warning",
           "AZR_EXECUTOR_MAX_BATCH": "4096", **env_extra}  # fmt: skip
    exe = shutil.which("azr-executor", path=str(Path(sys.executable).parent)) or "azr-executor"
    proc = subprocess.Popen([exe, "serve"], env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the executor server did not start")


async def bench_http(
    url: str, programs: list[str], n: int, batch: int, concurrency: int
) -> dict[str, float]:
    body = lambda i: {"runs": [{"code": programs[(i + j) % len(programs)]} for j in range(batch)]}  # noqa: E731
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        await http.post("/v1/run/batch", json=body(0))
        sem = asyncio.Semaphore(concurrency)
        lat: list[float] = []

        async def one(i: int) -> int:
            async with sem:
                t = time.perf_counter()
                resp = await http.post("/v1/run/batch", json=body(i))
                lat.append((time.perf_counter() - t) * 1000)
                resp.raise_for_status()
                return sum(
                    r["status"] not in ("ok", "runtime_error") for r in resp.json()["results"]
                )

        t0 = time.perf_counter()
        bad = sum(await asyncio.gather(*(one(i * batch) for i in range(n // batch))))
        elapsed = time.perf_counter() - t0
        single = []
        for i in range(50):
            t = time.perf_counter()
            (
                await http.post("/v1/run", json={"code": programs[i % len(programs)]})
            ).raise_for_status()
            single.append((time.perf_counter() - t) * 1000)
    return {"runs_per_s": (n // batch) * batch / elapsed, "batch_p50_ms": statistics.median(lat),
            "batch_p99_ms": pct(lat, 0.99), "single_p50_ms": statistics.median(single),
            "single_p99_ms": pct(single, 0.99), "failed": bad}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs, skip gVisor")
    parser.add_argument("--runs", type=int, default=2000, help="runs per native figure")
    parser.add_argument("--gvisor-runs", type=int, default=200)
    parser.add_argument("--skip-gvisor", action="store_true")
    parser.add_argument("--batch", type=int, default=200, help="runs per HTTP batch request")
    parser.add_argument(
        "--zygotes",
        default="1,2",
        help="zygote counts to measure, comma-separated (default 1,2: one per core is the default)",
    )
    args = parser.parse_args()
    counts = [int(x) for x in args.zygotes.split(",")]
    n = 400 if args.quick else args.runs
    progs = workloads()
    print(
        f"# executor bench  cpus={os.cpu_count()}  python={sys.version.split()[0]}  load={load()}"
    )
    modes = [("native", "process", n)]
    if not (args.quick or args.skip_gvisor) and shutil.which("runsc"):
        modes.append(("gvisor", "gvisor", args.gvisor_runs))
    for label, sandbox, runs in modes:
        for zygotes in counts:
            settings = ExecutorSettings(sandbox=sandbox, zygotes=zygotes, spare_zygote=False)  # type: ignore[arg-type]
            for name, programs in progs.items():
                res = asyncio.run(bench_api(settings, programs, runs))
                print(f"api   {label:6} zygotes={zygotes} {name:8} runs/s={res['runs_per_s']:7.1f} "
                      f"p50={res['p50_ms']:6.2f}ms p99={res['p99_ms']:7.2f}ms cpu/run={res['cpu_ms']:5.2f}ms "
                      f"failed={res['failed']} load={load()}")  # fmt: skip
        for zygotes in counts:
            env = {"AZR_EXECUTOR_SANDBOX": sandbox, "AZR_EXECUTOR_ZYGOTES": str(zygotes),
                   "AZR_EXECUTOR_SPARE_ZYGOTE": "false"}  # fmt: skip
            proc, url = start_server(env)
            try:
                for name, programs in progs.items():
                    res = asyncio.run(bench_http(url, programs, runs, min(args.batch, runs), 2))
                    print(f"http  {label:6} zygotes={zygotes} {name:8} runs/s={res['runs_per_s']:7.1f} "
                          f"batch p50={res['batch_p50_ms']:7.1f}ms p99={res['batch_p99_ms']:7.1f}ms "
                          f"single p50={res['single_p50_ms']:6.2f}ms p99={res['single_p99_ms']:6.2f}ms "
                          f"failed={res['failed']} load={load()}")  # fmt: skip
            finally:
                proc.terminate()
                proc.wait(30)


if __name__ == "__main__":
    main()
