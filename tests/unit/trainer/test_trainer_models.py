"""Random models of a named shape (the GPU benchmark's Qwen2.5-1.5B stand-in, the tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from azr_trainer import models
from azr_trainer.models import RANDOM_SHAPES, build_random_model, load_model_and_tokenizer


def test_qwen_shape_is_qwen25_15b() -> None:
    shape = RANDOM_SHAPES["qwen2.5-1.5b"]
    h, layers, inter = shape["hidden_size"], shape["num_hidden_layers"], shape["intermediate_size"]
    kv = h // shape["num_attention_heads"] * shape["num_key_value_heads"]
    params = layers * (h * (h + 2 * kv) + h * h + 3 * h * inter) + shape["vocab_size"] * h
    assert 1.50e9 < params < 1.56e9  # Qwen2.5-1.5B: 1.54 B with tied embeddings


def test_shape_vocab_wins_over_the_tokenizer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = {**RANDOM_SHAPES["tiny"], "vocab_size": 3000, "num_hidden_layers": 1}
    monkeypatch.setitem(models.RANDOM_SHAPES, "small-wide-vocab", small)
    directory = build_random_model(tmp_path / "m", shape="small-wide-vocab", vocab_size=512)
    model, tokenizer = load_model_and_tokenizer(str(directory))
    assert model.config.vocab_size == 3000
    assert model.config.num_hidden_layers == 1
    assert len(tokenizer) <= 512
    assert model.config.eos_token_id == tokenizer.eos_token_id
    # Reused, not rebuilt: a second call with another shape returns the same directory untouched.
    before = (directory / "config.json").read_text()
    assert build_random_model(directory, shape="tiny") == directory
    assert (directory / "config.json").read_text() == before


def test_unknown_shape_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model shape 'qwen-9000'"):
        build_random_model(tmp_path / "x", shape="qwen-9000")
    assert not (tmp_path / "x").exists()
