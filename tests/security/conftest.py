"""Helpers of the security suite: every hostile program runs on the shared process-mode server."""

from __future__ import annotations

import os

import pytest
from azr_executor.settings import ExecutorSettings


@pytest.fixture
def ex(executor_server):
    """The shared executor (process mode, 2 zygotes)."""
    return executor_server


NONROOT = os.environ.get("AZR_SECURITY_MODE") == "nonroot"  # scripts/test-security-nonroot.sh


def _not_root(what: str) -> None:
    if NONROOT:
        pytest.skip(f"{what}: a root-mode property (README, isolation modes)")
    pytest.fail("the security suite checks the uid drop and private mounts: run it as root "
                "(or through scripts/test-security-nonroot.sh for the non-root mode)")  # fmt: skip


@pytest.fixture
def root_only():
    """The property needs root: a sandbox uid per zygote."""
    if os.geteuid() != 0:
        _not_root("a sandbox uid of its own")


@pytest.fixture
def isolated(ex):
    """The property holds as root and in user-namespace mode (private mounts, PID isolation)."""
    if ex.pool.mode not in ("root", "userns"):
        pytest.fail("this executor runs without isolation (ALLOW_WEAK_ISOLATION)")


@pytest.fixture
def needs_cgroups(ex):
    """The property needs the run's cgroup (root)."""
    if ex.pool._groups is None:
        if os.geteuid() != 0:
            _not_root("a cgroup per run")
        pytest.fail("no cgroup for the runs although the service is root")


@pytest.fixture(scope="session")
def small_ex():
    """A second executor with short HTTP timeouts, a low connection cap and a small output
    budget (one zygote), for the service-wide limits."""
    from azr_executor_fixtures import _serve

    settings = ExecutorSettings(
        zygotes=1, spare_zygote=False, http_header_timeout_s=1.0, http_body_timeout_s=1.0,
        http_keepalive_s=1.0,
        http_max_connections=6, max_inflight_output_mb=64, max_response_mb=1,
    )  # fmt: skip
    yield from _serve(settings)


@pytest.fixture(scope="session")
def secret_ex(tmp_path_factory):
    """An executor started as the Deployment starts it: tokens in its environment (comma-
    separated) and in a token file. Yields (executor, the environment's token, the file's)."""
    import secrets

    from azr_executor_fixtures import _serve

    env_token, file_token = f"envtok-{secrets.token_hex(16)}", f"filetok-{secrets.token_hex(16)}"
    token_file = tmp_path_factory.mktemp("secret") / "tokens"
    token_file.write_text(f"{file_token} team-a\n")
    token_file.chmod(0o600)
    os.environ["AZR_EXECUTOR_TOKENS"] = f"{env_token},other-token"
    try:
        settings = ExecutorSettings(zygotes=1, spare_zygote=False, token_file=token_file)
        assert env_token in settings.load_tokens() and file_token in settings.load_tokens()
        served = _serve(settings)
        yield next(served), env_token, file_token
        next(served, None)
    finally:
        os.environ.pop("AZR_EXECUTOR_TOKENS", None)
