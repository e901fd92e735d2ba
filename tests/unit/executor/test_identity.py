"""The isolation mode is decided once at start, and a weaker one is refused unless accepted."""

from __future__ import annotations

import pytest
from azr_executor.sandbox import identity
from azr_executor.settings import ExecutorSettings


def _host(monkeypatch, *, root: bool, userns: bool, mounts: bool) -> None:
    monkeypatch.setattr(identity.os, "geteuid", lambda: 0 if root else 10001)
    monkeypatch.setattr(identity, "user_namespaces_work",
                        lambda python: (userns, mounts, "" if mounts else "refused"))  # fmt: skip


@pytest.mark.parametrize(
    ("root", "userns", "mounts", "allow", "mode"),
    [
        (True, False, False, False, "root"),
        (False, True, True, False, "userns"),
        (False, True, False, True, "userns-nomounts"),
        (False, False, False, True, "weak"),
    ],
)
def test_modes(monkeypatch, root, userns, mounts, allow, mode):
    _host(monkeypatch, root=root, userns=userns, mounts=mounts)
    assert identity.decide_mode(ExecutorSettings(allow_weak_isolation=allow)) == mode


@pytest.mark.parametrize(("userns", "what"), [(True, "files"), (False, "uid, mounts")])
def test_a_weaker_mode_is_refused_unless_accepted(monkeypatch, userns, what):
    _host(monkeypatch, root=False, userns=userns, mounts=False)
    with pytest.raises(identity.IsolationUnavailable, match=what) as info:
        identity.decide_mode(ExecutorSettings())
    assert "AZR_EXECUTOR_ALLOW_WEAK_ISOLATION=true" in str(info.value)


def test_the_cli_refuses_in_one_line(monkeypatch, capsys):
    from azr_executor import cli

    _host(monkeypatch, root=False, userns=False, mounts=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("azr-executor: refusing to serve")


def test_tokens_are_comma_separated_or_a_json_list():
    assert ExecutorSettings(tokens="a, b,,c").tokens == ["a", "b", "c"]
    assert ExecutorSettings(tokens='["a", "b"]').tokens == ["a", "b"]
    with pytest.raises(ValueError, match="JSON list"):
        ExecutorSettings(tokens="[1, 2]")
