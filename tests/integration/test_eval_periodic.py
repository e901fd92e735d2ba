"""The trainer's periodic CRUXEval validation: metrics under the reference's names, and the
model handed back in the mode it came in."""

from __future__ import annotations

import pytest
from azr_trainer.config import AZRConfig
from azr_trainer.evals.periodic import evaluate_cruxeval
from azr_trainer.models import build_tiny_model, load_model_and_tokenizer

pytestmark = pytest.mark.slow


def test_evaluate_cruxeval_returns_both_scores_and_restores_train_mode(
    executor_server, tmp_path_factory
):
    # The session's shared tiny model (test_eval_tiny_model.py builds the same directory).
    tiny = build_tiny_model(tmp_path_factory.getbasetemp() / "eval-models" / "tiny-random")
    model, tokenizer = load_model_and_tokenizer(str(tiny))
    model.train()
    side = tokenizer.padding_side = "right"
    metrics = evaluate_cruxeval(model, tokenizer, executor_server.url, n_items=2, max_new_tokens=4)
    assert set(metrics) == {"val/test_score/cruxeval_o", "val/test_score/cruxeval_i"}
    assert all(0.0 <= v <= 100.0 for v in metrics.values())
    assert model.training
    assert tokenizer.padding_side == side


def test_eval_config_fields_are_checked():
    assert AZRConfig().eval_steps == 0
    with pytest.raises(ValueError, match="eval_steps"):
        AZRConfig(eval_steps=-1)
