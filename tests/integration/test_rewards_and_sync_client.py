"""The TRL code reward and the synchronous client against a live executor with tokens."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from azr_executor_fixtures import TEAM_TOKENS
from azr_proto.errors import Unauthorized
from azr_proto.executor import RunRequest, StdioCase, TestsRequest
from azr_proto.rewards import async_code_reward, code_reward
from azr_proto.sync_client import SyncExecutorClient

TOKEN = next(iter(TEAM_TOKENS))
OPEN_R1_INFO = {"language": "python", "test_cases": [
    {"input": "2\n", "output": "4\n", "type": "stdin_stdout"},
    {"input": "3\n", "output": "9\n", "type": "stdin_stdout"}]}  # fmt: skip
COMPLETIONS = [
    "```python\nn = int(input())\nprint(n * n)\n```",  # both cases
    "```python\nn = int(input())\nprint(n + n)\n```",  # only 2 -> 4
    "```python\nraise SystemExit(1)\n```",
    "I cannot do this.",
]


def test_sync_reward_scores_open_r1_samples_on_the_executor(shared_executor):
    reward = code_reward(shared_executor.url, token=TOKEN, column="verification_info")
    rewards = reward(completions=COMPLETIONS, verification_info=[OPEN_R1_INFO] * 4)
    assert rewards == [1.0, 0.5, 0.0, 0.0]


async def test_async_reward_scores_like_the_sync_one(shared_executor):
    reward = async_code_reward(shared_executor.url, token=TOKEN, scoring="all",
                               column="verification_info")  # fmt: skip
    rewards = await reward(completions=COMPLETIONS, verification_info=[OPEN_R1_INFO] * 4)
    assert rewards == [1.0, 0.0, 0.0, 0.0]


def test_sync_client_runs_from_several_threads_and_closes(shared_executor):
    with SyncExecutorClient(shared_executor.url, token=TOKEN) as client:
        assert client.readyz()["status"] == "ok"
        with ThreadPoolExecutor(4) as threads:
            results = list(threads.map(lambda i: client.run(RunRequest(code=f"print({i})")),
                                       range(8)))  # fmt: skip
        assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
        answer = client.tests(TestsRequest(code="print(input())",
                                           cases=[StdioCase(stdin="a", expected_stdout="a")]))  # fmt: skip
        assert answer.all_passed
    with pytest.raises(RuntimeError, match="closed"):
        client.run(RunRequest(code="print(1)"))


def test_sync_client_raises_the_typed_errors(shared_executor):
    with (
        SyncExecutorClient(shared_executor.url, token="wrong") as client,
        pytest.raises(Unauthorized),
    ):
        client.run(RunRequest(code="print(1)"))
