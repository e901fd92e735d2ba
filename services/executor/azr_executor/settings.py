"""Configuration of the executor service: one pydantic-settings class, read from AZR_EXECUTOR_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ExecutorSettings"]


class ExecutorSettings(BaseSettings):
    """Settings of the executor service. Built once by `create_app` or the CLI; never at import."""

    model_config = SettingsConfigDict(env_prefix="AZR_EXECUTOR_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8010, ge=0, le=65535)
    log_level: str = "info"
