"""What a run learned, at a glance: its first steps against its last, and the held-out set.

    rows = read_metrics(run / "metrics.jsonl")
    console.print(learning_table(rows))            # per (task type x role): first 5 → last 5
    console.print(heldout_table(before, after))    # toy warm starts: the fixed held-out set
    logger.info(heldout_line(before, after))       # "held-out solver accuracy 0.25 → 0.37"

A single step's numbers on a small batch are noise; a mean over five steps at each end shows a
trend. Arrows mark a change bigger than 0.05 (for format errors, down is the good direction).
"""

from __future__ import annotations

import math
from typing import Any

from azr_trainer.tasks import ROLES, TASK_TYPES

__all__ = [
    "LEARNING_METRICS",
    "change",
    "first_last",
    "heldout_line",
    "heldout_table",
    "learning_table",
]

# metric suffix -> column title; `valid_rate` exists for the proposer only.
LEARNING_METRICS = {
    "reward": "reward",
    "solve_rate": "solve rate",
    "valid_rate": "valid",
    "format_error_rate": "format errors",
}
_NOTABLE = 0.05


def _mean(values: list[float | None]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def first_last(
    rows: list[dict[str, Any]], n: int = 5
) -> tuple[int, dict[str, tuple[float, float]]]:
    """(window, {metric: (mean of the first `window` steps, mean of the last)}) over every
    `azr/...` metric; the window shrinks to half the run when the run is shorter than 2n steps."""
    window = min(n, len(rows) // 2)
    out: dict[str, tuple[float, float]] = {}
    if window < 1:
        return 0, out
    keys = sorted({k for row in rows for k in row if k.startswith("azr/")})
    for key in keys:
        first = _mean([r.get(key) for r in rows[:window]])
        last = _mean([r.get(key) for r in rows[-window:]])
        out[key] = (first, last)
    return window, out


def change(pair: tuple[float, float] | None, *, lower_is_better: bool = False) -> tuple[str, str]:
    """(`"0.20 → 0.90"`, mark): mark is `"up"`/`"down"` plus `" good"`/`" bad"` for a change
    over 0.05, else `""`; `("-", "")` when there is nothing to compare."""
    if pair is None or all(math.isnan(v) for v in pair):
        return "-", ""
    first, last = pair
    text = f"{_fmt(first)} → {_fmt(last)}"
    delta = last - first
    if math.isnan(delta) or abs(delta) <= _NOTABLE:
        return text, ""
    good = delta < 0 if lower_is_better else delta > 0
    return text, f"{'up' if delta > 0 else 'down'} {'good' if good else 'bad'}"


def _cell(pair: tuple[float, float] | None, *, lower_is_better: bool = False) -> str:
    text, mark = change(pair, lower_is_better=lower_is_better)
    if not mark:
        return text
    arrow = "▲" if mark.startswith("up") else "▼"
    return f"{text} [{'green' if mark.endswith('good') else 'red'}]{arrow}[/]"


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def learning_table(rows: list[dict[str, Any]], n: int = 5) -> Any:
    """A rich Table: per (task type x role), each metric's first-steps mean -> last-steps mean."""
    from rich.table import Table

    window, pairs = first_last(rows, n)
    steps = f"{window} step{'s' if window > 1 else ''}"
    title = (
        f"What the run learned: mean of the first {steps} → mean of the last {steps}"
        if window
        else "What the run learned: too few steps to compare"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("type/role", no_wrap=True)
    for title_ in LEARNING_METRICS.values():
        table.add_column(title_, justify="right")
    for t in TASK_TYPES:
        for r in ROLES:
            cells = [
                _cell(
                    pairs.get(f"azr/{t}/{r}/{metric}"),
                    lower_is_better=metric == "format_error_rate",
                )
                for metric in LEARNING_METRICS
            ]
            table.add_row(f"{t}/{r}", *cells)
    return table


def heldout_table(before: dict[str, float], after: dict[str, float]) -> Any:
    """A rich Table of the held-out metrics (`toy.heldout.evaluate`), before -> after."""
    from rich.table import Table

    table = Table(
        title="Held-out set: before → after self-play",
        caption="every answer and proposal judged by the executor",
        title_justify="left",
    )
    table.add_column("task type")
    table.add_column("solver accuracy", justify="right")
    table.add_column("valid proposals", justify="right")
    for t in (*TASK_TYPES, "mean"):
        table.add_row(
            t,
            _cell((before.get(f"solve/{t}", math.nan), after.get(f"solve/{t}", math.nan))),
            _cell((before.get(f"propose/{t}", math.nan), after.get(f"propose/{t}", math.nan))),
        )
    return table


def heldout_line(before: dict[str, float], after: dict[str, float]) -> str:
    """One line: `held-out solver accuracy 0.25 → 0.37, valid proposals 0.50 → 0.55`."""
    solve = (before.get("solve/mean", math.nan), after.get("solve/mean", math.nan))
    propose = (before.get("propose/mean", math.nan), after.get("propose/mean", math.nan))
    return (
        f"held-out solver accuracy {_fmt(solve[0])} → {_fmt(solve[1])}, "
        f"valid proposals {_fmt(propose[0])} → {_fmt(propose[1])}"
    )
