"""Models shared by both services: the error body and the health answers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ErrorBody", "Health"]


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of an azr service has this body."""

    model_config = ConfigDict(extra="forbid")

    code: str
    detail: str


class Health(BaseModel):
    """Answer of `/healthz` (the process is alive) and `/readyz` (it can serve requests)."""

    status: Literal["ok", "starting", "unavailable"]
    service: str
    version: str
