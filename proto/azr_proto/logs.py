"""The services' log lines: one format for both, and the tenant of the request on every line.

    configure_logging("info")
    # 2026-12-07 13:50:01,234 INFO tenant=team-a azr_executor.routes.run route=/v1/run ...

A shared executor serves many teams: an operator reading its log must see whose request each
line is about. The tenant is the name of the request's token (`azr_proto.asgi.current_tenant`;
`anonymous` when no token is configured, and outside any request).
"""

from __future__ import annotations

import logging

from azr_proto.asgi import current_tenant

__all__ = ["LOG_FORMAT", "TenantFilter", "configure_logging"]

LOG_FORMAT = "%(asctime)s %(levelname)s tenant=%(tenant)s %(name)s %(message)s"


class TenantFilter(logging.Filter):
    """Sets `record.tenant` to the tenant of the request being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.tenant = current_tenant.get()
        return True


def configure_logging(level: str) -> None:
    """Log to stderr in `LOG_FORMAT` at `level` (a name: "info", "DEBUG", ...)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(TenantFilter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
