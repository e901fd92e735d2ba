"""The toy presets start from the toy warm starts, with task shapes they were trained on; `azr
run` uses the tiny world's (`toy-tiny`) by default, and `--preset toy` / `tiny-cpu` stay."""

from __future__ import annotations

import pytest
from azr_trainer.cli import main
from azr_trainer.config import load_config
from azr_trainer.models import TOY_WARMSTART, TOY_WARMSTART_TINY
from azr_trainer.toy.warmstart import TINY_SELFPLAY_OVERRIDES, WarmstartConfig, resolve_warmstart


def test_toy_preset_matches_the_warm_start_corpus() -> None:
    cfg = load_config(preset="toy")
    corpus = WarmstartConfig().corpus
    assert cfg.model == TOY_WARMSTART
    assert cfg.n_induction_inputs == corpus.n_inputs
    assert cfg.n_references == corpus.n_references


def test_toy_tiny_preset_is_what_the_learning_test_measured() -> None:
    # The CI learning test runs the `toy` preset with the tiny corpus' shapes and
    # TINY_SELFPLAY_OVERRIDES; `toy-tiny` must be exactly that, so `make run` shows what it showed.
    tiny = load_config(preset="toy-tiny")
    corpus = WarmstartConfig.tiny().corpus
    measured = load_config(
        preset="toy",
        overrides=[*TINY_SELFPLAY_OVERRIDES, f"n_induction_inputs={corpus.n_inputs}"],
    )
    assert tiny.model == TOY_WARMSTART_TINY
    assert tiny.n_references == corpus.n_references
    assert {**vars(measured), "model": TOY_WARMSTART_TINY} == vars(tiny)


def test_azr_run_defaults_to_the_toy_tiny_preset(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["run", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "default toy-tiny" in " ".join(capsys.readouterr().out.split())  # any line wrap
    assert load_config(preset="tiny-cpu").model == "tiny-random"


def test_resolve_warmstart_takes_one_recipe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="not both"):
        resolve_warmstart(tmp_path, small=True, tiny=True)
