"""Shared helpers of the trainer's integration tests: a tiny model built once per session."""

from __future__ import annotations

from pathlib import Path

from azr_trainer.models import build_tiny_model

_CACHE: dict[str, Path] = {}


def tiny_model_dir(root: Path) -> Path:
    """Build the tiny random Qwen2 + local tokenizer once per test session."""
    if "dir" not in _CACHE:
        _CACHE["dir"] = build_tiny_model(root / "tiny-random")
    return _CACHE["dir"]
