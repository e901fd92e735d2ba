"""The toy world learns by self-play: from a tiny-world warm start, measured by the executor.

Everything is real: the warm start is built here (`WarmstartConfig.tiny`: TRL's SFT of a tiny
Qwen2 on the tiny world, 1,500 SFT steps), the executor and buffer services are started by
the test, self-play is `azr_trainer.train.main` with the `toy` preset at learning rate 3e-4
(`TINY_SELFPLAY_OVERRIDES`), and every verdict (the evaluation set before and after, every
answer and proposal during self-play) comes from the executor. Seeds are fixed; the margins
were measured over 12 runs (RESULTS.md, "The tiny world, second recipe").

What it asserts is what rose in every measured run: the solver's accuracy on the fixed
evaluation set on deduction and abduction (the warm start answers carefully, and then mostly
right, only 20-40 % of the time; self-play raises that share). Induction's is reported. The self-play curves (solver reward, valid proposals) are
in the failure message.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import pytest
from azr_trainer.metrics import read_metrics
from azr_trainer.toy.experiment import run_experiment
from azr_trainer.toy.oracle import SubprocessOracle
from azr_trainer.toy.warmstart import TINY_SELFPLAY_OVERRIDES, WarmstartConfig

pytestmark = [
    pytest.mark.slow,
    # TRL 1.16 itself still calls transformers' deprecated gradient-checkpointing aliases.
    pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning"),
]

SEED = 0
STEPS = 12
WINDOW = 4  # steps averaged at each end of the self-play curves
IO_TYPES = ("deduction", "abduction")  # the io task types (solver asserted, proposer reported)
TYPES = ("deduction", "abduction", "induction")
# Margins below what every measured run showed (RESULTS.md, "The tiny world, second recipe").
SOLVED_MARGIN = 0.03  # evaluation set, deduction and abduction, after vs before


def _mean_of(row: dict[str, float | None], key: str, types: tuple[str, ...]) -> float:
    values = [row[f"azr/{t}/{key}"] for t in types]
    return statistics.fmean(v for v in values if v is not None)


def _window(curve: list[float]) -> tuple[float, float]:
    return statistics.fmean(curve[:WINDOW]), statistics.fmean(curve[-WINDOW:])


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One warm-start cache for the module: the first test builds it, the next reuses it."""
    return tmp_path_factory.mktemp("models")


def test_self_play_from_a_tiny_warm_start_raises_the_solver_reward(
    tmp_path: Path, models_dir: Path
) -> None:
    (result,) = run_experiment(
        tmp_path / "experiment",
        seeds=[SEED],
        steps=STEPS,
        models_dir=models_dir,
        recipe=WarmstartConfig.tiny,
        overrides=list(TINY_SELFPLAY_OVERRIDES),
        # The corpus is the grammar's own programs; the executor judges everything else.
        corpus_oracle=SubprocessOracle(trusted=True),
        n_per_type=24,
        n_samples=8,
        n_proposals=32,
    )
    rows = read_metrics(Path(result.run_dir) / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    reward_first, reward_last = _window([_mean_of(r, "solve/reward", TYPES) for r in rows])
    valid_first, valid_last = _window([_mean_of(r, "propose/valid_rate", IO_TYPES) for r in rows])
    before, after = result.before, result.after
    io_before = statistics.fmean(before[f"propose/{t}"] for t in IO_TYPES)
    io_after = statistics.fmean(after[f"propose/{t}"] for t in IO_TYPES)
    report = (
        f"solver reward during self-play {reward_first:.3f} -> {reward_last:.3f}; solved on "
        f"the evaluation set {before['solve/mean']:.3f} -> {after['solve/mean']:.3f}; valid io "
        f"proposals during self-play {valid_first:.3f} -> {valid_last:.3f}, on the evaluation "
        f"prompts {io_before:.3f} -> {io_after:.3f}"
    )
    io_solved_before = statistics.fmean(before[f"solve/{t}"] for t in IO_TYPES)
    io_solved_after = statistics.fmean(after[f"solve/{t}"] for t in IO_TYPES)
    report += f"; solved, deduction and abduction {io_solved_before:.3f} -> {io_solved_after:.3f}"
    # The warm start takes part: it solves some evaluation tasks (measured 0.21-0.28).
    assert before["solve/mean"] >= 0.1, report
    # The solver learns: its accuracy on the fixed evaluation set (24 tasks per type, 8 answers
    # each, every one judged by the executor) rises through self-play. That is its reward on
    # fixed tasks (+1 right, -0.5 wrong); the reward during self-play is also reported, but is
    # not asserted: it is measured on the proposer's changing tasks, and over 12 steps it moved
    # by -0.06..+0.44 (RESULTS.md, down in two runs of 12), too noisy for a reliable margin.
    # Asserted on deduction and abduction, where the warm start's careful style is right and
    # self-play makes it more frequent: +0.068..+0.19 in all 16 measured runs. Induction does not
    # improve reliably (-0.06..+0.21: RESULTS.md), and since the io seed set is shared (as in
    # the reference) the three types' mean rose only +0.038..+0.092 in four runs: reported, not
    # asserted.
    assert io_solved_after >= io_solved_before + SOLVED_MARGIN, report
    # Not asserted: the proposer's valid deduction and abduction rate. The tiny warm start
    # already writes 72-91 % valid ones on the evaluation prompts; during self-play the rate
    # rose in most runs but fell in one and stayed at 0 in another (RESULTS.md).


def test_azr_run_ends_with_what_it_learned(
    tmp_path: Path,
    models_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # `make run` is `azr run`: it must end with the first-vs-last table and the held-out set
    # before and after, judged by the executor (the warm start is the one built above).
    from azr_trainer.cli import main

    monkeypatch.setenv("AZR_MODELS_DIR", str(models_dir))
    out = tmp_path / "run"
    assert main(["run", "--steps", "2", "--no-live", "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "What the run learned" in printed and "deduction/solve" in printed
    assert "Held-out set: before → after self-play" in printed
    assert re.search(r"held-out solver accuracy \d\.\d\d → \d\.\d\d", caplog.text)
    heldout = (out / "heldout.json").read_text()
    assert '"before"' in heldout and '"after"' in heldout
    rows = read_metrics(out / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and "train/loss" in rows[-1]
