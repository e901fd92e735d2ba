"""End to end against the real executor and buffer services, started by the test.

Two AZR steps with a tiny random Qwen2 and a locally trained tokenizer, then a crash-and-resume:
the newest checkpoint is removed, a task is planted in the buffer at a step after the surviving
checkpoint, and the resumed run must truncate the buffer to that checkpoint and go on from there.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest
from azr_proto.buffer import SampleRequest, TaskIn
from azr_proto.buffer_client import BufferClient
from azr_proto.tasks import TaskType
from azr_trainer.config import load_config
from azr_trainer.metrics import read_metrics
from azr_trainer.services import local_services
from azr_trainer.train import main
from trainer_support import tiny_model_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning"),
]


def _plant(url: str, run: str, step: int) -> None:
    async def go():
        async with BufferClient(url) as client:
            task = TaskIn(
                type=TaskType.DEDUCTION,
                program="def f(a):\n    return a * 2",
                inputs=["21"],
                outputs=["42"],
                step=step,
            )
            await client.insert_tasks(run, [task])

    asyncio.run(go())


def _programs(url: str, run: str) -> list[tuple[str, int]]:
    async def go():
        async with BufferClient(url) as client:
            tasks = await client.sample(run, SampleRequest(type=TaskType.DEDUCTION, k=100))
            return [(t.program, t.step) for t in tasks]

    return asyncio.run(go())


def test_two_steps_then_checkpoint_resume_against_real_services(
    tmp_path, tmp_path_factory, monkeypatch
):
    models = tmp_path_factory.mktemp("models")
    tiny_model_dir(models)
    monkeypatch.setenv("AZR_MODELS_DIR", str(models))
    out = tmp_path / "run"
    with local_services(tmp_path / "services") as svc:
        overrides = [
            f"output_dir={out}",
            f"executor_urls={svc.executor_url}",
            f"buffer_url={svc.buffer_url}",
            "run_name=e2e",
            "max_completion_tokens=8",
            "n_references=1",
            "save_steps=1",
            "live_console=false",
        ]
        first = main(load_config(preset="tiny-cpu", overrides=[*overrides, "max_steps=2"]))

        # Every slot got a sample; the random model fails the format, so all rewards are -1
        # and the executor validated and stored the zero triplet of each type.
        assert len(first.last_rows) == 12
        assert {r["reward"] for r in first.last_rows} == {-1.0}
        assert first.buffer_sizes == {"abduction": 1, "deduction": 1, "induction": 1}
        rows = read_metrics(out / "metrics.jsonl")
        assert [r["step"] for r in rows] == [1, 2]
        assert rows[-1]["azr/deduction/propose/format_error_rate"] == 1.0
        assert rows[-1]["time/generate_s"] > 0 and rows[-1]["time/execute_s"] > 0
        # TensorBoard is on by default, next to metrics.jsonl.
        assert list((out / "tensorboard").glob("events.out.tfevents.*"))
        # TRL's own diagnostics of each step's update are in the file, next to ours.
        for row in rows:
            assert row["train/learning_rate"] == pytest.approx(1e-4)
            assert row["train/grad_norm"] >= 0 and row["train/entropy"] > 0
            assert "train/loss" in row and 0 <= row["train/clip_ratio"] <= 1
        assert (out / "checkpoint-1" / "optimizer.pt").exists()
        assert (out / "final" / "config.json").exists()

        # Crash after step 1's checkpoint: step 2's checkpoint is lost, its task is not.
        shutil.rmtree(out / "checkpoint-2")
        _plant(svc.buffer_url, "e2e", step=2)
        assert ("def f(a):\n    return a * 2", 2) in _programs(svc.buffer_url, "e2e")

        second = main(load_config(preset="tiny-cpu", overrides=[*overrides, "max_steps=2"]))
        assert second.resumed_from_step == 1
        assert ("def f(a):\n    return a * 2", 2) not in _programs(svc.buffer_url, "e2e")
        assert [r["step"] for r in read_metrics(out / "metrics.jsonl")] == [1, 2]
        assert (out / "checkpoint-2" / "optimizer.pt").exists()
