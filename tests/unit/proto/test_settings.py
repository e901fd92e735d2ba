"""The services' common way of reading settings: one list format (comma-separated or a JSON
list) for both, a malformed variable as one line and status 2, and `serve --help` listing all."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from azr_buffer.settings import BufferSettings
from azr_executor.settings import ExecutorSettings
from azr_proto.settings import split_list

SERVICES = [("executor", ExecutorSettings), ("buffer", BufferSettings)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a,b", ["a", "b"]),
        (" a , b ,", ["a", "b"]),
        ('["a", "b"]', ["a", "b"]),
        ("", []),
        ("[]", []),
        ("tok-with=signs", ["tok-with=signs"]),
    ],
)
def test_a_list_setting_is_commas_or_a_json_list(raw, expected):
    assert split_list(raw) == expected


@pytest.mark.parametrize(("name", "cls"), SERVICES)
@pytest.mark.parametrize("raw", ["t1,t2", '["t1", "t2"]'])
def test_both_services_read_tokens_the_same_way(monkeypatch, name, cls, raw):
    # The executor took only a JSON list and the buffer only commas.
    monkeypatch.setenv(f"AZR_{name.upper()}_TOKENS", raw)
    assert cls().tokens == ["t1", "t2"]


def _serve(name: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    code = f"from azr_{name}.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "serve", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "variable", "value", "message"),
    [
        ("executor", "AZR_EXECUTOR_TOKENS", '["a",', 'AZR_EXECUTOR_TOKENS=["a",: not a JSON list'),
        (
            "executor",
            "AZR_EXECUTOR_ZYGOTES",
            "many",
            "AZR_EXECUTOR_ZYGOTES=many: must be a valid integer",
        ),
        ("executor", "AZR_EXECUTOR_SANDBOX", "docker", "must be 'process' or 'gvisor'"),
        (
            "buffer",
            "AZR_BUFFER_PORT",
            "99999",
            "AZR_BUFFER_PORT=99999: must be less than or equal to 65535",
        ),
        ("buffer", "AZR_BUFFER_MIGRATE_ON_START", "maybe", "AZR_BUFFER_MIGRATE_ON_START=maybe"),
    ],
)
def test_a_malformed_setting_is_one_line_and_status_2(name, variable, value, message):
    done = _serve(name, {variable: value})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [done.stderr.strip()], done.stderr  # one line
    assert done.stderr.startswith(f"azr-{name}: error: ") and message in done.stderr


@pytest.mark.parametrize(("name", "cls"), SERVICES)
def test_serve_help_lists_every_setting(name, cls):
    done = _serve(name, {}, "--help")
    assert done.returncode == 0
    prefix = f"AZR_{name.upper()}_"
    for field in cls.model_fields:
        assert f"{prefix}{field.upper()} " in done.stdout, field
