"""pass@k, the paper's averages and the results files."""

from __future__ import annotations

import json
import math

import pytest
from azr_trainer.evals.results import (
    Sample,
    averages,
    pass_at_k,
    render_table,
    summarize,
    write_json,
)


def _s(bench, pid, ok):
    return Sample(bench, pid, "p", "c", "a", ok)


def test_pass_at_k_matches_the_closed_form():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 3, 5) == pytest.approx(1 - math.comb(7, 5) / math.comb(10, 5))
    assert pass_at_k(5, 0, 2) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(2, 1, 3)


def test_code_math_and_total_averages_follow_the_paper():
    samples = [
        _s("humanevalplus", "a", True),
        _s("humanevalplus", "b", False),
        _s("mbppplus", "a", True),
        _s("aime24", "a", False),
        _s("math500", "a", True),
        _s("math500", "b", True),
        _s("cruxeval_o", "a", True),
    ]
    scores = summarize(samples)
    avg = averages(scores)
    assert avg["code_avg"] == pytest.approx(75.0)  # (50 + 100) / 2
    assert avg["math_avg"] == pytest.approx(50.0)  # (0 + 100) / 2; CRUXEval is in neither
    assert avg["total_avg"] == pytest.approx(62.5)
    table = render_table(scores)
    assert "| humanevalplus | 2 | 50.0 |" in table
    assert "| **total avg** | | **62.5** |" in table


def test_pass_at_k_over_several_samples_per_problem():
    samples = [_s("aime24", "a", ok) for ok in (True, False, False, False)]
    [score] = summarize(samples, ks=(1, 4))
    assert score.pass_at == {1: pytest.approx(25.0), 4: pytest.approx(100.0)}


def test_json_dump_holds_every_sample(tmp_path):
    samples = [_s("aime24", "a", True), _s("aime24", "b", False)]
    path = tmp_path / "out" / "r.json"
    write_json(path, samples, summarize(samples), {"model": "m"})
    doc = json.loads(path.read_text())
    assert doc["config"] == {"model": "m"}
    assert [s["correct"] for s in doc["samples"]] == [True, False]
    assert doc["samples"][0].keys() >= {"prompt", "completion", "extracted", "correct", "detail"}
    assert doc["averages"]["pass@1"]["math_avg"] == pytest.approx(50.0)
