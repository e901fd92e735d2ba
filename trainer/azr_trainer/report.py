"""`azr report`: PNG plots of a run's per-step metrics and an HTML page that shows them.

Reads `<run>/metrics.jsonl` (written by the trainer, see `metrics.py`) and writes
`<run>/report/*.png` and `<run>/report/index.html`. Works on a run in progress too.
"""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from azr_trainer.metrics import read_metrics
from azr_trainer.tasks import ROLES, TASK_TYPES

__all__ = ["write_report"]

# (file stem, title, metric suffix, roles it applies to)
PANELS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("reward", "Mean reward per task type and role", "reward", ROLES),
    ("format_error_rate", "Format-error rate", "format_error_rate", ROLES),
    ("valid_rate", "Valid-proposal rate", "valid_rate", ("propose",)),
    ("solve_rate", "Solve rate (solver; proposer: learnability rollouts)", "solve_rate", ROLES),
    ("learnability", "Learnability of valid proposals", "learnability", ("propose",)),
    ("response_length", "Mean response length (tokens)", "response_length", ROLES),
]


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        xs.append(int(row["step"]))
        ys.append(float(value))
    return xs, ys


def _plot(path: Path, title: str, lines: list[tuple[str, list[int], list[float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for label, xs, ys in lines:
        if xs:
            ax.plot(xs, ys, marker="o", markersize=3, label=label)
    ax.set_title(title)
    ax.set_xlabel("AZR step")
    ax.grid(alpha=0.3)
    if any(xs for _, xs, _ in lines):
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_report(run_dir: Path) -> Path:
    """Write the plots and `index.html` under `run_dir/report/`; returns the HTML path."""
    metrics = run_dir / "metrics.jsonl"
    if not metrics.exists():
        raise FileNotFoundError(f"{metrics} does not exist: is {run_dir} a training run?")
    rows = read_metrics(metrics)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    images: list[tuple[str, str]] = []
    for stem, title, suffix, roles in PANELS:
        lines = []
        for t in TASK_TYPES:
            for r in roles:
                xs, ys = _series(rows, f"azr/{t}/{r}/{suffix}")
                lines.append((f"{t}/{r}", xs, ys))
        _plot(out / f"{stem}.png", title, lines)
        images.append((f"{stem}.png", title))
    buffers = [(t, *_series(rows, f"azr/buffer/{t}")) for t in TASK_TYPES]
    _plot(out / "buffer.png", "Buffer size per task type", buffers)
    images.append(("buffer.png", "Buffer size per task type"))
    times = [(k, *_series(rows, f"time/{k}_s")) for k in ("generate", "execute", "update", "step")]
    _plot(out / "time.png", "Seconds per step, by phase", times)
    images.append(("time.png", "Seconds per step, by phase"))

    last = rows[-1] if rows else {}
    summary = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in sorted(last.items())
        if k.startswith(("azr/", "time/")) or k == "step"
    )
    figures = "\n".join(
        f'<figure><img src="{src}" alt="{html.escape(title)}"><figcaption>'
        f"{html.escape(title)}</figcaption></figure>"
        for src, title in images
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>AZR run {html.escape(run_dir.name)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}figure{display:inline-block;margin:1em}"
        "table{border-collapse:collapse}td{border:1px solid #ccc;padding:2px 6px}</style>"
        f"</head><body><h1>AZR run {html.escape(run_dir.name)}</h1>"
        f"<p>{len(rows)} steps recorded in metrics.jsonl.</p>{figures}"
        f"<h2>Last step</h2><table>{summary}</table></body></html>"
    )
    index = out / "index.html"
    index.write_text(page)
    return index
