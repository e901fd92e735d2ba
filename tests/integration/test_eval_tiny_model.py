"""`azr eval` end to end with the tiny random model on one item of every vendored benchmark."""

from __future__ import annotations

import json

import pytest
from azr_trainer.cli import main
from azr_trainer.evals.benchmarks import BENCHMARKS

pytestmark = pytest.mark.slow


def test_azr_eval_runs_every_benchmark_end_to_end(executor_server, tmp_path, tmp_path_factory):
    out = tmp_path / "results.json"
    models = tmp_path_factory.getbasetemp() / "eval-models"  # shared with test_eval_periodic.py
    code = main(
        [
            "eval",
            "--model",
            "tiny-random",
            "--models-dir",
            str(models),
            "--benchmarks",
            "all",
            "--limit",
            "1",
            "--max-new-tokens",
            "4",
            "--executor-url",
            executor_server.url,
            "--output",
            str(out),
        ]
    )
    assert code == 0
    doc = json.loads(out.read_text())
    vendored = [b for b in BENCHMARKS if b != "livecodebench"]
    assert [s["benchmark"] for s in doc["scores"]] == vendored
    assert len(doc["samples"]) == len(vendored)
    for sample in doc["samples"]:
        assert sample["prompt"].endswith("Assistant: <think>")
        assert isinstance(sample["completion"], str)
        assert sample["correct"] is False  # four random tokens answer nothing
        assert sample["detail"]
    assert set(doc["averages"]["pass@1"]) == {"code_avg", "math_avg", "total_avg"}


def test_pass_at_k_needs_enough_samples(tmp_path):
    assert (
        main(["eval", "--model", "tiny-random", "--k", "4", "--output", str(tmp_path / "x")]) == 2
    )
