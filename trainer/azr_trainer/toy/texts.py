"""Writes toy tasks as prompt/completion texts in exactly the trainer's format.

Prompts come from `azr_trainer.prompts` (wrapped in the R1 template) and every completion is
one `azr_trainer.parsing` reads back: `<reasoning> </think>\\n<answer>\\n<blocks>\\n</answer>`.

Solver completions come in two styles, and the warm start mixes them on purpose:

- *careful*: the reasoning writes the value after each step of the program (deduction), works
  back from the output (abduction) or restates the rule (induction), then answers correctly;
- *guess*: the reasoning is one short line and the answer is a plausible wrong one (in the tiny
  world: the given value copied unchanged).

A tiny model trained on both styles solves some tasks and misses others, and the first tokens
of its reasoning decide the style: self-play can then learn that careful reasoning pays.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from azr_trainer import prompts
from azr_trainer.toy.grammar import Kind, ToyProgram, World, random_input, sample_program
from azr_trainer.toy.tasks import InductionTask, Triplet

__all__ = [
    "GUESS_THINK",
    "Example",
    "induction_proposer_example",
    "induction_solver_prompt",
    "io_proposer_example",
    "io_solver_prompt",
    "snippet",
    "solver_example",
]

GUESS_THINK = "A quick guess."
_VARS = ("x", "y", "z", "w", "v")


@dataclass(frozen=True)
class Example:
    """One supervised example: the wrapped prompt and the completion the model should write."""

    prompt: str
    completion: str
    role: str  # "propose" or "solve"
    task_type: str
    correct: bool  # solver: the answer is right; proposer: the proposal is meant to be valid


def _fence(label: str, body: str) -> str:
    return f"```{label}\n{body.strip()}\n```"


def _completion(think: str, *blocks: str) -> str:
    return f"{think} </think>\n<answer>\n" + "\n".join(blocks) + "\n</answer>"


def snippet(t: Triplet) -> prompts.Snippet:
    """A triplet as a reference snippet for a proposer prompt."""
    return prompts.Snippet(program=t.source, input=t.input, output=t.output)


def io_solver_prompt(task_type: str, t: Triplet) -> str:
    """The wrapped deduction or abduction solver prompt for a triplet."""
    if task_type == "deduction":
        return prompts.r1_wrap(prompts.solve_deduction_prompt(t.source, t.input))
    if task_type == "abduction":
        return prompts.r1_wrap(prompts.solve_abduction_prompt(t.source, t.output))
    raise ValueError(f"not an io task type: {task_type!r}")


def induction_solver_prompt(t: InductionTask) -> str:
    """The wrapped induction solver prompt: the shown pairs and the message."""
    pairs = list(zip(t.inputs[: t.n_shown], t.outputs[: t.n_shown], strict=True))
    return prompts.r1_wrap(prompts.solve_induction_prompt(pairs, t.message))


def _careful_think(task_type: str, t: Triplet) -> str:
    if len(t.program.steps) == 1 and t.program.steps[0].inverse is not None:
        # The tiny world's worked answers: the step's expression on the value, then the value.
        (step,) = t.program.steps
        if task_type == "deduction":
            return f"Step by step: x = {t.input}, y = {step.worked(t.input)} = {t.output}."
        return f"Work back: y = {t.output}, so x = {step.worked_inverse(t.output)} = {t.input}."
    names = _VARS[1 : len(t.trace) + 1]
    if task_type == "deduction":
        steps = ", ".join(f"{n} = {v}" for n, v in zip(names, t.trace, strict=True))
        return f"Step by step: x = {t.input}, {steps}."
    # Abduction: from the output back to the argument.
    back = [f"{n} = {v}" for n, v in zip(names, t.trace, strict=True)][::-1]
    return "Work back: " + ", ".join(back) + f", so x = {t.input}."


def solver_example(
    rng: random.Random,
    task_type: str,
    task: Triplet | InductionTask,
    *,
    careful: bool,
    wrong: Triplet | InductionTask | None = None,
    world: World = "default",
) -> Example:
    """A solver example; `careful=False` gives the guess style with the answer of `wrong`.

    `wrong` is another task of the same argument kind whose answer serves as the guess; the
    caller makes sure it differs from the right answer (the executor is the only judge).
    """
    if task_type == "induction":
        if not isinstance(task, InductionTask):
            raise TypeError("induction examples need an InductionTask")
        prompt = induction_solver_prompt(task)
        if careful:
            think = "The rule: " + task.message
            program = task.source
        else:
            if wrong is None:
                raise ValueError("a guess needs a wrong task to borrow an answer from")
            think, program = GUESS_THINK, wrong.source
        return Example(
            prompt, _completion(think, _fence("python", program)), "solve", task_type, careful
        )
    if not isinstance(task, Triplet):
        raise TypeError("deduction and abduction examples need a Triplet")
    prompt = io_solver_prompt(task_type, task)
    label = "output" if task_type == "deduction" else "input"
    if careful:
        think, answer = (
            _careful_think(task_type, task),
            (task.output if task_type == "deduction" else task.input),
        )
    else:
        if not isinstance(wrong, Triplet):
            raise ValueError("a guess needs a wrong triplet to borrow an answer from")
        if world == "tiny" and task.input != task.output:
            # The lazy guess: the value given, copied unchanged (every tiny-world program changes
            # its input, so it is wrong). It trains the same copying as the careful style, so
            # the warm start learns to copy from every solver example.
            answer = task.input if task_type == "deduction" else task.output
        elif task_type == "deduction":
            answer = wrong.output
        else:
            answer = random_input(rng, task.program.kind, world)
        think = GUESS_THINK
    return Example(prompt, _completion(think, _fence(label, answer)), "solve", task_type, careful)


def _plan(program: ToyProgram) -> str:
    return f"A program on a {program.kind} with {len(program.steps)} steps: {program.message}"


def io_proposer_example(
    rng: random.Random,
    task_type: str,
    new: Triplet,
    references: Sequence[Triplet],
    *,
    valid: bool,
    world: World = "default",
) -> Example:
    """A deduction/abduction proposer example writing `new`; `valid=False` breaks its input.

    A broken proposal passes an argument of the wrong kind, which mostly fails at run time:
    the warm-started proposer then writes invalid tasks at a modest rate.
    """
    prompt = prompts.r1_wrap(prompts.propose_io_prompt(task_type, [snippet(r) for r in references]))
    arg = new.input
    if not valid:
        arg = random_input(rng, _other_kind(rng, new.program.kind, world), world)
    completion = _completion(_plan(new.program), _fence("python", new.source), _fence("input", arg))
    return Example(prompt, completion, "propose", task_type, valid)


def _other_kind(rng: random.Random, kind: Kind, world: World) -> Kind:
    kinds: tuple[Kind, ...] = ("int", "list") if world == "tiny" else ("int", "str", "list", "dict")
    return rng.choice([k for k in kinds if k != kind])


def induction_proposer_example(
    rng: random.Random, task: InductionTask, *, valid: bool, world: World = "default"
) -> Example:
    """An induction proposer example: the program's inputs and its message as the hint.

    `valid=False` swaps one input for an argument of another kind, so the proposal fails.
    """
    n = len(task.inputs)
    prompt = prompts.r1_wrap(prompts.propose_induction_prompt(task.source, n))
    inputs = list(task.inputs)
    if not valid:
        inputs[rng.randrange(n)] = random_input(
            rng, _other_kind(rng, task.program.kind, world), world
        )
    blocks = [_fence("input", i) for i in inputs] + [_fence("message", task.message)]
    think = f"{n} different {task.program.kind} inputs and a hint."
    return Example(prompt, _completion(think, *blocks), "propose", "induction", valid)


def sample_guess_program(
    rng: random.Random, program: ToyProgram, world: World = "default"
) -> ToyProgram:
    """Another program on the same argument kind (the guess style's wrong induction answer)."""
    while True:
        other = sample_program(rng, max_steps=2 if world == "default" else 1, world=world)
        if other.kind == program.kind and other.source() != program.source():
            return other
