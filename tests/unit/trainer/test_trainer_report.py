"""The report reads at a glance: smoothed curves over faint raw points, solver and proposer on
separate panels, TRL's diagnostics, the held-out bars and the run's config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from azr_trainer.report import _panels, smooth, write_report

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "run-toy-tiny"


def test_smoothing_is_a_debiased_moving_average():
    assert smooth([1.0, 1.0, 1.0]) == pytest.approx([1.0, 1.0, 1.0])  # no pull towards 0
    zigzag = smooth([0.0, 1.0] * 10)
    assert max(zigzag[4:]) - min(zigzag[4:]) < 0.5  # the zigzag of raw points is damped
    assert smooth([]) == []


def test_no_panel_mixes_the_solver_and_the_proposer():
    for _, panels in _panels():
        for _, _, lines in panels:
            roles = {
                key.split("/")[2]
                for _, key, _ in lines
                if key.startswith("azr/") and key.count("/") == 3
            }
            assert len(roles) <= 1, lines


def test_the_page_holds_the_summary_the_diagnostics_and_the_config(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(FIXTURE, run)
    page = write_report(run).read_text()
    assert "Held-out solver accuracy 0.25 → 0.41" in page
    assert "Mean of the first 5 steps → mean of the last 5 steps" in page
    for stem in ("solve-reward", "propose-valid_rate", "train-loss", "train-grad_norm",
                 "train-entropy", "train-clip_ratio", "train-learning_rate", "heldout"):  # fmt: skip
        assert f'src="{stem}.png"' in page
        assert (run / "report" / f"{stem}.png").stat().st_size > 2000
    config = json.dumps("toy-warmstart-tiny")
    assert f"<dt>model</dt><dd>{config.replace(chr(34), '&quot;')}</dd>" in page
