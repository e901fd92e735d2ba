"""Run by `torchrun --nproc_per_node 2` from test_trainer_ddp.py: two AZR steps, gloo, CPU.

Each rank writes what the test checks to `<out>/rank<k>.json`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from azr_trainer.config import load_config
from azr_trainer.train import main


def run() -> None:
    out = Path(sys.argv[1])
    cfg = load_config(
        preset="tiny-cpu",
        overrides=[
            f"output_dir={out}",
            f"executor_urls={os.environ['AZR_TEST_EXECUTOR_URL']}",
            f"buffer_url={os.environ['AZR_TEST_BUFFER_URL']}",
            "run_name=ddp",
            "max_steps=2",
            "max_completion_tokens=8",
            "n_references=1",
            "save_steps=10",
            "live_console=false",
        ],
    )
    result = main(cfg)
    rank = int(os.environ["RANK"])
    (out / f"rank{rank}.json").write_text(
        json.dumps(
            {
                "rows": result.last_rows,
                "advantages": result.last_advantages,
                "buffer": result.buffer_sizes,
            }
        )
    )


if __name__ == "__main__":
    run()
