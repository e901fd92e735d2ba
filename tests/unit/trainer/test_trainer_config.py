"""Config loading, presets and overrides; batch geometry."""

from __future__ import annotations

import pytest
from azr_trainer.config import AZRConfig, load_config
from azr_trainer.train import batch_geometry


def test_defaults_are_the_papers():
    cfg = AZRConfig()
    assert (cfg.batch_per_group, cfg.n_references, cfg.n_induction_inputs, cfg.n_learnability) == (
        64,
        6,
        10,
        8,
    )
    assert (cfg.learning_rate, cfg.seed_tasks, cfg.temperature) == (1e-6, 256, 1.0)
    assert (
        cfg.extreme_reward == "paper" and cfg.solve_strategy == "new_first" and not cfg.one_step_lag
    )


def test_precedence_preset_then_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("max_steps: 7\nn_learnability: 3\n")
    cfg = load_config(
        preset="tiny-cpu", path=path, overrides=["max_steps=9", "executor_urls=http://a,http://b"]
    )
    assert cfg.max_steps == 9
    assert cfg.n_learnability == 3
    assert cfg.batch_per_group == 2  # from the preset
    assert cfg.executor_urls == ["http://a", "http://b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"preset": "nope"}, "unknown preset"),
        ({"overrides": ["max_stepz=3"]}, "unknown config keys: max_stepz"),
        ({"overrides": ["max_steps"]}, "not key=value"),
        ({"overrides": ["n_induction_inputs=3"]}, "even number"),
        ({"overrides": ["extreme_reward=zero"]}, "extreme_reward"),
        ({"overrides": ["temperature=0"]}, "temperature"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_config(**kwargs)


@pytest.mark.parametrize(
    ("slots", "updates", "micro", "expected"),
    [
        (384, 1, 16, (16, 24)),
        (12, 1, 12, (12, 1)),
        (12, 3, 4, (4, 1)),
        (12, 1, 5, (4, 3)),
        (6, 2, 8, (3, 1)),
    ],
)
def test_batch_geometry_covers_the_step_exactly(slots, updates, micro, expected):
    per_device, accum = batch_geometry(slots, updates, micro)
    assert (per_device, accum) == expected
    assert per_device * accum * updates == slots


def test_batch_geometry_rejects_uneven_updates():
    with pytest.raises(ValueError):
        batch_geometry(12, 5, 4)


def test_shipped_run_configs_load():
    from pathlib import Path

    import azr_trainer

    configs = Path(azr_trainer.__file__).parent / "configs"
    names = sorted(p.name for p in configs.glob("*.yaml"))
    assert names == ["paper.yaml", "qwen2.5-7b-coder.yaml", "single-gpu-lora.yaml"]
    for path in configs.glob("*.yaml"):
        cfg = load_config(path=path)
        assert cfg.model != "tiny-random"
    assert load_config(path=configs / "paper.yaml").batch_per_group == 64
    assert len(list((configs / "accelerate").glob("*.yaml"))) == 5


def test_float_overrides_take_exponents_without_a_dot():
    # YAML 1.1 reads `5e-4` as a string; a float field must still get the number.
    cfg = load_config(preset="tiny-cpu", overrides=["learning_rate=5e-4", "temperature=1"])
    assert cfg.learning_rate == 5e-4 and isinstance(cfg.learning_rate, float)
    with pytest.raises(ValueError, match="learning_rate: 'fast' is not a number"):
        load_config(preset="tiny-cpu", overrides=["learning_rate=fast"])
