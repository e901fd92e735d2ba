"""How long an import line may be: bounded (a line is read whole and parsed, at several times its
size in memory, while the import holds the write lock), without refusing anything that could be
stored: whatever an insert or an import takes, its export imports back."""

from __future__ import annotations

import json

import httpx
import pytest
from azr_buffer.app import create_app
from azr_buffer.settings import BufferSettings
from azr_buffer.transfer import LINE_SLACK
from azr_proto.buffer import MAX_ID, RunCreate, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.buffer_export import ExportedTask, dump_line
from azr_proto.errors import BadRequest
from azr_proto.tasks import TaskType

MAX_BODY = 64 * 1024
MAX_LINE = MAX_BODY + LINE_SLACK


@pytest.fixture
async def buffer(tmp_path):
    settings = BufferSettings(
        database_url=f"sqlite:///{tmp_path}/b.sqlite", max_body_bytes=MAX_BODY
    )
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = BufferClient("http://b", retries=0, transport=httpx.ASGITransport(app=app))
    for run in ("src", "dst"):
        await client.create_run(RunCreate(name=run))
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def _line(program: str, **extra: object) -> bytes:
    task = {"kind": "task", "type": "deduction", "program": "p", "inputs": [program]}
    return json.dumps({**task, "outputs": ["1"], **extra}, separators=(",", ":")).encode()


async def test_a_line_over_the_bound_is_refused_before_it_is_read_whole(buffer):
    ok = _line("a")
    for body in (
        _line("x" * MAX_LINE),
        b" " * (MAX_LINE + 5) + ok,
        ok + b"\n" + b"{" * (MAX_LINE + 1),
    ):
        with pytest.raises(BadRequest) as exc:
            await buffer.import_run("dst", body)
        assert exc.value.status_code == 422
        assert f"over {MAX_LINE} bytes (AZR_BUFFER_MAX_BODY_BYTES + 1 MiB)" in exc.value.detail
    assert (await buffer.stats("dst")).total == 0  # all or nothing: the good line is not in
    # An export line at the bound, with its line end, is taken.
    at_bound = _exported("x" * (MAX_LINE - len(_exported(""))))
    assert len(at_bound) == MAX_LINE
    assert (await buffer.import_run("dst", at_bound + b"\r\n")).inserted == 1


def _exported(text: str) -> bytes:
    """An export line (with the longest id) of a task holding `text`."""
    task = ExportedTask(type="deduction", program="p", inputs=[text], outputs=["1"], id=MAX_ID)
    task.content_hash = task.compute_hash()
    return dump_line(task.model_dump(mode="json")).encode()


async def test_what_an_insert_or_an_import_takes_exports_and_imports_back(buffer):
    # The largest insert body, and an import line at the bound whose metadata comes out longer
    # in the export (1e22 is written 1e+22): the export of each must be importable.
    program = "y" * (MAX_BODY - 200)
    await buffer.insert_tasks(
        "src", [TaskIn(type=TaskType.ABDUCTION, program="q", inputs=[program], outputs=["1"])]
    )
    short = {"f": [1e22] * 10_000}  # 5 bytes a number here, 6 in the export
    pad = MAX_LINE - len(_line("", metadata=short))
    grown = _line("z" * pad, metadata=short)
    assert len(grown) == MAX_LINE
    try:
        await buffer.import_run("src", grown)
    except BadRequest as exc:  # refused up front, naming the reason, is fine too
        assert "could not be imported back" in exc.detail
    lines = [line async for line in buffer.export_run("src")]
    assert len(lines) in (3, 4)
    assert (await buffer.import_run("dst", b"".join(lines))).inserted == len(lines) - 2
