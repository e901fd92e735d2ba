"""The `azr eval` subcommand: evaluate a model on the paper's benchmarks, one command.

    azr eval --model andrewzh/Absolute_Zero_Reasoner-Coder-7b            # everything, greedy
    azr eval --model runs/x/checkpoint-200 --benchmarks cruxeval_o,math500 --limit 50
    azr eval --model M --n 8 --temperature 0.6 --k 1,8                    # pass@k by sampling

Without `--executor-url` it starts a local executor service for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from azr_trainer import paths
from azr_trainer.evals.benchmarks import BENCHMARKS, MATH_BENCHMARKS
from azr_trainer.evals.generation import SamplingParams, load_generator
from azr_trainer.evals.results import render_table, write_json
from azr_trainer.evals.runner import DEFAULT_BENCHMARKS, EvalConfig, config_dict, run_eval
from azr_trainer.evals.templates import TEMPLATES

__all__ = ["cmd_eval", "setup_eval"]

logger = logging.getLogger("azr.eval")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def setup_eval(p: argparse.ArgumentParser) -> None:
    """The arguments of `azr eval` (registered in `azr_trainer.cli.SUBCOMMANDS`)."""
    p.add_argument("--model", required=True, help="hub id, local path or checkpoint directory")
    p.add_argument(
        "--benchmarks",
        default=",".join(DEFAULT_BENCHMARKS),
        help=f"comma-separated, from: {', '.join(BENCHMARKS)} (or 'math', 'code', 'all')",
    )
    p.add_argument("--template", choices=TEMPLATES, default="azr")
    p.add_argument("--limit", type=int, default=None, help="first N problems of each benchmark")
    p.add_argument("--n", type=int, default=1, help="completions per problem")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (the paper)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--k", default="1", help="pass@k values to report, e.g. 1,8")
    p.add_argument("--max-new-tokens", type=int, default=1024)
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--backend", choices=["auto", "hf", "vllm"], default="auto")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--executor-url", default=None, help="else a local executor is started")
    p.add_argument("--data-dir", type=Path, default=None, help="benchmark data (default: data/)")
    p.add_argument(
        "--livecodebench",
        type=Path,
        default=None,
        help="local JSONL of LiveCodeBench code generation (not vendored)",
    )
    p.add_argument("--output", type=Path, default=Path("runs/eval/results.json"))
    p.add_argument(
        "--workdir", type=Path, default=Path("runs/eval"), help="logs of a locally started executor"
    )
    p.add_argument(
        "--models-dir",
        type=Path,
        default=paths.models_dir(),
        help="where `--model tiny-random` is built (default: $AZR_HOME/models)",
    )


def _benchmarks(spec: str, has_lcb: bool) -> tuple[str, ...]:
    out: list[str] = []
    for name in _csv(spec):
        if name == "all":
            out += list(DEFAULT_BENCHMARKS) + (["livecodebench"] if has_lcb else [])
        elif name == "math":
            out += MATH_BENCHMARKS
        elif name == "code":
            out += ["humanevalplus", "mbppplus"] + (["livecodebench"] if has_lcb else [])
        else:
            out.append(name)
    if has_lcb and "livecodebench" not in out:
        out.append("livecodebench")
    return tuple(dict.fromkeys(out))


@contextlib.contextmanager
def _executor_url(args: argparse.Namespace, needed: bool) -> Iterator[str | None]:
    if args.executor_url or not needed:
        yield args.executor_url
        return
    from azr_trainer.services import local_services

    with local_services(args.workdir, buffer=False) as services:
        yield services.executor_url


def cmd_eval(args: argparse.Namespace) -> int:
    """Run `azr eval`; print the table; write the JSON file. Exit code 2 on bad arguments."""
    try:
        cfg = EvalConfig(
            benchmarks=_benchmarks(args.benchmarks, args.livecodebench is not None),
            template=args.template,
            limit=args.limit,
            sampling=SamplingParams(
                n=args.n,
                temperature=args.temperature,
                top_p=args.top_p,
                max_new_tokens=args.max_new_tokens,
                seed=args.seed,
            ),
            ks=tuple(int(k) for k in _csv(args.k)),
            data_dir=args.data_dir,
            livecodebench_path=args.livecodebench,
        )
    except ValueError as exc:
        logger.error("%s", exc)
        return 2
    needs_executor = any(b not in MATH_BENCHMARKS for b in cfg.benchmarks)
    generator = load_generator(
        args.model, backend=args.backend, batch_size=args.batch_size, models_dir=args.models_dir
    )
    with _executor_url(args, needs_executor) as url:

        @contextlib.asynccontextmanager
        async def factory() -> AsyncIterator[Any]:
            from azr_trainer.evals.executor_runner import executor_runner

            assert url is not None
            async with executor_runner(url) as runner:
                yield runner

        report = run_eval(generator, factory if url else None, cfg)
    write_json(
        args.output,
        report.samples,
        report.scores,
        config_dict(cfg, model=args.model, seconds=report.seconds),
    )
    for k in cfg.ks:
        logger.info("results (pass@%d):\n%s", k, render_table(report.scores, k))
    logger.info("wrote %s", args.output)
    return 0
