"""azr-proto: the wire contract shared by the azr services and their clients."""

from __future__ import annotations

from azr_proto.errors import (
    BadRequest,
    Overloaded,
    ProtoError,
    ServerFault,
    ServiceError,
    TransportError,
    Unauthorized,
)
from azr_proto.statuses import RunStatus

__version__ = "0.2.0"  # the package's one version source (pyproject reads it); see CHANGELOG.md

__all__ = [
    "BadRequest",
    "Overloaded",
    "ProtoError",
    "RunStatus",
    "ServerFault",
    "ServiceError",
    "TransportError",
    "Unauthorized",
    "__version__",
]
