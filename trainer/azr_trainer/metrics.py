"""Per-step metrics: computed from the global batch, written as JSON Lines, shown live.

Metric names (one JSON object per step in `metrics.jsonl`, also sent to `report_to`):

    azr/<type>/<role>/reward             mean reward of scored samples
    azr/<type>/<role>/format_error_rate  share of completions that failed to parse
    azr/<type>/<role>/response_length    mean completion length in tokens
    azr/<type>/propose/valid_rate        share of proposals the executor accepted
    azr/<type>/propose/learnability      mean learnability of valid proposals
    azr/<type>/propose/solve_rate        mean solve rate of the learnability rollouts
    azr/<type>/solve/solve_rate          share of solver answers judged correct
    azr/judge_errors                     samples left out (sandbox_error)
    azr/buffer/<type>                    tasks in the buffer
    time/generate_s, time/execute_s, time/update_s, time/step_s
    time/rollout_s, time/seed_s          the whole rollout; buffer seeding (first step only)
    memory/peak_allocated_gib            on CUDA: this rank's peak over the step (also
    memory/peak_reserved_gib             what the caching allocator held)
    train/loss, train/grad_norm          TRL's own diagnostics of the step's update, from its
    train/entropy, train/clip_ratio      log (`TRL_DIAGNOSTICS`: clip_ratio is the share of
    train/learning_rate                  tokens whose ratio left the trust region)
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from azr_trainer.tasks import ROLES, TASK_TYPES

__all__ = [
    "TRL_DIAGNOSTICS",
    "ConsoleDisplay",
    "MetricsWriter",
    "read_metrics",
    "step_metrics",
    "trl_diagnostics",
]

# TRL's log key -> our metric name. The values are the means over the step's optimizer steps.
TRL_DIAGNOSTICS = {
    "loss": "train/loss",
    "grad_norm": "train/grad_norm",
    "entropy": "train/entropy",
    "clip_ratio/region_mean": "train/clip_ratio",
    "learning_rate": "train/learning_rate",
}


def _mean(values: Iterable[float]) -> float:
    vals = [v for v in values if v is not None and not math.isnan(v)]
    return sum(vals) / len(vals) if vals else float("nan")


def step_metrics(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Metrics of one step from every rank's rows (dicts with the `Sample` fields + length)."""
    out: dict[str, float] = {}
    for t in TASK_TYPES:
        for r in ROLES:
            group = [row for row in rows if row["task_type"] == t and row["role"] == r]
            real = [row for row in group if not row.get("filler")]
            key = f"azr/{t}/{r}"
            out[f"{key}/reward"] = _mean(row["reward"] for row in real)
            out[f"{key}/format_error_rate"] = _mean(float(row["format_error"]) for row in real)
            out[f"{key}/response_length"] = _mean(float(row["length"]) for row in real)
            if r == "propose":
                out[f"{key}/valid_rate"] = _mean(float(bool(row["valid"])) for row in real)
                valid = [row for row in real if row["valid"]]
                out[f"{key}/learnability"] = _mean(row["learnability"] for row in valid)
                out[f"{key}/solve_rate"] = _mean(row["solve_rate"] for row in valid)
            else:
                judged = [row for row in real if not row["judge_error"]]
                out[f"{key}/solve_rate"] = _mean(float(bool(row["correct"])) for row in judged)
    out["azr/judge_errors"] = float(sum(bool(row["judge_error"]) for row in rows))
    out["azr/reward"] = _mean(row["reward"] for row in rows if not row.get("filler"))
    return out


def trl_diagnostics(logs: dict[str, Any]) -> dict[str, float]:
    """The `TRL_DIAGNOSTICS` found in one of the trainer's log dicts, under our names."""
    out = {}
    for key, name in TRL_DIAGNOSTICS.items():
        value = logs.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


