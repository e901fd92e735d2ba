"""`azr warmstart`: supervised fine-tuning of the tiny toy model with TRL's SFTTrainer, cached.

One call builds the corpus (outputs from the oracle), trains a tokenizer on it, builds a tiny
Qwen2 from a config and fine-tunes it on prompt/completion pairs (loss on the completion only).
The result is saved under `<runs_dir>/warmstart/<key>/` with a `warmstart.json` beside it, where
`<key>` hashes the whole recipe and the toy world's text format, so any change rebuilds and an
unchanged recipe is reused without training. A build writes into a temporary folder and renames
it at the end, so an interrupted build never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import random
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from azr_trainer import prompts
from azr_trainer.toy import grammar, texts
from azr_trainer.toy.corpus import CorpusSpec, build_corpus
from azr_trainer.toy.model import ModelSpec, build_model, train_tokenizer
from azr_trainer.toy.oracle import Oracle

__all__ = [
    "TINY_SELFPLAY_OVERRIDES",
    "WarmstartConfig",
    "WarmstartResult",
    "ensure_warmstart",
    "load_warmstart",
    "resolve_warmstart",
    "warmstart_dir",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1  # bump when the meaning of the recipe changes without a field changing


# Four induction inputs: the tiny world's ints run from 1 to 9, and a proposer that must write
# six distinct ones rarely does (about 1 in 9 by chance), so no induction task is ever valid.
TINY_CORPUS = CorpusSpec(
    world="tiny", n_solver_per_type=300, n_proposer_per_type=60, careful_fraction=0.5, n_inputs=4
)
TINY_MODEL = ModelSpec(vocab_size=4096, num_hidden_layers=2, initializer_range=0.05)
# 1,500 SFT steps of 4 (about 125 CPU-s on one thread): the careful style is then right 90 % of
# the time on deduction and abduction (900 steps: 50 %), and chosen 20-40 % of the time.
TINY_STEPS = 1500
TINY_BATCH = 4
# Self-play from the tiny warm start (on top of the `toy` preset): at the preset's 1e-3 the
# solver moved to the careful style but its careful answers fell from about 90 % right to
# 30-70 %; at 3e-4 they stay right (RESULTS.md).
TINY_SELFPLAY_OVERRIDES = ("learning_rate=0.0003",)


@dataclass(frozen=True)
class WarmstartConfig:
    """The whole warm-start recipe; every field is part of the cache key."""

    seed: int = 0
    corpus: CorpusSpec = field(default_factory=CorpusSpec)
    model: ModelSpec = field(default_factory=ModelSpec)
    max_steps: int = 1200
    batch_size: int = 8
    learning_rate: float = 3e-3
    max_length: int = 1024
    # A safety net in CPU seconds of this process (all threads), not wall time, so a busy
    # machine does not change what is trained; 2 cores x 5 minutes is 600. Not part of the
    # cache key: a build that hit it says so in its warmstart.json (`budget_hit`).
    cpu_budget_s: float = 600.0

    def __post_init__(self) -> None:
        if self.max_steps < 1 or self.batch_size < 1 or self.learning_rate <= 0:
            raise ValueError("max_steps, batch_size and learning_rate must be positive")
        if self.cpu_budget_s <= 0:
            raise ValueError("cpu_budget_s must be positive")

    @classmethod
    def small(cls, seed: int = 0) -> WarmstartConfig:
        """A quicker recipe: a third of the SFT steps, same corpus and model."""
        return cls(seed=seed, max_steps=400, cpu_budget_s=240.0)

    @classmethod
    def tiny(cls, seed: int = 0) -> WarmstartConfig:
        """The tiny world's recipe (the CI learning test, tests/integration/test_toy_learning.py).

        One-line programs on digits (`x + 10`, `x * 10`, `x * 11`); about two CPU-minutes on
        one thread. Its careful answers are mostly right and its guesses wrong, and it answers
        carefully only 20-40 % of the time: self-play has room to raise its reward.
        """
        return cls(
            seed=seed,
            corpus=TINY_CORPUS,
            model=TINY_MODEL,
            max_steps=TINY_STEPS,
            batch_size=TINY_BATCH,
            learning_rate=1e-3,
            cpu_budget_s=300.0,
        )

    def key(self) -> str:
        """A short hash of the recipe and of the source that turns tasks into texts."""
        recipe = asdict(self)
        del recipe["cpu_budget_s"]
        h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
        h.update(str(FORMAT_VERSION).encode())
        for module in (grammar, texts, prompts):
            h.update(inspect.getsource(module).encode())
        return h.hexdigest()[:12]


@dataclass(frozen=True)
class WarmstartResult:
    """Where the warm-started model lies and what building it measured."""

    path: Path
    reused: bool
    meta: dict[str, Any]


def warmstart_dir(runs_dir: Path, config: WarmstartConfig) -> Path:
    """The cache folder of `config` under `runs_dir`."""
    return runs_dir / "warmstart" / config.key()


def _train(config: WarmstartConfig, oracle: Oracle, out: Path, exclude: set[str]) -> dict[str, Any]:
    import torch

    # One thread: on these 2-core machines two threads cost ~5x the CPU-seconds per SFT step
    # (1.3 vs 0.25 s measured at load 8) for a model this small.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _sft(config, oracle, out, exclude)
    finally:
        torch.set_num_threads(threads)


def _sft(config: WarmstartConfig, oracle: Oracle, out: Path, exclude: set[str]) -> dict[str, Any]:
    import torch
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl.trainer.sft_config import SFTConfig
    from trl.trainer.sft_trainer import SFTTrainer

    t0 = time.monotonic()
    cpu0 = time.process_time()
    rng = random.Random(config.seed)
    examples = build_corpus(rng, config.corpus, oracle, exclude=exclude)
    t_corpus = time.monotonic() - t0
    tokenizer = train_tokenizer(
        (e.prompt + e.completion for e in examples),
        config.model.vocab_size,
        split_operators=config.corpus.world == "tiny",
    )
    model = build_model(config.model, tokenizer, config.seed)
    dataset = Dataset.from_list(
        [{"prompt": e.prompt, "completion": e.completion} for e in examples]
    )
    cpu_end = time.process_time() + config.cpu_budget_s

    class _Budget(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if time.process_time() > cpu_end:
                logger.warning("warm start: CPU budget reached at step %d", state.global_step)
                control.should_training_stop = True
            return control

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> Any:
            if logs and "loss" in logs:
                logger.info(
                    "warm start: step %d/%d, loss %.3f, %.0f CPU-s",
                    state.global_step,
                    state.max_steps,
                    float(logs["loss"]),
                    time.process_time() - cpu0,
                )
            return control

    torch.manual_seed(config.seed)
    args = SFTConfig(
        output_dir=str(out / "_trainer"),
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
        save_strategy="no",
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        lr_scheduler_type="cosine",
        warmup_steps=20,
        weight_decay=0.0,
        max_length=config.max_length,
        completion_only_loss=True,
        train_sampling_strategy="group_by_length",
        logging_steps=25,
        seed=config.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        callbacks=[_Budget()],
    )
    # Progress goes through logging (the callback above), not HF's printed dicts.
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    result = trainer.train()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    shutil.rmtree(out / "_trainer", ignore_errors=True)
    n_params = sum(p.numel() for p in model.parameters())
    return {
        "n_examples": len(examples),
        "n_params": n_params,
        "train_loss": float(result.training_loss),
        "steps": int(trainer.state.global_step),
        "budget_hit": int(trainer.state.global_step) < config.max_steps,
        "corpus_s": round(t_corpus, 1),
        "total_s": round(time.monotonic() - t0, 1),
        "cpu_s": round(time.process_time() - cpu0, 1),
    }


def ensure_warmstart(
    runs_dir: Path,
    config: WarmstartConfig,
    oracle: Oracle,
    *,
    exclude: set[str] | None = None,
    force: bool = False,
) -> WarmstartResult:
    """Return the cached warm-started model of `config`, training it first when missing.

    `exclude` holds program sources never to train on (the held-out evaluation set).
    """
    final = warmstart_dir(runs_dir, config)
    meta_path = final / "warmstart.json"
    if meta_path.exists() and not force:
        return WarmstartResult(final, True, json.loads(meta_path.read_text()))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    logger.info(
        "building the toy warm start %s (first use: %d SFT steps, a few CPU-minutes; cached)",
        final,
        config.max_steps,
    )
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        stats = _train(config, oracle, tmp, exclude or set())
        meta = {"key": config.key(), "config": asdict(config), **stats}
        (tmp / "warmstart.json").write_text(json.dumps(meta, indent=2))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    logger.info("warm start %s built in %.0f s: %s", final.name, stats["total_s"], final)
    return WarmstartResult(final, False, meta)


def load_warmstart(path: Path) -> tuple[Any, Any]:
    """The model and tokenizer of a built warm start (left padding, as generation needs).

    The tokenizer is loaded as the generic fast tokenizer it was saved as: `AutoTokenizer`
    would pick `Qwen2Tokenizer` from the model type and replace the trained pre-tokenizer.
    """
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path))
    tokenizer.padding_side = "left"
    return AutoModelForCausalLM.from_pretrained(str(path)), tokenizer


def resolve_warmstart(
    runs_dir: Path,
    *,
    seed: int = 0,
    small: bool = False,
    tiny: bool = False,
    executor_url: str | None = None,
) -> Path:
    """The path of the default warm start (`tiny`: the tiny world's) under `runs_dir`, built
    first when missing.

    This is what the model names `toy-warmstart` and `toy-warmstart-tiny` resolve to. Building
    needs the executor: it uses `executor_url`, or starts the services locally for the duration
    of the build.
    """
    from azr_trainer.toy.heldout import make_heldout
    from azr_trainer.toy.session import judge_session

    if small and tiny:
        raise ValueError("choose the small recipe or the tiny world, not both")
    if tiny:
        config = WarmstartConfig.tiny(seed)
    else:
        config = WarmstartConfig.small(seed) if small else WarmstartConfig(seed=seed)
    final = warmstart_dir(runs_dir, config)
    if (final / "warmstart.json").exists():
        return final
    with judge_session(runs_dir / "warmstart" / "services", executor_url=executor_url) as s:
        oracle = s.oracle()
        heldout = make_heldout(oracle, max_steps=config.corpus.max_steps, world=config.corpus.world)
        return ensure_warmstart(runs_dir, config, oracle, exclude=heldout.task_keys()).path
