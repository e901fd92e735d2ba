"""examples/trl_grpo_code_reward.py: TRL's GRPOTrainer runs two steps on a tiny local model with
the azr code reward, against a live executor with tokens (offline, on CPU)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from azr_executor_fixtures import REPO, TEAM_TOKENS
from trainer_support import tiny_model_dir

TOKEN, TENANT = list(TEAM_TOKENS.items())[2]


def tenant_runs(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith(f'azr_executor_tenant_runs_total{{tenant="{TENANT}"}} '):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.slow
@pytest.mark.parametrize("reward", ["sync", "async"])
def test_grpo_trains_two_steps_with_the_azr_code_reward(shared_executor, tmp_path_factory, reward):
    model = tiny_model_dir(tmp_path_factory.getbasetemp())
    before = tenant_runs(shared_executor.url)
    cmd = [sys.executable, str(REPO / "examples" / "trl_grpo_code_reward.py"),
           "--model", str(model), "--executor", shared_executor.url, "--token", TOKEN,
           "--max-steps", "2", "--output-dir", str(tmp_path_factory.mktemp("grpo"))]  # fmt: skip
    if reward == "async":
        cmd.append("--async-reward")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Two steps of four completions each, every one checked on the executor (a stdio case is
    # one run), under this token's tenant.
    assert tenant_runs(shared_executor.url) - before >= 8
