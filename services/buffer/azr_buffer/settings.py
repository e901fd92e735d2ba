"""Configuration of the buffer service: one pydantic-settings class, read from AZR_BUFFER_* variables."""

from __future__ import annotations

from typing import Annotated

from azr_proto.settings import split_list
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["BufferSettings"]


class BufferSettings(BaseSettings):
    """Settings of the buffer service. Built once by `create_app` or the CLI; never at import."""

    model_config = SettingsConfigDict(env_prefix="AZR_BUFFER_", extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8020, ge=0, le=65535)
    log_level: str = "info"
    # sqlite:///PATH (the folder is created) or postgresql+psycopg://USER:PASS@HOST:PORT/DB.
    database_url: str = "sqlite:///./runs/buffer.sqlite"
    # Apply pending Alembic migrations at startup (`azr-buffer migrate` does it by hand).
    migrate_on_start: bool = True
    # Bearer tokens accepted on /v1 (comma-separated; a JSON list also works). Empty: no authentication, which is only
    # safe on a loopback or private network; set tokens whenever the port is reachable by others.
    tokens: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Largest request body; bounds the memory one request can take. Imports have their own limit
    # because they stream to a temporary file instead of memory.
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_import_bytes: int = Field(default=8 * 1024 * 1024 * 1024, ge=1024)
    # Bound on the import bytes spooled at once by all requests of this process (temporary disk
    # space); an import that would pass it gets 429 with Retry-After.
    max_import_spool_bytes: int = Field(default=16 * 1024 * 1024 * 1024, ge=1024)
    # SQLite: how long a writer waits for another process's write lock before giving up (503).
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    # SQLite: page cache per connection, and how much of the file to read through mmap (no read()
    # call and no copy per page: sampling touches ~10 random pages of a large file per request).
    sqlite_cache_mb: int = Field(default=64, ge=1)
    sqlite_mmap_mb: int = Field(default=1024, ge=0)
    # Database connections per process: POOL_SIZE, and as many again under load.
    pool_size: int = Field(default=8, ge=1)
    # How long a request waits for a free connection before it gets a 503.
    pool_timeout_s: float = Field(default=30.0, gt=0)
    # Exports streaming at once (429 past it). Each holds a connection for as long as its client
    # takes to read it: the bound keeps slow or stalled readers from taking the connections that
    # every other request needs. Never more than POOL_SIZE are let through.
    max_exports: int = Field(default=4, ge=1)

    @model_validator(mode="after")
    def _check_spool(self) -> BufferSettings:
        if self.max_import_spool_bytes < self.max_import_bytes:
            raise ValueError(
                f"max_import_spool_bytes ({self.max_import_spool_bytes}) is below "
                f"max_import_bytes ({self.max_import_bytes}): the largest imports would be "
                "refused forever; lower AZR_BUFFER_MAX_IMPORT_BYTES too"
            )
        return self

    # Lists read as the executor reads them (azr_proto.settings): `a,b` or a JSON list.
    _lists = field_validator("tokens", mode="before")(split_list)
