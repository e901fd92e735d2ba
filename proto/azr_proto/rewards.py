"""Code rewards for TRL's `GRPOTrainer` (or any trainer calling `reward_funcs` TRL's way): each
completion's program is checked against its own sample's test cases on an azr executor.

    from azr_proto.rewards import code_reward
    trainer = GRPOTrainer(model, reward_funcs=[code_reward("http://executor:8010", token="...")],
                          train_dataset=dataset)   # dataset has a "test_cases" column

All cases of one completion go in one `/v1/tests` request; the completions of a step go at once
(`max_concurrency` requests in flight). The reward is the fraction of cases passed (`scoring=
"fraction"`) or 1.0 only when all pass (`"all"`). It is `None`, TRL's "no reward", when a case
ended in `sandbox_error` after the client's retries: an infrastructure fault is never scored as
a wrong answer. A completion without a fenced code block scores 0.0. When the service cannot
be reached at all, the `ProtoError` propagates: an outage never becomes a reward.

A sample's cases (the `column` value, a JSON string of it also works), in one of three forms:
- azr's own: a list of test cases (`{"kind": "stdio", "stdin": ..., "expected_stdout": ...}`,
  `call`, `assert`), or `{"cases": [...], "entry_point": "solve"}`;
- open-r1's `verification_info`: `{"language": "python", "test_cases": [{"input": ...,
  "output": ..., "type": "stdin_stdout"}]}`;
- veRL's / APPS's stdin-stdout form: `{"inputs": [...], "outputs": [...]}`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import TypeAdapter

from azr_proto.executor import RunLimits, StdioCase, TestCase, TestsRequest, TestsResponse
from azr_proto.executor_client import ExecutorClient
from azr_proto.statuses import RunStatus
from azr_proto.sync_client import SyncExecutorClient

__all__ = ["async_code_reward", "cases_from", "code_reward", "extract_code", "score"]

Scoring = Literal["fraction", "all"]
Reward = float | None
_CASES = TypeAdapter(list[TestCase])
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


def extract_code(completion: str | Sequence[dict[str, Any]], *, fenced: bool = True) -> str | None:
    """The last fenced code block of a completion (plain text, or TRL's conversational list of
    messages: the last one's content); a `python`/`py` block wins over an untagged one.

    `fenced=False` is for prompts that end inside an open ```python fence: a completion with no
    whole block is then the program itself, up to the fence that closes it, if any."""
    text = completion if isinstance(completion, str) else str(completion[-1].get("content", ""))
    blocks: list[tuple[str, str]] = [(lang.lower(), body) for lang, body in _FENCE.findall(text)]
    python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    untagged = [body for lang, body in blocks if not lang]
    chosen = python or untagged
    if chosen:
        return chosen[-1]
    return None if fenced else text.split("```", 1)[0]


def cases_from(value: Any, *, entry_point: str = "f") -> tuple[str, list[TestCase]]:
    """A sample's `(entry_point, cases)` from any of the three forms above."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, list):
        return entry_point, _CASES.validate_python(value)
    if not isinstance(value, dict):
        raise ValueError(f"test cases must be a list or a dict, not {type(value).__name__}")
    if "cases" in value:
        return str(value.get("entry_point", entry_point)), _CASES.validate_python(value["cases"])
    if "test_cases" in value:  # open-r1's verification_info
        language = value.get("language", "python")
        if language != "python":
            raise ValueError(f"azr runs Python only; this sample's language is {language!r}")
        cases: list[TestCase] = []
        for case in value["test_cases"]:
            if case.get("type", "stdin_stdout") != "stdin_stdout":
                raise ValueError(f"unsupported open-r1 test case type {case.get('type')!r}")
            cases.append(StdioCase(stdin=case["input"], expected_stdout=case["output"]))
        return entry_point, cases
    if "inputs" in value and "outputs" in value:  # veRL / APPS
        if value.get("fn_name"):
            raise ValueError("call-based (fn_name) samples: give azr `call` cases instead")
        pairs = zip(value["inputs"], value["outputs"], strict=True)
        return entry_point, [StdioCase(stdin=str(i), expected_stdout=str(o)) for i, o in pairs]
    raise ValueError(f"no test cases found in a dict with keys {sorted(value)}")


def score(answer: TestsResponse, scoring: Scoring = "fraction") -> Reward:
    """The reward of one checked program; None when a case met a sandbox error."""
    if any(r.status is RunStatus.SANDBOX_ERROR for r in answer.results):
        return None
    if scoring == "all":
        return 1.0 if answer.all_passed else 0.0
    return answer.passed / answer.total if answer.total else 0.0


class _Plan:
    """The `/v1/tests` requests of one reward call, and where each answer goes."""

    def __init__(self, completions: Sequence[Any], samples: Sequence[Any], *, entry_point: str,
                 scoring: Scoring, limits: RunLimits | None, fenced: bool) -> None:  # fmt: skip
        if len(samples) != len(completions):
            raise ValueError(f"{len(completions)} completions but {len(samples)} test case sets")
        self.scoring = scoring
        self.rewards: list[Reward] = [0.0] * len(completions)
        self.requests: list[TestsRequest] = []
        self.slots: list[int] = []
        for i, (completion, sample) in enumerate(zip(completions, samples, strict=True)):
            code = extract_code(completion, fenced=fenced)
            if code is None:
                continue  # no program: the policy's fault, reward 0.0
            entry, cases = cases_from(sample, entry_point=entry_point)
            self.requests.append(TestsRequest(code=code, entry_point=entry, cases=cases,
                                              early_stop=scoring == "all",
                                              limits=limits or RunLimits()))  # fmt: skip
            self.slots.append(i)

    def fill(self, answers: Sequence[TestsResponse]) -> list[Reward]:
        for slot, answer in zip(self.slots, answers, strict=True):
            self.rewards[slot] = score(answer, self.scoring)
        return self.rewards


def code_reward(
    base_urls: str | Sequence[str],
    *,
    token: str | None = None,
    column: str = "test_cases",
    entry_point: str = "f",
    scoring: Scoring = "fraction",
    limits: RunLimits | None = None,
    max_concurrency: int = 32,
    fenced: bool = True,
    client_options: Mapping[str, Any] | None = None,
) -> Callable[..., list[Reward]]:
    """A synchronous reward function in TRL's signature, `(completions, **kwargs)`, reading each
    sample's cases from the dataset column `column`. Keeps one connection pool for its life.

    `limits` apply to each case (default: the service's); `fenced`: see `extract_code`;
    `client_options` go to the `ExecutorClient` (`timeout_s`, `max_retries`, `transport`...)."""
    client: SyncExecutorClient | None = None

    def code_reward(completions: Sequence[Any], **kwargs: Any) -> list[Reward]:
        nonlocal client
        plan = _Plan(completions, _column(kwargs, column), entry_point=entry_point,
                     scoring=scoring, limits=limits, fenced=fenced)  # fmt: skip
        if not plan.requests:
            return plan.rewards
        if client is None:
            client = SyncExecutorClient(base_urls, token=token, **dict(client_options or {}))
        return plan.fill(client.tests_many(plan.requests, max_concurrency=max_concurrency))

    return code_reward


def async_code_reward(
    base_urls: str | Sequence[str],
    *,
    token: str | None = None,
    column: str = "test_cases",
    entry_point: str = "f",
    scoring: Scoring = "fraction",
    limits: RunLimits | None = None,
    max_concurrency: int = 32,
    fenced: bool = True,
    client_options: Mapping[str, Any] | None = None,
) -> Callable[..., Awaitable[list[Reward]]]:
    """The async twin of `code_reward` (TRL awaits async reward functions concurrently with the
    others, in one event loop of its own; the connection pool lives in that loop)."""
    clients: dict[asyncio.AbstractEventLoop, ExecutorClient] = {}

    async def code_reward(completions: Sequence[Any], **kwargs: Any) -> list[Reward]:
        plan = _Plan(completions, _column(kwargs, column), entry_point=entry_point,
                     scoring=scoring, limits=limits, fenced=fenced)  # fmt: skip
        if not plan.requests:
            return plan.rewards
        loop = asyncio.get_running_loop()
        client = clients.get(loop)
        if client is None:
            for old in [old for old in clients if old.is_closed()]:
                del clients[old]
            options = dict(client_options or {})
            client = clients[loop] = ExecutorClient(base_urls, token=token, **options)
        answers = await client.tests_many(plan.requests, max_concurrency=max_concurrency)
        return plan.fill(answers)

    return code_reward


def _column(kwargs: dict[str, Any], column: str) -> Sequence[Any]:
    if column not in kwargs:
        given = sorted(k for k in kwargs if k not in ("prompts", "completion_ids"))
        raise KeyError(f"no {column!r} column among the reward's inputs {given}")
    samples: Sequence[Any] = kwargs[column]
    return samples