class MetricsWriter:
    """Appends one JSON object per step to `metrics.jsonl` (NaN written as null)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, step: int, values: dict[str, float]) -> None:
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()
        }
        row = {"step": step, "time": time.time(), **clean}
        with self.path.open("a") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    def truncate(self, step: int) -> None:
        """Drop rows after `step` (a resumed run rewrites them)."""
        if not self.path.exists():
            return
        rows = [r for r in read_metrics(self.path) if r["step"] <= step]
        self.path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """Every row of a `metrics.jsonl` file."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


class _ConsoleHandler(logging.Handler):
    """Prints log records through the live display's console, above the table."""

    def __init__(self, console: Any, like: logging.Handler) -> None:
        super().__init__(like.level)
        self.console = console
        self.setFormatter(like.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            self.console.print(text, markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


class ConsoleDisplay:
    """A live rich table: progress and the latest step's metrics per (type x role).

    While it is shown, every log handler that wrote to the terminal (the root's, transformers')
    prints through the table's console instead, and warnings become one log record each: a
    plain stream write under rich's `Live` breaks the table and makes it redraw.
    """

    def __init__(self, total_steps: int, *, enabled: bool = True, console: Any = None) -> None:
        self.total = total_steps
        self.enabled = enabled
        self.console = console
        self._live: Any = None
        self._start = time.monotonic()
        self._swapped: list[tuple[logging.Logger, logging.Handler, logging.Handler]] = []
        self._captured_warnings = False

    def __enter__(self) -> ConsoleDisplay:
        if self.enabled:
            from rich.live import Live

            terminal = {sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__}
            self._live = Live(
                self._render(None, {}), console=self.console, auto_refresh=False, transient=False
            )
            self._live.__enter__()
            loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
            for log in loggers:
                if not isinstance(log, logging.Logger):
                    continue
                for handler in list(log.handlers):
                    if type(handler) is logging.StreamHandler and handler.stream in terminal:
                        routed = _ConsoleHandler(self._live.console, handler)
                        log.removeHandler(handler)
                        log.addHandler(routed)
                        self._swapped.append((log, handler, routed))
            if warnings.showwarning is not getattr(logging, "_showwarning", None):
                logging.captureWarnings(True)
                self._captured_warnings = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._captured_warnings:
            logging.captureWarnings(False)
            self._captured_warnings = False
        for log, handler, routed in self._swapped:
            log.removeHandler(routed)
            log.addHandler(handler)
        self._swapped.clear()
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def update(self, step: int, values: dict[str, float]) -> None:
        if self._live is not None:
            self._live.update(self._render(step, values), refresh=True)

    def _render(self, step: int | None, values: dict[str, float]) -> Any:
        from rich.table import Table

        elapsed = time.monotonic() - self._start
        title = (
            f"AZR self-play  step {step or 0}/{self.total}  ({elapsed:.0f} s)"
            if step
            else "AZR self-play: starting"
        )
        table = Table(title=title)
        for col in ("group", "reward", "format err", "valid", "solve", "learnab.", "length"):
            table.add_column(col, justify="right" if col != "group" else "left")
        for t in TASK_TYPES:
            for r in ROLES:
                k = f"azr/{t}/{r}"
                table.add_row(
                    f"{t}/{r}",
                    _fmt(values.get(f"{k}/reward")),
                    _fmt(values.get(f"{k}/format_error_rate")),
                    _fmt(values.get(f"{k}/valid_rate")),
                    _fmt(values.get(f"{k}/solve_rate")),
                    _fmt(values.get(f"{k}/learnability")),
                    _fmt(values.get(f"{k}/response_length")),
                )
        buffers = "  ".join(f"{t}={_fmt(values.get(f'azr/buffer/{t}'))}" for t in TASK_TYPES)
        times = "  ".join(
            f"{k}={_fmt(values.get(f'time/{k}_s'))}s" for k in ("generate", "execute", "update")
        )
        table.caption = f"buffer: {buffers}   time: {times}"
        return table
