"""The buffer under clients that leave or stall, driven at the ASGI level (SQLite: the behaviour
is the app's, not the database's). A client that leaves mid-import is no error and applies
nothing; clients that stop reading exports cannot take the connections that every other request
needs; a request that finds no free connection in time gets a 503, not a 500."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import pytest
from azr_buffer.app import create_app
from azr_buffer.settings import BufferSettings
from azr_proto.buffer import RunCreate, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.buffer_export import ExportedTask
from azr_proto.errors import Overloaded
from azr_proto.tasks import TaskType


async def _open(tmp_path, **settings: Any):
    app = create_app(BufferSettings(database_url=f"sqlite:///{tmp_path}/b.sqlite", **settings))
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = BufferClient("http://b", retries=0, transport=httpx.ASGITransport(app=app))
    await client.create_run(RunCreate(name="r"))
    tasks = [TaskIn(type=TaskType.DEDUCTION, program=f"p{i}" + "#" * 500, inputs=["1"],
                    outputs=["1"]) for i in range(3000)]  # fmt: skip
    await client.insert_tasks("r", tasks[:2000])
    await client.insert_tasks("r", tasks[2000:])
    return app, lifespan, client


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},  # what uvicorn declares
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"b"), *headers],
        "server": ("b", 80),
        "client": ("127.0.0.1", 1),
    }


class _Client:
    """One ASGI connection: sends `body` in chunks, then leaves (http.disconnect) when told;
    reads the response until `stall_after` body messages, then stops reading (its send blocks)."""

    def __init__(self, body: list[bytes] = (), stall_after: int | None = None) -> None:
        self.messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": b, "more_body": True} for b in body
        ]
        self.left = asyncio.Event()
        self.sent: list[dict[str, Any]] = []
        self.stall_after = stall_after

    def leave(self) -> None:
        self.left.set()

    async def receive(self) -> dict[str, Any]:
        if self.messages:
            return self.messages.pop(0)
        await self.left.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)
        bodies = sum(m["type"] == "http.response.body" for m in self.sent)
        more = message.get("more_body", False)  # a whole small answer fits any socket buffer
        if more and self.stall_after is not None and bodies >= self.stall_after:
            await asyncio.Event().wait()  # never reads again (cancelled when it leaves)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])


async def test_an_import_whose_client_leaves_mid_body_applies_nothing_and_is_no_error(
    tmp_path, caplog
):
    app, lifespan, client = await _open(tmp_path)
    try:
        line = ExportedTask(type=TaskType.ABDUCTION, program="new", inputs=["1"], outputs=["1"])
        leaver = _Client(body=[line.model_dump_json().encode() + b"\n"])
        leaver.leave()  # after the first chunk: a chunked body that stops, a dropped connection
        scope = _scope("POST", "/v1/runs/r/import", [(b"transfer-encoding", b"chunked")])
        with caplog.at_level(logging.WARNING):
            await app(scope, leaver.receive, leaver.send)
        assert [r.getMessage()[:200] for r in caplog.records if r.levelno >= logging.ERROR] == []
        assert leaver.status == 499  # what the metrics count; nobody is left to read it
        assert app.state.spool.used == 0
        assert (await client.stats("r")).by_type[TaskType.ABDUCTION].count == 0
        metrics = (await client._http.get("/metrics")).text
        assert 'route="/v1/runs/{run}/import",status="499"' in metrics
        assert 'status="5' not in metrics
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_stalled_export_readers_cannot_starve_other_requests(tmp_path):
    # Two connections (pool_size 1, as many again under load). Readers that stop after the first
    # chunk hold an export's snapshot, and so a connection, for as long as they stall.
    app, lifespan, client = await _open(tmp_path, pool_size=1)
    stalled = [_Client(stall_after=1) for _ in range(2)]
    streams = [asyncio.create_task(app(_scope("GET", "/v1/runs/r/export"), c.receive, c.send))
               for c in stalled]  # fmt: skip
    try:
        await asyncio.sleep(0.5)
        assert sorted(c.status for c in stalled) == [200, 429]  # the second export waits its turn
        # Every other request still finds a connection.
        runs = await asyncio.wait_for(client.list_runs(), timeout=10)
        assert [r.name for r in runs] == ["r"]
        with pytest.raises(Overloaded) as exc:
            [line async for line in client.export_run("r")]
        assert exc.value.status_code == 429 and "AZR_BUFFER_MAX_EXPORTS" in exc.value.detail
        for c in stalled:  # the stalled reader goes away: its export ends and frees its place
            c.leave()
        await asyncio.wait_for(asyncio.gather(*streams), timeout=10)
        lines = [line async for line in client.export_run("r")]
        assert len(lines) == 3002
    finally:
        for c in stalled:
            c.leave()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_a_request_that_finds_no_free_connection_gets_a_503(tmp_path):
    app, lifespan, client = await _open(tmp_path, pool_size=1, pool_timeout_s=0.2)
    held = [app.state.db.engine.connect() for _ in range(2)]  # every connection of the pool
    try:
        resp = await client._http.get("/v1/runs")
        assert (resp.status_code, resp.json()["code"]) == (503, "database_unavailable")
        assert resp.headers["retry-after"] == "1"
    finally:
        for conn in held:
            conn.close()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
    assert resp.status_code == 503
