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


def test_an_azr_validation_that_could_answer_gigabytes_is_refused_before_it_runs(small_ex, ex):
    # 25 KB of request, 100,000-character outputs: 179 MB of response for 128 proposals.
    program = "def f(x):\n    return 'a' * 99990 + str(x)\n"
    proposals = [{"task_type": "induction", "program": program, "inputs": [str(i) for i in range(8)],
                  "message": "m"} for _ in range(16)]  # fmt: skip
    for options in ({"max_output_chars": 100_000}, {"max_output_chars": 10_000}):
        body = {"proposals": proposals, "options": options}
        r = httpx.post(small_ex.url + "/v1/azr/validate", json=body, timeout=60)
        assert r.status_code == 413, (r.status_code, len(r.content))
        assert "MAX_RESPONSE_MB" in r.json()["detail"]
    # What fits is served (on the shared executor: `small_ex` has no second hash seed)
    one = [dict(proposals[0], inputs=["1", "2"])]
    r = httpx.post(ex.url + "/v1/azr/validate", timeout=60,
                   json={"proposals": one, "options": {"max_output_chars": 100_000}})  # fmt: skip
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "valid", r.text[:300]


def test_azr_verdict_messages_share_the_response_budget(small_ex):
    # Each answer's message quotes the program's own exception (up to 1,000 characters); 2,048
    # verdicts of them would answer over 2 MB, past the 1 MB budget of `small_ex`.
    task = {"task_type": "induction", "program": "def f(x):\n    return x\n",
            "inputs": ["1", "2", "3", "4"], "outputs": ["1", "2", "3", "4"], "message": "m"}  # fmt: skip
    items = [{"task": task, "answers": [f"def f(x):\n    raise ValueError('{k}' * 2000)\n"] * 256}
             for k in "abcdefgh"]  # fmt: skip
    r = httpx.post(small_ex.url + "/v1/azr/verify", json={"items": items}, timeout=120)
    assert r.status_code == 200, r.text[:300]
    assert len(r.content) <= 1 << 20
    verdicts = [v for result in r.json()["results"] for v in result["verdicts"]]
    assert len(verdicts) == 2048 and {v["verdict"] for v in verdicts} == {"incorrect"}
    assert all("ValueError" in v["message"] for v in verdicts)
    # Past what even short messages could share: refused before any run.
    items = [{"task": task, "answers": ["def f(x):\n    return x\n"] * 256}] * 10
    r = httpx.post(small_ex.url + "/v1/azr/verify", json={"items": items}, timeout=120)
    assert r.status_code == 413 and "MAX_RESPONSE_MB" in r.json()["detail"], r.text[:300]
