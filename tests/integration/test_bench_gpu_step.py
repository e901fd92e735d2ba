"""`bench/gpu_step.py` keeps working where CI runs it: on CPU, with the tiny shape.

On a GPU the same script measures full AZR steps of a Qwen2.5-1.5B-shaped model (BENCHMARKS.md);
here it runs one real step (local executor and buffer services, the trainer's own loop) and must
print the per-step phase times and the summary it is read for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_step_bench_runs_a_real_step_on_cpu(tmp_path: Path) -> None:
    env = {**os.environ, "AZR_MODELS_DIR": str(tmp_path / "models"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gpu_step.py"),
            "--shape",
            "tiny",
            "--batch-per-group",
            "1",
            "--completion-tokens",
            "8",
            "--steps",
            "1",
            "--out",
            str(tmp_path / "run"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{"')]
    environment, step, summary = lines[0]["environment"], lines[1], lines[-1]["summary"]
    assert environment["trl"] == "1.16.0"
    assert step["step"] == 1
    for phase in ("generate", "execute", "update", "step"):
        assert step[f"time/{phase}_s"] >= 0.0
    assert step["time/step_s"] >= step["time/generate_s"] > 0.0
    assert 0 < step["mean_response_length"] <= 8
    assert summary["sequences_per_step"] == 6
    assert summary["shape"] == "tiny"
    assert (tmp_path / "models" / "random-tiny" / "config.json").is_file()
    assert (tmp_path / "run" / "metrics.jsonl").is_file()
