"""Full AZR steps of a realistic-size model on one GPU: time per phase and peak GPU memory.

    .venv/bin/python bench/gpu_step.py --shape qwen2.5-1.5b --batch-per-group 16 \
        --completion-tokens 1024 --steps 2

No weights can be downloaded here, so the model is Qwen2.5-1.5B's shape with random weights
(built once on the GPU in bf16, under runs/models/random-<shape>/) and a tokenizer trained
locally. A random model never writes `</answer>` or EOS, so every completion runs to
`--completion-tokens`: generation is timed at its worst case, and no proposal is valid, so no
learnability rollouts run. The executor and the buffer are started locally, as `azr train` does.
The run is the trainer's own (`azr_trainer.train.main`): seeding from the zero triplet, the six
(task type x role) groups, TRR++ and one optimizer step per AZR step, with fp32 master weights
and AdamW state and bf16 compute (the trainer loads the saved bf16 weights as fp32; figures
recorded before 2026-12-07 kept weights and AdamW state in bf16: 8 bytes per parameter, not
18). The trainer's start-up memory estimate is logged next to the measured peak.

Prints one JSON object per step (time/*, memory/*, response lengths) and a summary line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch
from azr_trainer.config import load_config
from azr_trainer.metrics import read_metrics
from azr_trainer.models import RANDOM_SHAPES, build_random_model
from azr_trainer.train import main as train


def _environment() -> dict[str, object]:
    import transformers
    import trl

    env: dict[str, object] = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "cuda": torch.cuda.is_available(),
    }
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        env["gpu"] = props.name
        env["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
    return env


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shape", default="qwen2.5-1.5b", choices=sorted(RANDOM_SHAPES))
    p.add_argument("--batch-per-group", type=int, default=16)
    p.add_argument("--completion-tokens", type=int, default=1024)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (peft) instead")
    p.add_argument("--out", default="runs/gpu-step")
    p.add_argument("--models-dir", default=os.environ.get("AZR_MODELS_DIR", "runs/models"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    print(json.dumps({"environment": _environment()}), flush=True)

    cuda = torch.cuda.is_available()
    start = time.perf_counter()
    model_dir = build_random_model(
        Path(args.models_dir) / f"random-{args.shape}",
        shape=args.shape,
        dtype=torch.bfloat16 if cuda else None,
        device="cuda" if cuda else "cpu",
    )
    build_s = time.perf_counter() - start
    overrides = [
        f"model={model_dir}",
        f"output_dir={args.out}",
        f"max_steps={args.steps}",
        f"batch_per_group={args.batch_per_group}",
        f"max_completion_tokens={args.completion_tokens}",
        f"micro_batch_size={args.micro_batch}",
        "seed_tasks=1",  # the zero triplet: a random model proposes nothing valid to seed with
        f"save_steps={args.steps + 1}",  # no mid-run checkpoint (optimizer state is ~18 GB)
        "resume=false",
        "live_console=false",
        f"lora={str(args.lora).lower()}",
        *args.set,
    ]
    cfg = load_config(preset="paper", overrides=overrides)
    start = time.perf_counter()
    result = train(cfg, display=False)
    run_s = time.perf_counter() - start
    rows = read_metrics(result.metrics_path)
    keep = ("time/", "memory/")
    for row in rows:
        lengths = {k: v for k, v in row.items() if k.endswith("response_length")}
        out = {k: v for k, v in row.items() if k.startswith(keep) or k == "step"}
        out["mean_response_length"] = sum(lengths.values()) / max(1, len(lengths))
        print(json.dumps(out), flush=True)
    print(
        json.dumps(
            {
                "summary": {
                    "shape": args.shape,
                    "parameters_b": _parameters(model_dir),
                    "sequences_per_step": 6 * args.batch_per_group,
                    "completion_tokens": args.completion_tokens,
                    "lora": args.lora,
                    "model_build_s": round(build_s, 1),
                    "run_s": round(run_s, 1),
                }
            }
        ),
        flush=True,
    )


def _parameters(model_dir: Path) -> float:
    """Billions of parameters, counted from the saved tensors' headers (no weights are read)."""
    import math

    from safetensors import safe_open

    total = 0
    for path in model_dir.glob("*.safetensors"):
        with safe_open(str(path), "pt") as f:
            total += sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())  # noqa: SIM118 (not iterable)
    return round(total / 1e9, 2)


if __name__ == "__main__":
    main()
