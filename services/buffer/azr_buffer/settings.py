"""Configuration of the buffer service: one pydantic-settings class, read from AZR_BUFFER_* variables."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["BufferSettings"]


class BufferSettings(BaseSettings):
    """Settings of the buffer service. Built once by `create_app` or the CLI; never at import."""

    model_config = SettingsConfigDict(env_prefix="AZR_BUFFER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8020, ge=0, le=65535)
    log_level: str = "info"
