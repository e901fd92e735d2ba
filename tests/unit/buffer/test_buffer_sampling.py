"""The random-draw helper of the buffer's sampler."""

from __future__ import annotations

import random

from azr_buffer.sampling import draw_distinct


def test_draws_are_distinct_in_range_and_skip_seen():
    rng = random.Random(0)
    seen = {3, 4, 5}
    out = draw_distinct(rng, 1, 100, 20, seen)
    assert len(out) == len(set(out)) == 20
    assert all(1 <= v <= 100 for v in out) and not {3, 4, 5} & set(out)
    assert set(out) <= seen  # recorded for the next round


def test_draws_stop_when_the_range_is_exhausted():
    rng = random.Random(1)
    seen: set[int] = set()
    assert sorted(draw_distinct(rng, 5, 9, 100, seen)) == [5, 6, 7, 8, 9]
    assert draw_distinct(rng, 5, 9, 3, seen) == []


def test_draws_are_uniform():
    rng = random.Random(2)
    counts = [0] * 10
    for _ in range(2000):
        for v in draw_distinct(rng, 0, 9, 3, set()):
            counts[v] += 1
    assert min(counts) > 500 and max(counts) < 700  # 600 expected each
