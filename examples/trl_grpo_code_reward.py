"""GRPO on small coding problems with TRL, rewarded by an azr executor: the whole recipe.

    pip install azr-proto trl datasets
    azr-executor serve &                                  # or any deployed executor
    python examples/trl_grpo_code_reward.py --model Qwen/Qwen2.5-0.5B-Instruct \\
        --executor http://127.0.0.1:8010 [--token s3cret] [--async-reward]

Each problem has stdin/stdout test cases in a `test_cases` column; `azr_proto.rewards` turns every
completion into one `/v1/tests` request and rewards the fraction of cases passed (None, which TRL
skips, when the sandbox itself failed). The prompts end inside an open ```python fence, so the
completion is the program (`fenced=False`). The test suite runs this script for two steps with a
tiny random model built offline, so it is kept working.
"""

from __future__ import annotations

import argparse

import torch
from azr_proto.executor import RunLimits
from azr_proto.rewards import async_code_reward, code_reward
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer

PROBLEMS = [
    ("reads an integer n and prints 2 * n", [("3\n", "6\n"), ("10\n", "20\n"), ("0\n", "0\n")]),
    ("reads a line and prints it reversed", [("abc\n", "cba\n"), ("xy\n", "yx\n")]),
    ("reads two integers on one line and prints their sum", [("1 2\n", "3\n"), ("5 5\n", "10\n")]),
    ("reads an integer n and prints the numbers 1 to n, one per line", [("3\n", "1\n2\n3\n")]),
]


def dataset() -> Dataset:
    """One row per problem: the prompt (ending in an open fence) and its test cases."""
    rows = []
    for task, cases in PROBLEMS:
        prompt = f"Write a Python program that {task}.\n```python\n"
        test_cases = [{"kind": "stdio", "stdin": i, "expected_stdout": o} for i, o in cases]
        rows.append({"prompt": prompt, "test_cases": test_cases})
    return Dataset.from_list(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="hub id or local directory")
    parser.add_argument("--executor", default="http://127.0.0.1:8010", help="executor base URL")
    parser.add_argument("--token", default=None, help="bearer token, when the executor has some")
    parser.add_argument("--async-reward", action="store_true", help="use the async reward")
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--output-dir", default="runs/trl-grpo-code")
    args = parser.parse_args()

    make = async_code_reward if args.async_reward else code_reward
    reward = make(
        args.executor,
        token=args.token,
        fenced=False,
        limits=RunLimits(wall_timeout_s=2),  # per test case; RL programs should be quick
    )
    cuda = torch.cuda.is_available()
    config = GRPOConfig(
        output_dir=args.output_dir,
        max_steps=args.max_steps,
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=64,
        learning_rate=1e-6,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        use_cpu=not cuda,
        bf16=cuda and torch.cuda.is_bf16_supported(),
    )
    trainer = GRPOTrainer(
        model=args.model, reward_funcs=[reward], args=config, train_dataset=dataset()
    )
    trainer.train()


if __name__ == "__main__":
    main()
