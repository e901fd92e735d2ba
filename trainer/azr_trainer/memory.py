"""A per-GPU memory estimate of a training run, printed at start-up (`azr train` warns when it
exceeds the device). An estimate, not a measurement: it names where the memory goes so that a
recipe can be sized before a run, not after an out-of-memory error.

With P parameters (counted from the model's config), N processes sharing the states, and bf16
compute (fp32 compute: the bf16 copies are gone and activations and logits double):

| part | full fine-tuning, bytes per GPU | LoRA (L trainable) |
|---|---|---|
| weights | one process or DDP: 4P (fp32 master) + 2P (bf16 copies autocast keeps for the step); ZeRO-2: 2P; ZeRO-3: 2P/N; FSDP2: 4P/N | 2P (bf16, frozen) + 4L |
| gradients | one process or DDP: 4P; ZeRO-2, ZeRO-3: 2P/N; FSDP2: 4P/N | 4L |
| optimizer | AdamW m and v in fp32, 8P, plus the fp32 master under ZeRO (12P in all), /N when sharded | 8L |
| vLLM | `vllm_gpu_memory_utilization` x the device (its weights and KV cache), when `use_vllm` | same |
| generation | HF generate's KV cache for the largest call: slots per group x `n_learnability` sequences of prompt + completion tokens, 2 x layers x KV heads x head dim x 2 B per token | same |
| activations | micro-batch of T = prompt + completion tokens. Per token and layer a step keeps 16h + 4d_kv + 8I bytes (bf16 inputs of the projections, q/k/v/out, the MLP's four I-wide tensors, fp32 norm inputs); with gradient checkpointing only each layer's input (4h, the fp32 residual stream; 2h under LoRA) plus one layer recomputed, twice (forward and its gradients). Logits: micro x completion x vocabulary x 6 B (bf16 logits, the temperature-scaled copy, their gradient) | same |
| overhead | 2 GiB: CUDA context, NCCL buffers, allocator slack | same |

The peak is the states (weights, gradients, optimizer) + overhead + vLLM (unless it sleeps) +
the largest of activations and HF generation, or of activations and vLLM when vLLM sleeps
during training (`vllm_enable_sleep_mode`). Not counted: ZeRO-3's gathered layers in flight,
the attention kernels' workspace, and memory fragmentation; expect the measured peak within
about 15% when the lengths are used in full.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "GIB",
    "MemoryEstimate",
    "ModelShape",
    "Strategy",
    "estimate_memory",
    "log_memory_estimate",
    "strategy_from_env",
]

logger = logging.getLogger(__name__)

GIB = 2**30
OVERHEAD = 2 * GIB
Strategy = Literal["single", "ddp", "zero2", "zero3", "fsdp"]


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs from a decoder-only transformer's config (Llama/Qwen family)."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool = True
    qkv_bias: bool = False

    @classmethod
    def from_config(cls, config: Any) -> ModelShape:
        return cls(
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            intermediate=config.intermediate_size,
            heads=config.num_attention_heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
            vocab=config.vocab_size,
            tied=bool(getattr(config, "tie_word_embeddings", False)),
            qkv_bias=getattr(config, "model_type", "") == "qwen2",
        )

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * (self.hidden // self.heads)

    @property
    def params(self) -> int:
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        attention = 2 * h * h + 2 * h * kv + ((h + 2 * kv) if self.qkv_bias else 0)
        layer = attention + 3 * h * i + 2 * h
        embeddings = self.vocab * h * (1 if self.tied else 2)
        return self.layers * layer + embeddings + h

    def lora_params(self, r: int) -> int:
        """Adapters of rank r on every linear layer of every block (`all-linear`)."""
        h, kv, i = self.hidden, self.kv_dim, self.intermediate
        return r * self.layers * (9 * h + 2 * kv + 3 * i)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes per GPU, by part."""

    weights: int
    gradients: int
    optimizer: int
    vllm: int
    generation: int
    activations: int
    overhead: int
    sleep: bool

    @property
    def total(self) -> int:
        states = self.weights + self.gradients + self.optimizer + self.overhead
        if self.sleep:
            return states + max(self.vllm, self.activations, self.generation)
        return states + self.vllm + max(self.activations, self.generation)

    def lines(self) -> list[str]:
        parts = ("weights", "gradients", "optimizer", "vllm", "generation", "activations")
        cells = [f"{p} {getattr(self, p) / GIB:.1f}" for p in parts if getattr(self, p)]
        return [f"memory estimate per GPU (GiB): {', '.join(cells)}, overhead 2.0; "
                f"peak about {self.total / GIB:.1f}"]  # fmt: skip


