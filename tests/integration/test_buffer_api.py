"""The buffer's HTTP API through BufferClient, in-process, against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import json
import random
from collections.abc import AsyncIterator

import httpx
import pytest
from azr_buffer import routes, sampling, transfer
from azr_buffer.app import create_app
from azr_buffer.settings import BufferSettings
from azr_proto.buffer import (
    MAX_COUNT,
    EvictionPolicy,
    OutcomeRecord,
    RunCreate,
    SampleRequest,
    SampleStrategy,
    TaskIn,
    TaskSource,
)
from azr_proto.buffer_client import BufferClient
from azr_proto.buffer_export import ExportedTask
from azr_proto.errors import BadRequest, Overloaded, Unauthorized
from azr_proto.tasks import TaskType
from postgres import fresh_database_url

DED, ABD, IND = TaskType.DEDUCTION, TaskType.ABDUCTION, TaskType.INDUCTION


def task(i: int, type_: TaskType = DED, step: int = 0) -> TaskIn:
    if type_ is IND:
        return TaskIn(
            type=IND,
            program=f"def f(a):\n    return a * {i}",
            inputs=["1", "2"],
            outputs=[str(i), str(2 * i)],
            message="multiply",
            step=step,
        )
    return TaskIn(
        type=type_,
        program=f"def f(a):\n    return a + {i}",
        inputs=["1"],
        outputs=[str(1 + i)],
        step=step,
        metadata={"learnability": 0.5},
    )


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/buffer.sqlite"
    return fresh_database_url()


def make_settings(db_url: str, **kw) -> BufferSettings:
    return BufferSettings(database_url=db_url, **kw)


async def open_client(settings: BufferSettings, token: str | None = None):
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = BufferClient(
        "http://buffer", token=token, retries=0, transport=httpx.ASGITransport(app=app)
    )
    return app, lifespan, client


@pytest.fixture
async def buffer(db_url) -> AsyncIterator[BufferClient]:
    _app, lifespan, client = await open_client(make_settings(db_url))
    try:
        yield client
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_runs_are_created_listed_and_deleted(buffer):
    run = await buffer.create_run(RunCreate(name="r-1", capacity=10, eviction="reservoir"))
    assert (run.name, run.capacity, run.eviction) == ("r-1", 10, EvictionPolicy.RESERVOIR)
    await buffer.create_run(RunCreate(name="r-2"))
    assert [r.name for r in await buffer.list_runs()] == ["r-1", "r-2"]
    with pytest.raises(BadRequest) as exc:
        await buffer.create_run(RunCreate(name="r-1"))
    assert (exc.value.status_code, exc.value.code) == (409, "run_exists")
    assert (await buffer.create_run(RunCreate(name="r-1"), exist_ok=True)).capacity == 10
    await buffer.insert_tasks("r-2", [task(1)])
    await buffer.delete_run("r-2")
    with pytest.raises(BadRequest) as exc:
        await buffer.get_run("r-2")
    assert exc.value.status_code == 404
    assert [r.name for r in await buffer.list_runs()] == ["r-1"]


async def test_insert_deduplicates_and_retries_are_idempotent(buffer):
    await buffer.create_run(RunCreate(name="r"))
    batch = [task(0), task(1), task(0), task(1, ABD), task(2, IND)]
    first = await buffer.insert_tasks("r", batch)
    assert [t.index for t in first.inserted] == [0, 1, 3, 4]
    assert [(d.index, d.id) for d in first.duplicates] == [(2, first.inserted[0].id)]
    again = await buffer.insert_tasks("r", batch)
    assert again.inserted == []
    assert sorted((d.index, d.id) for d in again.duplicates) == sorted(
        [(t.index, t.id) for t in first.inserted] + [(2, first.inserted[0].id)]
    )
    stats = await buffer.stats("r")
    assert (stats.total, stats.by_type[DED].count, stats.by_type[ABD].count) == (4, 2, 1)
    stored = await buffer.get_task("r", first.inserted[0].id)
    assert stored.content_hash == batch[0].compute_hash()
    assert stored.metadata == {"learnability": 0.5} and stored.source is TaskSource.PROPOSED


async def test_same_content_in_two_runs_or_types_is_not_a_duplicate(buffer):
    for name in ("a", "b"):
        await buffer.create_run(RunCreate(name=name))
    same = task(7)
    as_abduction = same.model_copy(update={"type": ABD})
    assert len((await buffer.insert_tasks("a", [same, as_abduction])).inserted) == 2
    assert len((await buffer.insert_tasks("b", [same])).inserted) == 1


MALFORMED_TASKS = [
    {"type": "summation", "program": "x", "inputs": ["1"], "outputs": ["1"]},
    {"type": "deduction", "program": "x", "inputs": ["1"], "outputs": []},
    {"type": "deduction", "program": "", "inputs": ["1"], "outputs": ["1"]},
    {"type": "induction", "program": "x", "inputs": ["1"], "outputs": ["1"]},
    {"type": "deduction", "program": "x", "inputs": ["1", "2"], "outputs": ["1", "2"]},
    {"type": "deduction", "program": "x", "inputs": ["1"], "outputs": ["1"], "step": -1},
    {"type": "deduction", "program": "x", "inputs": [1], "outputs": ["1"]},
    {"type": "deduction", "program": "x\x00", "inputs": ["1"], "outputs": ["1"]},
    {"type": "deduction", "program": "x", "inputs": ["1"], "outputs": ["1"], "step": 2**40},
    "not a task",
]


async def test_malformed_tasks_are_rejected_and_nothing_is_written(buffer):
    await buffer.create_run(RunCreate(name="r"))
    good = task(1).model_dump(mode="json")
    # The good task in front must not be stored either: a batch is all or nothing.
    bodies = [{"tasks": [good, bad]} for bad in MALFORMED_TASKS]
    bodies += [{"tasks": []}, {"tasks": "nope"}, {"tasks": [good] * 4097}, {}]
    for body in bodies:
        resp = await buffer._http.post("/v1/runs/r/tasks", json=body)
        assert (resp.status_code, resp.json()["code"]) == (422, "invalid_request"), body
    assert (await buffer.stats("r")).total == 0


async def test_bad_requests_get_clear_4xx(buffer):
    await buffer.create_run(RunCreate(name="r"))
    http = buffer._http
    cases = [
        (
            http.post("/v1/runs/ghost/tasks", json={"tasks": [task(1).model_dump(mode="json")]}),
            404,
            "run_not_found",
        ),
        (
            http.post("/v1/runs/ghost/sample", json={"type": "deduction", "k": 1}),
            404,
            "run_not_found",
        ),
        (
            http.post("/v1/runs/r/sample", json={"type": "deduction", "k": 0}),
            422,
            "invalid_request",
        ),
        (http.post("/v1/runs/r/sample", json={"type": "poetry", "k": 1}), 422, "invalid_request"),
        (
            http.post(
                "/v1/runs/r/sample", json={"type": "deduction", "k": 1, "strategy": "recent"}
            ),
            422,
            "invalid_request",
        ),
        (http.post("/v1/runs", json={"name": "bad name!"}), 422, "invalid_request"),
        (http.post("/v1/runs", json={"name": "x", "capacity": 0}), 422, "invalid_request"),
        (
            http.post(
                "/v1/runs/r/tasks",
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            422,
            "invalid_request",
        ),
        (http.post("/v1/runs/r/truncate", json={"step": -2}), 422, "invalid_request"),
        (
            http.post(
                "/v1/runs/r/outcomes",
                json={"outcomes": [{"task_id": 1, "n_attempts": 1, "n_solved": 2}]},
            ),
            422,
            "invalid_request",
        ),
        (http.get("/v1/runs/ghost/export"), 404, "run_not_found"),
        (http.get("/v1/runs/r/tasks/999"), 404, "task_not_found"),
        (http.get(f"/v1/runs/r/tasks/{2**70}"), 422, "invalid_request"),
        (
            http.post(
                "/v1/runs/r/outcomes",
                json={"outcomes": [{"task_id": 2**70, "n_attempts": 1, "n_solved": 0}]},
            ),
            422,
            "invalid_request",
        ),
        (
            http.post("/v1/runs/r/sample", json={"type": "deduction", "k": 1, "exclude": [2**70]}),
            422,
            "invalid_request",
        ),
        (http.delete("/v1/runs/ghost"), 404, "run_not_found"),
    ]
    for call, status, code in cases:
        resp = await call
        assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text


async def test_uniform_sample_is_distinct_respects_exclude_and_is_uniform(buffer, monkeypatch):
    monkeypatch.setattr(routes, "_rng", random.Random(5))  # deterministic; the test is chi-square
    await buffer.create_run(RunCreate(name="r"))
    ids = [t.id for t in (await buffer.insert_tasks("r", [task(i) for i in range(40)])).inserted]
    await buffer.insert_tasks("r", [task(i, ABD) for i in range(5)])
    excluded = set(ids[:10])
    for small_pool in (2048, 0):  # read-all path, then the seq-draw path
        monkeypatch.setattr(sampling, "SMALL_POOL", small_pool)
        counts: collections.Counter[int] = collections.Counter()
        for _ in range(120):
            got = await buffer.sample("r", SampleRequest(type=DED, k=6, exclude=sorted(excluded)))
            got_ids = [t.id for t in got]
            assert len(got_ids) == 6 == len(set(got_ids))
            assert not excluded & set(got_ids) and set(got_ids) <= set(ids)
            assert {t.type for t in got} == {DED}
            counts.update(got_ids)
        # 720 draws over 30 tasks, 24 each expected: chi-square at 1e-6 on both tails (29 df).
        assert set(counts) == set(ids) - excluded
        stat = sum((c - 24) ** 2 / 24 for c in counts.values())
        assert 5.5 < stat < 81.0, (stat, counts)


async def test_sampled_tasks_are_the_stored_tasks(buffer):
    """The sampler writes its JSON straight from the rows: it must say what the ORM path says."""
    await buffer.create_run(RunCreate(name="r"))
    odd = TaskIn(
        type=IND,
        program='def f(s):\n    return s + "\u00e9\\n\u2028\U0001f600"',
        inputs=['"a"', "'\u00fc\"'"],
        outputs=['"a\u00e9"', "'x'"],
        message='concat\u00e8ne "x"\n\ttab',
        step=7,
        source=TaskSource.SEED,
        metadata={"learnability": 0.1, "solve": [1, None, True], "\u00fc": {"k": "\U0001f600"}},
    )
    res = await buffer.insert_tasks("r", [odd, task(1, IND), task(2, IND, step=3)])
    first = res.inserted[0].id
    await buffer.record_outcomes("r", [OutcomeRecord(task_id=first, n_attempts=3, n_solved=1)])
    got = await buffer.sample("r", SampleRequest(type=IND, k=10))
    assert len(got) == 3
    for t in got:
        assert t == await buffer.get_task("r", t.id)
    by_id = {t.id: t for t in got}
    assert by_id[first].solve_rate == 1 / 3 and by_id[first].metadata == odd.metadata
    assert (by_id[first].program, by_id[first].message) == (odd.program, odd.message)
    assert by_id[first].created_at.utcoffset() is not None


async def test_sample_returns_fewer_when_the_pool_is_small(buffer):
    await buffer.create_run(RunCreate(name="r"))
    assert await buffer.sample("r", SampleRequest(type=IND, k=3)) == []
    await buffer.insert_tasks("r", [task(1, IND), task(2, IND)])
    assert len(await buffer.sample("r", SampleRequest(type=IND, k=6))) == 2


async def test_sampling_survives_gaps_from_eviction_and_truncation(buffer, monkeypatch):
    monkeypatch.setattr(sampling, "SMALL_POOL", 0)
    await buffer.create_run(RunCreate(name="r", capacity=50))
    for step in range(6):  # 120 offered, FIFO keeps the 50 newest: steps 3.5..5
        await buffer.insert_tasks("r", [task(step * 20 + i, step=step) for i in range(20)])
    kept = {t.id for t in await buffer.sample("r", SampleRequest(type=DED, k=1000))}
    assert len(kept) == 50
    assert await buffer.truncate("r", 4) == (await buffer.truncate("r", 4)).model_copy(
        update={"deleted": 20}
    )
    left = await buffer.sample("r", SampleRequest(type=DED, k=1000))
    assert len(left) == 30 and {t.step for t in left} == {3, 4}
    for _ in range(30):
        got = await buffer.sample("r", SampleRequest(type=DED, k=6))
        assert len({t.id for t in got}) == 6 and {t.id for t in got} <= {t.id for t in left}


async def test_recent_and_new_first_strategies(buffer):
    await buffer.create_run(RunCreate(name="r"))
    for step in range(5):
        await buffer.insert_tasks("r", [task(step * 10 + i, step=step) for i in range(10)])
    for _ in range(20):
        recent = await buffer.sample(
            "r", SampleRequest(type=DED, k=15, strategy="recent", step=4, window=2)
        )
        assert len(recent) == 15 and {t.step for t in recent} <= {3, 4}
        mixed = await buffer.sample(
            "r", SampleRequest(type=DED, k=14, strategy="new_first", step=4)
        )
        assert [t.step for t in mixed[:10]] == [4] * 10
        assert len({t.id for t in mixed}) == 14 and all(t.step < 4 for t in mixed[10:])
    few = await buffer.sample(
        "r", SampleRequest(type=DED, k=3, strategy=SampleStrategy.NEW_FIRST, step=2)
    )
    assert [t.step for t in few] == [2, 2, 2]
    none_new = await buffer.sample("r", SampleRequest(type=DED, k=3, strategy="new_first", step=9))
    assert len(none_new) == 3  # filled up uniformly


async def test_fifo_capacity_keeps_the_newest(buffer):
    await buffer.create_run(RunCreate(name="r", capacity=25))
    ids = []
    for step in range(4):
        res = await buffer.insert_tasks("r", [task(step * 10 + i, step=step) for i in range(10)])
        ids += [t.id for t in res.inserted]
    stats = await buffer.stats("r")
    assert stats.by_type[DED].count == 25
    kept = {t.id for t in await buffer.sample("r", SampleRequest(type=DED, k=100))}
    assert kept == set(ids[-25:])


async def test_reservoir_capacity_keeps_a_sample_of_everything(buffer):
    await buffer.create_run(RunCreate(name="r", capacity=20, eviction="reservoir"))
    inserted = discarded = evicted = 0
    for step in range(10):
        res = await buffer.insert_tasks("r", [task(step * 30 + i, step=step) for i in range(30)])
        inserted += len(res.inserted)
        discarded += len(res.discarded)
        evicted += res.evicted
    assert inserted + discarded == 300 and inserted - evicted == 20
    pool = await buffer.sample("r", SampleRequest(type=DED, k=100))
    assert len(pool) == 20 == (await buffer.stats("r")).by_type[DED].count
    # Uniform over 10 steps, not only the newest (FIFO) nor only the oldest (the reference).
    assert len({t.step for t in pool}) >= 4


async def test_outcomes_keep_a_running_solve_rate(buffer):
    await buffer.create_run(RunCreate(name="r"))
    a, b = (t.id for t in (await buffer.insert_tasks("r", [task(1), task(2)])).inserted)
    res = await buffer.record_outcomes(
        "r",
        [
            OutcomeRecord(task_id=a, n_attempts=4, n_solved=1),
            OutcomeRecord(task_id=999_999, n_attempts=1, n_solved=0),
        ],
    )
    assert (res.updated, res.missing) == (1, [999_999])
    await buffer.record_outcomes("r", [OutcomeRecord(task_id=a, n_attempts=4, n_solved=3)])
    got = await buffer.get_task("r", a)
    assert (got.n_attempts, got.n_solved, got.solve_rate) == (8, 4, 0.5)
    assert (await buffer.get_task("r", b)).solve_rate is None
    assert (await buffer.stats("r")).by_type[DED].n_solved == 4


async def test_stats_count_per_type_step_and_distinct_programs(buffer):
    await buffer.create_run(RunCreate(name="r"))
    same_program = [task(1), task(1).model_copy(update={"inputs": ["5"], "outputs": ["6"]})]
    await buffer.insert_tasks("r", [*same_program, task(2, step=3), task(3, IND, step=3)])
    stats = await buffer.stats("r")
    assert stats.total == 4
    assert (stats.by_type[DED].count, stats.by_type[DED].distinct_programs) == (3, 2)
    assert [(s.step, s.type, s.count) for s in stats.by_step] == [
        (0, DED, 2),
        (3, DED, 1),
        (3, IND, 1),
    ]


async def test_export_then_import_round_trips_the_run(buffer, monkeypatch):
    # Several batches, and the planner statistics refreshed inside the import's transaction.
    monkeypatch.setattr(transfer, "IMPORT_BATCH", 16)
    monkeypatch.setattr(transfer, "ANALYZE_FIRST", 20)
    await buffer.create_run(RunCreate(name="src", capacity=1000))
    await buffer.insert_tasks(
        "src", [task(i, t, step=i % 3) for i in range(30) for t in (DED, ABD, IND)]
    )
    some = await buffer.sample("src", SampleRequest(type=ABD, k=3))
    await buffer.record_outcomes(
        "src", [OutcomeRecord(task_id=t.id, n_attempts=2, n_solved=1) for t in some]
    )
    lines = [line async for line in buffer.export_run("src")]
    header = json.loads(lines[0])
    assert header == {
        "kind": "run",
        "format": 2,
        "name": "src",
        "capacity": 1000,
        "eviction": "fifo",
    }
    assert len(lines) == 92 and json.loads(lines[-1]) == {"kind": "end", "tasks": 90}
    await buffer.create_run(RunCreate(name="dst"))
    res = await buffer.import_run("dst", b"".join(lines))
    assert (res.inserted, res.duplicates) == (90, 0)
    again = await buffer.import_run("dst", b"".join(lines))
    assert (again.inserted, again.duplicates) == (0, 90)
    exported = [line async for line in buffer.export_run("dst")]

    def without_id(lines):
        return [{k: v for k, v in json.loads(x).items() if k != "id"} for x in lines[1:-1]]

    assert without_id(exported) == without_id(lines)  # same content, hashes, counts, order
    assert (await buffer.stats("dst")).model_dump(exclude={"run"}) == (
        await buffer.stats("src")
    ).model_dump(exclude={"run"})


async def test_import_with_a_bad_line_writes_nothing(buffer):
    await buffer.create_run(RunCreate(name="r"))
    good = ExportedTask(**task(1).model_dump()).model_dump_json().encode()
    tampered = json.loads(good)
    tampered["content_hash"] = "0" * 64
    for bad in (b"{broken", b'{"kind":"task","type":"deduction"}', json.dumps(tampered).encode()):
        with pytest.raises(BadRequest) as exc:
            await buffer.import_run("r", good + b"\n" + bad + b"\n")
        assert exc.value.status_code == 422 and "line 2" in exc.value.detail
    assert (await buffer.stats("r")).total == 0


async def test_import_takes_what_export_writes_old_exports_too_and_refuses_cut_ones(buffer):
    await buffer.create_run(RunCreate(name="src"))
    # Metadata that looks like a header must not be taken for one.
    header_like = {"kind": "run", "name": "x", "capacity": None, "eviction": "fifo"}
    await buffer.insert_tasks(
        "src", [task(1), task(2).model_copy(update={"metadata": header_like})]
    )
    lines = [line async for line in buffer.export_run("src")]
    header, tasks, end = lines[0], lines[1:-1], lines[-1]
    v1_header = header.replace(b'"format":2', b'"format":1')
    cases = {
        "whole": (b"".join(lines), None),
        "format 1, as older services wrote": (v1_header + b"".join(tasks), None),
        "task lines only": (b"".join(tasks), None),
        "format 2 without its end line": (header + b"".join(tasks), "line 4: no end line"),
        "a task line lost": (header + tasks[0] + end, "line 3: the end line counts 2"),
        "cut after the end line": (b"".join(lines) + tasks[0], "line 5: a task line after"),
    }
    for i, (case, (body, refusal)) in enumerate(cases.items()):
        await buffer.create_run(RunCreate(name=f"dst-{i}"))
        if refusal is None:
            assert (await buffer.import_run(f"dst-{i}", body)).inserted == 2, case
            continue
        with pytest.raises(BadRequest) as exc:
            await buffer.import_run(f"dst-{i}", body)
        assert exc.value.status_code == 422 and refusal in exc.value.detail, (case, exc.value)
        assert (await buffer.stats(f"dst-{i}")).total == 0, case


async def test_imports_spooled_at_once_are_bounded_with_a_429(tmp_path):
    settings = make_settings(
        f"sqlite:///{tmp_path}/b.sqlite", max_import_bytes=4096, max_import_spool_bytes=4096
    )
    app, lifespan, client = await open_client(settings)
    try:
        await client.create_run(RunCreate(name="r"))
        line = ExportedTask(**task(1).model_dump()).model_dump_json().encode() + b"\n"
        release = asyncio.Event()

        async def slow_body():  # 3000 bytes held in the spool until released
            yield b" " * 2999 + b"\n"
            await release.wait()
            yield line

        first = asyncio.create_task(client.import_run("r", slow_body()))
        while app.state.spool.used < 3000:
            await asyncio.sleep(0.001)
        with pytest.raises(Overloaded) as exc:  # Content-Length 2000: refused before reading
            await client._request("POST", "/v1/runs/r/import", content=b" " * 2000, retries=0)
        assert exc.value.status_code == 429 and exc.value.retry_after_s == 5
        assert "AZR_BUFFER_MAX_IMPORT_SPOOL_BYTES" in exc.value.detail
        release.set()
        assert (await first).inserted == 1
        assert app.state.spool.used == 0  # given back: the next import fits again
        assert (await client.import_run("r", line)).duplicates == 1
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


def test_the_spool_bound_cannot_refuse_the_largest_import_forever():
    with pytest.raises(ValueError, match="lower AZR_BUFFER_MAX_IMPORT_BYTES"):
        BufferSettings(max_import_bytes=1 << 20, max_import_spool_bytes=1 << 19)


async def test_solve_counts_stay_exact_and_never_overflow(buffer):
    # Counts at the bound, in 2000 tasks: their sums pass 64 bits (SQLite's SUM would fail).
    await buffer.create_run(RunCreate(name="r"))
    lines = [
        ExportedTask(**task(i).model_dump(), n_attempts=MAX_COUNT - 4, n_solved=1)
        .model_dump_json()
        .encode()
        for i in range(2000)
    ]
    assert (await buffer.import_run("r", b"\n".join(lines))).inserted == 2000
    stats = (await buffer.stats("r")).by_type[DED]
    assert (stats.n_attempts, stats.n_solved) == (2000 * (MAX_COUNT - 4), 2000)
    [one] = await buffer.sample("r", SampleRequest(type=DED, k=1))
    more = [OutcomeRecord(task_id=one.id, n_attempts=2, n_solved=2)] * 2
    await buffer.record_outcomes("r", more)  # to the bound exactly
    with pytest.raises(BadRequest) as exc:  # one more would pass it: refused, nothing recorded
        await buffer.record_outcomes("r", more[:1])
    assert exc.value.status_code == 422 and str(MAX_COUNT) in exc.value.detail
    got = await buffer.get_task("r", one.id)
    assert (got.n_attempts, got.n_solved) == (MAX_COUNT, 5)
    with pytest.raises(BadRequest):  # an import cannot bring a count past it either
        await buffer.import_run("r", lines[0].replace(b'"n_attempts":', b'"n_attempts":1'))


async def test_truncate_keeps_tasks_up_to_a_step(buffer):
    await buffer.create_run(RunCreate(name="r"))
    for step in range(5):
        await buffer.insert_tasks(
            "r", [task(step * 3 + i, t, step=step) for i in range(3) for t in (DED, IND)]
        )
    res = await buffer.truncate("r", 2)
    assert res.deleted == 12
    stats = await buffer.stats("r")
    assert stats.total == 18 and max(s.step for s in stats.by_step) == 2
    # New tasks go on after the kept ones and sampling still sees everything.
    await buffer.insert_tasks("r", [task(100, step=3)])
    assert len(await buffer.sample("r", SampleRequest(type=DED, k=100))) == 10


async def test_tokens_body_limit_health_and_metrics(db_url):
    settings = make_settings(db_url, tokens=["s3cret", "other"], max_body_bytes=4096)
    app, lifespan, client = await open_client(settings)
    authed = BufferClient(
        "http://buffer", token="other", retries=0, transport=httpx.ASGITransport(app=app)
    )
    try:
        with pytest.raises(Unauthorized):
            await client.list_runs()
        wrong = BufferClient(
            "http://buffer", token="s3cre", retries=0, transport=httpx.ASGITransport(app=app)
        )
        with pytest.raises(Unauthorized):
            await wrong.list_runs()
        await wrong.aclose()
        assert (await client.healthz()).status == "ok"  # probes need no token
        assert (await client.readyz()).status == "ok"
        await authed.create_run(RunCreate(name="r"))
        big = [task(i).model_copy(update={"program": "x" * 1000 + str(i)}) for i in range(5)]
        with pytest.raises(BadRequest) as exc:
            await authed.insert_tasks("r", big)
        assert (exc.value.status_code, exc.value.code) == (413, "too_large")

        # A streamed body without Content-Length is cut off too.
        async def chunks():
            for _ in range(10):
                yield b"x" * 1000

        resp = await authed._http.post("/v1/runs/r/tasks", content=chunks())
        assert resp.status_code == 413
        # Imports have their own, larger limit.
        lines = b"".join(
            ExportedTask(**t.model_dump()).model_dump_json().encode() + b"\n" for t in big
        )
        assert (await authed.import_run("r", lines)).inserted == 5
        metrics = (await authed._http.get("/metrics")).text
        assert (
            'azr_buffer_requests_total{method="POST",route="/v1/runs/{run}/import",status="200"} 1.0'
            in metrics
        )
        assert 'status="401"' in metrics and 'status="413"' in metrics
    finally:
        await authed.aclose()
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


async def test_readyz_reports_an_unreachable_database(tmp_path):
    settings = BufferSettings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none", migrate_on_start=False
    )
    _app, lifespan, client = await open_client(settings)
    try:
        resp = await client._http.get("/readyz")
        assert resp.status_code == 503 and resp.json()["status"] == "unavailable"
        resp = await client._http.get("/v1/runs")
        assert (resp.status_code, resp.json()["code"]) == (503, "database_unavailable")
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
