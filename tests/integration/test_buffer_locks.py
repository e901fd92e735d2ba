"""Writers that race a DELETE or a truncate of their run on PostgreSQL (SQLite's writers hold the
whole database, so it has no such race). Each race is made certain: a transaction of the test
holds a lock that the service's operations queue behind, in a known order, then lets go.

The rule under test (`azr_buffer.repo`): a writer locks its run first, so it either finishes
before the DELETE or finds no run after it (404); it never finds its pool or its tasks gone
half-way (a 500, or outcomes refused as if their counts overflowed), and never deadlocks (503).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg
import pytest
from azr_buffer import transfer
from buffer_server import serve_buffer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with serve_buffer("postgres", tmp_path_factory.mktemp("locks")) as running:
        yield running


def _task(i: int, type_: str = "deduction", step: int = 0) -> dict[str, object]:
    return {"type": type_, "program": f"p{i}", "inputs": ["1"], "outputs": ["1"], "step": step}


def _line(i: int, type_: str) -> str:
    return json.dumps({"kind": "task", **_task(i, type_)})


def _new_run(server, name: str) -> list[int]:
    with httpx.Client(base_url=server.url) as c:
        assert c.post("/v1/runs", json={"name": name}).status_code == 201
        tasks = [_task(i, t, step=1) for i in range(5) for t in ("abduction", "deduction")]
        resp = c.post(f"/v1/runs/{name}/tasks", json={"tasks": tasks})
        return [t["id"] for t in resp.json()["inserted"]]


def _wait_for_waiters(conn: psycopg.Connection, n: int) -> None:
    """Until n other sessions of the database wait for a lock (the requests are queued)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        ).fetchone()
        if waiting is not None and waiting[0] >= n:
            return
        time.sleep(0.01)
    raise AssertionError(f"{n} requests never queued behind the test's lock")


def _race(server, hold: str, run: str, first: Callable[[], httpx.Response],
          second: Callable[[], httpx.Response]) -> tuple[httpx.Response, httpx.Response]:  # fmt: skip
    """`first`, then `second`, both queued behind `hold` (SQL that locks rows of `run`)."""
    with psycopg.connect(server.db_url.replace("+psycopg", "")) as conn:
        conn.execute(hold, [run])  # held until the commit below
        with (
            ThreadPoolExecutor(2) as pool,
            psycopg.connect(conn.info.dsn, autocommit=True) as watch,
        ):
            one = pool.submit(first)
            _wait_for_waiters(watch, 1)
            two = pool.submit(second)
            _wait_for_waiters(watch, 2)
            conn.commit()
            return one.result(timeout=30), two.result(timeout=30)


def _hold(table: str, where: str = "") -> str:
    """SQL that locks the rows of `table` of the run named by its parameter (not the run)."""
    return (
        f"SELECT 1 FROM {table} JOIN runs ON runs.id = {table}.run_id"
        f" WHERE runs.name = %s {where} FOR UPDATE OF {table}"
    )


HOLD_POOLS, HOLD_TASKS = _hold("pools"), _hold("tasks")


@pytest.mark.parametrize("op", ["insert", "import", "truncate", "outcomes"])
def test_a_write_racing_a_delete_of_its_run_gets_a_404(server, op):
    # The DELETE queues behind an insert in flight (the test holds the pools); `op` comes next.
    run = f"del-{op}"
    ids = _new_run(server, run)
    url = f"{server.url}/v1/runs/{run}"
    requests = {
        "insert": lambda: httpx.post(f"{url}/tasks", json={"tasks": [_task(99)]}, timeout=30),
        "import": lambda: httpx.post(f"{url}/import", content=_line(99, "abduction"), timeout=30),
        "truncate": lambda: httpx.post(f"{url}/truncate", json={"step": 0}, timeout=30),
        "outcomes": lambda: httpx.post(
            f"{url}/outcomes",
            json={"outcomes": [{"task_id": i, "n_attempts": 1, "n_solved": 1} for i in ids]},
            timeout=30,
        ),
    }
    deleted, resp = _race(
        server, HOLD_POOLS, run, lambda: httpx.delete(url, timeout=30), requests[op]
    )
    assert deleted.status_code == 204, deleted.text
    assert (resp.status_code, resp.json()["code"]) == (404, "run_not_found"), resp.text
    assert not server.errors, server.errors[:1]


def test_outcomes_racing_a_truncate_report_the_removed_tasks_as_missing(server):
    # The truncate removes every task (all at step 1) while the outcomes wait: they are missing,
    # not a reason to refuse the whole batch.
    run = "trunc-outcomes"
    ids = _new_run(server, run)
    url = f"{server.url}/v1/runs/{run}"
    body = {"outcomes": [{"task_id": i, "n_attempts": 2, "n_solved": 1} for i in ids]}
    truncated, resp = _race(
        server,
        HOLD_TASKS,
        run,
        lambda: httpx.post(f"{url}/truncate", json={"step": 0}, timeout=30),
        lambda: httpx.post(f"{url}/outcomes", json=body, timeout=30),
    )
    assert truncated.json() == {"deleted": len(ids)}
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"updated": 0, "missing": sorted(ids)}


def test_two_imports_into_one_run_do_not_deadlock(server, monkeypatch):
    # One line a batch, so each import takes its pools in the order of its lines: abduction then
    # deduction for one, the reverse for the other. Both queue behind the deduction pool.
    monkeypatch.setattr(transfer, "IMPORT_BATCH", 1)
    run = "two-imports"
    _new_run(server, run)
    url = f"{server.url}/v1/runs/{run}/import"
    hold = _hold("pools", "AND pools.type = 'deduction'")
    ded_first = "\n".join([_line(100, "deduction"), _line(101, "abduction")])
    abd_first = "\n".join([_line(200, "abduction"), _line(201, "deduction")])
    one, two = _race(
        server,
        hold,
        run,
        lambda: httpx.post(url, content=ded_first, timeout=30),
        lambda: httpx.post(url, content=abd_first, timeout=30),
    )
    assert (one.status_code, two.status_code) == (200, 200), (one.text, two.text)
    assert one.json()["inserted"] == two.json()["inserted"] == 2
