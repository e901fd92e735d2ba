"""Run configuration: one validated model, the paper's defaults, recipes, YAML files, overrides.

    cfg = load_config(preset="tiny-cpu", path="my.yaml", overrides=["max_steps=3"])

Precedence: `AZRConfig`'s defaults (the paper's hyperparameters, azr-reference.md section 6,
written only here) < the preset (`recipes/NAME.yaml`, which may `extends:` another) < the YAML
file < `key=value` overrides (values are parsed as YAML: `3`, `true`, `[a, b]`, `a,b`).

Everything is checked here, before torch is imported: unknown keys (with a suggestion), types
and bounds. A mistake is a `ConfigError` naming the key and where its value came from.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from azr_trainer.errors import ConfigError

__all__ = ["RECIPES_DIR", "AZRConfig", "describe", "load_config", "presets"]

RECIPES_DIR = Path(__file__).parent / "recipes"

LossType = Literal["dapo", "grpo", "bnpo", "dr_grpo", "cispo", "sapo", "luspo", "vespo"]
Tracker = Literal["none", "all", "tensorboard", "trackio", "wandb", "mlflow", "comet_ml", "clearml"]


class AZRConfig(BaseModel):
    """Everything an AZR run needs. Batch sizes count samples across all processes."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- model ---
    model: str = Field("tiny-random", min_length=1)  # hub id, local path, or a built-in name
    output_dir: str = Field("runs/azr", min_length=1)
    seed: int = Field(1, ge=0)
    # --- services: each one empty is started locally under output_dir, each URL is used ---
    executor_urls: list[str] = Field(default_factory=list)
    buffer_url: str = ""
    run_name: str = ""  # buffer run name; defaults to the output directory's name
    api_token: str = ""
    executor_concurrency: int = Field(32, ge=1)
    executor_retries: int = Field(3, ge=0)
    request_timeout_s: float = Field(120.0, gt=0)
    # --- AZR ---
    batch_per_group: int = Field(64, ge=1)  # samples per (task type x role) per step, all ranks
    n_references: int = Field(6, ge=1)
    n_induction_inputs: int = Field(10, ge=2)  # even: half are shown, half hidden
    n_learnability: int = Field(8, ge=1)
    seed_tasks: int = Field(256, ge=0)  # S: seed the buffer until it holds this many per type
    seed_batch: int = Field(64, ge=1)
    seed_max_rounds: int = Field(50, ge=1)
    seed_files: list[str] = Field(default_factory=list)  # JSON Lines seeds (azr_trainer.seeding)
    solve_strategy: Literal["new_first", "uniform", "recent"] = "new_first"
    one_step_lag: bool = False
    extreme_reward: Literal["paper", "reference"] = "paper"
    token_weighted_advantages: bool = False
    prompt_template: Literal["default", "reference"] = "default"  # reference: its R1 text
    answer_parsing: Literal["strict", "lenient"] = "strict"  # lenient: the reference's fallbacks
    max_prompt_tokens: int = Field(6144, ge=16)
    max_completion_tokens: int = Field(8096, ge=1)
    # --- optimisation (TRL GRPOConfig) ---
    max_steps: int = Field(500, ge=1)
    learning_rate: float = Field(1e-6, gt=0, le=1)
    weight_decay: float = Field(0.01, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    entropy_coef: float = Field(0.001, ge=0)
    epsilon: float = Field(0.2, ge=0, le=1)
    epsilon_high: float = Field(0.28, ge=0)
    delta: float = Field(3.0, gt=1)
    loss_type: LossType = "dapo"
    optimizer_steps_per_step: int = Field(1, ge=1)  # the reference: one step on the whole batch
    micro_batch_size: int = Field(4, ge=1)  # per device forward/backward batch
    temperature: float = Field(1.0, gt=0)  # AZR samples; it never decodes greedily
    top_p: float = Field(1.0, gt=0, le=1)
    bf16: bool | None = None  # None: on when a CUDA GPU is present
    gradient_checkpointing: bool | None = None  # None: on when a CUDA GPU is present
    use_vllm: bool = False
    vllm_gpu_memory_utilization: float = Field(0.3, gt=0, le=1)  # vLLM's share of each GPU
    vllm_tensor_parallel_size: int = Field(1, ge=1)
    vllm_enable_sleep_mode: bool = False  # free vLLM's memory while training (re-syncs weights)
    vllm_max_model_len: int = Field(0, ge=0)  # 0: max_prompt_tokens + max_completion_tokens
    # Generation ends at the first of these (kept in the completion): nothing after the answer
    # is read, so the rest of the completion budget is not spent. [] to generate to EOS.
    stop_strings: list[str] = Field(default_factory=lambda: ["</answer>"])
    lora: bool = False
    lora_r: int = Field(64, ge=1)
    lora_alpha: int = Field(128, ge=1)
    lora_target_modules: str = "all-linear"
    # --- bookkeeping ---
    save_steps: int = Field(10, ge=1)
    save_total_limit: int = Field(2, ge=1)
    save_optimizer: bool = (
        True  # False: checkpoints hold the weights only (a resume restarts AdamW)
    )
    resume: bool = True  # continue from the newest checkpoint in output_dir, if any
    # TensorBoard logs next to metrics.jsonl (`tensorboard --logdir OUTPUT_DIR`); trackio, wandb...
    report_to: list[Tracker] = Field(default_factory=lambda: list[Tracker](["tensorboard"]))
    live_console: bool = True
    cpu_threads: int = Field(1, ge=1)  # torch threads on CPU: more starve the executor's cores
    # --- in-training validation: greedy CRUXEval-O/I pass@1 logged as val/test_score/* ---
    eval_steps: int = Field(0, ge=0)  # every N AZR steps (the reference: 10); 0 = off
    eval_items: int = Field(64, ge=1)  # first N problems of CRUXEval-O and of CRUXEval-I
    eval_max_new_tokens: int = Field(1024, ge=1)
    # --- the toy warm starts only: their fixed held-out set, before and after self-play ---
    toy_heldout_eval: bool = True

    @field_validator("executor_urls", "report_to", "seed_files", "stop_strings", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):  # `--set executor_urls=http://a,http://b`
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("executor_urls")
    @classmethod
    def _urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            _check_url(url)
        return [u.rstrip("/") for u in urls]

    @field_validator("buffer_url")
    @classmethod
    def _buffer_url(cls, url: str) -> str:
        if url:
            _check_url(url)
        return url.rstrip("/")

    @field_validator("n_induction_inputs")
    @classmethod
    def _even(cls, n: int) -> int:
        if n % 2:
            raise ValueError("must be an even number >= 2 (half the inputs are hidden)")
        return n

    @model_validator(mode="after")
    def _clip_range(self) -> AZRConfig:
        if self.epsilon_high < self.epsilon:
            raise ValueError(
                f"epsilon_high ({self.epsilon_high}) is below epsilon ({self.epsilon})"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")


def presets() -> list[str]:
    """Names `--preset` accepts: the recipes shipped in `azr_trainer/recipes/`."""
    return sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else ""


def _read_yaml(path: Path, label: str, chain: tuple[str, ...] = ()) -> dict[str, tuple[Any, str]]:
    """Keys of a YAML file, each with the label of the file that set it (`extends:` resolved)."""
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"{label}: cannot read it ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{label}: not valid YAML ({str(exc).splitlines()[0]})") from None
    loaded = {} if loaded is None else loaded
    if not isinstance(loaded, dict):
        raise ConfigError(f"{label}: the file must hold a mapping of config keys")
    base = loaded.pop("extends", None)
    values: dict[str, tuple[Any, str]] = {}
    if base is not None:
        if base in chain:
            raise ConfigError(f"{label}: `extends: {base}` makes a cycle")
        values = _preset_values(str(base), (*chain, str(base)))
    values.update({str(k): (v, label) for k, v in loaded.items()})
    return values


def _preset_values(name: str, chain: tuple[str, ...] = ()) -> dict[str, tuple[Any, str]]:
    names = presets()
    if name not in names:
        raise ConfigError(
            f"unknown preset {name!r}: {_suggest(name, names) or 'there is none like it'}"
            f" (presets: {', '.join(names)})"
        )
    return _read_yaml(RECIPES_DIR / f"{name}.yaml", f"preset {name}", (*chain, name))


def _explain(exc: ValidationError, origins: dict[str, str]) -> ConfigError:
    lines = []
    for err in exc.errors():
        loc = err["loc"]
        key = str(loc[0]) if loc else ""
        where = key + "".join(f"[{part}]" for part in loc[1:])
        msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
        got = f" (got {err['input']!r}" if loc else " ("
        source = origins.get(key, "")
        tail = f"{got}, from {source})" if source else (f"{got})" if loc else "")
        lines.append(f"{where + ': ' if where else ''}{msg}{tail}")
    return ConfigError("invalid config: " + "; ".join(lines))


def load_config(
    *,
    preset: str = "paper",
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    origins: dict[str, str] | None = None,
) -> AZRConfig:
    """Build a config from a preset, an optional YAML file and `key=value` overrides.

    `origins`, when given, is filled with where each non-default key was set.
    """
    values = _preset_values(preset)
    if path is not None:
        values.update(_read_yaml(Path(path), str(path)))
    for item in overrides or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"override {item!r} is not key=value")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError:
            value = raw  # `--set api_token=a:b{` is a string, not YAML
        values[key.strip()] = (value, "the command line")
    known = list(AZRConfig.model_fields)
    unknown = [k for k in values if k not in AZRConfig.model_fields]
    if unknown:
        problems = [
            f"{k} (from {values[k][1]}{'; ' if _suggest(k, known) else ''}{_suggest(k, known)})"
            for k in unknown
        ]
        raise ConfigError(
            f"unknown config key{'s' if len(unknown) > 1 else ''}: {', '.join(problems)}"
        )
    where = {k: label for k, (_, label) in values.items()}
    if origins is not None:
        origins.update(where)
    try:
        return AZRConfig(**{k: v for k, (v, _) in values.items()})
    except ValidationError as exc:
        raise _explain(exc, where) from None


def describe(cfg: AZRConfig, origins: dict[str, str]) -> str:
    """The effective config as YAML, each value set by a preset, file or flag commented so."""
    lines = []
    for key, value in cfg.model_dump().items():
        text = yaml.safe_dump({key: value}, default_flow_style=True, width=10**6).strip()
        text = text.removeprefix("{").removesuffix("}")
        source = origins.get(key)
        lines.append(f"{text:<48}  # {source}" if source else text)
    return "\n".join(lines) + "\n"
