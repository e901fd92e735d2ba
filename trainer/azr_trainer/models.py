"""Model and tokenizer loading, including the locally built `tiny-random` model.

There is no model hub on development and CI machines, so `tiny-random` is built here: a byte-level
BPE tokenizer trained on AZR prompt text and small Python programs, and a random 2-layer Qwen2.
It is saved to a directory once and reused (`name_or_path` must be a real directory for vLLM and
for TRL's reference-model reload). Any other model source is a hub id or a local path.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

__all__ = [
    "RANDOM_SHAPES",
    "TINY_RANDOM",
    "TOY_WARMSTART",
    "TOY_WARMSTART_TINY",
    "build_random_model",
    "build_tiny_model",
    "load_model_and_tokenizer",
    "tokenizer_corpus",
    "training_dtype",
]

logger = logging.getLogger(__name__)

TINY_RANDOM = "tiny-random"
TOY_WARMSTART = "toy-warmstart"  # the warm-started toy model (azr_trainer.toy), built if missing
TOY_WARMSTART_TINY = "toy-warmstart-tiny"  # the same for the tiny world (`azr run`'s default)
SPECIAL_TOKENS = ["<unk>", "<pad>", "<s>", "</s>"]


def tokenizer_corpus() -> list[str]:
    """Text the tiny tokenizer is trained on: every prompt shape plus small programs."""
    from azr_trainer.prompts import (
        Snippet,
        propose_induction_prompt,
        propose_io_prompt,
        r1_wrap,
        solve_abduction_prompt,
        solve_deduction_prompt,
        solve_induction_prompt,
    )

    programs = [
        "def f(a):\n    return a",
        "def f(x, y):\n    return x + y",
        "def f(s: str):\n    out = []\n    for c in s:\n        out.append(c.upper())\n    return ''.join(out)",
        "def f(n):\n    total = 0\n    for i in range(n):\n        if i % 2 == 0:\n            total += i\n    return total",
        "import math\n\ndef f(xs: list):\n    return sorted(xs, reverse=True)[:3]",
        "def f(d: dict, k):\n    while k in d:\n        k = d[k]\n    return k",
    ]
    snippets = [Snippet(p, "1, 2", "3") for p in programs]
    texts = [r1_wrap(propose_io_prompt(t, snippets[:3])) for t in ("deduction", "abduction")]
    texts += [r1_wrap(propose_induction_prompt(p, 10)) for p in programs]
    texts += [r1_wrap(solve_deduction_prompt(p, "'abc', [1, 2]")) for p in programs]
    texts += [r1_wrap(solve_abduction_prompt(p, "{'a': 1}")) for p in programs]
    texts += [
        r1_wrap(solve_induction_prompt([("1", "2"), ("'x'", "'y'")], "adds")) for _ in range(2)
    ]
    answers = [
        f"Let me trace it. </think>\n<answer>\n```python\n{p}\n```\n```input\n1, 2\n```\n</answer>"
        for p in programs
    ] + ["ok </think>\n<answer>\n```output\n3\n```\n</answer>"]
    return texts + answers + programs


# Model shapes that can be built with random weights (no hub here). `qwen2.5-1.5b` is
# Qwen2.5-1.5B's config (hidden 1536, 28 layers, 12 heads / 2 KV heads, MLP 8960, 151,936-entry
# embedding): the GPU benchmark's stand-in for the real model, whose weights cannot be fetched.
RANDOM_SHAPES: dict[str, dict[str, Any]] = {
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 4096,
    },
    "qwen2.5-1.5b": {
        "vocab_size": 151936,
        "hidden_size": 1536,
        "intermediate_size": 8960,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "max_position_embeddings": 32768,
        "rope_theta": 1000000.0,
        "rms_norm_eps": 1e-6,
    },
}


def _train_tokenizer(vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(tokenizer_corpus() * 4, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )


def build_random_model(
    directory: Path,
    *,
    shape: str = "tiny",
    vocab_size: int = 1024,
    seed: int = 0,
    dtype: Any = None,
    device: str = "cpu",
) -> Path:
    """Build (or reuse) a random Qwen2 of a `RANDOM_SHAPES` shape and a locally trained
    tokenizer under `directory`. A shape's own `vocab_size` (the real model's embedding size)
    wins over the tokenizer's: the extra rows are simply never produced by the tokenizer."""
    if (directory / "config.json").exists() and (directory / "tokenizer.json").exists():
        return directory
    if shape not in RANDOM_SHAPES:
        raise ValueError(f"unknown model shape {shape!r}; known: {sorted(RANDOM_SHAPES)}")
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    logger.info("building a random %s model under %s", shape, directory)
    fast = _train_tokenizer(vocab_size)
    torch.manual_seed(seed)
    dims = {"vocab_size": len(fast), **RANDOM_SHAPES[shape]}
    config = Qwen2Config(
        **dims,
        tie_word_embeddings=True,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    with torch.device(device):  # a 1.5B model initializes in seconds on a GPU, minutes on a CPU
        model = Qwen2ForCausalLM(config)
    if dtype is not None:
        model = model.to(dtype)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    fast.save_pretrained(directory)
    return directory


def build_tiny_model(directory: Path, *, vocab_size: int = 1024, seed: int = 0) -> Path:
    """Build (or reuse) the tiny random Qwen2 model and its tokenizer under `directory`."""
    return build_random_model(directory, shape="tiny", vocab_size=vocab_size, seed=seed)


def resolve_model_path(source: str, models_dir: Path) -> str:
    """`tiny-random`, `toy-warmstart`, `toy-warmstart-tiny` -> the built directory; anything
    else unchanged."""
    if source == TINY_RANDOM:
        return str(build_tiny_model(models_dir / TINY_RANDOM))
    if source in (TOY_WARMSTART, TOY_WARMSTART_TINY):
        from azr_trainer.toy.warmstart import resolve_warmstart

        return str(resolve_warmstart(models_dir, tiny=source == TOY_WARMSTART_TINY))
    return source


def training_dtype(*, bf16: bool, lora: bool) -> Any:
    """The dtype to load a model in for training.

    Full fine-tuning loads fp32: those are the master weights the optimizer updates, and AdamW's
    state follows their dtype; bf16 is only the compute dtype (autocast, through accelerate's
    mixed precision; DeepSpeed ZeRO and FSDP2 likewise keep fp32 masters). Weights stored in bf16
    would not learn at the paper's learning rate: an update of about 1e-6 is below bf16's
    resolution for most weights (2**-8 relative). Under LoRA the base weights are frozen, so they
    are stored in bf16 when computing in bf16; peft keeps the adapters, which train, in fp32.
    """
    import torch

    return torch.bfloat16 if (bf16 and lora) else torch.float32


def load_model_and_tokenizer(source: str, *, dtype: Any = None) -> tuple[Any, Any]:
    """Load a causal LM and its tokenizer from a hub id or a local directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast

    if (Path(source) / "warmstart.json").is_file():
        # A toy warm start: AutoTokenizer would choose Qwen2Tokenizer from the model type and
        # replace the pre-tokenizer it was trained with; load the saved fast tokenizer as is.
        tokenizer = PreTrainedTokenizerFast.from_pretrained(source)
    else:
        tokenizer = AutoTokenizer.from_pretrained(source)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    kwargs: dict[str, Any] = {}
    if dtype is not None:
        kwargs["dtype"] = dtype
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    return model, tokenizer
