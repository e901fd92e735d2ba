"""Helpers of the security suite: every hostile program runs on the shared process-mode server."""

from __future__ import annotations

import os

import pytest
from azr_executor.settings import ExecutorSettings


@pytest.fixture
def ex(executor_server):
    """The shared executor (process mode, 2 zygotes)."""
    return executor_server


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.fail("the security suite checks the uid drop and private mounts: run it as root")


@pytest.fixture(scope="session")
def small_ex():
    """A second executor with short HTTP timeouts, a low connection cap and a small output
    budget (one zygote), for the service-wide limits."""
    from azr_executor_fixtures import _serve

    settings = ExecutorSettings(
        zygotes=1, spare_zygote=False, http_header_timeout_s=1.0, http_keepalive_s=1.0,
        http_max_connections=6, max_inflight_output_mb=64, max_response_mb=1,
    )  # fmt: skip
    yield from _serve(settings)
