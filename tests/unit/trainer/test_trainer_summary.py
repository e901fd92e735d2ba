"""The end of a run says what it learned: first steps against last steps per (type x role), and
the held-out set before and after."""

from __future__ import annotations

import io
import math

from azr_trainer.summary import first_last, heldout_line, heldout_table, learning_table
from rich.console import Console


def _render(table) -> str:
    out = io.StringIO()
    Console(file=out, width=160, color_system=None).print(table)
    return out.getvalue()


def _rows(n: int) -> list[dict]:
    # solver reward on deduction climbs 0.0, 0.1, ...; format errors of the proposer fall
    return [
        {
            "step": i + 1,
            "azr/deduction/solve/reward": i / 10,
            "azr/deduction/solve/solve_rate": 0.5,
            "azr/deduction/propose/format_error_rate": 1 - i / 10,
            "azr/deduction/propose/valid_rate": None,
        }
        for i in range(n)
    ]


def test_first_five_against_last_five():
    window, pairs = first_last(_rows(12))
    assert window == 5
    first, last = pairs["azr/deduction/solve/reward"]
    assert math.isclose(first, 0.2) and math.isclose(last, 0.9)
    assert all(math.isnan(v) for v in pairs["azr/deduction/propose/valid_rate"])


def test_a_short_run_compares_its_halves():
    assert first_last(_rows(6))[0] == 3
    assert first_last(_rows(1)) == (0, {})


def test_the_table_shows_each_group_with_its_direction():
    text = _render(learning_table(_rows(12)))
    assert "first 5 steps" in text and "last 5" in text
    lines = {
        line.split("│")[1].strip(): line
        for line in text.splitlines()
        if "/" in line and "│" in line
    }
    assert "0.20 → 0.90 ▲" in lines["deduction/solve"]  # reward rose
    assert "0.50 → 0.50" in lines["deduction/solve"]  # solve rate flat: no arrow
    assert "0.80 → 0.10 ▼" in lines["deduction/propose"]  # format errors fell
    assert "induction/propose" in lines


def test_the_heldout_line_and_table():
    before = {"solve/mean": 0.25, "propose/mean": 0.5, "solve/deduction": 0.2}
    after = {"solve/mean": 0.37, "propose/mean": 0.55, "solve/deduction": 0.4}
    assert heldout_line(before, after) == (
        "held-out solver accuracy 0.25 → 0.37, valid proposals 0.50 → 0.55"
    )
    text = _render(heldout_table(before, after))
    assert "0.20 → 0.40 ▲" in text and "0.25 → 0.37 ▲" in text
