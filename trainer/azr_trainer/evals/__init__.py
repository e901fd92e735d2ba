"""Evaluation on the paper's benchmarks (`azr eval`), scored by the executor service.

Benchmarks: CRUXEval-O/I, HumanEval+, MBPP+, LiveCodeBench (local file), and six math sets.
See `runner.run_eval` for the programmatic entry point and `periodic.evaluate_cruxeval` for the
trainer's in-training validation.
"""

from __future__ import annotations

from azr_trainer.evals.benchmarks import BENCHMARKS, Problem, load_benchmark
from azr_trainer.evals.extraction import extract_code, extract_math_answer
from azr_trainer.evals.generation import HFGenerator, SamplingParams, load_generator
from azr_trainer.evals.math_grading import grade_math
from azr_trainer.evals.results import Sample, pass_at_k, render_table, summarize
from azr_trainer.evals.runner import EvalConfig, EvalReport, run_eval
from azr_trainer.evals.scoring import Judge, Verdict
from azr_trainer.evals.templates import TEMPLATES, render_prompt

__all__ = [
    "BENCHMARKS",
    "TEMPLATES",
    "EvalConfig",
    "EvalReport",
    "HFGenerator",
    "Judge",
    "Problem",
    "Sample",
    "SamplingParams",
    "Verdict",
    "extract_code",
    "extract_math_answer",
    "grade_math",
    "load_benchmark",
    "load_generator",
    "pass_at_k",
    "render_prompt",
    "render_table",
    "run_eval",
    "summarize",
]
