"""A `TaskJudge` for unit tests that runs calls in a plain subprocess (`SubprocessOracle`).

Not a sandbox: only for the tiny models and grammar programs of the unit tests. Integration
tests judge through the real executor service.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence

from azr_trainer.tasks import Check, Proposal, Task, Verdict
from azr_trainer.toy.oracle import Job, SubprocessOracle


def same_value(a: str, b: str) -> bool:
    try:
        return bool(ast.literal_eval(a) == ast.literal_eval(b))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


class SubprocessJudge:
    """Validity: every call returns, with the same repr in two separate processes."""

    def __init__(self) -> None:
        self.oracle = SubprocessOracle(trusted=True)

    async def check(self, proposals: Sequence[Proposal]) -> list[Check]:
        jobs = [Job(p.program, p.inputs) for p in proposals]
        first, second = self.oracle.run(jobs), self.oracle.run(jobs)
        out = []
        for r1, r2 in zip(first, second, strict=True):
            ok = all(a.ok and b.ok and a.output == b.output for a, b in zip(r1, r2, strict=True))
            out.append(Check(valid=ok, outputs=tuple(a.output for a in r1) if ok else ()))
        return out

    async def verify(self, items: Sequence[tuple[Task, Sequence[str]]]) -> list[list[Verdict]]:
        jobs: list[Job] = []
        for task, answers in items:
            for a in answers:
                if task.task_type == "abduction":
                    jobs.append(Job(task.program, (a,)))
                elif task.task_type == "induction":
                    jobs.append(Job(a, tuple(i for i, _ in task.hidden_pairs())))
        results = iter(self.oracle.run(jobs)) if jobs else iter(())
        out = []
        for task, answers in items:
            row = []
            for a in answers:
                if task.task_type == "deduction":
                    ok = same_value(a, task.outputs[0])
                else:
                    res = next(results)
                    gold = (
                        [task.outputs[0]]
                        if task.task_type == "abduction"
                        else [o for _, o in task.hidden_pairs()]
                    )
                    ok = all(
                        r.ok and same_value(r.output, g) for r, g in zip(res, gold, strict=True)
                    )
                row.append(Verdict.CORRECT if ok else Verdict.WRONG)
            out.append(row)
        return out
