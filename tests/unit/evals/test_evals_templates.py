"""Prompt templates: the R1 frame for azr/azr_boxed, none for plain; CRUXEval as in training."""

from __future__ import annotations

import pytest
from azr_trainer.evals.benchmarks import load_benchmark
from azr_trainer.evals.templates import render_prompt
from azr_trainer.prompts import R1_TEMPLATE


def test_azr_template_is_the_r1_frame_ending_in_think():
    p = load_benchmark("aime24", limit=1)[0]
    prompt = render_prompt(p, "azr")
    assert prompt.startswith(R1_TEMPLATE.split("{prompt}")[0])
    assert prompt.endswith("Assistant: <think>")
    assert p.question in prompt and "\\boxed" not in prompt


def test_boxed_and_plain_ask_for_a_boxed_answer():
    p = load_benchmark("math500", limit=1)[0]
    assert "\\boxed{}" in render_prompt(p, "azr_boxed")
    plain = render_prompt(p, "plain")
    assert "\\boxed{}" in plain and "<think>" not in plain and plain.endswith("Answer:")


def test_cruxeval_prompts_show_program_and_the_other_side():
    o = load_benchmark("cruxeval_o", limit=1)[0]
    i = load_benchmark("cruxeval_i", limit=1)[0]
    po, pi = render_prompt(o, "azr"), render_prompt(i, "azr")
    assert o.meta["code"].strip() in po and o.meta["input"] in po and "```output" in po
    assert i.meta["output"] in pi and "```input" in pi


def test_code_prompt_names_the_entry_point():
    p = load_benchmark("humanevalplus", limit=1)[0]
    assert f"`{p.entry_point}`" in render_prompt(p, "azr")


def test_unknown_template_is_rejected():
    with pytest.raises(ValueError, match="unknown template"):
        render_prompt(load_benchmark("aime24", limit=1)[0], "chatml")  # type: ignore[arg-type]
