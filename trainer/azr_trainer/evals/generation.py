"""Text generation for evaluation: HF `generate` on any device, vLLM when it is installed.

A `Generator` maps prompts to `n` completions each. Greedy decoding (temperature 0) is the
default, as in the paper; pass@k uses sampling with `n >= k`.
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

__all__ = ["Generator", "HFGenerator", "SamplingParams", "VLLMGenerator", "load_generator"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; temperature 0 means greedy (then `n` must be 1)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 1024
    seed: int = 2

    def __post_init__(self) -> None:
        if self.n < 1 or self.max_new_tokens < 1:
            raise ValueError("n and max_new_tokens must be at least 1")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ValueError("temperature must be >= 0 and top_p in (0, 1]")
        if self.temperature == 0 and self.n > 1:
            raise ValueError("greedy decoding gives one completion; set a temperature for n > 1")


class Generator(Protocol):
    """Prompts in, `params.n` completions per prompt out (prompt text excluded)."""

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[str]]: ...


class HFGenerator:
    """Batched `model.generate` with left padding; works with a model object or a path/hub id."""

    progress_every_s = 10.0  # a progress line at most this often (and after the last batch)

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int = 8) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, batch_size: int = 8) -> HFGenerator:
        """Load with the trainer's loader (a hub id, a local path or a checkpoint directory)."""
        import torch

        from azr_trainer.models import load_model_and_tokenizer

        dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
        model, tokenizer = load_model_and_tokenizer(name_or_path, dtype=dtype)
        if torch.cuda.is_available():
            model = model.to("cuda")
        model.eval()
        return cls(model, tokenizer, batch_size=batch_size)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[str]]:
        import torch

        torch.manual_seed(params.seed)
        sample = params.temperature > 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": sample,
            "num_return_sequences": params.n,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if sample:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        else:
            # Greedy: leave no sampling knobs behind from the model's generation_config.
            kwargs.update(temperature=None, top_p=None, top_k=None)
        out: list[list[str]] = []
        device = next(self.model.parameters()).device
        side = self.tokenizer.padding_side
        # Decoder-only models need left padding; the caller's tokenizer gets its side back.
        self.tokenizer.padding_side = "left"
        t0 = last = time.monotonic()
        try:
            for start in range(0, len(prompts), self.batch_size):
                out.extend(
                    self._batch(
                        list(prompts[start : start + self.batch_size]), kwargs, params.n, device
                    )
                )
                now = time.monotonic()
                if now - last >= self.progress_every_s or len(out) == len(prompts):
                    last = now
                    left = (now - t0) / len(out) * (len(prompts) - len(out))
                    logger.info(
                        "generated %d/%d prompts (x%d) in %.0f s, about %.0f s left",
                        len(out), len(prompts), params.n, now - t0, left,
                    )  # fmt: skip
        finally:
            self.tokenizer.padding_side = side
        return out

    def _batch(
        self, batch: list[str], kwargs: dict[str, Any], n: int, device: Any
    ) -> list[list[str]]:
        import torch

        enc = self.tokenizer(batch, return_tensors="pt", padding=True).to(device)
        with torch.no_grad():
            ids = self.model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [texts[i * n : (i + 1) * n] for i in range(len(batch))]


class VLLMGenerator:
    """vLLM offline generation (GPU); one `LLM` for the whole evaluation."""

    def __init__(self, name_or_path: str, **llm_kwargs: Any) -> None:
        from vllm import LLM

        self.llm = LLM(model=name_or_path, **llm_kwargs)

    def generate(self, prompts: Sequence[str], params: SamplingParams) -> list[list[str]]:
        from vllm import SamplingParams as VParams

        vparams = VParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            seed=params.seed,
        )
        outputs = self.llm.generate(list(prompts), vparams)
        return [[c.text for c in o.outputs] for o in outputs]


def load_generator(
    name_or_path: str,
    *,
    backend: Literal["auto", "hf", "vllm"] = "auto",
    batch_size: int = 8,
    models_dir: Path | None = None,
) -> Generator:
    """A generator for a hub id or local path: vLLM when asked (or `auto` on a GPU with vLLM).

    `tiny-random` builds (once, under `models_dir`, default `AZR_HOME/models`) the trainer's
    tiny random model.
    """
    from azr_trainer import paths
    from azr_trainer.models import resolve_model_path

    name_or_path = resolve_model_path(name_or_path, models_dir or paths.models_dir())
    if backend == "auto":
        has_vllm = importlib.util.find_spec("vllm") is not None
        import torch

        backend = "vllm" if has_vllm and torch.cuda.is_available() else "hf"
    logger.info("generation backend: %s, model: %s", backend, name_or_path)
    if backend == "vllm":
        return VLLMGenerator(name_or_path)
    return HFGenerator.from_pretrained(name_or_path, batch_size=batch_size)
