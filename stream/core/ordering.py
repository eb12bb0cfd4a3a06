"""Event-time order across partitions, for the records a consumer fetches.

A store's events come on five topics, and a consumer catching up on a backlog fetches a chunk
of each partition at a time: a chunk of a busy topic (orders) covers minutes of event time,
one of a quiet topic (withdrawals) may cover days. Handing over every fetched record would run
the quiet topic far ahead, so a withdrawal would be decided before the sales it cashes out.

``EventTimeMerger`` hands over, in timestamp order, only the records no other partition can
still precede: a record is released once its timestamp is at or before the *watermark*, the
earliest time any partition that may still bring older records has *reached* (the timestamp of
the newest record fetched from it). Which partitions may still bring older records:

- the partitions of the newest fetch, always: at the live edge a fetch's newest records wait
  for the next fetch (tens of milliseconds), so a record a producer sent earlier to another
  partition but the broker appended a little later still comes first;
- with a ``caught_up(partition, last_record)`` callback (the worker gives one reading the
  fetch responses' high watermarks), also every other assigned partition (``assign``) or
  partition seen, unless it is caught up (fetched to the end of its log: whatever it brings
  next is live) or *idle*, having brought nothing for ``idle_after_s`` of wall time, as
  Flink's watermark idleness does: a partition neither fetched nor known to be at its end
  cannot hold the others forever. A partition assigned but not fetched yet holds everything
  until it brings records, turns out caught up, or goes idle: the start of a backlog.
  Without the callback, a partition that brought nothing counts as caught up (tests, and
  consumers that know no more).

So a backlog is decided in the order live traffic would have been, whatever the fetches bring
(a fetch often holds records of a few partitions only), and at the live edge nothing waits
more than a fetch. An empty fetch with every partition caught up releases everything.
At most ``max_held`` records wait, the oldest going first past that, so a partition far ahead
cannot fill memory.

Outlier timestamps: a partition's records keep their order (offsets are committed in it), so
a record is ranked by the earliest timestamp from it to the end of its partition's queue: a
record stamped far ahead (a producer's clock, a malformed message stamped with the wall
clock) goes with the records behind it instead of holding its whole partition back; and a
partition's reached time is that of its newest fetch alone, so one outlier at the end of a
fetch sways the watermark for one fetch at most.

Transport-free: keys are any hashable partition id, records anything with a timestamp.
"""

from __future__ import annotations

import heapq
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

Partition = TypeVar("Partition", bound=Hashable)
MAX_HELD = 50_000
# A partition that brought nothing for this long, and is not known to be at its end, stops
# holding the others back (at the live edge the high watermarks say so at once: this only
# bounds the wait when they are unknown).
IDLE_AFTER_S = 1.0


class EventTimeMerger(Generic[Partition]):
    """Merges fetched records of many partitions into one timestamp-ordered stream."""

    def __init__(
        self,
        timestamp: Callable[[Any], float],
        max_held: int = MAX_HELD,
        caught_up: Callable[[Partition, Any], bool] | None = None,
        idle_after_s: float = IDLE_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timestamp = timestamp
        self._max_held = max_held
        self.caught_up = caught_up
        self._idle_after_s = idle_after_s
        self._clock = clock
        # per partition, in offset order: [rank, record], rank = earliest timestamp from
        # this record to the end of the queue
        self._held: dict[Partition, deque[list[Any]]] = {}
        self._count = 0
        # per partition known (assigned or seen): the timestamp and record of its newest
        # fetch (-inf, None before one), and when it last brought records or was assigned
        self._reached: dict[Partition, float] = {}
        self._last: dict[Partition, Any] = {}
        self._active_at: dict[Partition, float] = {}

    @property
    def held(self) -> int:
        """Records fetched but not yet handed over."""
        return self._count

    def clear(self) -> None:
        """Forget held records and what each partition reached (partitions were revoked: the
        consumer seeks back to its committed offsets, so they will be fetched again)."""
        self._held.clear()
        self._count = 0
        self._reached.clear()
        self._last.clear()
        self._active_at.clear()

    def assign(self, partitions: Iterable[Partition]) -> None:
        """The partitions the consumer now holds: each counts for the watermark from now on,
        even before it brings a record (until it is caught up or idle)."""
        now_s = self._clock()
        wanted = set(partitions)
        for known in [p for p in self._reached if p not in wanted]:
            del self._reached[known], self._active_at[known]
            self._last.pop(known, None)
        for partition in wanted:
            if partition not in self._reached:
                self._reached[partition] = float("-inf")
                self._active_at[partition] = now_s

    def watermark(self, fetched: Mapping[Partition, Sequence[Any]]) -> float:
        """The earliest time a partition that may still bring older records has reached
        (+inf when none may)."""
        if self.caught_up is None:
            lasts = [self._reached[p] for p, records in fetched.items() if records]
            return min(lasts) if lasts else float("inf")
        now_s = self._clock()
        caught_up, idle_after_s, last = self.caught_up, self._idle_after_s, self._last
        active_at = self._active_at
        gating = [
            reached
            for p, reached in self._reached.items()
            if fetched.get(p)
            or (now_s - active_at[p] < idle_after_s and not caught_up(p, last.get(p)))
        ]
        return min(gating) if gating else float("inf")

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
        now_s = self._clock()
        for partition, records in fetched.items():
            if records:
                self._hold(partition, records)
                self._reached[partition] = self._timestamp(records[-1])
                self._last[partition] = records[-1]
                self._active_at[partition] = now_s
        frontier = self.watermark(fetched)
        heads = [
            (queue[0][0], i, partition)
            for i, (partition, queue) in enumerate(self._held.items())
            if queue
        ]
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
