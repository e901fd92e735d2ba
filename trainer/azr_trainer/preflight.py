"""Checks run before a training run imports torch, so that a mistake costs no 5-8 s start-up.

A config is already valid when it gets here (`config.py`); these checks look outside it: the
model path, the packages the trackers need, and the services' URLs (`session.probe`).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from azr_trainer.config import AZRConfig
from azr_trainer.errors import UsageError

__all__ = ["BUILT_IN_MODELS", "check_model", "check_trackers", "preflight"]

# Models built locally on first use (`models.resolve_model_path`).
BUILT_IN_MODELS = ("tiny-random", "toy-warmstart", "toy-warmstart-tiny")

# report_to name -> (module to import, what to install)
_TRACKERS = {
    "tensorboard": ("tensorboard", "tensorboard (make setup installs it)"),
    "trackio": ("trackio", "trackio: pip install trackio"),
    "wandb": ("wandb", "wandb: pip install wandb"),
    "mlflow": ("mlflow", "mlflow: pip install mlflow"),
    "comet_ml": ("comet_ml", "comet_ml: pip install comet_ml"),
    "clearml": ("clearml", "clearml: pip install clearml"),
}


def check_model(model: str) -> None:
    """A model that names a local path must exist; hub ids (`org/name`) are left to the hub."""
    if model in BUILT_IN_MODELS:
        return
    path = Path(model).expanduser()
    looks_local = model.startswith(("/", "./", "../", "~")) or model.endswith("/")
    if looks_local and not path.exists():
        raise UsageError(
            f"model: {model} does not exist; pass a local model directory, a hub id such as "
            f"Qwen/Qwen2.5-7B, or one of {', '.join(BUILT_IN_MODELS)}"
        )
    if path.is_dir() and not any(
        (path / f).exists() for f in ("config.json", "adapter_config.json")
    ):
        raise UsageError(f"model: {model} is a directory without config.json: not a model")
    if not path.exists() and os.environ.get("HF_HUB_OFFLINE") == "1":
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(model, "config.json"), str):
            raise UsageError(
                f"model: {model} is not in the local Hugging Face cache and HF_HUB_OFFLINE=1; "
                "download it first, or unset HF_HUB_OFFLINE"
            )


def check_trackers(report_to: list[str]) -> None:
    """Every tracker in `report_to` must be importable (TRL would fail after the model loads)."""
    for name in report_to:
        module, install = _TRACKERS.get(name, (None, ""))
        if module is not None and importlib.util.find_spec(module) is None:
            raise UsageError(
                f"report_to: {name} is not installed; install {install}, or --set report_to=none"
            )


def preflight(cfg: AZRConfig) -> None:
    """Every check that needs no torch: the model path, the trackers, the services' URLs."""
    from azr_trainer.session import probe

    check_model(cfg.model)
    check_trackers(list(cfg.report_to))
    for url in cfg.executor_urls:
        probe("executor", url)
    if cfg.buffer_url:
        probe("buffer", cfg.buffer_url)
