"""The `azr` command line: subcommands, config plumbing, report."""

from __future__ import annotations

import subprocess
import sys

import pytest
from azr_trainer.cli import SUBCOMMANDS, _config, main
from azr_trainer.metrics import MetricsWriter


def test_subcommands_are_registered():
    assert {"run", "train", "report", "services"} <= set(SUBCOMMANDS)


def test_report_command_writes_html(tmp_path):
    MetricsWriter(tmp_path / "metrics.jsonl").write(1, {"azr/deduction/solve/reward": 0.5})
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report" / "index.html").exists()


def test_report_of_a_missing_run_is_a_clear_error(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "metrics.jsonl does not exist" in err and "Traceback" not in err


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


def _azr(*argv: str) -> subprocess.CompletedProcess[str]:
    """`azr ARGV` in a fresh interpreter; prints whether torch got imported, last."""
    code = (
        "import sys; from azr_trainer.cli import main; rc = main(sys.argv[1:]); "
        "print('torch imported:', 'torch' in sys.modules); sys.exit(rc)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--steps", "-3"], "max_steps: must be greater than or equal to 1 (got -3"),
        (["run", "--steps", "0"], "max_steps: must be greater than or equal to 1 (got 0"),
        (["run", "--preset", "tiny"], "unknown preset 'tiny': did you mean toy-tiny?"),
        (["train", "--set", "learning_rat=1"], "did you mean learning_rate?"),
        (["train", "--model", "/no/such/model"], "model: /no/such/model does not exist"),
        (["train", "--set", "report_to=[clearml]"], "report_to: clearml is not installed"),
        (
            ["run", "--set", "executor_urls=[http://127.0.0.1:1]"],
            "the executor at http://127.0.0.1:1 does not answer",
        ),
        (["run", "--set", "buffer_url=http://127.0.0.1:1"], "the buffer at http://127.0.0.1:1"),
    ],
)
def test_a_users_mistake_is_one_line_and_status_2_before_torch(argv, message):
    done = _azr(*argv)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and message in errors[0], done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout.strip().endswith("torch imported: False")


def test_debug_keeps_the_traceback():
    done = _azr("--debug", "run", "--steps", "0")
    assert done.returncode == 1 and "Traceback" in done.stderr and "ConfigError" in done.stderr


def test_help_lists_the_presets(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for name in ("paper", "tiny-cpu", "toy", "toy-tiny", "single-gpu-lora"):
        assert name in out


def test_config_show_prints_the_effective_config(capsys):
    assert main(["config", "show", "--preset", "toy-tiny", "--steps", "7"]) == 0
    out = capsys.readouterr().out
    assert "model: toy-warmstart-tiny" in out and "# preset toy-tiny" in out
    assert "max_steps: 7" in out and "learning_rate: 0.0003" in out
