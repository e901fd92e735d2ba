"""In-memory stand-ins for the executor, the buffer and the model, for step-logic tests.

The fake judge never runs code: it judges by string rules, so every verdict is predictable.
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence

import anyio
from azr_trainer.seeding import seed_buffer
from azr_trainer.selfplay import Generated, SelfPlay, StepSettings
from azr_trainer.tasks import Check, Task, Verdict


class FakeStore:
    def __init__(self) -> None:
        self.tasks: list[Task] = []
        self.inserts: list[list[Task]] = []

    async def insert(self, tasks: Sequence[Task]) -> None:
        self.inserts.append(list(tasks))
        self.tasks.extend(tasks)

    async def sample(self, task_type, n, *, strategy, step, seed):
        pool = [t for t in self.tasks if t.task_type == task_type]
        if not pool:
            return []
        rng = random.Random(seed)
        if strategy == "new_first":
            new = [t for t in pool if t.step == step]
            rng.shuffle(new)
            picked = new[:n]
            rest = [t for t in pool if t not in picked]
            return picked + rng.sample(rest, min(len(rest), n - len(picked)))
        return rng.sample(pool, min(n, len(pool)))

    async def sizes(self):
        out = {"abduction": 0, "deduction": 0, "induction": 0}
        for t in self.tasks:
            out[t.task_type] += 1
        return out

    async def truncate(self, step):
        self.tasks = [t for t in self.tasks if t.step <= step]


class FakeJudge:
    """Valid iff the program has no 'bad'; output of input X is 'o(X)'. Sandbox errors: answers
    with 'flaky', programs with 'crash'."""

    def __init__(self) -> None:
        self.verified: list[tuple[str, str]] = []
        self.calls = 0

    async def check(self, proposals):
        out = []
        for p in proposals:
            if "crash" in p.program:
                out.append(Check(valid=False, reason="sandbox_error", judge_error=True))
            elif "bad" in p.program:
                out.append(Check(valid=False, reason="runtime_error"))
            else:
                out.append(Check(valid=True, outputs=tuple(f"o({i})" for i in p.inputs)))
        return out

    async def verify(self, items):
        self.calls += 1
        return [[self._one(task, a) for a in answers] for task, answers in items]

    def _one(self, task, answer):
        self.verified.append((task.task_type, answer))
        if "flaky" in answer:
            return Verdict.JUDGE_ERROR
        if task.task_type == "deduction":
            ok = answer == task.outputs[0]
        elif task.task_type == "abduction":
            ok = f"o({answer})" == task.outputs[0]
        else:
            ok = "return 0" not in answer  # the solver never sees the program
        return Verdict.CORRECT if ok else Verdict.WRONG


def ans(*blocks: tuple[str, str]) -> str:
    body = "\n".join(f"```{label}\n{text}\n```" for label, text in blocks)
    return f"ok </think>\n<answer>\n{body}\n</answer>"


class ScriptedGenerator:
    """Completions come from `respond(prompt, learnability)`; token ids are one per word."""

    def __init__(self, respond: Callable[[str, bool], str], budget_chars: int | None = None):
        self.respond = respond
        self.calls: list[tuple[int, bool]] = []
        self.prompts: list[str] = []
        self.budget_chars = budget_chars

    def generate(self, prompts, *, learnability=False):
        self.calls.append((len(prompts), learnability))
        self.prompts.extend(prompts)
        out = []
        for p in prompts:
            text = self.respond(p, learnability)
            out.append(
                Generated(list(range(len(p.split()))), list(range(1, len(text.split()) + 2)), text)
            )
        return out

    def count_tokens(self, text):
        return len(text) if self.budget_chars is not None else 0

    def filler(self):
        return Generated([0], [2], "")


def run_sync(fn, *args):
    return anyio.run(fn, *args) if args else anyio.run(fn)


def program_in(prompt: str) -> str:
    m = re.search(r"```python\n(.*?)\n```", prompt, re.S)
    return m.group(1) if m else ""


GOOD = "def f(x):\n    return x"


def responder(n_inputs: int = 4, learn_pattern=(True, False)):
    """Valid proposals; learnability answers alternate right/wrong; trained answers are right."""
    flip = itertools.cycle(learn_pattern)

    def respond(prompt: str, learnability: bool) -> str:
        if "Propose a new" in prompt:
            return ans(("python", GOOD), ("input", "1"))
        if "Write " in prompt and "inputs for the program" in prompt:
            return ans(*[("input", str(i)) for i in range(n_inputs)], ("message", "echo"))
        right = next(flip) if learnability else True
        if "Predict the output" in prompt:
            inp = re.search(r"```input\n(.*?)\n```", prompt, re.S).group(1)
            return ans(("output", f"o({inp})" if right else "nope"))
        if "Find an input" in prompt:
            out = re.search(r"```output\n(.*?)\n```", prompt, re.S).group(1)
            return ans(("input", out[2:-1] if right else "nope"))
        if "maps the inputs" in prompt:
            return ans(("python", GOOD if right else "def f(x):\n    return 0"))
        return "garbage"

    return respond


def make(respond, store=None, judge=None, **settings):
    store = store or FakeStore()
    judge = judge or FakeJudge()
    gen = ScriptedGenerator(respond)
    defaults = dict(n_references=2, n_induction_inputs=4, n_learnability=2)
    sp = SelfPlay(
        judge=judge,
        store=store,
        generator=gen,
        call=run_sync,
        settings=StepSettings(**{**defaults, **settings}),
    )
    return sp, store, judge, gen


def seeded(sp):
    seed_buffer(sp, 1, batch=1, max_rounds=0)
    return sp
