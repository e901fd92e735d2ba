"""Where azr keeps what it builds once and reuses: `AZR_HOME`, by default `~/.cache/azr`.

    AZR_HOME/models/tiny-random/          the tiny random model (`--model tiny-random`)
    AZR_HOME/models/warmstart/<hash>/     the toy warm starts (`toy-warmstart`, `toy-warmstart-tiny`)

`AZR_MODELS_DIR` still overrides the models folder alone. Runs (checkpoints, metrics, reports)
go to each run's `output_dir`, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["azr_home", "models_dir"]


def azr_home() -> Path:
    """The cache root: `$AZR_HOME`, else `$XDG_CACHE_HOME/azr`, else `~/.cache/azr`."""
    if os.environ.get("AZR_HOME"):
        return Path(os.environ["AZR_HOME"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "azr"


def models_dir() -> Path:
    """Where built models are cached: `$AZR_MODELS_DIR`, else `AZR_HOME/models`."""
    override = os.environ.get("AZR_MODELS_DIR")
    return Path(override).expanduser() if override else azr_home() / "models"
