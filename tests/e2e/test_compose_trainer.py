"""`azr run` against the compose services, from the host (as `make run` starts it) and from the
trainer container (profile `trainer`): one AZR step completes, judged by the executor in gVisor,
with the tasks stored in the buffer container."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from azr_proto.buffer_client import BufferClient
from tests_e2e_support import BUFFER_TOKEN, ROOT, TRAINER_IMAGE

pytestmark = [pytest.mark.compose, pytest.mark.slow]


async def test_one_trainer_step_against_the_compose_services(stack, tmp_path):
    out = tmp_path / "run"
    azr = Path(sys.executable).with_name("azr")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    # The tiny model and tokenizer are built locally, cached where `make run` caches them.
    env["AZR_MODELS_DIR"] = str(ROOT / "runs" / "models")
    cmd = [
        str(azr), "run", "--preset", "tiny-cpu",  # `make run` defaults to toy (a warm start)
        "--steps", "1", "--no-live", "--output-dir", str(out),
        "--set", f"executor_urls={stack.executor_url}",
        "--set", f"buffer_url={stack.buffer_url}",
        "--set", f"api_token={BUFFER_TOKEN}",
        "--set", "run_name=e2e-trainer",
        "--set", "max_completion_tokens=8",
        "--set", "n_references=1",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-4000:]

    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1]
    assert rows[0]["azr/judge_errors"] == 0
    async with BufferClient(stack.buffer_url, token=BUFFER_TOKEN) as buffer:
        stats = await buffer.stats("e2e-trainer")
    # The executor validated the seed triplets and the buffer container stored them.
    assert stats.total >= 3
    assert set(stats.by_type) == {"abduction", "deduction", "induction"}


async def test_one_trainer_step_inside_the_trainer_container(stack):
    """The compose `trainer` profile: `azr run` in its own hardened gVisor container, on the
    internal network, reaches the executor and the buffer by service name and completes a step."""
    if not stack.client.images.list(name=TRAINER_IMAGE):
        pytest.fail(f"image {TRAINER_IMAGE} not built: run `make images-trainer`", pytrace=False)
    out = "/work/runs/e2e"
    azr_run = [
        "azr", "run", "--preset", "tiny-cpu", "--steps", "1", "--no-live", "--output-dir", out,
        "--set", "executor_urls=http://executor:8010",
        "--set", "buffer_url=http://buffer:8020",
        "--set", f"api_token={BUFFER_TOKEN}",
        "--set", "run_name=e2e-trainer-container",
        "--set", "max_completion_tokens=8",
        "--set", "n_references=1",
    ]  # fmt: skip
    script = (
        f"{shlex.join(azr_run)} >/tmp/azr.log 2>&1 || {{ tail -n 60 /tmp/azr.log; exit 1; }}; "
        f"echo KERNEL $(uname -r) UID $(id -u); echo METRICS; cat {out}/metrics.jsonl"
    )
    proc = stack.compose(
        "--profile", "trainer", "run", "--rm", "--no-deps", "-T",
        "-e", "HF_HUB_OFFLINE=1", "-e", "TOKENIZERS_PARALLELISM=false",
        "--entrypoint", "sh", "trainer", "-c", script,
    )  # fmt: skip
    head, _, metrics = proc.stdout.partition("METRICS\n")
    # gVisor's kernel, the image's unprivileged user.
    assert "KERNEL 4.4.0 UID 10003" in head, proc.stdout[-3000:]
    rows = [json.loads(line) for line in metrics.splitlines() if line.strip()]
    assert [r["step"] for r in rows] == [1]
    assert rows[0]["azr/judge_errors"] == 0
    async with BufferClient(stack.buffer_url, token=BUFFER_TOKEN) as buffer:
        stats = await buffer.stats("e2e-trainer-container")
    # The executor validated the seed triplets; the buffer container stored them for this run.
    assert stats.total >= 3
