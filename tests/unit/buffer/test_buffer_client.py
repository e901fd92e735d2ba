"""BufferClient retries and error mapping, against httpx.MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest
from azr_proto.buffer import OutcomeRecord, RunCreate, SampleRequest, TaskIn
from azr_proto.buffer_client import BufferClient, IncompleteExport
from azr_proto.errors import BadRequest, Overloaded, ServerFault, TransportError, Unauthorized

RUN = {"name": "r", "capacity": None, "eviction": "fifo", "created_at": "2026-01-01T00:00:00Z"}
INSERTED = {"inserted": [{"index": 0, "id": 1}], "duplicates": [], "discarded": [], "evicted": 0}


def client_with(responses: list, calls: list) -> BufferClient:
    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        item = responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return BufferClient(
        "http://b", token="tok", backoff_s=0.0, transport=httpx.MockTransport(handler)
    )


def task() -> TaskIn:
    return TaskIn(type="deduction", program="p", inputs=["1"], outputs=["1"])


async def test_insert_retries_429_5xx_and_transport_errors():
    calls: list = []
    client = client_with(
        [
            httpx.Response(
                429, json={"code": "overloaded", "detail": "x"}, headers={"Retry-After": "0"}
            ),
            httpx.Response(503, json={"code": "database_unavailable", "detail": "x"}),
            httpx.ReadError("reset"),
            httpx.Response(200, json=INSERTED),
        ],
        calls,
    )
    res = await client.insert_tasks("r", [task()])
    assert res.inserted[0].id == 1 and len(calls) == 4
    assert calls[0].headers["authorization"] == "Bearer tok"


async def test_retries_give_up_with_the_typed_error():
    calls: list = []
    client = client_with(
        [httpx.Response(500, json={"code": "internal_error", "detail": "x"})] * 5, calls
    )
    with pytest.raises(ServerFault):
        await client.stats("r")
    assert len(calls) == 5
    client = client_with([httpx.ConnectError("refused")] * 5, calls := [])
    with pytest.raises(TransportError):
        await client.list_runs()
    client = client_with(
        [
            httpx.Response(
                429, json={"code": "overloaded", "detail": "x"}, headers={"Retry-After": "0"}
            )
        ]
        * 5,
        calls := [],
    )
    with pytest.raises(Overloaded):
        await client.list_runs()


async def test_4xx_is_not_retried():
    calls: list = []
    client = client_with(
        [httpx.Response(404, json={"code": "run_not_found", "detail": "no run"})], calls
    )
    with pytest.raises(BadRequest) as exc:
        await client.sample("r", SampleRequest(type="deduction", k=6))
    assert (exc.value.status_code, exc.value.code, len(calls)) == (404, "run_not_found", 1)
    client = client_with([httpx.Response(401, json={"code": "unauthorized", "detail": "x"})], [])
    with pytest.raises(Unauthorized):
        await client.list_runs()


async def test_outcomes_are_not_resent_after_the_request_may_have_arrived():
    outcome = OutcomeRecord(task_id=1, n_attempts=1, n_solved=1)
    calls: list = []
    client = client_with(
        [httpx.ReadError("reset"), httpx.Response(200, json={"updated": 1, "missing": []})], calls
    )
    with pytest.raises(TransportError):
        await client.record_outcomes("r", [outcome])
    assert len(calls) == 1
    # Refused connections and 503 (rolled back) are safe to retry.
    client = client_with(
        [
            httpx.ConnectError("refused"),
            httpx.Response(503, json={"code": "database_unavailable", "detail": "x"}),
            httpx.Response(200, json={"updated": 1, "missing": []}),
        ],
        calls := [],
    )
    assert (await client.record_outcomes("r", [outcome])).updated == 1 and len(calls) == 3


async def test_create_run_exist_ok_returns_the_existing_run():
    calls: list = []
    client = client_with(
        [
            httpx.Response(409, json={"code": "run_exists", "detail": "x"}),
            httpx.Response(200, json=RUN),
        ],
        calls,
    )
    assert (await client.create_run(RunCreate(name="r"), exist_ok=True)).name == "r"
    client = client_with([httpx.Response(409, json={"code": "run_exists", "detail": "x"})], [])
    with pytest.raises(BadRequest):
        await client.create_run(RunCreate(name="r"))


HEADER = b'{"kind":"run","format":2,"name":"r","capacity":null,"eviction":"fifo"}\n'
V1_HEADER = b'{"kind":"run","format":1,"name":"r","capacity":null,"eviction":"fifo"}\n'


def task_line(program: str) -> bytes:
    line = {"kind": "task", "type": "deduction", "program": program, "inputs": ["1"]}
    return json.dumps({**line, "outputs": ["1"]}, ensure_ascii=False).encode() + b"\n"


async def exported(body: bytes) -> list[bytes]:
    client = client_with([httpx.Response(200, content=body)], [])
    async with client:
        return [line async for line in client.export_run("r")]


async def test_a_whole_export_comes_back_line_by_line_with_its_end_line():
    # U+2028 and U+0085 are not line ends in JSON Lines (str.splitlines would cut there).
    body = HEADER + task_line("a\u2028b") + task_line("c\x85d") + b'{"kind":"end","tasks":2}\n'
    lines = await exported(body)
    assert b"".join(lines) == body and len(lines) == 4


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (HEADER + task_line("a") + task_line("b"), "no end line"),
        (HEADER + task_line("a") + b'{"kind":"end","tasks":2}\n', "lost lines"),
        (HEADER + task_line("a") + b'{"kind":"end","tasks":1}\n' + task_line("b"), "after the end"),
        (task_line("a") + b'{"kind":"end","tasks":1}\n', "does not start with an export header"),
        (HEADER + task_line("a") + b'{"kind":"end","ta', "end"),
    ],
)
async def test_a_cut_export_raises_instead_of_passing_for_a_checkpoint(body, says):
    with pytest.raises(IncompleteExport, match=says):
        await exported(body)


async def test_a_format_1_export_from_an_older_service_is_passed_through():
    body = V1_HEADER + task_line("a")
    assert b"".join(await exported(body)) == body


async def test_an_export_is_retried_on_429_and_5xx_before_its_first_line():
    body = HEADER + task_line("a") + b'{"kind":"end","tasks":1}\n'
    busy = httpx.Response(
        429, json={"code": "overloaded", "detail": "x"}, headers={"Retry-After": "0"}
    )
    down = httpx.Response(503, json={"code": "database_unavailable", "detail": "x"})
    client = client_with([busy, down, httpx.Response(200, content=body)], calls := [])
    async with client:
        assert b"".join([line async for line in client.export_run("r")]) == body
    assert len(calls) == 3
    client = client_with([busy] * 5, calls := [])
    with pytest.raises(Overloaded):
        [line async for line in client.export_run("r")]
    assert len(calls) == 5
    # Once lines came, a broken stream is not retried: the caller sees it.
    client = client_with([httpx.Response(200, content=HEADER + task_line("a"))], calls := [])
    with pytest.raises(IncompleteExport):
        [line async for line in client.export_run("r")]
    assert len(calls) == 1


@pytest.mark.parametrize(
    "name", ["run-1#old", "run-1?x", "x/../run-1", "..", "run-1\n", "", "a" * 129]
)
async def test_a_run_name_that_would_address_another_run_is_refused_before_sending(name):
    # The name goes into the URL: "run-1#old" would delete the run "run-1".
    client = client_with([httpx.Response(204)] * 3, calls := [])
    async with client:
        for call in (client.delete_run(name), client.truncate(name, 0), client.stats(name)):
            with pytest.raises(ValueError, match="invalid run name"):
                await call
        with pytest.raises(ValueError, match="invalid run name"):
            [line async for line in client.export_run(name)]
    assert calls == []
