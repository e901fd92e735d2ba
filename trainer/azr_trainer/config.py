"""Run configuration: one dataclass, paper defaults, YAML files, presets and CLI overrides.

    cfg = load_config(preset="tiny-cpu", path="my.yaml", overrides=["max_steps=3"])

Precedence: dataclass defaults (the paper's hyperparameters, azr-reference.md section 6) <
preset < YAML file < `key=value` overrides (values are parsed as YAML: `3`, `true`, `[a, b]`).
Unknown keys are an error, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = ["PRESETS", "AZRConfig", "load_config"]


@dataclass
class AZRConfig:
    """Everything an AZR run needs. Batch sizes count samples across all processes."""

    # --- model ---
    model: str = "tiny-random"  # a hub id, a local path, or "tiny-random" (built locally)
    output_dir: str = "runs/azr"
    seed: int = 1
    # --- services (empty executor_urls / buffer_url: start both locally under output_dir) ---
    executor_urls: list[str] = field(default_factory=list)
    buffer_url: str = ""
    run_name: str = ""  # buffer run name; defaults to the output directory's name
    api_token: str = ""
    executor_concurrency: int = 32
    executor_retries: int = 3
    request_timeout_s: float = 120.0
    # --- AZR ---
    batch_per_group: int = 64  # samples per (task type x role) per step, all ranks together
    n_references: int = 6
    n_induction_inputs: int = 10
    n_learnability: int = 8
    seed_tasks: int = 256  # S: seed the buffer until it holds this many tasks per type
    seed_batch: int = 64
    seed_max_rounds: int = 50
    seed_files: list[str] = field(default_factory=list)  # JSON Lines seeds (azr_trainer.seeding)
    solve_strategy: Literal["new_first", "uniform", "recent"] = "new_first"
    one_step_lag: bool = False
    extreme_reward: Literal["paper", "reference"] = "paper"
    token_weighted_advantages: bool = False
    max_prompt_tokens: int = 6144
    max_completion_tokens: int = 8096
    # --- optimisation (TRL GRPOConfig) ---
    max_steps: int = 500
    learning_rate: float = 1e-6
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    entropy_coef: float = 0.001
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    delta: float = 3.0
    loss_type: str = "dapo"
    optimizer_steps_per_step: int = 1  # the reference takes one step on the whole batch
    micro_batch_size: int = 4  # per device forward/backward batch
    temperature: float = 1.0
    top_p: float = 1.0
    bf16: bool | None = None  # None: on when a CUDA GPU is present
    gradient_checkpointing: bool | None = None  # None: on when a CUDA GPU is present
    use_vllm: bool = False
    vllm_gpu_memory_utilization: float = 0.3
    vllm_tensor_parallel_size: int = 1
    lora: bool = False
    lora_r: int = 64
    lora_alpha: int = 128
    lora_target_modules: str = "all-linear"
    # --- bookkeeping ---
    save_steps: int = 10
    save_total_limit: int = 2
    resume: bool = True  # continue from the newest checkpoint in output_dir, if any
    report_to: list[str] = field(default_factory=lambda: ["none"])
    live_console: bool = True
    cpu_threads: int = 1  # torch threads on CPU: more oversubscribes the cores the executor needs
    # --- in-training validation: greedy CRUXEval-O/I pass@1 logged as val/test_score/* ---
    eval_steps: int = 0  # every N AZR steps (the reference: 10); 0 = off
    eval_items: int = 64  # first N problems of CRUXEval-O and of CRUXEval-I
    eval_max_new_tokens: int = 1024

    def __post_init__(self) -> None:
        if self.eval_steps < 0 or self.eval_items < 1 or self.eval_max_new_tokens < 1:
            raise ValueError("eval_steps must be >= 0, eval_items and eval_max_new_tokens >= 1")
        if self.batch_per_group < 1:
            raise ValueError("batch_per_group must be at least 1")
        if self.n_induction_inputs < 2 or self.n_induction_inputs % 2:
            raise ValueError("n_induction_inputs must be an even number >= 2 (half are hidden)")
        if self.n_learnability < 1:
            raise ValueError("n_learnability must be at least 1")
        if self.extreme_reward not in ("paper", "reference"):
            raise ValueError("extreme_reward must be 'paper' or 'reference'")
        if self.solve_strategy not in ("new_first", "uniform", "recent"):
            raise ValueError("solve_strategy must be new_first, uniform or recent")
        if self.optimizer_steps_per_step < 1:
            raise ValueError("optimizer_steps_per_step must be at least 1")
        if self.temperature <= 0:
            raise ValueError("temperature must be positive: AZR samples, it never decodes greedily")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    # A few self-play steps of a tiny model on a 2-core CPU in a few minutes.
    "tiny-cpu": {
        "batch_per_group": 2,
        "n_references": 2,
        "n_induction_inputs": 4,
        "n_learnability": 2,
        "seed_tasks": 4,
        "seed_batch": 2,
        "seed_max_rounds": 1,
        "max_prompt_tokens": 1536,
        "max_completion_tokens": 48,
        "max_steps": 4,
        "learning_rate": 1e-4,
        "weight_decay": 0.0,
        "entropy_coef": 0.0,
        "micro_batch_size": 12,
        "save_steps": 2,
        "executor_concurrency": 8,
    },
}
# `azr run --preset toy`: the warm-started toy model (azr_trainer/toy, built and cached under
# runs/models/warmstart/ on first use), with task shapes matching its warm-start corpus.
PRESETS["toy"] = {
    **PRESETS["tiny-cpu"],
    "model": "toy-warmstart",
    "batch_per_group": 8,
    "n_induction_inputs": 6,
    "n_learnability": 4,
    "seed_tasks": 16,
    "seed_batch": 8,
    "seed_max_rounds": 4,
    "max_prompt_tokens": 1024,
    "max_completion_tokens": 160,
    "max_steps": 20,
    "learning_rate": 1e-3,
    "micro_batch_size": 16,
    "save_steps": 10,
}


# `azr run` (and `make run`): the tiny world's warm start (`WarmstartConfig.tiny`, about two
# CPU-minutes to build), whose solver visibly learns through self-play (RESULTS.md, "The tiny
# world, second recipe"): its induction tasks have 4 inputs, and at 3e-4 self-play keeps the
# careful answers right while making them more frequent (at 1e-3 it damaged them).
PRESETS["toy-tiny"] = {
    **PRESETS["toy"],
    "model": "toy-warmstart-tiny",
    "n_induction_inputs": 4,
    "learning_rate": 3e-4,
}


def _coerce(cfg_field: dataclasses.Field[Any], value: Any) -> Any:
    if isinstance(value, str) and cfg_field.name in ("executor_urls", "report_to", "seed_files"):
        return [v for v in value.split(",") if v]
    if cfg_field.type in ("float", float) and isinstance(value, str):
        # YAML 1.1 reads `5e-4` (no dot) as a string: a float field takes it as a number.
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{cfg_field.name}: {value!r} is not a number") from None
    return value


def load_config(
    *, preset: str = "paper", path: str | Path | None = None, overrides: list[str] | None = None
) -> AZRConfig:
    """Build a config from a preset, an optional YAML file and `key=value` overrides."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose from {sorted(PRESETS)}")
    values: dict[str, Any] = dict(PRESETS[preset])
    if path is not None:
        loaded = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: the YAML file must hold a mapping of config keys")
        values.update(loaded)
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep:
            raise ValueError(f"override {item!r} is not key=value")
        values[key.strip()] = yaml.safe_load(raw)
    known = {f.name: f for f in fields(AZRConfig)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown config keys: {', '.join(unknown)}")
    return AZRConfig(**{k: _coerce(known[k], v) for k, v in values.items()})
