"""`azr eval` shows progress while it generates: a line per batch at most every few seconds,
with how many prompts are done and about how long the rest takes."""

from __future__ import annotations

import logging

import torch
from azr_trainer.evals.generation import HFGenerator, SamplingParams


class _Tokenizer:
    pad_token_id = 0
    eos_token = "</s>"
    padding_side = "right"

    def __call__(self, batch, return_tensors, padding):
        class Enc(dict):
            def to(self, device):
                return self

        return Enc(input_ids=torch.zeros((len(batch), 2), dtype=torch.long))

    def batch_decode(self, ids, skip_special_tokens):
        return ["x"] * len(ids)


class _Model(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def generate(self, input_ids, **kwargs):
        return torch.zeros((input_ids.shape[0], 3), dtype=torch.long)


def test_generation_logs_its_progress(caplog):
    generator = HFGenerator(_Model(), _Tokenizer(), batch_size=2)
    generator.progress_every_s = 0.0
    with caplog.at_level(logging.INFO, logger="azr_trainer.evals.generation"):
        out = generator.generate(["a", "b", "c", "d", "e"], SamplingParams())
    assert out == [["x"]] * 5
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" prompts")[0] for line in lines] == [
        "generated 2/5",
        "generated 4/5",
        "generated 5/5",
    ]
    assert "about 0 s left" in lines[-1]
