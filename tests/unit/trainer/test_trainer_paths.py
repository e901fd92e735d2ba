"""Caches live under AZR_HOME (default ~/.cache/azr), not under the working directory: `azr run`
from another folder reuses the warm start instead of rebuilding it."""

from __future__ import annotations

from azr_trainer import paths
from azr_trainer.toy.cli import setup_warmstart


def test_the_cache_does_not_follow_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("AZR_HOME", raising=False)
    monkeypatch.delenv("AZR_MODELS_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    first = paths.models_dir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert paths.models_dir() == first == tmp_path / "home" / ".cache" / "azr" / "models"


def test_azr_home_and_the_models_override(tmp_path, monkeypatch):
    monkeypatch.delenv("AZR_MODELS_DIR", raising=False)
    monkeypatch.setenv("AZR_HOME", str(tmp_path / "azr"))
    assert paths.models_dir() == tmp_path / "azr" / "models"
    monkeypatch.setenv("AZR_MODELS_DIR", str(tmp_path / "m"))
    assert paths.models_dir() == tmp_path / "m"


def test_azr_warmstart_caches_under_azr_home(tmp_path, monkeypatch):
    import argparse

    monkeypatch.delenv("AZR_MODELS_DIR", raising=False)
    monkeypatch.setenv("AZR_HOME", str(tmp_path / "azr"))
    p = argparse.ArgumentParser()
    setup_warmstart(p)
    assert p.parse_args([]).runs_dir == str(tmp_path / "azr" / "models")
