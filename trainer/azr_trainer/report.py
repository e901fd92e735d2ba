"""`azr report`: a page that shows at a glance what a run learned, and the curves behind it.

Reads `<run>/metrics.jsonl` (written by the trainer, see `metrics.py`), `<run>/heldout.json`
(toy warm starts) and `<run>/config.yaml`; writes `<run>/report/*.png` and
`<run>/report/index.html`. Works on a run in progress too.

Each curve is an exponential moving average (debiased, as TensorBoard draws it) over faint raw
points: with a few samples per point the raw values zigzag. Solver and proposer have separate
panels, each task type keeps its colour everywhere, step ticks are integers and legends sit
outside the data. The page is a grid that reads at 1400 px wide.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import yaml

from azr_trainer.errors import UsageError
from azr_trainer.metrics import TRL_DIAGNOSTICS, read_metrics
from azr_trainer.summary import LEARNING_METRICS, change, first_last, heldout_line
from azr_trainer.tasks import ROLES, TASK_TYPES

__all__ = ["SMOOTHING", "smooth", "write_report"]

SMOOTHING = 0.6  # EMA weight of the past, TensorBoard's default
COLORS = {"deduction": "#1f77b4", "abduction": "#ff7f0e", "induction": "#2ca02c"}
Line = tuple[str, str, str]  # label, metric key, colour

_ROLE_PANELS: dict[str, list[tuple[str, str]]] = {
    "solve": [
        ("reward", "Solver reward"),
        ("solve_rate", "Solver: share of answers judged correct"),
        ("format_error_rate", "Solver: format-error rate"),
        ("response_length", "Solver: response length (tokens)"),
    ],
    "propose": [
        ("reward", "Proposer reward"),
        ("valid_rate", "Proposer: share of valid proposals"),
        ("learnability", "Proposer: learnability of valid proposals"),
        ("solve_rate", "Proposer: solve rate of its tasks (learnability rollouts)"),
        ("format_error_rate", "Proposer: format-error rate"),
        ("response_length", "Proposer: response length (tokens)"),
    ],
}
_PHASES = {"generate": "#1f77b4", "execute": "#ff7f0e", "update": "#2ca02c", "step": "#7f7f7f"}


def _panels() -> list[tuple[str, list[tuple[str, str, list[Line]]]]]:
    """Sections of (file stem, title, lines)."""
    sections = []
    for role, name in (("solve", "Solver"), ("propose", "Proposer")):
        panels = [
            (f"{role}-{m}", title, [(t, f"azr/{t}/{role}/{m}", COLORS[t]) for t in TASK_TYPES])
            for m, title in _ROLE_PANELS[role]
        ]
        sections.append((name, panels))
    trl = [
        (
            name.replace("/", "-"),
            f"Update: {name.split('/')[1].replace('_', ' ')}",
            [("", name, "#444")],
        )
        for name in TRL_DIAGNOSTICS.values()
    ]
    sections.append(("The update (TRL's diagnostics)", trl))
    buffers = [(t, f"azr/buffer/{t}", COLORS[t]) for t in TASK_TYPES]
    times = [(k, f"time/{k}_s", c) for k, c in _PHASES.items()]
    system = [("buffer", "Tasks in the buffer", buffers), ("time", "Seconds per step", times)]
    sections.append(("Buffer and time", system))
    return sections


def smooth(values: list[float], weight: float = SMOOTHING) -> list[float]:
    """Debiased exponential moving average: the first point is itself, not pulled to 0."""
    out, acc, norm = [], 0.0, 0.0
    for v in values:
        acc = weight * acc + (1 - weight) * v
        norm = weight * norm + (1 - weight)
        out.append(acc / norm)
    return out


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for row in rows:
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        xs.append(int(row["step"]))
        ys.append(float(value))
    return xs, ys


def _figure() -> tuple[Any, Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    return plt, fig, ax


def _plot(path: Path, title: str, rows: list[dict[str, Any]], lines: list[Line]) -> None:
    from matplotlib.ticker import MaxNLocator

    plt, fig, ax = _figure()
    drawn = 0
    for label, key, color in lines:
        xs, ys = _series(rows, key)
        if not xs:
            continue
        ax.plot(xs, ys, "o", color=color, alpha=0.25, markersize=3.5, markeredgewidth=0)
        ax.plot(xs, smooth(ys), color=color, linewidth=2, label=label or None)
        drawn += 1
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("AZR step")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if not drawn:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", transform=ax.transAxes)
    elif any(label for label, _, _ in lines):
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _bars(path: Path, heldout: dict[str, dict[str, float]]) -> None:
    plt, fig, _ = _figure()
    fig.clear()
    fig.set_size_inches(7.0, 3.2)
    groups = [*TASK_TYPES, "mean"]
    for i, (prefix, title) in enumerate(
        (("solve", "Solver accuracy"), ("propose", "Valid proposals"))
    ):
        ax = fig.add_subplot(1, 2, i + 1)
        for j, (when, color) in enumerate((("before", "#bbbbbb"), ("after", "#1f77b4"))):
            values = [heldout.get(when, {}).get(f"{prefix}/{g}", 0.0) for g in groups]
            xs = [k + (j - 0.5) * 0.38 for k in range(len(groups))]
            ax.bar(xs, values, width=0.38, color=color, label=f"{when} self-play")
        ax.set_xticks(range(len(groups)), groups, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"Held-out: {title.lower()}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.legend(*ax.get_legend_handles_labels(), loc="upper center", ncol=2, frameon=False,
               bbox_to_anchor=(0.5, 0.0), fontsize=8)  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)


def _learned_html(rows: list[dict[str, Any]]) -> str:
    window, pairs = first_last(rows)
    if not window:
        return "<p>Too few steps to compare the first with the last.</p>"
    head = "".join(f"<th>{html.escape(t)}</th>" for t in LEARNING_METRICS.values())
    body = []
    for t in TASK_TYPES:
        for r in ROLES:
            cells = []
            for m in LEARNING_METRICS:
                pair = pairs.get(f"azr/{t}/{r}/{m}")
                text, mark = change(pair, lower_is_better=m == "format_error_rate")
                arrow = {"up": " ▲", "down": " ▼"}.get(mark.split(" ")[0], "")
                cells.append(f'<td class="{mark}">{html.escape(text)}{arrow}</td>')
            body.append(f"<tr><th>{t} / {r}</th>{''.join(cells)}</tr>")
    steps = f"{window} step{'s' if window > 1 else ''}"
    caption = f"Mean of the first {steps} → mean of the last {steps}"
    return (
        f"<table class='learned'><caption>{caption}</caption><tr><th></th>{head}</tr>"
        f"{''.join(body)}</table>"
    )


def _config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    loaded = yaml.safe_load(path.read_text()) if path.exists() else None
    return loaded if isinstance(loaded, dict) else {}


def _config_html(run_dir: Path) -> str:
    cfg = _config(run_dir)
    if not cfg:
        return "<p>No config.yaml in this run.</p>"
    items = "".join(
        f"<div><dt>{html.escape(str(k))}</dt><dd>{html.escape(json.dumps(v))}</dd></div>"
        for k, v in cfg.items()
    )
    return f"<dl class='config'>{items}</dl>"


_CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;padding:16px 24px;max-width:1400px;
  box-sizing:border-box;color:#222}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:22px 0 8px;border-bottom:1px solid #ddd}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:12px}
.top{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:16px;align-items:start}
figure{margin:0;min-width:0}img{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:#666}
table.learned{border-collapse:collapse;font-size:13px;width:100%}
.learned td,.learned th{border:1px solid #ddd;padding:3px 6px;text-align:right;white-space:nowrap}
.learned caption{text-align:left;color:#666;font-size:12px;padding-bottom:4px}
td.good{color:#1a7f37;font-weight:600}td.bad{color:#c62828;font-weight:600}
dl.config{columns:3 300px;font-size:12px;margin:0}
dl.config div{break-inside:avoid;display:flex;gap:8px}dt{color:#666;min-width:40%}
dd{margin:0;overflow-wrap:anywhere;min-width:0}
.headline{font-size:16px;font-weight:600;margin:6px 0 10px}
"""


