"""`azr_proto.rewards`: code extraction, the three test-case forms, scoring, and the reward
functions in TRL's signature against an httpx.MockTransport executor."""

from __future__ import annotations

import json

import httpx
import pytest
from azr_proto.errors import ServerFault
from azr_proto.executor import CallCase, StdioCase, TestsResponse
from azr_proto.rewards import async_code_reward, cases_from, code_reward, extract_code, score


def test_extract_code_takes_the_last_python_block_of_text_or_messages():
    text = "Try:\n```\nuntagged\n```\nthen\n```python\nfirst\n```\n```py\nsecond\n```\n"
    assert extract_code(text) == "second\n"
    assert extract_code([{"role": "assistant", "content": "```\nx = 1\n```"}]) == "x = 1\n"
    assert extract_code("no code here") is None
    assert extract_code("```python\nunterminated") is None


def test_cases_come_from_azrs_open_r1s_and_verls_forms():
    azr = [{"kind": "call", "args": "2", "expected": "4"}]
    assert cases_from(azr) == ("f", [CallCase(args="2", expected="4")])
    assert cases_from({"entry_point": "g", "cases": azr})[0] == "g"
    open_r1 = {"language": "python",
               "test_cases": [{"input": "1\n", "output": "2\n", "type": "stdin_stdout"}]}  # fmt: skip
    stdio = [StdioCase(stdin="1\n", expected_stdout="2\n")]
    assert cases_from(json.dumps(open_r1))[1] == stdio
    assert cases_from({"inputs": ["1\n"], "outputs": ["2\n"]})[1] == stdio


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"language": "cpp", "test_cases": []}, "Python only"),
        ({"inputs": ["1"], "outputs": ["1"], "fn_name": "f"}, "call"),
        ({"prompt": "x"}, "no test cases"),
        (3, "list or a dict"),
    ],
)
def test_unusable_cases_are_refused_with_a_reason(value, message):
    with pytest.raises(ValueError, match=message):
        cases_from(value)


def answer(*statuses: str) -> TestsResponse:
    results = [{"index": i, "verdict": "passed" if s == "ok" else "error", "status": s}
               for i, s in enumerate(statuses)]  # fmt: skip
    passed = statuses.count("ok")
    return TestsResponse.model_validate({"results": results, "passed": passed,
        "total": len(statuses), "all_passed": passed == len(statuses), "stopped_early": False})  # fmt: skip


def test_score_is_the_pass_fraction_and_none_for_a_sandbox_error():
    assert score(answer("ok", "runtime_error")) == 0.5
    assert score(answer("ok", "runtime_error"), "all") == 0.0
    assert score(answer("ok", "ok"), "all") == 1.0
    assert score(answer("ok", "sandbox_error")) is None


def fake_executor(requests: list[dict]) -> httpx.MockTransport:
    """Passes every case of a program containing 'good', fails 'bad', sandbox_error 'broken'."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        requests.append(body)
        status = {"good": "ok", "bad": "runtime_error"}.get(body["code"].strip(), "sandbox_error")
        return httpx.Response(200, json=answer(*[status] * len(body["cases"])).model_dump())

    return httpx.MockTransport(handler)


COMPLETIONS = [
    "```python\ngood\n```",
    "```python\nbad\n```",
    "prose only",
    "```python\nbroken\n```",
]
CASES = [[{"kind": "stdio", "stdin": "", "expected_stdout": "1"}] * 3] * 4


def test_sync_reward_scores_each_completion_in_one_request_each():
    sent: list[dict] = []
    options = {"transport": fake_executor(sent), "max_retries": 0}
    reward = code_reward("http://x", client_options=options)
    rewards = reward(
        prompts=["p"] * 4, completions=COMPLETIONS, completion_ids=[], test_cases=CASES
    )
    assert rewards == [1.0, 0.0, 0.0, None]
    assert len(sent) == 3 and all(len(r["cases"]) == 3 for r in sent)  # no request for prose
    assert reward.__name__ == "code_reward"  # what TRL logs it as


async def test_async_reward_reads_its_column_and_scores_like_the_sync_one():
    sent: list[dict] = []
    options = {"transport": fake_executor(sent), "max_retries": 0}
    reward = async_code_reward("http://x", column="verification_info", scoring="all",
                               client_options=options)  # fmt: skip
    info = {"language": "python", "test_cases": [{"input": "", "output": "1"}]}
    rewards = await reward(completions=COMPLETIONS, verification_info=[info] * 4)
    assert rewards == [1.0, 0.0, 0.0, None]
    assert all(r["early_stop"] for r in sent)  # "all": the first failure settles it
    with pytest.raises(KeyError, match="verification_info"):
        await reward(completions=COMPLETIONS, test_cases=CASES)


def test_an_unreachable_service_raises_instead_of_scoring():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500, json={"code": "internal_error", "detail": "boom"})

    options = {"transport": httpx.MockTransport(handler), "max_retries": 0}
    reward = code_reward("http://x", client_options=options)
    with pytest.raises(ServerFault):
        reward(completions=COMPLETIONS[:1], test_cases=CASES[:1])


def test_unfenced_completions_are_the_program_when_the_prompt_opened_the_fence():
    assert extract_code("print(1)\n```\nbye", fenced=False) == "print(1)\n"
    assert extract_code("print(1)", fenced=False) == "print(1)"
    assert extract_code("print(1)") is None
