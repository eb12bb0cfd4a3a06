"""The ``StateStore`` protocol the engine depends on, and the error every store raises."""

from __future__ import annotations

from typing import Protocol

from stream.config import WindowSettings
from stream.core.facts import FactLinks
from stream.core.store_view import StoreView
from stream.core.updates import StateUpdate


class StateUnavailableError(RuntimeError):
    """Redis could not be reached or answered with a connection error; the batch may be
    retried. (Transport shells catch this instead of importing redis themselves.)"""


# A Kafka partition (topic, number), or a replayed file and 0.
PartitionId = tuple[str, int]


class StateStore(Protocol):
    """Where per-store state lives; the engine depends on this, not on Redis
    (``stream.state.state.RedisStateStore``; ``stream.state.memory_state.InMemoryStateStore``
    keeps it all in the process).

    It also keeps, per input partition, the highest offset whose event is decided and whose
    effect is saved (``decided``, saved by ``commit`` with the stores): after a crash, an event
    at or below it that the stores refuse as a copy is a redelivery, not bad input.
    """

    async def load(self, store_ids: set[str]) -> None: ...

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]: ...

    async def link_facts(
        self, updates: list[StateUpdate], views: list[StoreView]
    ) -> list[StoreView]: ...

    async def commit(self) -> None: ...

    def release(self) -> None: ...

    async def decided_offsets(self, partitions: set[PartitionId]) -> dict[PartitionId, int]: ...

    def decided(self, partition: PartitionId, offset: int) -> None: ...

    def reconfigure(self, windows: WindowSettings) -> None: ...

    def current(self, view: StoreView, store_id: str) -> StoreView: ...

    def remember(self, store_id: str, fields: dict[str, str]) -> None: ...

    async def mark_alert(
        self, store_id: str, detector: str, ts_s: float, ring_id: str, facts: list[FactLinks]
    ) -> set[str]: ...

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None: ...
