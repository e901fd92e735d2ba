"""Strict parsing of completions: every malformed shape is a FormatError with a reason."""

from __future__ import annotations

import pytest
from azr_trainer.parsing import (
    Answer,
    FormatError,
    InductionProposal,
    IOProposal,
    fenced_blocks,
    is_format_error,
    parse_induction_proposal,
    parse_io_proposal,
    parse_solver_answer,
    split_answer,
)
from hypothesis import given
from hypothesis import strategies as st

PROGRAM = "def f(a, b):\n    return a + b"


def wrap(body: str, think: str = "let me plan") -> str:
    return f" {think} </think>\n<answer>\n{body}\n</answer>"


def test_split_answer_reads_think_and_answer():
    assert split_answer(wrap("x = 1")) == Answer(think="let me plan", answer="x = 1")


def test_split_answer_allows_trailing_text_and_repeated_think_tag():
    got = split_answer("<think> a </think> <answer>b</answer> trailing")
    assert got == Answer(think="a", answer="b")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("no tags at all", "no </think>"),
        ("plan </think> text <answer>x</answer>", "</think> is not followed by <answer>"),
        ("plan </think> <answer>x", "no </answer>"),
        (
            "plan <answer>x</answer> </think> <answer>y</answer>",
            "<answer> tag inside the reasoning",
        ),
        ("a <think> b </think> <answer>x</answer>", "nested <think>"),
        ("plan </think> <answer> <answer>x</answer>", "nested <answer>"),
        ("plan </think> <answer>   </answer>", "empty answer"),
    ],
)
def test_split_answer_rejects_malformed_shapes(text, reason):
    assert split_answer(text) == FormatError(reason)


def test_fenced_blocks_reads_labels_and_bodies_in_order():
    text = "```python\ndef f(x):\n    return x\n```\nsome words\n```input\n'a', 2\n```"
    blocks = fenced_blocks(text)
    assert [(b.label, b.body) for b in blocks] == [
        ("python", "def f(x):\n    return x"),
        ("input", "'a', 2"),
    ]


def test_fenced_blocks_ignores_unclosed_fence():
    assert fenced_blocks("```input\n1, 2\n") == []


def test_io_proposal_takes_first_program_and_first_input():
    body = f"```python\n{PROGRAM}\n```\n```input\n1, 2\n```\n```python\ndef f(x): pass\n```"
    got = parse_io_proposal(wrap(body))
    assert got == IOProposal(program=PROGRAM, input="1, 2")


def test_io_proposal_accepts_helpers_and_imports():
    program = "import math\n\ndef helper(x):\n    return x * 2\n\ndef f(x):\n    return helper(x)"
    got = parse_io_proposal(wrap(f"```python\n{program}\n```\n```input\n3\n```"))
    assert isinstance(got, IOProposal)
    assert got.program == program


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("```input\n1, 2\n```", "no python block in the answer"),
        (f"```python\n{PROGRAM}\n```", "no input block in the answer"),
        (
            "```python\ndef g(a):\n    return a\n```\n```input\n1\n```",
            "the program does not define f",
        ),
        (f"```python\n{PROGRAM}\n```\n```input\n\n```", "empty input block"),
        (f"```python\n{PROGRAM}\n```\n```input\n1,\n2\n```", "the input spans several lines"),
    ],
)
def test_io_proposal_format_errors(body, reason):
    assert parse_io_proposal(wrap(body)) == FormatError(reason)


def test_io_proposal_outside_answer_is_a_format_error():
    text = f"```python\n{PROGRAM}\n```\n```input\n1, 2\n``` </think> <answer>nothing</answer>"
    got = parse_io_proposal(text)
    assert is_format_error(got)


def _induction_body(n: int, message: str | None = "adds numbers") -> str:
    parts = [f"```input\n{i}, {i + 1}\n```" for i in range(n)]
    if message is not None:
        parts.append(f"```message\n{message}\n```")
    return "\n".join(parts)


def test_induction_proposal_reads_all_inputs_and_message():
    got = parse_induction_proposal(wrap(_induction_body(4)), 4)
    assert got == InductionProposal(inputs=("0, 1", "1, 2", "2, 3", "3, 4"), message="adds numbers")


@pytest.mark.parametrize(
    ("n_written", "message", "reason"),
    [
        (3, "m", "expected 4 input blocks, got 3"),
        (5, "m", "expected 4 input blocks, got 5"),
        (4, None, "expected 1 message block, got 0"),
    ],
)
def test_induction_proposal_format_errors(n_written, message, reason):
    got = parse_induction_proposal(wrap(_induction_body(n_written, message)), 4)
    assert got == FormatError(reason)


def test_induction_proposal_rejects_two_messages():
    body = _induction_body(2) + "\n```message\nsecond\n```"
    assert parse_induction_proposal(wrap(body), 2) == FormatError("expected 1 message block, got 2")


@pytest.mark.parametrize(
    ("task_type", "body", "expected"),
    [
        ("deduction", "```output\n3\n```", "3"),
        ("deduction", "```output\n1\n```\nwait\n```output\n'abc'\n```", "'abc'"),
        ("abduction", "```input\n'x', 2\n```", "'x', 2"),
        ("induction", f"```python\n{PROGRAM}\n```", PROGRAM),
    ],
)
def test_solver_answer_takes_last_matching_block(task_type, body, expected):
    assert parse_solver_answer(wrap(body), task_type) == expected


@pytest.mark.parametrize(
    ("task_type", "body", "reason"),
    [
        ("deduction", "3", "no output block in the answer"),
        ("deduction", "```input\n3\n```", "no output block in the answer"),
        ("abduction", "```output\n3\n```", "no input block in the answer"),
        ("induction", "```input\n3\n```", "no python block in the answer"),
        ("induction", "```python\nlambda x: x\n```", "the program does not define f"),
        ("deduction", "```output\n\n```", "empty output block"),
        ("sorting", "```output\n1\n```", "unknown task type 'sorting'"),
    ],
)
def test_solver_answer_format_errors(task_type, body, reason):
    assert parse_solver_answer(wrap(body), task_type) == FormatError(reason)


@given(st.text(max_size=300))
def test_parsers_never_raise(text):
    for result in (
        split_answer(text),
        parse_io_proposal(text),
        parse_induction_proposal(text, 3),
        parse_solver_answer(text, "deduction"),
        parse_solver_answer(text, "abduction"),
        parse_solver_answer(text, "induction"),
    ):
        assert result is not None


@given(
    st.lists(
        st.sampled_from(
            ["```", "```input\n", "</think>", "<answer>", "</answer>", "\n", "x", "def f(a):"]
        ),
        max_size=30,
    )
)
def test_parsers_never_raise_on_tag_soup(parts):
    text = "".join(parts)
    assert parse_io_proposal(text) is not None
    assert parse_solver_answer(text, "induction") is not None


def test_non_text_is_a_format_error():
    assert split_answer(None) == FormatError("completion is not text")  # type: ignore[arg-type]
