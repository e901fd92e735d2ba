"""Reliability of the buffer as deployed: real `azr-buffer serve` processes, real client processes,
SIGKILL in the middle of inserts and of an import; against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from azr_proto.buffer import RunCreate, SampleRequest, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.buffer_export import ExportedTask, ExportEnd
from azr_proto.errors import ProtoError
from azr_proto.tasks import TaskType
from ports import free_port
from postgres import fresh_database_url

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).with_name("azr-buffer")


class Service:
    """One `azr-buffer serve` process."""

    def __init__(self, db_url: str, log: Path) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AZR_BUFFER_LOG_LEVEL": "warning"}
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(CLI), "serve", "--port", str(self.port), "--database-url", db_url],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"azr-buffer exited with {self.proc.returncode}: {log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"azr-buffer did not get ready: {log.read_text()[-3000:]}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def make_task(key: str, step: int = 0) -> TaskIn:
    return TaskIn(
        type=TaskType.DEDUCTION,
        program=f"def f(a):\n    return (a, {key!r})",
        inputs=["1"],
        outputs=[f"(1, {key!r})"],
        step=step,
    )


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def services(request, tmp_path_factory):
    """Service processes sharing one database: two on SQLite (two processes writing one file),
    one on PostgreSQL (row locks across connections are exercised by its thread pool)."""
    tmp = tmp_path_factory.mktemp(request.param)
    if request.param == "sqlite":
        db_url = f"sqlite:///{tmp}/buffer.sqlite"
    else:
        db_url = fresh_database_url(migrated=False)  # the service migrates the empty database
    started = [Service(db_url, tmp / "0.log")]
    if request.param == "sqlite":
        started.append(Service(db_url, tmp / "1.log"))
    yield started
    for s in started:
        s.stop()


# -- several client processes against two service processes on one database ---------------------


def _writer(worker: int, url: str, n_batches: int, out: multiprocessing.Queue) -> None:
    async def go() -> dict:
        got: dict[str, int] = {}
        inserted: list[str] = []
        async with BufferClient(url, retries=8, backoff_s=0.05) as client:
            for b in range(n_batches):
                keys = [f"shared-{b}-{j}" for j in range(8)] + [
                    f"w{worker}-{b}-{j}" for j in range(8)
                ]
                random.Random(worker * 1000 + b).shuffle(keys)
                hashes = [make_task(k).compute_hash() for k in keys]
                res = await client.insert_tasks("r", [make_task(k, step=b) for k in keys])
                for item in res.inserted:
                    got[hashes[item.index]] = item.id
                    inserted.append(hashes[item.index])
                for item in res.duplicates:
                    got[hashes[item.index]] = item.id
                sample = await client.sample("r", SampleRequest(type=TaskType.DEDUCTION, k=6))
                if len({t.id for t in sample}) != len(sample):
                    raise AssertionError("sample returned a task twice")
        return {"got": got, "inserted": inserted}

    out.put((worker, asyncio.run(go())))


def test_concurrent_writer_processes_lose_and_duplicate_nothing(services):
    asyncio.run(_create_run(services[0].url, "r"))
    # fork: the workers need nothing but the client, and a spawn re-import costs seconds.
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    n_workers, n_batches = 3, 6
    procs = [
        ctx.Process(target=_writer, args=(w, services[w % len(services)].url, n_batches, out))
        for w in range(n_workers)
    ]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    expected = {
        make_task(f"shared-{b}-{j}").compute_hash() for b in range(n_batches) for j in range(8)
    }
    expected |= {
        make_task(f"w{w}-{b}-{j}").compute_hash()
        for w in range(n_workers)
        for b in range(n_batches)
        for j in range(8)
    }
    # Every task was inserted by exactly one writer...
    inserted = [h for r in results.values() for h in r["inserted"]]
    assert sorted(inserted) == sorted(expected)
    # ...and every writer was told the same id for it.
    ids: dict[str, set[int]] = {}
    for r in results.values():
        for h, i in r["got"].items():
            ids.setdefault(h, set()).add(i)
    assert all(len(v) == 1 for v in ids.values())
    stored = asyncio.run(_stored(services[-1].url, "r"))
    assert stored == {h: next(iter(v)) for h, v in ids.items()}


async def _create_run(url: str, name: str) -> None:
    async with BufferClient(url) as client:
        await client.create_run(RunCreate(name=name))


async def _stored(url: str, run: str) -> dict[str, int]:
    """content_hash -> id of every stored task, checked against the stats counters."""
    async with BufferClient(url) as client:
        stats = await client.stats(run)
        lines = [json.loads(line) async for line in client.export_run(run)][
            1:-1
        ]  # header and end line off
        n_sampled = len(await client.sample(run, SampleRequest(type=TaskType.DEDUCTION, k=1024)))
    # The pool counters agree with the rows: no half-applied batch left them behind.
    assert stats.total == len(lines) and n_sampled == min(1024, len(lines))
    stored = {line["content_hash"]: line["id"] for line in lines}
    assert len(stored) == len(lines)
    return stored


# -- SIGKILL in the middle of a stream of inserts -----------------------------------------------


def test_sigkill_mid_insert_stream_loses_no_acknowledged_insert(services, tmp_path):
    service = services[0]
    acked: dict[str, int] = {}  # content_hash -> id, from acknowledged batches only
    unacked: list[list[str]] = []  # batches whose answer never came
    batch_size = 100

    async def stream(client: BufferClient, stream_id: int, killed: threading.Event) -> None:
        b = 0
        while not killed.is_set():
            keys = [f"s{stream_id}-b{b}-{j}" for j in range(batch_size)]
            hashes = [make_task(k).compute_hash() for k in keys]
            try:
                res = await client.insert_tasks("k", [make_task(k, step=b) for k in keys])
            except ProtoError:
                unacked.append(hashes)
                return
            assert len(res.inserted) == batch_size
            acked.update({hashes[t.index]: t.id for t in res.inserted})
            b += 1

    async def run_until_killed() -> None:
        killed = threading.Event()
        async with BufferClient(service.url, retries=0) as client:
            await client.create_run(RunCreate(name="k"))
            streams = [asyncio.create_task(stream(client, i, killed)) for i in range(3)]
            while len(acked) < 4 * batch_size:
                await asyncio.sleep(0.01)
            await asyncio.sleep(random.uniform(0.0, 0.05))  # land somewhere inside a batch
            await asyncio.to_thread(service.kill)
            killed.set()
            await asyncio.gather(*streams)

    asyncio.run(run_until_killed())
    assert unacked, "the kill should have cut at least one batch"
    service = services[0] = Service(service.db_url, tmp_path / "restarted.log")
    stored = asyncio.run(_stored(service.url, "k"))
    # Every acknowledged insert survived, under the id it was acknowledged with.
    assert {h: stored.get(h) for h in acked} == acked
    # A cut batch is either entirely there or entirely absent: never half-written.
    for hashes in unacked:
        present = sum(h in stored for h in hashes)
        assert present in (0, len(hashes)), f"{present}/{len(hashes)} of a batch stored"
    extra = set(stored) - set(acked) - {h for hs in unacked for h in hs}
    assert not extra


# -- SIGKILL in the middle of an import ----------------------------------------------------------


def test_sigkill_mid_import_leaves_it_all_or_nothing(services, tmp_path):
    service = services[0]
    n_tasks = 6000
    lines = [
        ExportedTask(**make_task(f"imp-{i}", step=i % 7).model_dump()).model_dump_json().encode()
        for i in range(n_tasks)
    ]
    body = b"\n".join(lines) + b"\n" + ExportEnd(tasks=n_tasks).model_dump_json().encode() + b"\n"

    async def create(*names: str) -> None:
        async with BufferClient(service.url) as client:
            for name in names:
                await client.create_run(RunCreate(name=name))

    asyncio.run(create("imp-timed"))
    # How long a whole import takes here; each kill lands somewhere inside one.
    start = time.monotonic()
    timed = httpx.post(f"{service.url}/v1/runs/imp-timed/import", content=body, timeout=120)
    took = time.monotonic() - start
    assert timed.status_code == 200 and timed.json()["inserted"] == n_tasks, timed.text
    cut = 0
    for attempt in range(4):
        run = f"imp-{attempt}"
        asyncio.run(create(run))
        answer: list[httpx.Response | Exception] = []

        def send(url: str = f"{service.url}/v1/runs/{run}/import", answer: list = answer) -> None:
            try:
                answer.append(httpx.post(url, content=body, timeout=120))
            except httpx.TransportError as exc:
                answer.append(exc)

        sender = threading.Thread(target=send)
        sender.start()
        time.sleep(random.uniform(0.1, 0.6) * took)
        service.kill()
        sender.join(30)
        service = services[0] = Service(service.db_url, tmp_path / f"restarted-{attempt}.log")
        stored = asyncio.run(_stored(service.url, run))
        # The import is entirely there or entirely absent, and a retry completes it.
        assert len(stored) in (0, n_tasks), f"{len(stored)}/{n_tasks} of an import stored"
        retried = httpx.post(f"{service.url}/v1/runs/{run}/import", content=body, timeout=120)
        assert retried.status_code == 200, retried.text
        assert retried.json()["inserted"] + retried.json()["duplicates"] == n_tasks
        assert len(asyncio.run(_stored(service.url, run))) == n_tasks
        if isinstance(answer[0], Exception):
            cut += 1
            break
    assert cut, "no kill landed inside an import"
