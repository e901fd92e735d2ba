"""Class 7: the service holds a bounded amount of program output, whatever is asked."""

from __future__ import annotations

import asyncio
import time

import httpx
from azr_proto.executor import RunLimits, RunRequest
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus


def _batch(code: str, n: int, output_bytes: int) -> dict:
    limits = {"output_limit_bytes": output_bytes, "wall_timeout_s": 5}
    return {"runs": [{"code": code, "limits": limits} for _ in range(n)]}


def test_a_batch_that_could_print_gigabytes_is_refused_before_it_runs(ex):
    body = _batch("print(1)", 1000, 8 << 20)  # 1000 runs x 2 streams x 8 MiB = 16 GiB
    r = httpx.post(ex.url + "/v1/run/batch", json=body, timeout=30)
    assert r.status_code == 413, r.text[:300]
    assert "MAX_INFLIGHT_OUTPUT_MB" in r.json()["detail"]


def test_runs_beyond_the_output_budget_in_flight_wait_their_turn(small_ex):
    async def go():
        async with httpx.AsyncClient(base_url=small_ex.url, timeout=30) as http:
            hold = asyncio.ensure_future(
                http.post("/v1/run/batch", json=_batch("import time\ntime.sleep(1.0)", 4, 8 << 20))
            )
            await asyncio.sleep(0.3)  # the 64 MiB budget is fully reserved by `hold`
            t0 = time.monotonic()
            second = await http.post("/v1/run", json={"code": "print(1)"})
            waited = time.monotonic() - t0
            return await hold, second, waited

    first, second, waited = small_ex.call(go())
    assert first.status_code == 200 and second.status_code == 200
    assert second.json()["stdout"] == "1\n"
    assert waited > 2.0  # it ran only once the four 1-second runs (one zygote) handed theirs back


async def test_a_response_is_held_to_its_budget_with_a_clear_output_limit(small_ex):
    # Control bytes take 6 JSON bytes each: 3 runs x 2 x 64 KiB would answer ~2.3 MiB.
    code = "import sys\nsys.stdout.write('\\x01' * (64 << 10))\nsys.stderr.write('\\x02' * (64 << 10))\n"
    runs = [RunRequest(code=code, limits=RunLimits(output_limit_bytes=128 << 10)) for _ in range(3)]
    async with ExecutorClient(small_ex.url) as client:
        answer = await client.run_batch(runs)
    size = sum(len(r.model_dump_json()) for r in answer.results)
    assert size < (1 << 20) + 4096
    assert answer.results[0].status is RunStatus.OK
    cut = [r for r in answer.results if r.status is RunStatus.OUTPUT_LIMIT]
    assert cut and all(r.truncated and "output budget" in r.stderr for r in cut)
