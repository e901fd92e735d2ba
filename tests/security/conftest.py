"""Helpers of the security suite: every hostile program runs on the shared process-mode server."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def ex(executor_server):
    """The shared executor (process mode, 2 zygotes)."""
    return executor_server


@pytest.fixture
def root_only():
    if os.geteuid() != 0:
        pytest.fail("the security suite checks the uid drop and private mounts: run it as root")
