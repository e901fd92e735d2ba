"""The real services in the compose stack, over the published ports, with the proto clients:
programs run under gVisor, hostile ones are contained, the buffer keeps its tasks across a
restart, and a crash of the executor in the middle of a batch never turns into a wrong result.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest
from azr_proto.buffer import RunCreate, SampleRequest, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.executor import BatchRunRequest, RunLimits, RunRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus
from azr_proto.tasks import TaskType
from tests_e2e_support import BUFFER_TOKEN, EXECUTOR_TOKEN, PROJECT, exec_out

pytestmark = pytest.mark.compose


async def test_executor_runs_a_program(executor):
    result = await executor.run(RunRequest(code="print(sum(i * i for i in range(10)))"))
    assert result.status == RunStatus.OK, result
    assert result.stdout == "285\n"


async def test_program_sees_the_gvisor_kernel(executor):
    result = await executor.run(RunRequest(code="import platform; print(platform.release())"))
    assert result.status == RunStatus.OK, result
    assert result.stdout.strip() == "4.4.0"
    assert result.stdout.strip() != os.uname().release


def test_executor_requires_its_token(stack):
    body = {"code": "print(1)"}
    assert httpx.post(f"{stack.executor_url}/v1/run", json=body).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert httpx.post(f"{stack.executor_url}/v1/run", json=body, headers=wrong).status_code == 401
    right = {"Authorization": f"Bearer {EXECUTOR_TOKEN}"}
    resp = httpx.post(f"{stack.executor_url}/v1/run", json=body, headers=right, timeout=30)
    assert resp.status_code == 200 and resp.json()["stdout"] == "1\n"


def test_buffer_requires_its_token(stack):
    assert httpx.get(f"{stack.buffer_url}/v1/runs").status_code == 401
    right = {"Authorization": f"Bearer {BUFFER_TOKEN}"}
    assert httpx.get(f"{stack.buffer_url}/v1/runs", headers=right).status_code == 200


async def test_network_connection_attempt_is_contained(stack, executor):
    # Target a local address: the buffer container on the edge network.
    buffer_ip = stack.container("buffer").attrs["NetworkSettings"]["Networks"][f"{PROJECT}_edge"][
        "IPAddress"
    ]
    code = f"import socket\nsocket.create_connection(({buffer_ip!r}, 8020), timeout=3)\nprint('connected')\n"
    result = await executor.run(RunRequest(code=code))
    assert result.status == RunStatus.RUNTIME_ERROR, result
    assert result.exception is not None and result.exception.type == "PermissionError"
    assert "connected" not in result.stdout


_NON_ROOT_PROCESSES = """
import os
found = []
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        status = open(f'/proc/{pid}/status').read()
    except OSError:
        continue
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith('Uid:'))
    if uid != '0':
        found.append(pid)
print(len(found))
"""


async def test_fork_bomb_is_contained(stack, executor):
    container = stack.container("executor")
    bomb = "import os\nwhile True:\n    os.fork()\n"
    limits = RunLimits(wall_timeout_s=5, processes=32)
    result = await executor.run(RunRequest(code=bomb, limits=limits))
    assert result.status in {RunStatus.RUNTIME_ERROR, RunStatus.TIMEOUT, RunStatus.KILLED}, result
    # Nothing of it survives, not even a zombie (everything but the service runs as root), and
    # the service still answers right.
    deadline = time.monotonic() + 10
    while (left := int(exec_out(container, ["python3", "-c", _NON_ROOT_PROCESSES]))) and (
        time.monotonic() < deadline
    ):
        await asyncio.sleep(0.5)
    assert left == 0, f"{left} processes of the sandbox uids survived the run"
    benign = await executor.run(RunRequest(code="print(6 * 7)"))
    assert (benign.status, benign.stdout) == (RunStatus.OK, "42\n")


async def test_buffer_stores_samples_and_survives_restart(stack, buffer):
    await buffer.create_run(RunCreate(name="e2e-restart"))
    tasks = [
        TaskIn(
            type=TaskType.DEDUCTION,
            program=f"def f(x):\n    return x + {i}",
            inputs=["1"],
            outputs=[repr(1 + i)],
        )
        for i in range(20)
    ]
    inserted = await buffer.insert_tasks("e2e-restart", tasks)
    assert len(inserted.inserted) == 20 and not inserted.duplicates
    sampled = await buffer.sample("e2e-restart", SampleRequest(type=TaskType.DEDUCTION, k=5))
    assert len({t.id for t in sampled}) == 5
    assert {t.id for t in sampled} <= {t.id for t in inserted.inserted}

    stack.compose("restart", "buffer")
    stack.wait_healthy(("buffer",))

    async with BufferClient(stack.buffer_url, token=BUFFER_TOKEN) as fresh:
        stats = await fresh.stats("e2e-restart")
        assert stats.total == 20
        again = await fresh.sample("e2e-restart", SampleRequest(type=TaskType.DEDUCTION, k=20))
        assert sorted(t.program for t in again) == sorted(t.program for t in tasks)
        # Re-inserting after the restart finds every task already there.
        dup = await fresh.insert_tasks("e2e-restart", tasks)
        assert len(dup.duplicates) == 20 and not dup.inserted


class _CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts += 1
        return await super().handle_async_request(request)


async def test_killed_executor_mid_batch_is_retried_and_never_misreported(stack):
    """SIGKILL the executor's gVisor sandbox from the host while batches are in flight.

    The client must retry (more attempts than requests), every result must be the right one
    (no wrong answer, no sandbox_error leaking out as a program failure), and the container
    must come back healthy by itself (restart policy), without anyone restarting it.
    """
    executor_c = stack.container("executor")
    restarts_before = executor_c.attrs["RestartCount"]
    transport = _CountingTransport()
    client = ExecutorClient(
        stack.executor_url, token=EXECUTOR_TOKEN, max_retries=40, max_backoff_s=1.0,
        transport=transport,
    )  # fmt: skip
    n_batches, per_batch = 4, 12

    def batch(b: int) -> BatchRunRequest:
        return BatchRunRequest(
            runs=[
                RunRequest(code=f"import time\ntime.sleep(0.2)\nprint({b} * 1000 + {i} ** 2)")
                for i in range(per_batch)
            ]
        )

    async def kill_soon() -> float:
        await asyncio.sleep(1.0)
        os.kill(executor_c.attrs["State"]["Pid"], signal.SIGKILL)
        return time.monotonic()

    async with client:
        started = time.monotonic()
        killer = asyncio.create_task(kill_soon())
        responses = await asyncio.gather(*(client.run_batch(batch(b)) for b in range(n_batches)))
        finished = time.monotonic()
        killed_at = await killer

    assert started < killed_at < finished, "the kill did not land in the middle of the batches"
    assert transport.attempts > n_batches, "no request was retried: the fault was not injected"
    for b, response in enumerate(responses):
        assert [r.status for r in response.results] == [RunStatus.OK] * per_batch, response
        assert [r.stdout for r in response.results] == [
            f"{b * 1000 + i**2}\n" for i in range(per_batch)
        ]
    executor_c.reload()
    assert executor_c.attrs["RestartCount"] > restarts_before
    stack.wait_healthy()
