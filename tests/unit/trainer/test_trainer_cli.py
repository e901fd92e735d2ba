"""The `azr` command line: subcommands, config plumbing, report."""

from __future__ import annotations

import pytest
from azr_trainer.cli import SUBCOMMANDS, _config, main
from azr_trainer.metrics import MetricsWriter


def test_subcommands_are_registered():
    assert {"run", "train", "report", "services"} <= set(SUBCOMMANDS)


def test_report_command_writes_html(tmp_path):
    MetricsWriter(tmp_path / "metrics.jsonl").write(1, {"azr/deduction/solve/reward": 0.5})
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report" / "index.html").exists()


def test_report_of_a_missing_run_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"metrics\.jsonl"):
        main(["report", str(tmp_path)])


def test_train_flags_become_config_overrides():
    import argparse

    args = argparse.Namespace(
        preset="tiny-cpu",
        config=None,
        model="my/model",
        output_dir="out",
        steps=3,
        no_live=True,
        set=["n_learnability=5"],
    )
    cfg = _config(args)
    assert (cfg.model, cfg.output_dir, cfg.max_steps, cfg.live_console, cfg.n_learnability) == (
        "my/model",
        "out",
        3,
        False,
        5,
    )
