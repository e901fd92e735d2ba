"""`main(cfg)`: an AZR self-play training run, top to bottom.

    services -> clients -> model -> TRL config -> trainer -> resume (truncate the buffer)
    -> seed (lazily, in the first rollout) -> train -> summary and report

Each service given by URL (`executor_urls`, `buffer_url`) is used; each not given is started
locally as a process (SQLite under `<output_dir>/services/`), see `session.py`. With several
processes (torchrun / accelerate) both must be given by URL: every rank shares one buffer.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml
from accelerate import PartialState
from transformers import TrainerCallback

from azr_trainer import paths
from azr_trainer.config import AZRConfig
from azr_trainer.memory import log_memory_estimate
from azr_trainer.metrics import ConsoleDisplay, MetricsWriter, step_metrics, trl_diagnostics
from azr_trainer.models import load_model_and_tokenizer, resolve_model_path, training_dtype
from azr_trainer.prompts import R1_TEMPLATES
from azr_trainer.ranks import AccelerateRanks
from azr_trainer.rewards import ExtremeReward
from azr_trainer.seeding import seed_buffer
from azr_trainer.selfplay import SelfPlay, StepSettings
from azr_trainer.session import open_session
from azr_trainer.tasks import TaskJudge, TaskStore
from azr_trainer.trainer import (
    AZRTrainer,
    SelfPlayRollout,
    StepEndCallback,
    TrainerGenerator,
    azr_reward,
)
from azr_trainer.trl_adapter import add_train_metric, collective_generation, stop_kwargs

__all__ = ["RunResult", "batch_geometry", "main"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    """What a finished run leaves behind."""

    output_dir: Path
    metrics_path: Path
    steps: int
    last_metrics: dict[str, float]
    buffer_sizes: dict[str, int]
    resumed_from_step: int
    last_rows: list[dict[str, Any]]  # every rank's samples of the last step, in rank order
    last_advantages: list[float]  # their TRR++ advantages
    heldout: dict[str, dict[str, float]]  # toy warm starts: {"before": ..., "after": ...}


def batch_geometry(slots_per_rank: int, updates_per_step: int, micro: int) -> tuple[int, int]:
    """(per_device_train_batch_size, gradient_accumulation_steps) for one AZR step per
    `updates_per_step` optimizer steps, with micro-batches of at most `micro` samples."""
    if slots_per_rank % updates_per_step:
        raise ValueError(
            f"{slots_per_rank} samples per rank do not split into {updates_per_step} updates"
        )
    per_update = slots_per_rank // updates_per_step
    size = max(d for d in range(1, min(micro, per_update) + 1) if per_update % d == 0)
    return size, per_update // size


def _last_checkpoint(output_dir: Path) -> Path | None:
    ckpts = [p for p in output_dir.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    complete = [p for p in ckpts if (p / "trainer_state.json").exists()]
    return max(complete, key=lambda p: int(p.name.split("-")[-1]), default=None)


def _grpo_config(cfg: AZRConfig, per_device: int, accum: int, cuda: bool) -> Any:
    from trl.trainer.grpo_config import GRPOConfig

    k = cfg.optimizer_steps_per_step
    bf16 = cuda if cfg.bf16 is None else cfg.bf16
    checkpointing = cuda if cfg.gradient_checkpointing is None else cfg.gradient_checkpointing
    return GRPOConfig(
        output_dir=cfg.output_dir,
        max_steps=cfg.max_steps * k,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        adam_beta1=0.9,
        adam_beta2=0.999,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accum,
        steps_per_generation=accum * k,  # one generation (one AZR step) per k updates
        num_generations=2,  # TRL's minimum; groups are ignored, advantages are TRR++
        num_iterations=1,
        shuffle_dataset=False,
        beta=0.0,
        loss_type=cfg.loss_type,
        epsilon=cfg.epsilon,
        epsilon_high=cfg.epsilon_high,
        delta=cfg.delta,
        entropy_coef=cfg.entropy_coef,
        temperature=cfg.temperature,
        top_p=cfg.top_p,
        max_completion_length=cfg.max_completion_tokens,
        mask_truncated_completions=False,
        use_cpu=not cuda,
        bf16=bf16,
        activation_checkpointing=checkpointing,
        use_vllm=cfg.use_vllm,
        vllm_mode="colocate",
        vllm_gpu_memory_utilization=cfg.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=cfg.vllm_tensor_parallel_size,
        vllm_enable_sleep_mode=cfg.vllm_enable_sleep_mode,
        vllm_max_model_length=cfg.vllm_max_model_len
        or cfg.max_prompt_tokens + cfg.max_completion_tokens,
        generation_kwargs=stop_kwargs(cfg.stop_strings, vllm=cfg.use_vllm),
        # The AZR rollout does not return vLLM's sampling logprobs, so TRL's truncated
        # importance-sampling correction has nothing to correct with (the reference had none).
        vllm_importance_sampling_correction=False,
        report_to=list[str](cfg.report_to),
        logging_steps=k,
        save_strategy="steps",
        save_steps=cfg.save_steps * k,
        save_total_limit=cfg.save_total_limit,
        save_only_model=not cfg.save_optimizer,
        seed=cfg.seed,
        data_seed=cfg.seed,
        log_completions=False,
        disable_tqdm=cfg.live_console,
    )


def _peft_config(cfg: AZRConfig) -> Any:
    if not cfg.lora:
        return None
    try:
        from peft import LoraConfig
    except ImportError as exc:
        raise RuntimeError("lora=true needs peft: pip install 'azr-trainer[peft]'") from exc
    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        target_modules=cfg.lora_target_modules,
        task_type="CAUSAL_LM",
    )


def main(
    cfg: AZRConfig,
    *,
    display: bool | None = None,
    judge: TaskJudge | None = None,
    store: TaskStore | None = None,
) -> RunResult:
    """Run AZR self-play training as configured; returns where the results are.

    `judge` and `store` replace the HTTP services (tests use in-memory ones).
    """
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    cuda = torch.cuda.is_available()
    # cpu=True is what makes accelerate see a torchrun world on CPU (gloo); without it, it is 1.
    state = PartialState(cpu=not cuda)
    world, rank = state.num_processes, state.process_index
    if not cuda:
        torch.set_num_threads(max(1, cfg.cpu_threads))
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    # TensorBoard (report_to's default) writes next to metrics.jsonl: tensorboard --logdir OUT
    os.environ["TENSORBOARD_LOGGING_DIR"] = str(out / "tensorboard")
    if rank == 0:  # the report shows it; a token is not written to disk
        shown = {**cfg.model_dump(), "api_token": "***" if cfg.api_token else ""}
        (out / "config.yaml").write_text(yaml.safe_dump(shown, sort_keys=False))
    run_name = cfg.run_name or out.resolve().name
    k = cfg.optimizer_steps_per_step

    # ---- geometry: the global batch is 6 groups x batch_per_group, split over the ranks ----
    total = 6 * cfg.batch_per_group
    if total % world:
        raise ValueError(f"6 x batch_per_group = {total} does not split over {world} processes")
    if (total // world) % 6:
        raise ValueError("batch_per_group must be a multiple of the number of processes")
    slots = total // world
    per_device, accum = batch_geometry(slots, k, cfg.micro_batch_size)

    with ExitStack() as stack:
        # ---- services: each local or remote on its own (none when judge and store are given) ----
        remote = judge is None or store is None
        session = stack.enter_context(
            open_session(
                out / "services",
                executor_urls=cfg.executor_urls,
                buffer_url=cfg.buffer_url,
                executor=remote,
                buffer=remote,
                token=cfg.api_token or None,
                timeout_s=cfg.request_timeout_s,
                retries=cfg.executor_retries,
                world=world,
            )
        )
        portal = session.portal
        eval_url = session.url("executor") or None  # CRUXEval validation needs a real executor
        if remote:
            if rank == 0:
                for line in session.describe().splitlines():
                    logger.info("%s", line)
            judge = session.judge(concurrency=cfg.executor_concurrency)
            store = session.store(run_name, concurrency=cfg.executor_concurrency)
            if rank == 0:
                portal.call(store.ensure_run)
        assert judge is not None and store is not None
        state.wait_for_everyone()

        # ---- model ----
        models_dir = paths.models_dir()  # built models are cached under AZR_HOME
        model_path = resolve_model_path(cfg.model, models_dir) if rank == 0 else None
        state.wait_for_everyone()
        model_path = model_path or resolve_model_path(cfg.model, models_dir)
        # The TRL config first: under DeepSpeed ZeRO-3 it is what lets from_pretrained shard.
        args = _grpo_config(cfg, per_device, accum, cuda)
        if rank == 0:
            log_memory_estimate(cfg, model_path, world=world, cuda=cuda)
        model, tokenizer = load_model_and_tokenizer(
            model_path, dtype=training_dtype(bf16=bool(args.bf16), lora=cfg.lora)
        )

        # ---- trainer ----
        from datasets import Dataset

        generator = TrainerGenerator(tokenizer)
        settings = StepSettings(
            n_references=cfg.n_references,
            n_induction_inputs=cfg.n_induction_inputs,
            n_learnability=cfg.n_learnability,
            solve_strategy=cfg.solve_strategy,
            one_step_lag=cfg.one_step_lag,
            extreme_reward=ExtremeReward(cfg.extreme_reward),
            max_prompt_tokens=cfg.max_prompt_tokens,
            seed=cfg.seed,
            template=R1_TEMPLATES[cfg.prompt_template],
            parsing=cfg.answer_parsing,
        )
        selfplay = SelfPlay(
            judge=judge,
            store=store,
            generator=generator,
            call=portal.call,
            settings=settings,
            ranks=AccelerateRanks(state),
        )
        rollout = SeedingRollout(selfplay, generator, updates_per_step=k, cfg=cfg)
        dataset = Dataset.from_dict({"prompt": [f"azr:{i}" for i in range(total)]})
        trainer = AZRTrainer(
            model=model,
            processing_class=tokenizer,
            reward_funcs=[azr_reward],
            args=args,
            train_dataset=dataset,
            rollout_func=rollout,
            peft_config=_peft_config(cfg),
            token_weighted_advantages=cfg.token_weighted_advantages,
        )

        # ---- the toy warm starts: their held-out set before self-play (and after, below) ----
        heldout: dict[str, dict[str, float]] = {}
        measure = None
        if cfg.toy_heldout_eval and world == 1:
            from azr_trainer.toy.heldout import probe_for

            measure = probe_for(cfg.model, judge, portal.call, seed=cfg.seed)
        if measure is not None:
            logger.info("measuring the held-out set before self-play")
            heldout["before"] = measure(model, tokenizer)

        # ---- resume: checkpoint + buffer truncated to the checkpoint's step ----
        ckpt = _last_checkpoint(out) if cfg.resume else None
        resumed_step = 0
        writer = MetricsWriter(out / "metrics.jsonl")
        if ckpt is not None:
            state_json = json.loads((ckpt / "trainer_state.json").read_text())
            resumed_step = int(state_json["global_step"]) // k
            if rank == 0:
                portal.call(store.truncate, resumed_step)
                writer.truncate(resumed_step)
            state.wait_for_everyone()
            logger.info("resuming from %s (AZR step %d)", ckpt, resumed_step)
        elif rank == 0 and writer.path.exists():
            writer.path.unlink()  # a fresh run starts a fresh metrics file

        # ---- metrics at the end of every AZR step ----
        last: dict[str, float] = {}
        show = cfg.live_console if display is None else display
        console = stack.enter_context(ConsoleDisplay(cfg.max_steps, enabled=show and rank == 0))

        def on_step(step: int) -> None:
            values = step_metrics(trainer.azr_rows)
            t = selfplay.timings
            values["time/generate_s"] = t.generate_s
            values["time/execute_s"] = t.execute_s
            values["time/rollout_s"] = rollout.last_rollout_s
            values["time/seed_s"] = rollout.seed_s if step == resumed_step + 1 else 0.0
            seed_s = values["time/seed_s"]
            values["time/update_s"] = max(
                0.0, trainer.azr_train_s - rollout.last_rollout_s - seed_s
            )
            values["time/step_s"] = trainer.azr_train_s
            trainer.azr_train_s = 0.0
            if cuda:  # this rank's peak over the step: generation, optimizer state, activations
                values["memory/peak_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
                values["memory/peak_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
                torch.cuda.reset_peak_memory_stats()
            if cfg.eval_steps and step % cfg.eval_steps == 0 and eval_url:
                # Every rank: under ZeRO-3 or FSDP generation needs all of them.
                from trl.models.utils import unwrap_model_for_generation

                from azr_trainer.evals.periodic import evaluate_cruxeval

                values.update(
                    evaluate_cruxeval(
                        trainer.model,
                        tokenizer,
                        eval_url,
                        n_items=cfg.eval_items,
                        max_new_tokens=cfg.eval_max_new_tokens,
                        ranks=selfplay.ranks,
                        unwrap=lambda: unwrap_model_for_generation(
                            trainer.model_wrapped, trainer.accelerator
                        ),
                    )
                )
            if rank == 0:
                for name, size in portal.call(store.sizes).items():
                    values[f"azr/buffer/{name}"] = float(size)
            for name, value in values.items():
                if not math.isnan(value):  # TRL would log None, which TensorBoard warns about
                    add_train_metric(trainer, name, value)
            record({})  # a step whose log never came is still written (not expected)
            pending[step] = values

        def record(diagnostics: dict[str, float]) -> None:
            """Write the held step's row with TRL's diagnostics from the step's log."""
            for step, values in list(pending.items()):
                del pending[step]
                values.update(diagnostics)
                if rank == 0:
                    writer.write(step, values)
                    console.update(step, values)
                last.clear()
                last.update(values)

        pending: dict[int, dict[str, float]] = {}  # on_step's row, until the step's log
        trainer.add_callback(StepEndCallback(k, on_step))
        trainer.add_callback(LogCallback(lambda logs: record(trl_diagnostics(logs))))
        if show:
            from transformers.trainer_callback import PrinterCallback

            trainer.remove_callback(PrinterCallback)  # the live table replaces the log dicts
        start = time.perf_counter()
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt is not None else None)
        record({})
        logger.info(
            "trained %d AZR steps in %.1f s",
            cfg.max_steps - resumed_step,
            time.perf_counter() - start,
        )
        trainer.save_model(str(out / "final"))
        if measure is not None:
            logger.info("measuring the held-out set after self-play")
            heldout["after"] = measure(trainer.model, tokenizer)
            (out / "heldout.json").write_text(json.dumps(heldout, indent=2, sort_keys=True))
        sizes = portal.call(store.sizes)
    return RunResult(
        output_dir=out,
        metrics_path=writer.path,
        steps=cfg.max_steps,
        last_metrics=last,
        buffer_sizes=sizes,
        resumed_from_step=resumed_step,
        last_rows=list(trainer.azr_rows),
        last_advantages=[float(a) for a in trainer.azr_advantages],
        heldout=heldout,
    )


