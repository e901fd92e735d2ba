"""The toy world's learning result: held-out solver accuracy per task type and valid-proposal
rate, before and after bounded self-play from the warm start, over several seeds.

    .venv/bin/python bench/toy_learning.py --seeds 0 1 2 --steps 20
    .venv/bin/python bench/toy_learning.py --tiny --seeds 0 --steps 12   # the CI test's world

Prints one line per metric (mean and min..max across seeds, before -> after) and writes
runs/toy-experiment/summary.json. The numbers go into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from azr_trainer.toy.experiment import SeedResult, run_experiment, summarize
from azr_trainer.toy.warmstart import TINY_SELFPLAY_OVERRIDES, WarmstartConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=20, help="self-play steps per seed")
    p.add_argument("--out", default="runs/toy-experiment")
    p.add_argument("--models-dir", default=os.environ.get("AZR_MODELS_DIR", "runs/models"))
    p.add_argument("--executor-url")
    p.add_argument(
        "--warmstart-seed",
        type=int,
        help="start every seed from this seed's warm start (only self-play varies)",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="the tiny world's warm start (WarmstartConfig.tiny) and self-play settings, as the CI test",
    )
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--combine",
        nargs="+",
        metavar="DIR",
        help="run nothing: summarize the results.jsonl of these --out folders (seeds run apart)",
    )
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    out = Path(args.out)
    if args.combine:
        results = [
            SeedResult(**json.loads(line))
            for d in args.combine
            for line in (Path(d) / "results.jsonl").read_text().splitlines()
        ]
    else:
        results = run_experiment(
            out,
            seeds=args.seeds,
            steps=args.steps,
            models_dir=Path(args.models_dir),
            executor_url=args.executor_url,
            overrides=[*(TINY_SELFPLAY_OVERRIDES if args.tiny else ()), *args.set],
            warmstart_seed=args.warmstart_seed,
            recipe=WarmstartConfig.tiny if args.tiny else None,
        )
    summary = summarize(results)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"seeds={[r.seed for r in results]} steps={[r.steps for r in results]}")
    print(f"self-play CPU-s per seed (trainer process): {[r.selfplay_cpu_s for r in results]}")
    for key, s in summary.items():
        lo_b, hi_b = s["before_range"]
        lo_a, hi_a = s["after_range"]
        print(
            f"{key:22s} before {s['before_mean']:.3f} [{lo_b:.3f}..{hi_b:.3f}]"
            f"  after {s['after_mean']:.3f} [{lo_a:.3f}..{hi_a:.3f}]"
            f"  delta {s['delta_mean']:+.3f}  improved {s['improved_seeds']}/{len(results)}"
        )


if __name__ == "__main__":
    main()
