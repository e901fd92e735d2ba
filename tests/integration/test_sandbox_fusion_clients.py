"""SandboxFusion's own client (`sandbox-fusion` on PyPI) and veRL's sandbox-fusion reward code
(`verl.utils.reward_score.sandbox_fusion`, loaded alone: its package pulls torch and ray), run
unchanged against a live executor with tokens, get the verdicts `/v1/tests` gives."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import os
import sys
import threading
from types import ModuleType

import httpx
import pytest
import sandbox_fusion
from azr_executor.app import create_app
from azr_executor.settings import ExecutorSettings
from azr_executor_fixtures import TEAM_TOKENS
from azr_proto.executor import CallCase, RunLimits, StdioCase, TestsRequest
from azr_proto.executor_client import ExecutorClient

TOKEN = next(iter(TEAM_TOKENS))

# (program, stdio cases) with every verdict: pass, wrong answer, crash, timeout.
PROGRAMS = {
    "doubles": ("print(int(input()) * 2)", [("3", "6"), ("5", "10")]),
    "adds_two": ("print(int(input()) + 2)", [("3", "6"), ("4", "6")]),
    "crashes": ("x = int(input())\nprint(1 // (x - 1))", [("1", "0"), ("2", "1")]),
    "loops": ("while True:\n    pass", [("", "1")]),
}
# veRL's call-based form (`fn_name`: one JSON argument per stdin line).
FUNCTIONS = {
    "add": ("def add(a, b):\n    return a + b\n", [("1\n2", "3"), ("[1]\n[2]", "[1, 2]")]),
    "sub": ("def add(a, b):\n    return a - b\n", [("1\n2", "3"), ("5\n2", "3")]),
}
VERL_TO_VERDICT = {"success": "passed", "wrong_answer": "wrong_answer", "runtime_error": "error",
                   "timeout": "error"}  # fmt: skip


def load_verl_sandbox_fusion() -> ModuleType:
    """veRL's `verl.utils.reward_score.sandbox_fusion`, without running `verl/__init__.py`."""
    where = importlib.metadata.distribution("verl").locate_file(
        "verl/utils/reward_score/sandbox_fusion"
    )
    name = "verl_sandbox_fusion"
    spec = importlib.util.spec_from_file_location(
        name, f"{where}/__init__.py", submodule_search_locations=[str(where)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def verl_sf() -> ModuleType:
    return load_verl_sandbox_fusion()


async def azr_verdicts(url: str, code: str, cases, entry_point: str = "f") -> list[str]:
    async with ExecutorClient(url, token=TOKEN) as client:
        limits = RunLimits(wall_timeout_s=1)  # as the SandboxFusion requests ask
        req = TestsRequest(code=code, cases=cases, entry_point=entry_point, limits=limits)
        answer = await client.tests(req)
    return [r.verdict for r in answer.results]


def sf_verdict(resp, expected: str) -> str:
    if resp.status == "Success":
        return "passed" if resp.run_result.stdout.rstrip("\n") == expected else "wrong_answer"
    assert resp.status == "Failed"
    return "error"


async def test_sandbox_fusion_client_gets_the_verdicts_of_v1_tests(shared_executor):
    sandbox_fusion.set_endpoint(f"{shared_executor.url}/sandbox-fusion/{TOKEN}")
    for name, (code, cases) in PROGRAMS.items():
        theirs = []
        for stdin, expected in cases:
            req = sandbox_fusion.RunCodeRequest(code=code, stdin=stdin, language="python",
                                                run_timeout=1)  # fmt: skip
            resp = await sandbox_fusion.run_code_async(req, max_attempts=1)
            theirs.append(sf_verdict(resp, expected))
        stdio = [StdioCase(stdin=i, expected_stdout=o) for i, o in cases]
        ours = await azr_verdicts(shared_executor.url, code, stdio)
        assert theirs == ours, name
    loops = sandbox_fusion.run_code(
        sandbox_fusion.RunCodeRequest(code="while True:\n    pass", language="python",
                                      run_timeout=1), max_attempts=1)  # fmt: skip
    assert loops.run_result.status == "TimeLimitExceeded"


def test_sandbox_fusion_client_is_told_why_other_languages_and_bad_tokens_fail(shared_executor):
    good = f"{shared_executor.url}/sandbox-fusion/{TOKEN}"
    cpp = sandbox_fusion.RunCodeRequest(code="int main(){}", language="cpp")
    with pytest.raises(Exception, match=r"422.*runs Python only"):
        sandbox_fusion.run_code(cpp, endpoint=good, max_attempts=1)
    py = sandbox_fusion.RunCodeRequest(code="print(1)", language="python")
    with pytest.raises(Exception, match="401"):
        sandbox_fusion.run_code(py, endpoint=f"{shared_executor.url}/sandbox-fusion/nope",
                                max_attempts=1)  # fmt: skip
    with pytest.raises(Exception, match="401"):  # no token at all: SandboxFusion's root path
        sandbox_fusion.run_code(py, endpoint=shared_executor.url, max_attempts=1)


async def test_verl_reward_code_gets_the_verdicts_of_v1_tests(shared_executor, verl_sf):
    url = f"{shared_executor.url}/sandbox-fusion/{TOKEN}/run_code"
    semaphore = threading.Semaphore(8)
    programs = {k: (c, cases, None) for k, (c, cases) in PROGRAMS.items()}
    programs |= {k: (c, cases, "add") for k, (c, cases) in FUNCTIONS.items()}
    for name, (code, cases, fn_name) in programs.items():
        test_cases = {"inputs": [i for i, _ in cases], "outputs": [o for _, o in cases]}
        if fn_name:
            test_cases["fn_name"] = fn_name
        completion = f"Here it is:\n```python\n{code}\n```"
        score, metadata = verl_sf.compute_score(url, semaphore, 1024, completion, test_cases,
                                                timeout=1)  # fmt: skip
        theirs = [VERL_TO_VERDICT[m["status"]] for m in metadata]
        if fn_name:
            calls = [CallCase(args=i.replace("\n", ", "), expected=o) for i, o in cases]
            ours = await azr_verdicts(shared_executor.url, code, calls, fn_name)
        else:
            stdio = [StdioCase(stdin=i, expected_stdout=o) for i, o in cases]
            ours = await azr_verdicts(shared_executor.url, code, stdio)
        assert theirs == ours, name
        assert score == ours.count("passed") / len(ours)


def test_verl_reward_code_with_a_wrong_token_scores_an_api_error(shared_executor, verl_sf):
    url = f"{shared_executor.url}/sandbox-fusion/nope/run_code"
    _score, metadata = verl_sf.compute_score(
        url,
        threading.Semaphore(1),
        1024,
        "```python\nprint(1)\n```",
        {"inputs": [""], "outputs": ["1"]},
    )
    assert metadata[0]["status"] == "api_error" and "401" in metadata[0]["api_request_error"]


async def test_a_full_queue_answers_504_which_verl_retries():
    settings = ExecutorSettings(zygotes=1, spare_zygote=False, max_queue=1, tenant_queue_share=1,
                                work_root=None if os.geteuid() == 0 else "/tmp/azr-sf-504")  # fmt: skip
    app = create_app(settings)
    slow = {"code": "import time\ntime.sleep(1)", "language": "python"}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            first = asyncio.create_task(http.post("/run_code", json=slow))
            await asyncio.sleep(0.2)
            second = await http.post("/run_code", json=slow)
            assert (await first).json()["status"] == "Success"
    assert second.status_code == 504 and "queue full" in second.json()["detail"]
    assert second.headers["retry-after"] == "1"
