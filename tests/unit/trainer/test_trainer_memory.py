"""The start-up memory estimate against figures computed by hand, and the shipped GPU recipes
against an 80 GiB device."""

from __future__ import annotations

from azr_trainer.config import AZRConfig, load_config
from azr_trainer.memory import GIB, ModelShape, estimate_memory, strategy_from_env

# Qwen2.5-1.5B (hidden 1536, 28 layers, 12 heads / 2 KV heads of 128, MLP 8960, tied 151,936
# embedding, q/k/v biases).
QWEN_1_5B = ModelShape(28, 1536, 8960, 12, 2, 151936, tied=True, qkv_bias=True)
# Qwen2.5-Coder-7B and Qwen2.5-Coder-3B, from their published config.json.
QWEN_7B = ModelShape(28, 3584, 18944, 28, 4, 152064, tied=False, qkv_bias=True)
QWEN_3B = ModelShape(36, 2048, 11008, 16, 2, 151936, tied=True, qkv_bias=True)

SMALL = AZRConfig(
    bf16=True,
    gradient_checkpointing=True,
    micro_batch_size=2,
    max_prompt_tokens=2048,
    max_completion_tokens=1024,
    batch_per_group=16,
    n_learnability=8,
)


def test_parameter_count_of_qwen_1_5b():
    # per layer: q 1536*1536 + o 1536*1536 + k, v 1536*256 each + biases 1536 + 2*256
    #            + MLP 3*1536*8960 + 2 norms of 1536 = 46,797,824; x 28 = 1,310,339,072
    # + embedding 151,936*1536 = 233,373,696 + final norm 1536
    assert QWEN_1_5B.params == 1_543_714_304


def test_one_gpu_with_vllm_by_hand():
    est = estimate_memory(
        QWEN_1_5B,
        SMALL.model_copy(update={"use_vllm": True, "vllm_gpu_memory_utilization": 0.3}),
        world=1,
        strategy="single",
        device_bytes=80 * GIB,
    )
    p = 1_543_714_304
    assert est.weights == 6 * p == 9_262_285_824  # fp32 master + bf16 autocast copies
    assert est.gradients == 4 * p == 6_174_857_216
    assert est.optimizer == 8 * p == 12_349_714_432
    assert est.vllm == 25_769_803_776  # 0.3 x 80 GiB
    assert est.generation == 0
    # tokens = 2 x (2048 + 1024) = 6144
    # checkpoints 6144 x 28 layers x 4 B x 1536 = 1,056,964,608
    # one layer recomputed, x2: 2 x 6144 x (16*1536 + 4*256 + 8*8960 = 97,280) = 1,195,376,640
    # logits: 2 x 1024 x 151,936 x 6 B = 1,866,989,568
    assert est.activations == 1_056_964_608 + 1_195_376_640 + 1_866_989_568
    # states + 2 GiB overhead + vLLM + activations (vLLM does not sleep)
    assert est.total == 27_786_857_472 + 2 * GIB + 25_769_803_776 + 4_119_330_816
    assert round(est.total / GIB, 2) == 55.71


def test_zero3_on_four_gpus_with_hf_generate_by_hand():
    est = estimate_memory(QWEN_1_5B, SMALL, world=4, strategy="zero3", device_bytes=None)
    p = 1_543_714_304
    assert (est.weights, est.gradients, est.optimizer) == (2 * p // 4, 2 * p // 4, 12 * p // 4)
    # HF generate: 16 / 4 slots x 8 rollouts = 32 sequences x 3072 tokens x
    # (2 x 28 layers x 256 x 2 B = 28,672 B per token)
    assert est.generation == 32 * 3072 * 28_672 == 2_818_572_288
    # activations (4,119,330,816) are the larger of the two phases
    assert est.total == 6_174_857_216 + 2 * GIB + 4_119_330_816


def test_sleep_mode_overlaps_vllm_with_training():
    cfg = SMALL.model_copy(update={"use_vllm": True, "vllm_enable_sleep_mode": True})
    est = estimate_memory(QWEN_1_5B, cfg, world=1, strategy="single", device_bytes=80 * GIB)
    states = est.weights + est.gradients + est.optimizer + est.overhead
    assert est.total == states + max(est.vllm, est.activations)


def test_strategy_follows_accelerate_launch():
    assert strategy_from_env(1, {}) == "single"
    assert strategy_from_env(4, {}) == "ddp"
    zero3 = {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}
    assert strategy_from_env(4, zero3) == "zero3"
    assert strategy_from_env(4, {"ACCELERATE_USE_FSDP": "true"}) == "fsdp"


def test_shipped_gpu_recipes_fit_80_gib():
    seven = load_config(preset="qwen2.5-7b-coder")
    est = estimate_memory(QWEN_7B, seven, world=4, strategy="zero3", device_bytes=80 * GIB)
    assert est.total < 80 * GIB, est.lines()
    three = load_config(preset="single-gpu-lora")
    est = estimate_memory(QWEN_3B, three, world=1, strategy="single", device_bytes=80 * GIB)
    assert est.total < 80 * GIB, est.lines()
