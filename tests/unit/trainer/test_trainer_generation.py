"""Generation settings that reach TRL: stop strings (HF generate and vLLM) and vLLM's memory keys.

The HF test uses a tiny model rigged to write `</answer>` (one token of its word-level
tokenizer) at every step: with the stop string the completion is that one token, without it the
completion runs to the token budget, as a real model's does after its answer.
"""

from __future__ import annotations

import pytest
import torch
from azr_trainer.config import AZRConfig
from azr_trainer.train import _grpo_config
from azr_trainer.trl_adapter import generate_completion_ids

# TRL 1.16 reads transformers' deprecated `is_gradient_checkpointing` around generate.
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*deprecated and will be removed in v6:FutureWarning"
)

VOCAB = ["<unk>", "<pad>", "</s>", "x", "</answer>", "y", "abcdef"]  # abcdef: HF stop-string probe
BUDGET = 8


@pytest.fixture(scope="module")
def rigged():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>", eos_token="</s>"
    )
    fast.padding_side = "left"
    config = Qwen2Config(
        vocab_size=len(VOCAB),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        tie_word_embeddings=False,
        pad_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        for p in model.model.layers.parameters():
            p.zero_()  # the block adds nothing: the residual stream is the embedding
        model.model.embed_tokens.weight[:] = 1.0
        model.lm_head.weight.zero_()
        model.lm_head.weight[VOCAB.index("</answer>")] = 5.0  # logit 80 against 0
    return model, fast


def _trainer(model, tokenizer, tmp_path, stop_strings):
    from datasets import Dataset
    from trl.trainer.grpo_trainer import GRPOTrainer

    cfg = AZRConfig(
        output_dir=str(tmp_path),
        max_completion_tokens=BUDGET,
        stop_strings=stop_strings,
        bf16=False,
        gradient_checkpointing=False,
    )
    args = _grpo_config(cfg, per_device=2, accum=1, cuda=False)
    args.report_to = []
    return GRPOTrainer(
        model=model,
        reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
        args=args,
        train_dataset=Dataset.from_dict({"prompt": ["x", "x"]}),
        processing_class=tokenizer,
    )


def test_hf_generation_ends_at_the_stop_string(rigged, tmp_path):
    model, tokenizer = rigged
    prompt = [[VOCAB.index("x")], [VOCAB.index("y"), VOCAB.index("x")]]
    trainer = _trainer(model, tokenizer, tmp_path, ["</answer>"])
    stopped = generate_completion_ids(trainer, prompt)
    assert stopped == [[VOCAB.index("</answer>")]] * 2  # the padding after it is cut off too
    trainer.generation_config.stop_strings = None  # stop_strings=[] configures no stop string
    running = generate_completion_ids(trainer, prompt)
    assert [len(ids) for ids in running] == [BUDGET, BUDGET]
    assert "generate" not in vars(model)  # the tokenizer was handed to generate for the call only
    assert _grpo_config(AZRConfig(stop_strings=[]), 2, 1, cuda=False).generation_kwargs is None


def test_vllm_gets_stop_strings_kept_in_the_output_and_its_memory_keys(tmp_path):
    cfg = AZRConfig(
        output_dir=str(tmp_path),
        use_vllm=True,
        vllm_enable_sleep_mode=True,
        vllm_gpu_memory_utilization=0.25,
        max_prompt_tokens=1000,
        max_completion_tokens=500,
    )
    args = _grpo_config(cfg, per_device=2, accum=1, cuda=False)
    assert args.generation_kwargs == {"stop": ["</answer>"], "include_stop_str_in_output": True}
    assert args.vllm_enable_sleep_mode and args.vllm_gpu_memory_utilization == 0.25
    assert args.vllm_max_model_length == 1500  # prompt + completion unless vllm_max_model_len
    args = _grpo_config(cfg.model_copy(update={"vllm_max_model_len": 4096}), 2, 1, cuda=False)
    assert args.vllm_max_model_length == 4096