def estimate_memory(
    shape: ModelShape, cfg: Any, *, world: int, strategy: Strategy, device_bytes: int | None
) -> MemoryEstimate:
    """The estimate for config `cfg` (an `AZRConfig`) on `world` processes."""
    p = shape.params
    bf16 = cfg.bf16 is not False  # None: on, as on a GPU
    checkpointing = cfg.gradient_checkpointing is not False
    shards = world if strategy in ("zero2", "zero3", "fsdp") else 1
    if cfg.lora:
        trainable = shape.lora_params(cfg.lora_r)
        weights = p * (2 if bf16 else 4) + 4 * trainable
        gradients, optimizer = 4 * trainable, 8 * trainable
    elif strategy in ("single", "ddp"):
        weights, gradients, optimizer = p * (6 if bf16 else 4), 4 * p, 8 * p
    elif strategy == "fsdp":
        weights, gradients, optimizer = 4 * p // shards, 4 * p // shards, 8 * p // shards
    else:  # DeepSpeed ZeRO with bf16: bf16 module weights, fp32 master in the optimizer
        weights = 2 * p // (shards if strategy == "zero3" else 1)
        gradients, optimizer = 2 * p // shards, 12 * p // shards

    h, layers = shape.hidden, shape.layers
    tokens = cfg.micro_batch_size * (cfg.max_prompt_tokens + cfg.max_completion_tokens)
    scale = 1 if bf16 else 2
    per_layer = (16 * h + 4 * shape.kv_dim + 8 * shape.intermediate) * scale
    if checkpointing:
        residual = 2 if (cfg.lora and bf16) else 4
        activations = tokens * layers * residual * h + 2 * tokens * per_layer
    else:
        activations = tokens * layers * per_layer
    activations += cfg.micro_batch_size * cfg.max_completion_tokens * shape.vocab * 6 * scale

    vllm = generation = 0
    if cfg.use_vllm:
        vllm = int(cfg.vllm_gpu_memory_utilization * (device_bytes or 0))
    else:
        sequences = (cfg.batch_per_group // world) * cfg.n_learnability
        per_token = 2 * layers * shape.kv_dim * 2
        length = cfg.max_prompt_tokens + cfg.max_completion_tokens
        generation = sequences * length * per_token
    return MemoryEstimate(
        weights=weights,
        gradients=gradients,
        optimizer=optimizer,
        vllm=vllm,
        generation=generation,
        activations=activations,
        overhead=OVERHEAD,
        sleep=bool(cfg.use_vllm and cfg.vllm_enable_sleep_mode),
    )


def strategy_from_env(world: int, environ: Any) -> Strategy:
    """The sharding `accelerate launch` set up (its ACCELERATE_* variables; ZeRO-1 counts as
    ZeRO-2)."""
    if environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
        return "zero3" if environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3" else "zero2"
    if environ.get("ACCELERATE_USE_FSDP", "").lower() == "true":
        return "fsdp"
    return "single" if world == 1 else "ddp"


def log_memory_estimate(cfg: Any, model_path: str, *, world: int, cuda: bool) -> MemoryEstimate:
    """Log the estimate for this run, with a warning when it exceeds the GPU."""
    from transformers import AutoConfig

    shape = ModelShape.from_config(AutoConfig.from_pretrained(model_path))
    device = None
    if cuda:
        import torch

        device = int(torch.cuda.get_device_properties(0).total_memory)
    strategy = strategy_from_env(world, os.environ)
    est = estimate_memory(shape, cfg, world=world, strategy=strategy, device_bytes=device)
    for line in est.lines():
        logger.info(
            "%s (%.2fB parameters, %s, %d processes)", line, shape.params / 1e9, strategy, world
        )
    if device is not None and est.total > device:
        logger.warning(
            "the memory estimate (%.1f GiB) is over this GPU's %.1f GiB: lower micro_batch_size "
            "or vllm_gpu_memory_utilization, set vllm_enable_sleep_mode, shorten "
            "max_completion_tokens, or shard the states (ZeRO-3 / FSDP2 over more GPUs)",
            est.total / GIB,
            device / GIB,
        )
    return est
