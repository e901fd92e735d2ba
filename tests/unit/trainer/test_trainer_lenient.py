"""`answer_parsing: lenient`: the reference's extraction and fallbacks, where strict says no."""

from __future__ import annotations

import pytest
from azr_trainer import parsing
from azr_trainer.lenient import (
    parse_induction_proposal,
    parse_io_proposal,
    parse_solver_answer,
    reference_answer,
)
from azr_trainer.parsing import FormatError, InductionProposal, IOProposal
from trainer_fakes import make, responder, seeded


def test_the_answer_is_read_as_the_reference_reads_it():
    assert reference_answer("plan</think> <answer> 1 </answer> tail") == "1"
    # It stops at a second "Assistant:", and takes the last <answer> before it.
    text = (
        "a</think><answer>1</answer><answer>2</answer>\nUser: more\nAssistant: <answer>3</answer>"
    )
    assert reference_answer(text) == "2"
    assert isinstance(reference_answer("no tags at all"), FormatError)
    assert isinstance(reference_answer("plan </think> text <answer>1</answer>"), FormatError)


@pytest.mark.parametrize(
    ("answer", "task_type", "expected"),
    [
        ("```output\n3\n```", "deduction", "3"),
        ("# Output: 3", "deduction", "3"),
        ("The output is 'abc'.", "deduction", "'abc'"),
        ("<input>[1, 2]</input>", "abduction", "[1, 2]"),
        ("f(input(7))", "abduction", "7"),
        ("42", "deduction", "42"),  # the whole answer
        ("```\ndef f(x):\n    return x\n```", "induction", "def f(x):\n    return x"),
    ],
)
def test_solver_fallbacks(answer, task_type, expected):
    completion = f"think</think>\n<answer>{answer}</answer>"
    assert parse_solver_answer(completion, task_type) == expected
    if "```" not in answer:  # strict reads fenced blocks only
        assert isinstance(parsing.parse_solver_answer(completion, task_type), FormatError)


def test_io_proposal_first_block_input_fallback_and_one_function_renamed_f():
    completion = (
        "t</think><answer>```\ndef fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n```\n"
        "# Input: 5</answer>"
    )
    assert parse_io_proposal(completion) == IOProposal(
        "def f(n):\n    return 1 if n < 2 else n * f(n - 1)", "5"
    )
    helper = "t</think><answer>```python\ndef g(x):\n    return x\ndef f(x):\n    return g(x)\n```\n```input\n1\n```</answer>"
    assert isinstance(parse_io_proposal(helper), FormatError)  # the reference's single-def rule
    assert not isinstance(parsing.parse_io_proposal(helper), FormatError)  # strict allows helpers


def test_induction_takes_the_last_n_inputs_and_message_tags():
    blocks = "".join(f"```input\n{i}\n```\n" for i in range(5))
    completion = f"t</think><answer>{blocks}<message>add one</message></answer>"
    assert parse_induction_proposal(completion, 4) == InductionProposal(
        ("1", "2", "3", "4"), "add one"
    )
    assert isinstance(parse_induction_proposal(completion, 6), FormatError)


def test_the_step_uses_the_configured_parser():
    def respond(prompt, learnability):
        if "Predict the output" in prompt and not learnability:
            return "ok </think> <answer>The output is o(1).</answer>"
        return responder()(prompt, learnability)

    for mode, reward in (("lenient", 1.0), ("strict", -1.0)):
        sp, _, _, _ = make(respond, parsing=mode)
        seeded(sp)
        ded = sp.step(6, step=1)[3]
        assert ded.group == ("deduction", "solve") and ded.reward == reward, mode


def test_the_reference_preset_switches_on_every_released_behaviour():
    from azr_trainer.config import load_config

    cfg = load_config(preset="reference")
    assert (cfg.extreme_reward, cfg.one_step_lag, cfg.token_weighted_advantages) == (
        "reference",
        True,
        True,
    )
    assert (cfg.prompt_template, cfg.answer_parsing) == ("reference", "lenient")
    paper = load_config(preset="paper")
    assert (paper.prompt_template, paper.answer_parsing) == ("default", "strict")
