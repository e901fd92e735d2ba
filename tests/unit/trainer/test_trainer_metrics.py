"""Step metrics from rows, the JSONL file, and the report."""

from __future__ import annotations

import math

from azr_trainer.metrics import MetricsWriter, read_metrics, step_metrics
from azr_trainer.report import write_report


def r(t, role, reward, **kw):
    base = dict(
        task_type=t,
        role=role,
        reward=reward,
        format_error=False,
        valid=None,
        correct=None,
        learnability=None,
        solve_rate=None,
        judge_error=False,
        filler=False,
        length=10,
    )
    return {**base, **kw}


ROWS = [
    r("deduction", "propose", 0.5, valid=True, learnability=0.5, solve_rate=0.5, length=20),
    r("deduction", "propose", -1.0, format_error=True, valid=None),
    r("deduction", "solve", 1.0, correct=True),
    r("deduction", "solve", None, judge_error=True),
    r("deduction", "solve", -0.5, correct=False),
    r("abduction", "solve", None, filler=True),
]


def test_step_metrics_per_group():
    m = step_metrics(ROWS)
    assert m["azr/deduction/propose/reward"] == -0.25
    assert m["azr/deduction/propose/valid_rate"] == 0.5
    assert m["azr/deduction/propose/format_error_rate"] == 0.5
    assert m["azr/deduction/propose/learnability"] == 0.5
    assert m["azr/deduction/propose/response_length"] == 15
    assert m["azr/deduction/solve/reward"] == 0.25  # the judge error is not scored
    assert m["azr/deduction/solve/solve_rate"] == 0.5
    assert m["azr/judge_errors"] == 1
    assert math.isnan(m["azr/abduction/solve/reward"])  # fillers only


def test_jsonl_round_trip_truncate_and_report(tmp_path):
    w = MetricsWriter(tmp_path / "metrics.jsonl")
    for step in (1, 2, 3):
        w.write(
            step,
            {**step_metrics(ROWS), "azr/buffer/deduction": float(step), "time/generate_s": 1.0},
        )
    rows = read_metrics(tmp_path / "metrics.jsonl")
    assert [x["step"] for x in rows] == [1, 2, 3]
    assert rows[0]["azr/abduction/solve/reward"] is None  # NaN is written as null
    w.truncate(2)
    assert [x["step"] for x in read_metrics(tmp_path / "metrics.jsonl")] == [1, 2]
    index = write_report(tmp_path)
    html = index.read_text()
    assert "solve-reward.png" in html and "buffer.png" in html
    assert (tmp_path / "report" / "solve-reward.png").stat().st_size > 1000


def test_log_lines_and_warnings_print_above_the_live_table(capsys):
    # A plain StreamHandler wrote under rich's Live and broke the table; a warning redrew it.
    import io
    import logging
    import sys
    import warnings

    from azr_trainer.metrics import ConsoleDisplay
    from rich.console import Console

    log = logging.getLogger("azr.test.live")
    root = logging.getLogger()
    terminal = logging.StreamHandler(sys.stderr)  # what logging.basicConfig installs
    root.addHandler(terminal)
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            with ConsoleDisplay(3, console=console) as display:
                display.update(1, {"azr/deduction/solve/reward": 0.5})
                log.warning("a line from the log")
                warnings.warn("a warning from a library", UserWarning, stacklevel=1)
                display.update(2, {"azr/deduction/solve/reward": 0.75})
        assert terminal in root.handlers  # the display put it back
    finally:
        root.removeHandler(terminal)
    shown = screen.getvalue()
    assert shown.count("a line from the log") == 1
    assert shown.count("UserWarning: a warning from a library") == 1
    assert "step 2/3" in shown
    err = capsys.readouterr().err
    assert "a line from the log" not in err and "a warning from a library" not in err
