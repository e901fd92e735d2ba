"""The collectives the self-play step needs across training processes, in one small interface.

Every method is a collective: when the world has several ranks, every rank must call it, in the
same order, or the job hangs. `SelfPlay` is written so that each call happens on every rank
whatever that rank's data (no rank skips a call because it has nothing to do).

`LocalRanks` is the one-process world (every call returns at once); `AccelerateRanks` runs on
accelerate's process group (NCCL on GPUs, gloo on CPU under torchrun).
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

__all__ = ["AccelerateRanks", "LocalRanks", "Ranks"]

T = TypeVar("T")


class Ranks(Protocol):
    """This process's place in the world and the collectives between the processes."""

    rank: int
    world: int

    def barrier(self) -> None: ...

    def broadcast(self, obj: T) -> T:
        """Rank 0's `obj`, on every rank."""
        ...

    def gather(self, obj: T) -> list[T]:
        """Every rank's `obj`, in rank order, on every rank."""
        ...

    def max(self, value: int) -> int:
        """The largest `value` over the ranks, on every rank."""
        ...


class LocalRanks:
    """One process: the collectives are identities."""

    rank = 0
    world = 1

    def barrier(self) -> None:
        return None

    def broadcast(self, obj: T) -> T:
        return obj

    def gather(self, obj: T) -> list[T]:
        return [obj]

    def max(self, value: int) -> int:
        return value


class AccelerateRanks:
    """The ranks of accelerate's process group (`PartialState`)."""

    def __init__(self, state: Any) -> None:
        self._state = state
        self.rank = int(state.process_index)
        self.world = int(state.num_processes)

    def barrier(self) -> None:
        self._state.wait_for_everyone()

    def broadcast(self, obj: T) -> T:
        if self.world == 1:
            return obj
        from accelerate.utils import broadcast_object_list

        box = [obj]
        broadcast_object_list(box, from_process=0)
        return box[0]

    def gather(self, obj: T) -> list[T]:
        if self.world == 1:
            return [obj]
        from accelerate.utils import gather_object

        return list(gather_object([obj]))

    def max(self, value: int) -> int:
        return max(self.gather(value))
