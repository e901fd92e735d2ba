"""Answer extraction follows the paper's order: <answer>, then \\boxed{}, then \\[...\\]."""

from __future__ import annotations

import pytest
from azr_trainer.evals.extraction import (
    extract_code,
    extract_fenced,
    extract_math_answer,
    last_boxed,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x </think> <answer>42</answer>", "42"),
        ("<answer>1</answer> then <answer>so \\boxed{7} ok</answer>", "7"),
        ("no tags, \\boxed{\\frac{1}{2}} and \\boxed{3}", "3"),
        ("thinking \\[ x = 5 \\] and later \\[ 6 \\]", "6"),
        ("<answer>\\boxed{\\{1, 2\\}}</answer>", "\\{1, 2\\}"),
        ("cut off <answer>the answer is \\boxed{9}", "9"),
        ("nothing at all", None),
    ],
)
def test_math_answer_extraction(text, expected):
    assert extract_math_answer(text) == expected


def test_boxed_balances_nested_braces():
    assert last_boxed("\\boxed{\\frac{a}{b^{2}}}") == "\\frac{a}{b^{2}}"
    assert last_boxed("\\boxed{unclosed") is None


def test_code_is_the_last_python_block_of_the_answer():
    text = (
        "```python\ndef f(): return 0\n```\n</think>\n<answer>\n```python\ndef f(): return 1\n```\n"
        "```python\ndef f(): return 2\n```\n</answer>"
    )
    assert extract_code(text) == "def f(): return 2"
    assert extract_code("```python\nx = 1\n```") == "x = 1"
    assert extract_code("no code") is None


def test_fenced_answer_block_or_bare_answer():
    assert extract_fenced("<answer>```output\n[1, 2]\n```</answer>", "output") == "[1, 2]"
    assert extract_fenced("<answer> 'abc' </answer>", "output") == "'abc'"
    assert extract_fenced("```input\n1, 2\n```", "input") == "1, 2"
    assert extract_fenced("nothing", "input") is None
