"""Every prompt the model sees, pinned to a committed golden file: a wording change is a visible
diff in review. After an intended change: `AZR_UPDATE_GOLDEN=1 pytest <this file>`, and commit
the files under golden/ with it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from azr_trainer.prompts import (
    R1_TEMPLATES,
    Snippet,
    propose_induction_prompt,
    propose_io_prompt,
    r1_wrap,
    solve_abduction_prompt,
    solve_deduction_prompt,
    solve_induction_prompt,
)

GOLDEN = Path(__file__).with_name("golden")
PROGRAM = "def f(xs: list, k: int):\n    return sorted(xs)[:k]"
SNIPPETS = [
    Snippet("def f(a):\n    return a", '"Hello world"', "'Hello world'"),
    Snippet(PROGRAM, "[3, 1, 2], 2", "[1, 2]"),
]
PROMPTS = {
    "r1_default": lambda: r1_wrap("<ROLE PROMPT>", R1_TEMPLATES["default"]),
    "r1_reference": lambda: r1_wrap("<ROLE PROMPT>", R1_TEMPLATES["reference"]),
    "propose_deduction": lambda: propose_io_prompt("deduction", SNIPPETS),
    "propose_abduction": lambda: propose_io_prompt("abduction", SNIPPETS),
    "propose_induction": lambda: propose_induction_prompt(PROGRAM, 10),
    "solve_deduction": lambda: solve_deduction_prompt(PROGRAM, "[3, 1, 2], 2"),
    "solve_abduction": lambda: solve_abduction_prompt(PROGRAM, "[1, 2]"),
    "solve_induction": lambda: solve_induction_prompt(
        [("[3, 1], 1", "[1]"), ("[5], 0", "[]")], "m"
    ),
}


@pytest.mark.parametrize("name", sorted(PROMPTS))
def test_prompt_text_matches_its_golden_file(name):
    path = GOLDEN / f"{name}.txt"
    text = PROMPTS[name]()
    if os.environ.get("AZR_UPDATE_GOLDEN"):
        path.write_text(text)
    assert path.read_text() == text


def test_reference_template_is_the_released_codes_byte_for_byte():
    # absolute_zero_reasoner/data_construction/process_data.py, `instruction_following` (a82124e)
    released = (
        "A conversation between User and Assistant. The user asks a question, and the Assistant "
        "solves it. The assistant first thinks about the reasoning process in the mind and then "
        "provides the user with the answer. The reasoning process and answer are enclosed within "
        "<think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning "
        "process here </think> <answer> answer here </answer>. User: {}\nAssistant: <think>"
    )
    assert r1_wrap("QUESTION", R1_TEMPLATES["reference"]) == released.format("QUESTION")
    assert r1_wrap("QUESTION", R1_TEMPLATES["default"]) != released.format("QUESTION")
