"""Config loading, presets and overrides, bounds and messages; batch geometry."""

from __future__ import annotations

import pytest
from azr_trainer.config import RECIPES_DIR, AZRConfig, describe, load_config, presets
from azr_trainer.errors import ConfigError
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
        ({"preset": "nope"}, "unknown preset 'nope'"),
        ({"preset": "tiny"}, r"unknown preset 'tiny': did you mean toy-tiny\?"),
        (
            {"overrides": ["max_stepz=3"]},
            r"unknown config key: max_stepz \(from the command line; did you mean max_steps\?\)",
        ),
        ({"overrides": ["max_steps"]}, "not key=value"),
        ({"overrides": ["n_induction_inputs=3"]}, "n_induction_inputs: must be an even number"),
        ({"overrides": ["extreme_reward=zero"]}, "extreme_reward: must be 'paper' or 'reference'"),
        ({"overrides": ["temperature=0"]}, "temperature: must be greater than 0"),
        ({"overrides": ["executor_urls=[3]"]}, r"executor_urls\[0\]: must be a valid string"),
        ({"overrides": ["executor_urls=localhost:8010"]}, "not an http:// or https:// URL"),
        ({"overrides": ["report_to=[tensorbord]"]}, r"report_to\[0\]: must be 'none'"),
        ({"overrides": ["epsilon_high=0.1"]}, "epsilon_high .* is below epsilon"),
    ],
)
def test_bad_config_is_a_clear_error(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        load_config(**kwargs)


@pytest.mark.parametrize(
    "override",
    [
        "max_steps=0",
        "max_steps=-3",
        "batch_per_group=0",
        "learning_rate=0",
        "learning_rate=-0.1",
        "micro_batch_size=0",
        "save_steps=0",
        "top_p=1.5",
        "vllm_gpu_memory_utilization=0",
        "request_timeout_s=0",
        "executor_concurrency=0",
        "seed=-1",
        "eval_steps=-1",
        "cpu_threads=0",
    ],
)
def test_numeric_keys_have_bounds(override):
    # `azr run --steps -3` ran 6 steps and `--steps 0` one: no numeric key takes any number.
    key, _, value = override.partition("=")
    with pytest.raises(
        ConfigError, match=rf"{key}: must be .* \(got {value}, from the command line\)"
    ):
        load_config(overrides=[override])


def test_a_yaml_typo_names_the_file_and_suggests_the_key(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("learning_rat: 1.0e-5\n")
    with pytest.raises(
        ConfigError, match=rf"learning_rat \(from {path}; did you mean learning_rate\?\)"
    ):
        load_config(path=path)


def test_a_bad_value_in_a_file_names_the_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("max_steps: lots\n")
    with pytest.raises(ConfigError, match=rf"max_steps: .*'lots', from {path}"):
        load_config(path=path)


def test_presets_are_the_recipe_files_and_each_loads():
    assert {"paper", "tiny-cpu", "toy", "toy-tiny", "single-gpu-lora"} <= set(presets())
    assert presets() == sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))
    for name in presets():
        assert isinstance(load_config(preset=name), AZRConfig)


def test_the_papers_defaults_are_written_once():
    # The paper recipe adds nothing: AZRConfig's defaults are the paper's.
    assert load_config(preset="paper") == AZRConfig()
    origins: dict[str, str] = {}
    load_config(preset="paper", origins=origins)
    assert origins == {}


def test_a_recipe_extends_another(tmp_path):
    origins: dict[str, str] = {}
    cfg = load_config(preset="toy-tiny", origins=origins)
    assert (cfg.model, cfg.micro_batch_size, cfg.weight_decay) == ("toy-warmstart-tiny", 16, 0.0)
    assert origins["weight_decay"] == "preset tiny-cpu"
    assert origins["micro_batch_size"] == "preset toy"
    path = tmp_path / "mine.yaml"
    path.write_text("extends: toy\nmax_steps: 3\n")
    cfg = load_config(path=path)
    assert (cfg.model, cfg.max_steps) == ("toy-warmstart", 3)


def test_describe_comments_where_each_value_came_from():
    origins: dict[str, str] = {}
    cfg = load_config(preset="toy-tiny", overrides=["max_steps=3"], origins=origins)
    lines = describe(cfg, origins).splitlines()
    assert any(line.startswith("max_steps: 3 ") and "# the command line" in line for line in lines)
    assert "learning_rate: 0.0003" in "\n".join(lines)
    assert "seed: 1" in lines  # a default: no comment


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


def test_shipped_gpu_recipes_name_a_real_model():
    for name in ("qwen2.5-7b-coder", "single-gpu-lora"):
        assert load_config(preset=name).model.startswith("Qwen/")
    assert load_config(preset="paper").batch_per_group == 64
    assert len(list((RECIPES_DIR / "accelerate").glob("*.yaml"))) == 5


def test_float_overrides_take_exponents_without_a_dot():
    # YAML 1.1 reads `5e-4` as a string; a float field must still get the number.
    cfg = load_config(preset="tiny-cpu", overrides=["learning_rate=5e-4", "temperature=1"])
    assert cfg.learning_rate == 5e-4 and isinstance(cfg.learning_rate, float)
    with pytest.raises(ValueError, match=r"learning_rate: must be a valid number.*'fast'"):
        load_config(preset="tiny-cpu", overrides=["learning_rate=fast"])
