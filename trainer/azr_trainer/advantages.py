"""Task-Relative REINFORCE++ (TRR++): rewards normalised within each (task type x role) group.

For a group g with rewards r_i (and completion lengths l_i in the token-weighted mode):

    per-sequence:   mu = mean(r_i),                 var = sum (r_i - mu)^2 / (n - 1)
    token-weighted: mu = sum l_i r_i / sum l_i,     var = sum l_i (r_i - mu)^2 / sum l_i
                                                          * N / (N - 1),  N = sum l_i
    A_i = (r_i - mu) / sqrt(var + eps)

The token-weighted mode is exactly veRL's `masked_whiten` over the response tokens of the
group (the reference's behaviour: every token carries the sequence reward, gamma = 1); the
per-sequence mode is the paper's formula with Bessel's correction. Rewards that are NaN (judge
failures, padding rows) take no part in any statistic and get advantage 0; so does every member
of a group with a single scored sample. The functions here are pure: the caller gathers the
global batch across processes first, so every rank computes the same statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["DEFAULT_EPS", "group_index", "trr_advantages"]

DEFAULT_EPS = 1e-8


def group_index(keys: Sequence[tuple[str, str]]) -> tuple[torch.Tensor, list[tuple[str, str]]]:
    """Map (task type, role) keys to dense group ids; returns the ids and the id -> key list."""
    order: dict[tuple[str, str], int] = {}
    ids = [order.setdefault(tuple(key), len(order)) for key in keys]  # type: ignore[arg-type]
    return torch.tensor(ids, dtype=torch.long), list(order)


def trr_advantages(
    rewards: torch.Tensor,
    groups: torch.Tensor,
    lengths: torch.Tensor | None = None,
    *,
    token_weighted: bool = False,
    eps: float = DEFAULT_EPS,
) -> torch.Tensor:
    """One advantage per sequence, normalised within its group.

    >>> trr_advantages(torch.tensor([1.0, 3.0, 10.0]), torch.tensor([0, 0, 1]))
    tensor([-0.7071,  0.7071,  0.0000])
    """
    if rewards.dim() != 1 or groups.shape != rewards.shape:
        raise ValueError("rewards and groups must be 1-D tensors of the same length")
    if token_weighted:
        if lengths is None or lengths.shape != rewards.shape:
            raise ValueError("token_weighted needs one length per reward")
        if bool((lengths < 0).any()):
            raise ValueError("lengths must be non-negative")
    rewards = rewards.double()
    advantages = torch.zeros_like(rewards)
    scored = ~torch.isnan(rewards)
    for g in torch.unique(groups).tolist():
        member = (groups == g) & scored
        if int(member.sum()) < 2:
            continue
        r = rewards[member]
        if token_weighted:
            assert lengths is not None
            w = lengths[member].double()
            total = w.sum()
            if total < 2:
                continue
            mu = (w * r).sum() / total
            var = (w * (r - mu) ** 2).sum() / total * total / (total - 1)
        else:
            mu = r.mean()
            var = r.var(unbiased=True)
        advantages[member] = (r - mu) / torch.sqrt(var + eps)
    return advantages.float()
