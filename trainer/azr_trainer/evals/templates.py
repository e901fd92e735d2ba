"""Prompt templates for evaluation: `azr` (the paper's R1 template), `azr_boxed`, `plain`.

- `azr`: the R1 conversation, `User: <task>` then `Assistant: <think>` (what AZR models are
  trained on); math answers are read from `<answer>` (then `\\boxed{}` inside it).
- `azr_boxed`: the same, and the user turn adds that the final math answer goes in `\\boxed{}`
  (the reference uses it for AZR-Coder-7B).
- `plain`: no conversation frame, for base models: the task, an instruction, and `Answer:`.

The CRUXEval tasks reuse the trainer's own solver prompts, so in-training validation and
`azr eval` pose them exactly as self-play does.
"""

from __future__ import annotations

from typing import Literal

from azr_trainer.evals.benchmarks import Problem
from azr_trainer.prompts import r1_wrap, solve_abduction_prompt, solve_deduction_prompt

__all__ = ["TEMPLATES", "Template", "render_prompt"]

Template = Literal["azr", "azr_boxed", "plain"]
TEMPLATES: tuple[Template, ...] = ("azr", "azr_boxed", "plain")

_BOXED = "Please reason step by step, and put your final answer within \\boxed{}."


def _code_task(problem: Problem, template: Template) -> str:
    where = (
        "in a ```python block inside <answer>" if template != "plain" else "in a ```python block"
    )
    if problem.meta.get("io") == "stdin":
        return (
            f"{problem.question}\n\nWrite a complete Python program that reads the input from "
            f"standard input and writes the answer to standard output. Put it {where}."
        )
    return (
        "Complete the following Python function so that it passes its tests.\n\n"
        f"```python\n{problem.question}\n```\n\n"
        f"Write the complete, self-contained function `{problem.entry_point}` (with any imports "
        f"it needs) {where}."
    )


def _task(problem: Problem, template: Template) -> str:
    if problem.kind == "cruxeval_o":
        return solve_deduction_prompt(problem.meta["code"], problem.meta["input"])
    if problem.kind == "cruxeval_i":
        return solve_abduction_prompt(problem.meta["code"], problem.meta["output"])
    if problem.kind == "code":
        return _code_task(problem, template)
    if template == "azr":
        return problem.question
    return f"{problem.question}\n{_BOXED}"


def render_prompt(problem: Problem, template: Template) -> str:
    """The full text given to the model for `problem` under `template`.

    >>> from azr_trainer.evals.benchmarks import Problem
    >>> render_prompt(Problem("aime24", "1", "math", "1+1?", ("2",)), "plain")
    '1+1?\\nPlease reason step by step, and put your final answer within \\\\boxed{}.\\nAnswer:'
    """
    if template not in TEMPLATES:
        raise ValueError(f"unknown template {template!r}; choose from {', '.join(TEMPLATES)}")
    task = _task(problem, template)
    if template == "plain":
        return f"{task}\nAnswer:"
    return r1_wrap(task)
