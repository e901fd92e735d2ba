"""The CPU toy world: synthetic tasks from a grammar and a warm-started tiny model for `make run`."""

from __future__ import annotations

__all__: list[str] = []
