"""The toy preset starts from the toy warm start, with task shapes it was trained on; `azr run`
uses it by default, and `--preset tiny-cpu` stays available."""

from __future__ import annotations

from azr_trainer.cli import main
from azr_trainer.config import load_config
from azr_trainer.models import TOY_WARMSTART
from azr_trainer.toy.warmstart import WarmstartConfig


def test_toy_preset_matches_the_warm_start_corpus() -> None:
    cfg = load_config(preset="toy")
    corpus = WarmstartConfig().corpus
    assert cfg.model == TOY_WARMSTART
    assert cfg.n_induction_inputs == corpus.n_inputs
    assert cfg.n_references == corpus.n_references


def test_azr_run_defaults_to_the_toy_preset(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["run", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    assert "default toy" in capsys.readouterr().out
    assert load_config(preset="tiny-cpu").model == "tiny-random"
