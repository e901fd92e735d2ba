"""azr-trainer: Absolute Zero self-play on TRL, a client of the executor and buffer services."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
