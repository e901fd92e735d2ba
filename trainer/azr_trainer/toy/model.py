"""The toy model: a byte-level BPE tokenizer trained on the corpus and a tiny Qwen2 from a config.

Nothing is downloaded: the tokenizer is trained here with the `tokenizers` library and the
model is built from a `Qwen2Config` with random weights (the recipe of trainer-on-trl.md §4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["ModelSpec", "build_model", "train_tokenizer"]

SPECIAL_TOKENS = ("<unk>", "<pad>", "<s>", "</s>")


@dataclass(frozen=True)
class ModelSpec:
    """Size of the tiny model and of its vocabulary."""

    vocab_size: int = 2048
    hidden_size: int = 128
    intermediate_size: int = 384
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 2048
    initializer_range: float = 0.02  # std of the initial weights (Qwen2's default)


def train_tokenizer(  # type: ignore[no-untyped-def]
    texts: Iterable[str], vocab_size: int, *, split_operators: bool = False
):
    """A byte-level BPE `PreTrainedTokenizerFast` trained on `texts` (left padding, EOS `</s>`).

    `split_operators` also keeps `+ - * %` single (the tiny world: the operator of `y = x + 10`
    is then a token the model can copy, not part of a merged `y = x + `).
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    # Merges may span words, so the fixed instruction text collapses into a few tokens and the
    # sequences stay short; digits, quotes and brackets stay single, so values stay spelled out.
    # The tags are pieces of their own: no token spans the end of a prompt ("<think>") and the
    # start of a completion, so the prompt's tokens are a prefix of prompt + completion's.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(r"</?(?:think|answer)>"), behavior="isolated"),
            pre_tokenizers.Split(
                Regex(r"[0-9'\[\]{}(),:+*%-]" if split_operators else r"[0-9'\[\]{}(),:]"),
                behavior="isolated",
            ),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
    )


def build_model(spec: ModelSpec, tokenizer, seed: int):  # type: ignore[no-untyped-def]
    """A randomly initialised `Qwen2ForCausalLM` of `spec`'s size, seeded."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        initializer_range=spec.initializer_range,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return Qwen2ForCausalLM(config)
