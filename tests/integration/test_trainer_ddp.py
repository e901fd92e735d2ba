"""Two training processes (torchrun, gloo, CPU) against one executor and one buffer.

Checks that both ranks computed the same TRR++ advantages over the global batch (both ranks'
rows, in rank order), that each rank trained on its own slice of them, and that the shared buffer
stayed consistent (the zero triplet stored once, both ranks see the same sizes), and that the
in-training evaluation involves both ranks (under ZeRO-3 a rank-0-only evaluation hangs). The script
scripts the rewards so that they differ between the ranks: normalizing per rank instead of
globally then gives different advantages, which the test checks it can tell apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from azr_trainer.advantages import group_index, trr_advantages
from azr_trainer.services import local_services
from ports import free_port
from trainer_support import tiny_model_dir

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).with_name("trainer_ddp_script.py")


def test_two_ranks_share_buffer_and_global_advantages(tmp_path, tmp_path_factory):
    models = tmp_path_factory.mktemp("models")
    tiny_model_dir(models)
    out = tmp_path / "run"
    out.mkdir()
    with local_services(tmp_path / "services") as svc:
        env = {
            **os.environ,
            "AZR_MODELS_DIR": str(models),
            "AZR_TEST_EXECUTOR_URL": svc.executor_url,
            "AZR_TEST_BUFFER_URL": svc.buffer_url,
            "PYTHONWARNINGS": "ignore",
            "OMP_NUM_THREADS": "1",
        }
        torchrun = Path(sys.executable).with_name("torchrun")
        port = str(free_port())
        proc = subprocess.run(
            [str(torchrun), "--nproc_per_node", "2", "--master_port", port, str(SCRIPT), str(out)],
            env=env,
            capture_output=True,
            text=True,
            timeout=540,
        )
        assert proc.returncode == 0, proc.stderr[-4000:]

    r0 = json.loads((out / "rank0.json").read_text())
    r1 = json.loads((out / "rank1.json").read_text())
    # The global batch: 6 groups x batch_per_group 2 = 12 rows, gathered from both ranks.
    assert len(r0["rows"]) == 12 and r0["rows"] == r1["rows"]
    assert r0["advantages"] == r1["advantages"]
    rewards = torch.tensor(
        [float("nan") if r["reward"] is None else r["reward"] for r in r0["rows"]]
    )
    groups, _ = group_index([(r["task_type"], r["role"]) for r in r0["rows"]])
    expected = trr_advantages(
        rewards, groups, torch.tensor([float(r["length"]) for r in r0["rows"]])
    )
    assert r0["advantages"] == pytest.approx(expected.tolist(), abs=1e-6)
    # The scripted rewards differ between ranks, so the advantages are not trivial, and
    # normalizing each rank's rows on its own would have given something else.
    assert len(set(rewards[:6].tolist()) & set(rewards[6:].tolist())) == 0
    assert expected.abs().min() > 0.1
    per_rank = torch.cat(
        [trr_advantages(rewards[h], groups[h], torch.ones(6)) for h in (slice(0, 6), slice(6, 12))]
    )
    assert not torch.allclose(per_rank, expected, atol=1e-3)
    # Each rank's loss used its own rows' slice of the global advantages.
    assert r0["local_advantages"] == pytest.approx(expected[:6].tolist(), abs=1e-6)
    assert r1["local_advantages"] == pytest.approx(expected[6:].tolist(), abs=1e-6)
    # Each rank's half holds every group once: the groups span both ranks.
    first_half = {(r["task_type"], r["role"]) for r in r0["rows"][:6]}
    second_half = {(r["task_type"], r["role"]) for r in r0["rows"][6:]}
    assert first_half == second_half and len(first_half) == 6
    # One buffer for both ranks: the zero triplet was stored once, both see the same sizes.
    assert r0["buffer"] == r1["buffer"] == {"abduction": 1, "deduction": 1, "induction": 1}
    # The in-training evaluation ran on both ranks (its generation is a collective in the
    # script, as under ZeRO-3), and both logged rank 0's scores.
    assert r0["val"] == r1["val"] == ["val/test_score/cruxeval_i", "val/test_score/cruxeval_o"]
