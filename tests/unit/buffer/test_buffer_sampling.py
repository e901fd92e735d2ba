"""The buffer's sampler: the random-draw helper, and the exact semantics of each strategy.

The strategy tests run the sampler against a SQLite file with a seeded generator (deterministic),
and check uniformity with chi-square tests at a significance of 1e-6 on both tails: a correct
sampler passes for all but one seed in a million, a biased or a too-regular one fails.
"""

from __future__ import annotations

import collections
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from azr_buffer import repo, sampling
from azr_buffer.db import Database, migrate
from azr_buffer.errors import RunNotFound
from azr_buffer.sampling import draw_distinct, render_tasks, sample_rows
from azr_buffer.settings import BufferSettings
from azr_buffer.tables import TaskRow
from azr_proto.buffer import RunCreate, SampleRequest, SampleResponse, TaskIn
from azr_proto.tasks import TaskType
from sqlalchemy import delete

DED = TaskType.DEDUCTION
Z_1E6 = 4.7534  # standard normal quantile of 1 - 1e-6


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
    counts = collections.Counter[int]()
    for _ in range(2000):
        counts.update(draw_distinct(rng, 0, 9, 3, set()))
    assert_uniform(counts, set(range(10)))


# -- the sampler against a database ------------------------------------------------------------


def chi2_bounds(df: int) -> tuple[float, float]:
    """Chi-square quantiles at 1e-6 and 1 - 1e-6 (Wilson-Hilferty; close for df >= 3)."""
    c = 2 / (9 * df)
    lo, hi = (df * (1 - c + z * math.sqrt(c)) ** 3 for z in (-Z_1E6, Z_1E6))
    return lo, hi


def assert_uniform(counts: collections.Counter[int], population: set[int]) -> None:
    """`counts` (of draws) covers exactly `population`, evenly as a uniform draw would."""
    assert set(counts) <= population, set(counts) - population
    total = sum(counts.values())
    expected = total / len(population)
    assert expected >= 20, "too few draws for a chi-square test"
    stat = sum((counts[v] - expected) ** 2 / expected for v in population)
    lo, hi = chi2_bounds(len(population) - 1)
    assert lo < stat < hi, (stat, lo, hi, sorted(counts.items()))


def task(i: int, step: int) -> TaskIn:
    return TaskIn(
        type=DED,
        program=f"def f(a):\n    return a + {i}",
        inputs=["1"],
        outputs=[str(1 + i)],
        step=step,
    )


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    url = f"sqlite:///{tmp_path}/buffer.sqlite"
    migrate(url)
    database = Database(BufferSettings(database_url=url, migrate_on_start=False))
    try:
        yield database
    finally:
        database.dispose()


def fill(db: Database, steps: int, per_step: int) -> dict[int, int]:
    """Run "r" with `per_step` deduction tasks at each step; returns task id -> step."""
    with db.write_session() as session:
        run = repo.create_run(session=session, req=RunCreate(name="r"))
        tasks = [task(s * per_step + i, s) for s in range(steps) for i in range(per_step)]
        res = repo.insert_tasks(session=session, run=run, tasks=tasks, rng=random.Random(0))
    return {t.id: tasks[t.index].step for t in res.inserted}


@contextmanager
def sampler(db: Database, seed: int) -> Iterator[Callable[[SampleRequest], list[int]]]:
    rng = random.Random(seed)
    with db.raw_read() as cursor:

        def draw(req: SampleRequest) -> list[int]:
            rows = sample_rows(cursor=cursor, sql=db.sample_sql, run="r", req=req, rng=rng)
            return [t.id for t in SampleResponse.model_validate_json(render_tasks(rows)).tasks]

        yield draw


# The read-all-ids path, the seq-draw path, and the seq-draw path forced to give up (too few hits).
PATHS = [
    pytest.param({}, id="read-ids"),
    pytest.param({"SMALL_POOL": 0}, id="seq-draws"),
    pytest.param({"SMALL_POOL": 0, "ROUNDS": 1, "MIN_DENSITY": 0.0}, id="seq-draws-fallback"),
]


