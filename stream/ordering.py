"""Event-time order across partitions, for the records a consumer fetches.

A store's events come on five topics, and a consumer catching up on a backlog fetches a chunk
of each partition at a time: a chunk of a busy topic (orders) covers minutes of event time,
one of a quiet topic (withdrawals) may cover days. Handing over every fetched record would run
the quiet topic far ahead, so a withdrawal would be decided before the sales it cashes out.

``EventTimeMerger`` hands over, in timestamp order, only the records no other fetched
partition can still precede: a record is released once its timestamp is at or before the
*frontier*, the earliest "last timestamp" among the partitions of the newest fetch. Records
beyond it wait for the next fetch (at the live edge that is one fetch interval, tens of
milliseconds). A partition that brought nothing is caught up and does not hold others back;
an empty fetch releases everything. At most ``max_held`` records wait, the oldest going first
past that, so a partition far ahead cannot fill memory.

A partition's records keep their order (offsets are committed in it), so a record is ranked
by the earliest timestamp from it to the end of its partition's queue: a record stamped far
ahead (a producer's clock, a malformed message stamped with the wall clock) goes with the
records behind it instead of holding its whole partition back.

Transport-free: keys are any hashable partition id, records anything with a timestamp.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)
MAX_HELD = 20_000


class EventTimeMerger(Generic[Partition]):
    """Merges fetched records of many partitions into one timestamp-ordered stream."""

    def __init__(self, timestamp: Callable[[Any], float], max_held: int = MAX_HELD) -> None:
        self._timestamp = timestamp
        self._max_held = max_held
        # per partition, in offset order: [rank, record], rank = earliest timestamp from
        # this record to the end of the queue
        self._held: dict[Partition, deque[list[Any]]] = {}
        self._count = 0

    @property
    def held(self) -> int:
        """Records fetched but not yet handed over."""
        return self._count

    def clear(self) -> None:
        """Forget held records (partitions were revoked: the consumer seeks back to its
        committed offsets, so they will be fetched again)."""
        self._held.clear()
        self._count = 0

    def _hold(self, partition: Partition, records: Sequence[Any]) -> None:
        queue = self._held.setdefault(partition, deque())
        earliest = float("inf")
        ranked = []
        for record in reversed(records):
            earliest = min(earliest, self._timestamp(record))
            ranked.append([earliest, record])
        for entry in reversed(queue):  # held records now precede the new ones
            if entry[0] <= earliest:
                break
            entry[0] = earliest
        queue.extend(reversed(ranked))
        self._count += len(records)

    def add(self, fetched: Mapping[Partition, Sequence[Any]]) -> Iterator[tuple[Partition, Any]]:
        """Take a fetch; yield the records now safe to hand over, oldest first.

        A record taken from the generator is handed over; the ones left when the consumer
        stops iterating stay held for the next call.

        >>> merger = EventTimeMerger(timestamp=lambda ts: ts)
        >>> list(merger.add({"orders": [1, 2, 5], "withdrawals": [3, 9]}))
        [('orders', 1), ('orders', 2), ('withdrawals', 3), ('orders', 5)]
        >>> list(merger.add({"orders": [10]}))
        [('withdrawals', 9), ('orders', 10)]
        """
        for partition, records in fetched.items():
            if records:
                self._hold(partition, records)
        lasts = [self._timestamp(records[-1]) for records in fetched.values() if records]
        frontier = min(lasts) if lasts else float("inf")
        heads = [(queue[0][0], i, partition)
                 for i, (partition, queue) in enumerate(self._held.items()) if queue]
        heapq.heapify(heads)
        while heads:
            rank, i, partition = heads[0]
            if rank > frontier and self._count <= self._max_held:
                return
            queue = self._held[partition]
            _, record = queue.popleft()
            self._count -= 1
            if queue:
                heapq.heapreplace(heads, (queue[0][0], i, partition))
            else:
                heapq.heappop(heads)
                del self._held[partition]
            yield partition, record