def write_report(run_dir: Path) -> Path:
    """Write the plots and `index.html` under `run_dir/report/`; returns the HTML path."""
    metrics = run_dir / "metrics.jsonl"
    if not metrics.exists():
        raise UsageError(f"{metrics} does not exist: is {run_dir} a training run's output_dir?")
    rows = read_metrics(metrics)
    out = run_dir / "report"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # panels renamed since an earlier report
        old.unlink()
    sections = []
    for name, panels in _panels():
        figures = []
        for stem, title, lines in panels:
            _plot(out / f"{stem}.png", title, rows, lines)
            figures.append(f'<figure><img src="{stem}.png" alt="{html.escape(title)}"></figure>')
        sections.append(f"<h2>{html.escape(name)}</h2><div class='grid'>{''.join(figures)}</div>")
    heldout_path = run_dir / "heldout.json"
    heldout_fig = headline = ""
    if heldout_path.exists():
        heldout = json.loads(heldout_path.read_text())
        _bars(out / "heldout.png", heldout)
        if heldout.get("after"):
            line = heldout_line(heldout["before"], heldout["after"])
            headline = f"<p class='headline'>{html.escape(line.capitalize())}</p>"
        heldout_fig = (
            '<figure><img src="heldout.png" alt="Held-out set before and after self-play">'
            "<figcaption>The fixed held-out set, every answer judged by the executor."
            "</figcaption></figure>"
        )
    name = html.escape(run_dir.resolve().name)
    model = html.escape(str(_config(run_dir).get("model", "?")))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>AZR run {name}</title>"
        f"<style>{_CSS}</style></head><body><h1>AZR run {name}</h1>"
        f"<p>Model {model}, {len(rows)} steps in metrics.jsonl. Curves: moving average (weight"
        f" {SMOOTHING}) over the raw values (faint points).</p>"
        f"<h2>What the run learned</h2>{headline}"
        f"<div class='top'>{_learned_html(rows)}{heldout_fig}</div>"
        f"{''.join(sections)}<h2>Config</h2>{_config_html(run_dir)}</body></html>"
    )
    index = out / "index.html"
    index.write_text(page)
    return index
