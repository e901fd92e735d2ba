"""Run by `torchrun --nproc_per_node 2` from test_trainer_ranks.py: the self-play step's
collectives on two gloo ranks. Each rank writes what the test checks to `<out>/rank<k>.json`.

The services are in memory (one store per rank, so that the ranks' own draws can differ, as two
independent draws from one shared buffer do) and the model is scripted. Where generation is a
collective (HF generate under ZeRO-3 or FSDP, vLLM with tensor parallelism) the generator here
is one too: every call gathers (prompt count, kind) from every rank and fails unless they agree,
so a rank that skips a call, or generates a different number of prompts, is caught (by the error,
or by the hang the test's timeout turns into a failure).
"""

from __future__ import annotations

import itertools
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "unit" / "trainer"))

from accelerate import PartialState
from azr_trainer.ranks import AccelerateRanks, LocalRanks, Ranks
from azr_trainer.selfplay import SelfPlay, StepSettings
from azr_trainer.tasks import Task
from trainer_fakes import (
    FakeJudge,
    FakeStore,
    ScriptedGenerator,
    ans,
    responder,
    run_sync,
    seeded,
)


class CollectiveGenerator(ScriptedGenerator):
    """A generator whose every call is a collective that needs equal calls on every rank."""

    def __init__(self, respond: Any, ranks: Ranks, **kwargs: Any) -> None:
        super().__init__(respond, **kwargs)
        self.ranks = ranks

    def generate(self, prompts: Any, *, learnability: bool = False) -> Any:
        calls = self.ranks.gather((len(prompts), learnability))
        if len(set(calls)) != 1:
            raise RuntimeError(f"generate calls differ across ranks: {calls}")
        return super().generate(prompts, learnability=learnability)


def _seeded_store() -> FakeStore:
    """A store holding the zero triplets (each rank's own: the stores are not shared)."""
    store = FakeStore()
    seeded(_selfplay(LocalRanks(), ScriptedGenerator(lambda p, learn: ""), store))
    return store


def _selfplay(ranks: Ranks, gen: ScriptedGenerator, store: FakeStore, **settings: Any) -> SelfPlay:
    defaults: dict[str, Any] = dict(n_references=1, n_induction_inputs=4, n_learnability=2)
    return SelfPlay(
        judge=FakeJudge(),
        store=store,
        generator=gen,
        call=run_sync,
        settings=StepSettings(**{**defaults, **settings}),
        ranks=ranks,
    )


def padding(ranks: Ranks) -> dict[str, list[int]]:
    """Rank 0 writes 1 valid proposal of 3 per type, rank 1 writes 2: learnability rollout
    counts with a collective backend (padded to the max) and with DDP (no padding)."""
    base = responder(n_inputs=4)

    def respond(prompt: str, learnability: bool) -> str:
        if "Propose a new" in prompt or "inputs for the program" in prompt:
            i = next(counter)
            if i % 3 >= ranks.rank + 1:
                return "garbage"
        return base(prompt, learnability)

    got = {}
    for name, collective in (("collective", True), ("ddp", False)):
        counter = itertools.count()
        make = CollectiveGenerator if collective else ScriptedGenerator
        gen = make(respond, ranks) if collective else make(respond)
        sp = _selfplay(ranks, gen, _seeded_store(), collective_generation=collective)
        sp.step(18, step=1)
        got[name] = [n for n, learn in gen.calls if learn]
    return got


def draws(ranks: Ranks) -> dict[str, list[str]]:
    """Every rank's solver tasks per type, from a buffer of 8 tasks per type (no new ones)."""
    store = FakeStore()
    run_sync(
        store.insert,
        [
            Task(t, f"def f(x):\n    return x + {i}", ("1",), ("o(1)",), message=f"m{i}")
            for t in ("abduction", "deduction", "induction")
            for i in range(8)
        ],
    )
    gen = CollectiveGenerator(lambda p, learn: "garbage", ranks)
    sp = _selfplay(ranks, gen, store)
    solved: dict[str, list[str]] = {}
    real_solve = sp.solve

    def recording_solve(task_type: str, tasks: list[Task], n: int) -> Any:
        solved[task_type] = [t.program for t in tasks]
        return real_solve(task_type, tasks, n)

    sp.solve = recording_solve  # type: ignore[method-assign]
    sp.step(24, step=1)
    return solved


def no_fit(ranks: Ranks) -> dict[str, Any]:
    """Rank 0's buffer holds only a deduction task too long for the prompt budget; rank 1's a
    short one: no rank may generate deduction solutions alone."""
    store = _seeded_store()
    store.tasks = [t for t in store.tasks if t.task_type != "deduction"]
    body = f"    # {'c' * 3000}\n" if ranks.rank == 0 else ""
    run_sync(store.insert, [Task("deduction", f"def f(x):\n{body}    return x", ("1",), ("o(1)",))])
    gen = CollectiveGenerator(
        lambda p, learn: "garbage" if "Propose" in p else ans(("output", "o(1)")),
        ranks,
        budget_chars=1,
    )
    sp = _selfplay(ranks, gen, store, max_prompt_tokens=2600, collective_generation=True)
    samples = sp.step(6, step=1)
    ded = [s for s in samples if s.group == ("deduction", "solve")]
    return {"fillers": [s.filler for s in ded], "calls": gen.calls}


def main() -> None:
    state = PartialState(cpu=True, timeout=timedelta(seconds=60))
    ranks = AccelerateRanks(state)
    out = {"padding": padding(ranks), "draws": draws(ranks), "no_fit": no_fit(ranks)}
    Path(sys.argv[1], f"rank{ranks.rank}.json").write_text(json.dumps(out))
    ranks.barrier()
    state.destroy_process_group()  # else gloo's threads can abort the exit (SIGABRT)


if __name__ == "__main__":
    main()
