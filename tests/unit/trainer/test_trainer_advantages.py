"""TRR++ math against values worked out by hand."""

from __future__ import annotations

import math

import pytest
import torch
from azr_trainer.advantages import group_index, trr_advantages

NAN = float("nan")


def approx(t: torch.Tensor):
    return pytest.approx(t.tolist(), abs=1e-4)


def test_two_samples_per_sequence():
    # mu = 2, unbiased var = (1 + 1) / 1 = 2, std = 1.41421
    got = trr_advantages(torch.tensor([1.0, 3.0]), torch.tensor([0, 0]))
    assert got.tolist() == approx(torch.tensor([-1 / math.sqrt(2), 1 / math.sqrt(2)]))


def test_three_composite_rewards_per_sequence():
    # r = [-1, -0.5, 1]: mu = -1/6; squared deviations 25/36 + 4/36 + 49/36 = 78/36;
    # var = 39/36; std = 1.040833
    got = trr_advantages(torch.tensor([-1.0, -0.5, 1.0]), torch.tensor([0, 0, 0]))
    assert got.tolist() == pytest.approx([-0.80064, -0.32026, 1.12090], abs=1e-4)


def test_groups_are_normalised_separately():
    rewards = torch.tensor([1.0, 100.0, 3.0, 300.0])
    groups = torch.tensor([0, 1, 0, 1])
    got = trr_advantages(rewards, groups)
    s = 1 / math.sqrt(2)
    assert got.tolist() == pytest.approx([-s, -s, s, s], abs=1e-4)


def test_token_weighted_matches_masked_whiten():
    # Tokens [1, 1, 1, 0]: mean 0.75; biased var 0.1875; Bessel x 4/3 -> 0.25; std 0.5.
    got = trr_advantages(
        torch.tensor([1.0, 0.0]), torch.tensor([0, 0]), torch.tensor([3, 1]), token_weighted=True
    )
    assert got.tolist() == pytest.approx([0.5, -1.5], abs=1e-4)


def test_token_weighted_equals_per_sequence_for_equal_lengths_up_to_bessel():
    rewards = torch.tensor([1.0, -0.5, -1.0, 1.0])
    groups = torch.zeros(4, dtype=torch.long)
    # With length 1 each, the token-weighted statistics are the per-sequence ones.
    a = trr_advantages(rewards, groups, torch.ones(4), token_weighted=True)
    b = trr_advantages(rewards, groups)
    assert a.tolist() == pytest.approx(b.tolist(), abs=1e-6)


def test_nan_rewards_are_excluded_and_get_zero():
    got = trr_advantages(torch.tensor([1.0, NAN, 3.0]), torch.tensor([0, 0, 0]))
    s = 1 / math.sqrt(2)
    assert got.tolist() == pytest.approx([-s, 0.0, s], abs=1e-4)


def test_singleton_and_constant_groups_get_zero():
    got = trr_advantages(torch.tensor([5.0, 2.0, 2.0, 2.0]), torch.tensor([0, 1, 1, 1]))
    assert got.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_shape_errors_are_clear():
    with pytest.raises(ValueError):
        trr_advantages(torch.tensor([1.0, 2.0]), torch.tensor([0]))
    with pytest.raises(ValueError):
        trr_advantages(torch.tensor([1.0, 2.0]), torch.tensor([0, 0]), token_weighted=True)


def test_group_index_is_dense_and_ordered_by_first_sight():
    ids, keys = group_index(
        [("deduction", "solve"), ("induction", "propose"), ("deduction", "solve")]
    )
    assert ids.tolist() == [0, 1, 0]
    assert keys == [("deduction", "solve"), ("induction", "propose")]