class LogCallback(TrainerCallback):
    """Calls `fn(logs)` with each log dict of the trainer (its loss, grad norm, metrics)."""

    def __init__(self, fn: Callable[[dict[str, Any]], None]) -> None:
        self.fn = fn

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
        self.fn(dict(logs or {}))


class SeedingRollout(SelfPlayRollout):
    """The rollout, seeding the buffer before its first step (inside the prepared trainer)."""

    def __init__(
        self,
        selfplay: SelfPlay,
        generator: TrainerGenerator,
        *,
        updates_per_step: int,
        cfg: AZRConfig,
    ) -> None:
        super().__init__(selfplay, generator, updates_per_step=updates_per_step)
        self.cfg = cfg
        self.seeded = False
        self.seed_s = 0.0

    def __call__(self, prompts: list[Any], trainer: Any) -> dict[str, Any]:
        if not self.seeded:
            start = time.perf_counter()
            self.generator.trainer = trainer
            collective = collective_generation(trainer)
            self.selfplay.s = replace(self.selfplay.s, collective_generation=collective)
            sizes = seed_buffer(
                self.selfplay,
                self.cfg.seed_tasks,
                batch=max(1, self.cfg.seed_batch // max(1, trainer.accelerator.num_processes)),
                max_rounds=self.cfg.seed_max_rounds,
                files=self.cfg.seed_files,
            )
            self.seed_s = time.perf_counter() - start
            logger.info("buffer seeded in %.1f s: %s", self.seed_s, sizes)
            self.seeded = True
        return super().__call__(prompts, trainer)
