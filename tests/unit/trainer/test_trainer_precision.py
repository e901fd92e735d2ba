"""Master weights and optimizer state stay fp32 when computing in bf16 (bf16 autocast on CPU).

At the paper's learning rate of 1e-6 an AdamW update is below bf16's resolution for most
weights, so weights stored in bf16 barely move. The training path (the model loaded with
`training_dtype`, the HF trainer configured by `_grpo_config`) must move the same fraction of
weights with bf16 compute as an fp32 run. The bf16-stored run is the control that shows the
measure tells the two apart.
"""

from __future__ import annotations

import pytest
import torch
from azr_trainer.config import AZRConfig
from azr_trainer.models import load_model_and_tokenizer, training_dtype
from azr_trainer.train import _grpo_config
from transformers import Qwen2Config, Qwen2ForCausalLM, Trainer

STEPS = 10


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    path = tmp_path_factory.mktemp("precision")
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(path)
    vocab = {f"t{i}": i for i in range(64)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="t0"))
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="t1", pad_token="t2").save_pretrained(
        path
    )
    return str(path)


def _moved_fraction(model_dir: str, tmp_path, *, bf16: bool, dtype: torch.dtype | None = None):
    cfg = AZRConfig(bf16=bf16, learning_rate=1e-6, weight_decay=0.0, max_steps=STEPS)
    cfg = cfg.model_copy(update={"output_dir": str(tmp_path / f"out-{bf16}-{dtype}")})
    args = _grpo_config(cfg, per_device=4, accum=1, cuda=False)
    args.report_to, args.save_strategy = [], "no"
    load = dtype or training_dtype(bf16=bool(args.bf16), lora=False)
    model, _ = load_model_and_tokenizer(model_dir, dtype=load)
    before = {n: p.detach().float().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, 64, (4 * STEPS, 12), generator=g)
    rows = [{"input_ids": r, "labels": r} for r in ids]
    trainer = Trainer(model=model, args=args, train_dataset=rows)
    trainer.train()
    moved = sum(int((p.detach().float() != before[n]).sum()) for n, p in model.named_parameters())
    total = sum(p.numel() for p in model.parameters())
    precision = trainer.accelerator.mixed_precision
    return moved / total, {p.dtype for p in model.parameters()}, precision


def test_bf16_compute_keeps_fp32_master_weights_that_move_like_fp32(model_dir, tmp_path):
    fp32, dtypes32, _ = _moved_fraction(model_dir, tmp_path, bf16=False)
    mixed, dtypes, precision = _moved_fraction(model_dir, tmp_path, bf16=True)
    assert precision == "bf16"  # the forward runs under bf16 autocast
    assert dtypes == dtypes32 == {torch.float32}
    assert fp32 > 0.9
    assert abs(mixed - fp32) < 0.02, (mixed, fp32)
    # The control: bf16-stored weights (what the single-GPU path loaded) hardly move.
    stored_bf16, _, _ = _moved_fraction(model_dir, tmp_path, bf16=True, dtype=torch.bfloat16)
    assert stored_bf16 < 0.5 * fp32, (stored_bf16, fp32)


def test_lora_keeps_frozen_base_weights_in_bf16():
    assert training_dtype(bf16=True, lora=True) == torch.bfloat16
    assert training_dtype(bf16=False, lora=True) == torch.float32
    assert training_dtype(bf16=True, lora=False) == torch.float32
