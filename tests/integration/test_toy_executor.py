"""The toy world against the real executor: outputs and held-out verdicts come from the service."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
from azr_trainer.toy import heldout as heldout_mod
from azr_trainer.toy.heldout import make_heldout
from azr_trainer.toy.oracle import SubprocessOracle
from azr_trainer.toy.session import JudgeSession, judge_session
from azr_trainer.toy.tasks import make_induction_tasks, make_triplets
from azr_trainer.toy.texts import solver_example

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JudgeSession]:
    with judge_session(tmp_path_factory.mktemp("toy-services")) as s:
        yield s


def test_executor_outputs_match_the_grammar(session: JudgeSession) -> None:
    via_executor = make_triplets(random.Random(7), 24, session.oracle())
    via_subprocess = make_triplets(random.Random(7), 24, SubprocessOracle(trusted=True))
    assert via_executor == via_subprocess
    ind = make_induction_tasks(random.Random(8), 4, session.oracle(), n_inputs=6)
    assert all(len(t.outputs) == 6 for t in ind)


def test_executor_judges_careful_answers_right_and_guesses_wrong(session: JudgeSession) -> None:
    h = make_heldout(session.oracle(), n_per_type=4)
    rng = random.Random(0)
    for task_type in ("deduction", "abduction", "induction"):
        tasks = getattr(h, task_type)
        right = [solver_example(rng, task_type, t, careful=True).completion for t in tasks]
        verdicts = heldout_mod._check_solutions(
            task_type, tasks, right, session.judge, session.call
        )
        assert all(verdicts), task_type
        block = {
            "deduction": "```output\n'zzz'\n```",
            "abduction": "```input\nNone\n```",
            "induction": "```python\ndef f(x):\n    return 'zzz'\n```",
        }[task_type]
        garbage = [f"no idea </think>\n<answer>\n{block}\n</answer>"] * len(tasks)
        verdicts = heldout_mod._check_solutions(
            task_type, tasks, garbage, session.judge, session.call
        )
        assert not any(verdicts), task_type
