"""Every use of a private TRL API, in one place, pinned to trl==1.16.0.

`PRIVATE_SIGNATURES` lists the private methods this project calls or overrides with the
parameters it relies on; `check_trl_signatures()` compares them with the installed TRL and a
unit test fails loudly when an upgrade moves them. Private attributes read here:
`generation_config`, `vllm_generation.temperature`, `_metrics`, `use_vllm`, `_dist`, `eos_token_ids`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import trl
from trl.trainer.grpo_trainer import GRPOTrainer

__all__ = [
    "PRIVATE_SIGNATURES",
    "TRL_VERSION",
    "add_train_metric",
    "check_trl_signatures",
    "collective_generation",
    "generate_completion_ids",
    "sampling_temperature",
    "stop_kwargs",
]

TRL_VERSION = "1.16.0"

PRIVATE_SIGNATURES: dict[str, list[str]] = {
    "_generate_single_turn": [
        "self",
        "prompt_ids",
        "images",
        "multimodal_fields",
        "num_generations",
        "has_tool_images",
    ],
    "_generate_and_score_completions": ["self", "inputs"],
    "training_step": ["self", "model", "inputs", "num_items_in_batch"],
}


def check_trl_signatures() -> list[str]:
    """Mismatches between the installed TRL and what this module relies on (empty when fine)."""
    problems = []
    if trl.__version__ != TRL_VERSION:
        problems.append(f"trl {trl.__version__} is installed; azr is pinned to {TRL_VERSION}")
    for name, params in PRIVATE_SIGNATURES.items():
        method = getattr(GRPOTrainer, name, None)
        if method is None:
            problems.append(f"GRPOTrainer.{name} is gone")
            continue
        got = list(inspect.signature(method).parameters)
        if got != params:
            problems.append(f"GRPOTrainer.{name}{tuple(got)} != expected {tuple(params)}")
    return problems


@contextmanager
def sampling_temperature(trainer: Any, temperature: float | None) -> Iterator[None]:
    """Temporarily sample at `temperature` (learnability rollouts use 1.0 whatever the config)."""
    if temperature is None:
        yield
        return
    saved: list[tuple[Any, str, Any]] = []
    config = getattr(trainer, "generation_config", None)
    if config is not None:
        saved.append((config, "temperature", config.temperature))
        saved.append((config, "do_sample", config.do_sample))
        config.temperature, config.do_sample = temperature, True
    vllm = (
        getattr(trainer, "vllm_generation", None) if getattr(trainer, "use_vllm", False) else None
    )
    if vllm is not None:
        saved.append((vllm, "temperature", vllm.temperature))
        vllm.temperature = temperature
    try:
        yield
    finally:
        for obj, attr, value in saved:
            setattr(obj, attr, value)


def stop_kwargs(stop_strings: list[str], *, vllm: bool) -> dict[str, Any] | None:
    """`GRPOConfig.generation_kwargs` that end generation at the first of `stop_strings`, kept
    in the completion: vLLM's `stop` with `include_stop_str_in_output`, or transformers'
    `stop_strings` (which needs the tokenizer at generate time: `generate_completion_ids`)."""
    if not stop_strings:
        return None
    if vllm:
        return {"stop": list(stop_strings), "include_stop_str_in_output": True}
    return {"stop_strings": list(stop_strings)}


@contextmanager
def _stop_strings_tokenizer(trainer: Any) -> Iterator[None]:
    """Hand the tokenizer to HF `generate`, which TRL calls without it (stop strings need it)."""
    config = getattr(trainer, "generation_config", None)
    if trainer.use_vllm or config is None or not getattr(config, "stop_strings", None):
        yield
        return
    model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
    model.generate = functools.partial(
        type(model).generate, model, tokenizer=trainer.processing_class
    )
    try:
        yield
    finally:
        del model.generate


def generate_completion_ids(
    trainer: Any, prompt_ids: list[list[int]], *, temperature: float | None = None
) -> list[list[int]]:
    """Generate one completion per prompt with the trainer's backend (HF generate or vLLM).

    Prompts must be distinct calls with `num_generations=1`: vLLM server mode de-duplicates
    with a stride of `num_generations`. A row that HF generate stopped at a stop string is
    padded after it; the padding is cut off here (TRL cuts only at EOS).
    """
    with sampling_temperature(trainer, temperature), _stop_strings_tokenizer(trainer):
        completion_ids, _ = trainer._generate_single_turn(prompt_ids, None, {}, 1)
    out = [list(map(int, ids)) for ids in completion_ids]
    pad = getattr(trainer.processing_class, "pad_token_id", None)
    if pad is not None and pad not in set(trainer.eos_token_ids or ()):
        for ids in out:
            while ids and ids[-1] == pad:
                ids.pop()
    return out


def add_train_metric(trainer: Any, name: str, value: float) -> None:
    """Add a scalar to what the trainer logs at the next `log` (console, TensorBoard, W&B)."""
    trainer._metrics["train"][name].append(float(value))


def collective_generation(trainer: Any) -> bool:
    """Whether each generate call is a collective across the training processes.

    HF generate under DeepSpeed ZeRO-3 gathers the sharded weights and runs `synced_gpus`
    decoding; under FSDP every forward all-gathers; vLLM colocate with tensor parallelism
    gathers the prompts of its group and slices the results by equal counts. Plain DDP and one
    process generate on their own.
    """
    if trainer.accelerator.num_processes == 1:
        return False
    dist = trainer._dist  # trl.distributed.DistributedBackend, built by GRPOTrainer
    if dist.is_zero3 or dist.is_fsdp:
        return True
    return bool(trainer.use_vllm and trainer.args.vllm_tensor_parallel_size > 1)
