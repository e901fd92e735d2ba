"""In-training validation: CRUXEval-O (deduction) and CRUXEval-I (abduction), as the reference
logs `val/test_score/cruxeval_{o,i}` every N steps.

Call `evaluate_cruxeval(model, tokenizer, executor_url, n_items=...)` from the training loop on
rank 0; it generates greedily with the model in hand and returns metrics ready to log.
"""

from __future__ import annotations

from typing import Any

from azr_trainer.evals.executor_runner import executor_runner
from azr_trainer.evals.generation import HFGenerator, SamplingParams
from azr_trainer.evals.runner import EvalConfig, run_eval

__all__ = ["evaluate_cruxeval"]


def evaluate_cruxeval(
    model: Any,
    tokenizer: Any,
    executor_url: str,
    *,
    n_items: int | None = 64,
    max_new_tokens: int = 1024,
    batch_size: int = 8,
) -> dict[str, float]:
    """Greedy pass@1 (%) on the first `n_items` of CRUXEval-O and CRUXEval-I.

    Returns `{"val/test_score/cruxeval_o": ..., "val/test_score/cruxeval_i": ...}`. The model is
    put in eval mode for the call and back in train mode afterwards if it was training.
    """
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        cfg = EvalConfig(
            benchmarks=("cruxeval_o", "cruxeval_i"),
            template="azr",
            limit=n_items,
            sampling=SamplingParams(max_new_tokens=max_new_tokens),
        )
        generator = HFGenerator(model, tokenizer, batch_size=batch_size)
        report = run_eval(generator, lambda: executor_runner(executor_url), cfg)
    finally:
        if was_training:
            model.train()
    return {f"val/test_score/{s.benchmark}": s.pass_at[1] for s in report.scores}
