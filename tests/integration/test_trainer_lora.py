"""LoRA through peft (`lora=true`), end to end against the real services, on CPU.

A random tiny model only writes format errors, so every real reward is -1 and every advantage 0:
the update would then leave LoRA's B matrices at their zero initialisation and prove nothing. The
rewards are replaced by known varying values (the rest is the real code path), so the adapter must
move while the base weights stay frozen, and the checkpoint must hold the adapter only.
"""

from __future__ import annotations

import json

import azr_trainer.trainer as trainer_mod
import pytest
from azr_trainer.config import load_config
from azr_trainer.services import local_services
from azr_trainer.train import main
from safetensors.torch import load_file
from trainer_support import tiny_model_dir

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:.*deprecated and will be removed in v6:FutureWarning"),
]


def test_one_lora_step_trains_the_adapter_only(tmp_path, tmp_path_factory, monkeypatch):
    models = tmp_path_factory.mktemp("models")
    tiny_model_dir(models)
    monkeypatch.setenv("AZR_MODELS_DIR", str(models))
    real_row = trainer_mod.sample_row
    counter = iter(range(10**6))

    def scripted_row(sample):
        row = real_row(sample)
        row["reward"] = float(next(counter) % 3) - 1.0  # -1, 0, 1, -1, ...: advantages != 0
        return row

    monkeypatch.setattr(trainer_mod, "sample_row", scripted_row)
    out = tmp_path / "run"
    with local_services(tmp_path / "services") as svc:
        cfg = load_config(
            preset="tiny-cpu",
            overrides=[
                f"output_dir={out}",
                f"executor_urls={svc.executor_url}",
                f"buffer_url={svc.buffer_url}",
                "run_name=lora",
                "max_steps=1",
                "max_completion_tokens=8",
                "n_references=1",
                "save_steps=1",
                "live_console=false",
                "lora=true",
                "lora_r=4",
                "lora_alpha=8",
            ],
        )
        result = main(cfg)

    assert any(r["reward"] != result.last_rows[0]["reward"] for r in result.last_rows)
    ckpt = out / "checkpoint-1"
    adapter_config = json.loads((ckpt / "adapter_config.json").read_text())
    assert adapter_config["r"] == 4 and adapter_config["peft_type"] == "LORA"
    assert not (ckpt / "model.safetensors").exists()  # the adapter only, not the full model
    weights = load_file(str(ckpt / "adapter_model.safetensors"))
    lora_b = {k: v for k, v in weights.items() if "lora_B" in k}
    assert lora_b, sorted(weights)[:5]
    # B starts at zero; a real update with non-zero advantages moves it.
    assert any(float(v.abs().max()) > 0 for v in lora_b.values())
    assert all(("lora_A" in k) or ("lora_B" in k) for k in weights)
