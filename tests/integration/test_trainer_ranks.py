"""The self-play step on two ranks (torchrun, gloo, CPU; in-memory services, scripted model).

One torchrun run (trainer_ranks_script.py) covers three defects of the multi-GPU path:
learnability rollouts padded only where generation is a collective and only to the largest
valid count over the ranks; solver draws disjoint across the ranks; and no rank generating alone
when its draw fits the prompt budget and another's does not (a hang under ZeRO-3).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ports import free_port

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("trainer_ranks_script.py")


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("ranks")
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [str(torchrun), "--nproc_per_node", "2", "--master_port", str(free_port())]
    try:
        proc = subprocess.run(
            [*cmd, str(SCRIPT), str(out)], env=env, capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the two ranks hung (a rank skipped a collective the other was waiting in)")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_learnability_padding_only_for_collective_generation_and_only_to_the_max(ranks):
    # Valid proposals per type: rank 0 has 1, rank 1 has 2; 2 rollouts each.
    assert ranks[0]["padding"]["collective"] == [4, 4, 4]  # both ranks: the max, 2 x 2
    assert ranks[1]["padding"]["collective"] == [4, 4, 4]  # (not slots x 2 = 6)
    assert ranks[0]["padding"]["ddp"] == [2, 2, 2]  # DDP generates alone: no padding
    assert ranks[1]["padding"]["ddp"] == [4, 4, 4]


def test_solver_draws_are_disjoint_across_ranks(ranks):
    for task_type in ("abduction", "deduction", "induction"):
        mine, theirs = ranks[0]["draws"][task_type], ranks[1]["draws"][task_type]
        assert len(mine) == len(theirs) == 4
        assert not set(mine) & set(theirs), task_type


def test_no_rank_generates_alone_when_nothing_fits_on_another(ranks):
    # Rank 0's draw does not fit the budget: every rank's deduction solver slots are fillers,
    # and both ranks made exactly the same generate calls.
    assert ranks[0]["no_fit"]["fillers"] == ranks[1]["no_fit"]["fillers"] == [True]
    assert ranks[0]["no_fit"]["calls"] == ranks[1]["no_fit"]["calls"]
