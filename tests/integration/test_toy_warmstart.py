"""The warm start trains with TRL's SFTTrainer, caches by recipe, and is measured by a judge."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from azr_trainer.toy.corpus import CorpusSpec
from azr_trainer.toy.heldout import evaluate, make_heldout
from azr_trainer.toy.model import ModelSpec
from azr_trainer.toy.oracle import SubprocessOracle
from azr_trainer.toy.warmstart import WarmstartConfig, ensure_warmstart, load_warmstart
from toy_judge import SubprocessJudge

pytestmark = pytest.mark.slow

MICRO = WarmstartConfig(
    corpus=CorpusSpec(n_solver_per_type=12, n_proposer_per_type=4),
    model=ModelSpec(vocab_size=600, hidden_size=32, intermediate_size=64, num_hidden_layers=1),
    max_steps=3,
    batch_size=8,
)


def _call(fn):  # type: ignore[no-untyped-def]
    return asyncio.run(fn())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    runs = tmp_path_factory.mktemp("runs")
    return runs, ensure_warmstart(runs, MICRO, SubprocessOracle(trusted=True))


def test_build_writes_model_tokenizer_and_meta(built) -> None:  # type: ignore[no-untyped-def]
    runs, result = built
    assert not result.reused
    assert result.path.parent == runs / "warmstart"
    assert (result.path / "warmstart.json").exists()
    assert result.meta["steps"] == 3
    assert result.meta["n_params"] > 0
    assert not list(result.path.parent.glob(".*tmp*")), "the temporary build folder is gone"


def test_same_recipe_is_reused_without_training(built) -> None:  # type: ignore[no-untyped-def]
    runs, result = built
    again = ensure_warmstart(runs, MICRO, SubprocessOracle(trusted=True))
    assert again.reused and again.path == result.path and again.meta == result.meta


def test_recipe_change_changes_the_key() -> None:
    other = WarmstartConfig(corpus=MICRO.corpus, model=MICRO.model, max_steps=4, batch_size=8)
    assert other.key() != MICRO.key()
    assert WarmstartConfig().key() == WarmstartConfig().key()


def test_bad_recipe_is_refused() -> None:
    with pytest.raises(ValueError):
        WarmstartConfig(max_steps=0)
    with pytest.raises(ValueError):
        CorpusSpec(careful_fraction=1.5)


def test_evaluate_reports_every_type_in_range(built) -> None:  # type: ignore[no-untyped-def]
    _, result = built
    model, tokenizer = load_warmstart(result.path)
    heldout = make_heldout(SubprocessOracle(trusted=True), n_per_type=2)
    metrics = evaluate(
        model,
        tokenizer,
        heldout,
        SubprocessJudge(),
        _call,
        n_samples=1,
        n_proposals=2,
        max_new_tokens=24,
    )
    expected = {f"solve/{t}" for t in ("deduction", "abduction", "induction")}
    expected |= {f"propose/{t}" for t in ("deduction", "abduction", "induction")}
    assert expected | {"solve/mean", "propose/mean"} == set(metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_heldout_is_the_same_on_every_call() -> None:
    oracle = SubprocessOracle(trusted=True)
    a, b = make_heldout(oracle, n_per_type=6), make_heldout(oracle, n_per_type=6)
    assert a == b
    assert len(a.sources()) > 0


def test_loaded_tokenizer_pads_left(built, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, result = built
    _, tokenizer = load_warmstart(result.path)
    assert tokenizer.padding_side == "left"
    text = "x = 14 </think>\n<answer>\n```output\n3\n```\n</answer>"
    assert tokenizer.decode(tokenizer(text).input_ids) == text


def test_trainer_loader_keeps_the_trained_pre_tokenizer(built) -> None:  # type: ignore[no-untyped-def]
    from azr_trainer.models import load_model_and_tokenizer

    _, result = built
    _, ours = load_warmstart(result.path)
    _, theirs = load_model_and_tokenizer(str(result.path))
    text = "A conversation between User and Assistant. x = [1, 2]"
    assert theirs(text).input_ids == ours(text).input_ids
