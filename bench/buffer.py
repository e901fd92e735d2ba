"""Buffer speed with 1,000,000 tasks in a run, on SQLite and on PostgreSQL, over real HTTP.

    .venv/bin/python bench/buffer.py                  # both backends, 1,000,000 tasks
    .venv/bin/python bench/buffer.py --tasks 100000 --backends sqlite

For each backend: start `azr-buffer serve` (a real uvicorn process) on a fresh database, bulk-load
the million rows straight into the tables (executemany on SQLite, COPY on PostgreSQL; not through
HTTP), then time over HTTP: sampling k=6 (uniform and recent), batch inserts of 64 new tasks, a
full export of the run, and an import (`--import-tasks` of the exported lines, default all of
them) into a fresh run, in tasks/s. PostgreSQL is a private throwaway
cluster (tests/integration/postgres.py) with fsync on, as a real deployment would run it.
Targets: sample p99 <= 10 ms, insert-64 p50 <= 30 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests")]  # postgres, ports
CLI = Path(sys.executable).with_name("azr-buffer")
PER_STEP = 64


def task_line(i: int) -> bytes:
    program = f"def f(a, b):\n    return [x * {i % 97} + b for x in a][: {i % 13 + 1}]"
    line = {
        "kind": "task",
        "type": "deduction",
        "program": program,
        "inputs": [f"[1, 2, 3], {i}"],
        "outputs": [repr([x * (i % 97) + i for x in [1, 2, 3]][: i % 13 + 1])],
        "step": i // PER_STEP,
        "source": "proposed",
        "metadata": {"learnability": 0.5},
    }
    return json.dumps(line, separators=(",", ":")).encode() + b"\n"


def bulk_load(db_url: str, n: int) -> float:
    """Insert n tasks into run "bench" (created over HTTP) directly; returns tasks/s."""
    import hashlib

    from azr_buffer.tables import PoolRow, RunRow, TaskRow
    from azr_proto.buffer import task_content_hash
    from azr_proto.tasks import TaskType
    from sqlalchemy import create_engine, select, update

    engine = create_engine(db_url)
    t = time.perf_counter()
    columns = [c.name for c in TaskRow.__table__.columns if c.name != "id"]
    now = datetime.now(UTC)
    with engine.begin() as conn:
        run_id = conn.execute(select(RunRow.id).where(RunRow.name == "bench")).scalar_one()

        def rows(lo: int, hi: int):
            for i in range(lo, hi):
                t = json.loads(task_line(i))
                h = task_content_hash(
                    TaskType.DEDUCTION, t["program"], t["inputs"], t["outputs"], None
                )
                yield {
                    "run_id": run_id,
                    "type": "deduction",
                    "seq": i + 1,
                    "content_hash": h,
                    "program_hash": hashlib.sha256(t["program"].encode()).hexdigest(),
                    "program": t["program"],
                    "inputs": t["inputs"],
                    "outputs": t["outputs"],
                    "message": None,
                    "step": t["step"],
                    "source": "proposed",
                    "metadata": t["metadata"],
                    "n_attempts": 0,
                    "n_solved": 0,
                    "created_at": now,
                }

        if engine.dialect.name == "postgresql":
            raw = conn.connection.driver_connection
            with (
                raw.cursor() as cur,
                cur.copy(f"COPY tasks ({', '.join(columns)}) FROM STDIN") as copy,
            ):
                for row in rows(0, n):
                    for key in ("inputs", "outputs", "metadata"):
                        row[key] = json.dumps(row[key])
                    copy.write_row([row[c] for c in columns])
        else:
            table = TaskRow.__table__
            for lo in range(0, n, 20000):
                conn.execute(table.insert(), list(rows(lo, min(n, lo + 20000))))
        conn.execute(
            update(PoolRow)
            .where(PoolRow.run_id == run_id, PoolRow.type == "deduction")
            .values(n_tasks=n, n_offered=n, next_seq=n + 1)
        )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE tasks")
    engine.dispose()
    return n / (time.perf_counter() - t)


def start_service(db_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AZR_BUFFER_LOG_LEVEL": "warning"}
    proc = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--database-url", db_url],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"service did not start: {log.read_text()[-2000:]}")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) used so far by process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_backend(name: str, db_url: str, n: int, n_import: int, tmp: Path) -> dict[str, float]:
    port = 18000 + os.getpid() % 1000 + (0 if name == "sqlite" else 1)
    proc = start_service(db_url, port, tmp / f"{name}.log")
    out: dict[str, float] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=3600) as http:
            http.post("/v1/runs", json={"name": "bench"}).raise_for_status()
            out["bulk_load_tasks_per_s"] = bulk_load(db_url, n)
            last_step = (n - 1) // PER_STEP
            for label, body in (
                ("uniform", {"type": "deduction", "k": 6}),
                (
                    "recent",
                    {
                        "type": "deduction",
                        "k": 6,
                        "strategy": "recent",
                        "step": last_step,
                        "window": 4,
                    },
                ),
            ):
                times = []
                cpu0 = cpu_s(proc.pid)
                for i in range(1100):
                    t = time.perf_counter()
                    r = http.post("/v1/runs/bench/sample", json=body)
                    elapsed = time.perf_counter() - t
                    r.raise_for_status()
                    assert len(r.json()["tasks"]) == 6
                    if i >= 100:  # warm-up
                        times.append(elapsed * 1000)
                # Service CPU per request: what the latency would be on an idle machine, minus
                # the client and the network. The machines these run on are often shared.
                out[f"sample_{label}_server_cpu_ms"] = (cpu_s(proc.pid) - cpu0) / 1100 * 1000
                out[f"sample_{label}_p50_ms"] = statistics.median(times)
                out[f"sample_{label}_p99_ms"] = pct(times, 0.99)
            times = []
            cpu0 = cpu_s(proc.pid)
            for b in range(200):
                lines = [json.loads(task_line(n + b * 64 + j)) for j in range(64)]
                for line in lines:
                    del line["kind"]
                t = time.perf_counter()
                r = http.post("/v1/runs/bench/tasks", json={"tasks": lines})
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
                assert len(r.json()["inserted"]) == 64
            out["insert64_server_cpu_ms"] = (cpu_s(proc.pid) - cpu0) / 200 * 1000
            out["insert64_p50_ms"] = statistics.median(times)
            out["insert64_p99_ms"] = pct(times, 0.99)
            total = n + 200 * 64
            export = tmp / "export.jsonl"
            t = time.perf_counter()
            count = 0
            with http.stream("GET", "/v1/runs/bench/export") as resp, export.open("wb") as f:
                for chunk in resp.iter_bytes():
                    f.write(chunk)
                    count += chunk.count(b"\n")
            out["export_tasks_per_s"] = total / (time.perf_counter() - t)
            assert count == total + 2, count  # the header, the tasks, the end line
            n_import = min(n_import, total)
            with export.open("rb") as src, (tmp / "import.jsonl").open("wb") as dst:
                for _ in range(n_import + 1):  # the header and n_import tasks
                    dst.write(src.readline())
                dst.write(json.dumps({"kind": "end", "tasks": n_import}).encode() + b"\n")
            http.post("/v1/runs", json={"name": "copy"}).raise_for_status()
            t = time.perf_counter()
            cpu0 = cpu_s(proc.pid)
            with (tmp / "import.jsonl").open("rb") as f:
                resp = http.post("/v1/runs/copy/import", content=f)
            resp.raise_for_status()
            out["import_tasks_per_s"] = n_import / (time.perf_counter() - t)
            out["import_server_cpu_us_per_task"] = (cpu_s(proc.pid) - cpu0) / n_import * 1e6
            assert resp.json()["inserted"] == n_import, resp.text
    finally:
        proc.terminate()
        proc.wait()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--import-tasks", type=int, default=None, help="default: the whole run")
    args = parser.parse_args()
    print(f"load average at the start: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="azr-bench-buffer-") as tmp_name:
        tmp = Path(tmp_name)
        n_import = args.import_tasks or args.tasks + 200 * 64
        for backend in args.backends.split(","):
            if backend == "sqlite":
                url = f"sqlite:///{tmp}/bench.sqlite"
            else:
                import postgres

                server = postgres.start_server(fsync=True)
                url = server.url(server.create_database())
            try:
                figures = bench_backend(backend, url, args.tasks, n_import, tmp)
            finally:
                if backend != "sqlite":
                    server.stop()
            print(f"== {backend}: {args.tasks} tasks in the run", flush=True)
            print(f"  load average at the end: {os.getloadavg()[0]:.1f}", flush=True)
            for key, value in figures.items():
                print(f"  {key:30s} {value:12.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
