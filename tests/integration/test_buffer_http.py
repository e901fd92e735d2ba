"""The buffer over real HTTP (uvicorn), on SQLite and on PostgreSQL: whatever it acknowledges
reads back, exports, re-imports and exports again unchanged, it refuses exactly what the proto
model refuses, and an export that races a DELETE is whole or a 404, never a broken stream."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time

import pytest
from azr_buffer import repo, transfer
from azr_proto.buffer import RunCreate, SampleRequest, Task, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.errors import BadRequest
from azr_proto.tasks import TaskType
from buffer_server import ENGINES, serve_buffer
from buffer_strategies import TASKS, canonical
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError

pytestmark = pytest.mark.postgres

FIELDS = {"type", "program", "inputs", "outputs", "message", "step", "source", "metadata"}
_names = itertools.count()


@pytest.fixture(scope="module", params=ENGINES)
def server(request, tmp_path_factory):
    with serve_buffer(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


@pytest.fixture(autouse=True)
def no_server_errors(server):
    """The service logs no error during a test: not even one it could not answer as a 500."""
    server.errors.clear()
    yield
    assert not server.errors, server.errors[:3]


def _content(task: Task | TaskIn) -> str:
    return canonical(task.model_dump(mode="json", include=FIELDS))


async def _round_trip(url: str, body: bytes, model: TaskIn | None) -> None:
    run, copy = f"rt-{next(_names)}", f"rt-{next(_names)}"
    async with BufferClient(url, retries=0) as client:
        await client.create_run(RunCreate(name=run))
        resp = await client._http.post(
            f"/v1/runs/{run}/tasks", content=body, headers={"content-type": "application/json"}
        )
        if model is None:  # the model refuses it: so must the service, with a clear 422
            assert resp.status_code == 422, resp.text[:300]
            assert resp.json()["code"] == "invalid_request"
            return
        assert resp.status_code == 200, resp.text[:300]
        task_id = resp.json()["inserted"][0]["id"]
        assert _content(await client.get_task(run, task_id)) == _content(model)
        [sampled] = await client.sample(run, SampleRequest(type=model.type, k=5))
        assert _content(sampled) == _content(model)
        lines = [line async for line in client.export_run(run)]
        await client.create_run(RunCreate(name=copy))
        assert (await client.import_run(copy, b"".join(lines))).inserted == 1
        again = [line async for line in client.export_run(copy)]
        assert [json.loads(x) | {"id": 0} for x in again[1:]] == [
            json.loads(x) | {"id": 0} for x in lines[1:]
        ]
        await client.delete_run(run)
        await client.delete_run(copy)


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(task=TASKS)
def test_the_service_stores_what_the_model_accepts_and_round_trips_it(server, task):
    try:
        model = TaskIn.model_validate(task)
    except ValidationError:
        model = None
    # ensure_ascii: lone surrogates and NaN travel the way JSON lets a client send them.
    body = json.dumps({"tasks": [task]}).encode()
    asyncio.run(_round_trip(server.url, body, model))


def test_an_export_racing_a_delete_is_whole_or_a_404(server, monkeypatch):
    # One line per chunk, each a hop to the threadpool: the export takes long enough for the
    # DELETE to commit while the server is still writing it.
    monkeypatch.setattr(transfer, "EXPORT_BATCH", 1)
    written: dict[str, float] = {}  # run -> when the server wrote the export's last chunk
    export_lines = transfer.export_lines

    def timed(db, run, done):
        yield from export_lines(db, run, done)
        written[run] = time.monotonic()

    monkeypatch.setattr(transfer, "export_lines", timed)
    n_tasks = 1000
    seen = {"whole": 0, "404": 0, "overlapped": 0}

    async def once(client: BufferClient, run: str) -> None:
        await client.create_run(RunCreate(name=run))
        tasks = [
            TaskIn(type=TaskType.DEDUCTION, program=f"def f(a):\n    return a + {i}",
                   inputs=["1"], outputs=[str(1 + i)], metadata={"i": i})
            for i in range(n_tasks)
        ]  # fmt: skip
        await client.insert_tasks(run, tasks)
        deleted_at: list[float] = []

        async def delete() -> None:
            await asyncio.sleep(random.uniform(0.0, 0.1))
            await client.delete_run(run)
            deleted_at.append(time.monotonic())

        async def export() -> list[bytes] | None:
            try:
                return [line async for line in client.export_run(run)]
            except BadRequest as exc:
                assert exc.status_code == 404
                return None

        lines, _ = await asyncio.gather(export(), delete())
        if lines is None:
            seen["404"] += 1
            return
        seen["whole"] += 1
        seen["overlapped"] += deleted_at[0] < written[run]
        assert len(lines) == n_tasks + 2
        assert json.loads(lines[-1]) == {"kind": "end", "tasks": n_tasks}
        assert sorted(json.loads(x)["metadata"]["i"] for x in lines[1:-1]) == list(range(n_tasks))

    async def main() -> None:
        async with BufferClient(server.url, retries=0) as client:
            for i in range(6):
                await once(client, f"race-{i}")

    asyncio.run(main())
    assert seen["overlapped"] >= 1, seen  # the DELETE did land while the export was being written


@pytest.mark.parametrize("moment", ["as the export starts", "after the header"])
def test_a_run_deleted_at_the_worst_moment_gives_a_404_or_a_whole_export(
    server, moment, monkeypatch
):
    # The two windows of the race, hit on purpose: between the route's check and the stream's
    # first read, and between the header and the rows.
    export_lines = transfer.export_lines

    def deleting(db, run, done):
        def delete() -> None:
            with db.write_session() as session:
                repo.delete_run(session=session, name=run)

        if moment == "as the export starts":
            delete()
            yield from export_lines(db, run, done)
        else:
            lines = export_lines(db, run, done)
            yield next(lines)
            delete()
            yield from lines

    monkeypatch.setattr(transfer, "export_lines", deleting)

    async def main() -> list[bytes] | None:
        async with BufferClient(server.url, retries=0) as client:
            run = f"gone-{next(_names)}"
            await client.create_run(RunCreate(name=run))
            tasks = [TaskIn(type=TaskType.ABDUCTION, program=f"p{i}", inputs=["1"], outputs=["1"])
                     for i in range(50)]  # fmt: skip
            await client.insert_tasks(run, tasks)
            try:
                return [line async for line in client.export_run(run)]
            except BadRequest as exc:
                assert exc.status_code == 404
                return None

    lines = asyncio.run(main())
    if moment == "as the export starts":
        assert lines is None
    else:
        assert lines is not None and len(lines) == 52
        assert json.loads(lines[-1]) == {"kind": "end", "tasks": 50}
