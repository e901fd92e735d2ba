"""Mistakes of the user, as opposed to bugs: the `azr` command prints them in one or two lines.

    UsageError          what the user asked for cannot work (a bad key, a missing path, a URL
    └── ConfigError     that does not answer); the CLI prints the message and exits with status 2
                        a config key, file or preset is wrong (also a ValueError)

Anything else that escapes a command is a bug, and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["ConfigError", "UsageError"]


class UsageError(Exception):
    """A mistake in what the user asked for; the message says what to change."""


class ConfigError(UsageError, ValueError):
    """A config key, value, file or preset is wrong."""
