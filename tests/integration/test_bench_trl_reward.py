"""`bench/trl_reward.py` keeps working (small sizes): it starts an executor, scores completions
through the TRL reward and SandboxFusion's /run_code, checks every reward and prints a figure per
path. No timing is asserted."""

from __future__ import annotations

import subprocess
import sys

import pytest
from azr_executor_fixtures import REPO


@pytest.mark.slow
def test_trl_reward_bench_prints_its_figures() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "trl_reward.py"), "--completions", "4", "--reps", "1"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [line.split()[:2] for line in proc.stdout.splitlines() if "completions/s" in line]
    assert rows == [["stdio", "reward-sync"], ["stdio", "reward-async"],
                    ["stdio", "run_code-per-case"], ["call", "reward-sync"],
                    ["call", "reward-async"]]  # fmt: skip
