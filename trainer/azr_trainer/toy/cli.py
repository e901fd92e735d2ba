"""`azr warmstart`: build (or reuse) the warm-started toy model, optionally measure it.

azr warmstart                       the default recipe, cached under $AZR_HOME/models/warmstart/
azr warmstart --eval                then print held-out solver accuracy and proposal validity
azr warmstart --small --seed 3      a quicker recipe
azr warmstart --tiny                the tiny world's recipe (what `azr run` starts from)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from azr_trainer import paths

__all__ = ["cmd_warmstart", "setup_warmstart"]

logger = logging.getLogger(__name__)


def setup_warmstart(p: argparse.ArgumentParser) -> None:
    """Arguments of `azr warmstart`."""
    p.add_argument(
        "--runs-dir",
        default=str(paths.models_dir()),
        help="the cache lives in RUNS_DIR/warmstart/ (default: $AZR_HOME/models, "
        "AZR_HOME defaulting to ~/.cache/azr)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the corpus and the model")
    recipe = p.add_mutually_exclusive_group()
    recipe.add_argument(
        "--small", action="store_true", help="a quicker recipe (a third of the SFT steps)"
    )
    recipe.add_argument(
        "--tiny", action="store_true", help="the tiny world's recipe (`azr run`'s default model)"
    )
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p.add_argument("--eval", action="store_true", help="measure the model on the held-out set")
    p.add_argument("--executor-url", help="an executor to use (default: start one locally)")


def cmd_warmstart(args: argparse.Namespace) -> int:
    """Build or reuse the warm start; with --eval, print its held-out metrics as JSON."""
    from azr_trainer.toy.heldout import evaluate, make_heldout
    from azr_trainer.toy.session import judge_session
    from azr_trainer.toy.warmstart import WarmstartConfig, ensure_warmstart, load_warmstart

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise here
    if args.tiny:
        config = WarmstartConfig.tiny(args.seed)
    else:
        config = WarmstartConfig.small(args.seed) if args.small else WarmstartConfig(args.seed)
    runs = Path(args.runs_dir)
    with judge_session(runs / "warmstart" / "services", executor_url=args.executor_url) as s:
        heldout = make_heldout(
            s.oracle(), max_steps=config.corpus.max_steps, world=config.corpus.world
        )
        result = ensure_warmstart(
            runs, config, s.oracle(), exclude=heldout.task_keys(), force=args.force
        )
        logger.info(
            "warm start %s (%s): %s",
            result.path,
            "reused" if result.reused else "built",
            result.meta,
        )
        if args.eval:
            model, tokenizer = load_warmstart(result.path)
            metrics = evaluate(
                model, tokenizer, heldout, s.judge, s.call, n_inputs=config.corpus.n_inputs
            )
            sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return 0