@pytest.mark.parametrize("patch", PATHS)
def test_uniform_is_uniform_without_replacement_and_skips_exclude_and_gaps(db, monkeypatch, patch):
    for name, value in patch.items():
        monkeypatch.setattr(sampling, name, value)
    ids = fill(db, steps=3, per_step=10)
    gone = set(sorted(ids)[5:10])  # a gap in the seq range
    with db.write_session() as session:
        session.execute(delete(TaskRow).where(TaskRow.id.in_(gone)))
    exclude = set(sorted(ids)[-3:])
    population = set(ids) - gone - exclude
    counts, first = collections.Counter[int](), collections.Counter[int]()
    with sampler(db, seed=11) as draw:
        for _ in range(500):  # 22 tasks: 136 draws each expected, 23 as the first
            got = draw(SampleRequest(type=DED, k=6, exclude=sorted(exclude)))
            assert len(got) == 6 == len(set(got)) and set(got) <= population
            counts.update(got)
            first[got[0]] += 1
        everything = draw(SampleRequest(type=DED, k=100, exclude=sorted(exclude)))
    assert sorted(everything) == sorted(population)
    assert_uniform(counts, population)  # each task equally likely to be in a sample
    assert_uniform(first, population)  # and in random order: the first one is uniform too


@pytest.mark.parametrize("patch", PATHS)
def test_recent_is_uniform_over_the_window_only(db, monkeypatch, patch):
    for name, value in patch.items():
        monkeypatch.setattr(sampling, name, value)
    ids = fill(db, steps=10, per_step=8)
    window = {i for i, s in ids.items() if 6 <= s <= 8}  # step 8, window 3: steps 6, 7, 8
    counts = collections.Counter[int]()
    with sampler(db, seed=12) as draw:
        for _ in range(150):
            got = draw(SampleRequest(type=DED, k=5, strategy="recent", step=8, window=3))
            assert len(got) == 5 == len(set(got))
            counts.update(got)
        # A window reaching before step 0 is clipped; past the newest step holds nothing.
        assert {
            ids[i] for i in draw(SampleRequest(type=DED, k=50, strategy="recent", step=1, window=5))
        } == {0, 1}
        assert draw(SampleRequest(type=DED, k=5, strategy="recent", step=12, window=2)) == []
    assert_uniform(counts, window)


@pytest.mark.parametrize("patch", PATHS)
def test_new_first_takes_the_step_first_then_fills_uniformly(db, monkeypatch, patch):
    for name, value in patch.items():
        monkeypatch.setattr(sampling, name, value)
    ids = fill(db, steps=6, per_step=5)
    this_step = {i for i, s in ids.items() if s == 3}
    rest = set(ids) - this_step
    fill_counts, step_counts = collections.Counter[int](), collections.Counter[int]()
    with sampler(db, seed=13) as draw:
        for _ in range(200):
            got = draw(SampleRequest(type=DED, k=8, strategy="new_first", step=3))
            assert len(got) == 8 == len(set(got))
            assert set(got[:5]) == this_step  # all five of this step, first
            fill_counts.update(got[5:])
            # Fewer than the step holds: a uniform sample of the step alone.
            few = draw(SampleRequest(type=DED, k=2, strategy="new_first", step=3))
            assert set(few) <= this_step
            step_counts.update(few)
        # A step with no task: filled up uniformly from the whole pool, minus the exclude list.
        excluded = sorted(rest)[:3]
        none_new = draw(
            SampleRequest(type=DED, k=40, strategy="new_first", step=9, exclude=excluded)
        )
        assert sorted(none_new) == sorted(set(ids) - set(excluded))
    assert_uniform(fill_counts, rest)
    assert_uniform(step_counts, this_step)


def test_unknown_run_and_empty_pool(db):
    fill(db, steps=1, per_step=3)
    with db.raw_read() as cursor:
        with pytest.raises(RunNotFound):
            sample_rows(
                cursor=cursor,
                sql=db.sample_sql,
                run="ghost",
                req=SampleRequest(type=DED, k=1),
                rng=random.Random(0),
            )
        empty = sample_rows(
            cursor=cursor,
            sql=db.sample_sql,
            run="r",
            req=SampleRequest(type=TaskType.INDUCTION, k=3),
            rng=random.Random(0),
        )
    assert empty == [] and render_tasks(empty) == b'{"tasks":[]}'
