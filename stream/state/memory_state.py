"""Per-store state and cross-store facts in this process's memory: the ``StateStore`` of
``stream.state.protocol`` without Redis, for detection tests and replays that need no durable copy.

``InMemoryStateStore`` applies updates to the same ``StoreState`` objects as
``RedisStateStore`` and returns the same views, links, alert marks and ring members for the same
updates; only where the state lives differs. Its ``commit`` keeps everything (there is no other
copy to write) and ``release`` forgets nothing, so it suits one process that sees every store:
a test, a replay, a what-if run. It imports nothing from redis.

``MemoryFactIndex`` keeps the cross-store facts as ``link_facts.lua`` keeps them in Redis, with
the same rules: a fact holds at most ``cap`` members, its ring id taking one of the places once
tied (a member already known may still change its value); every member keeps the event second
of its first touch and a ring the second of the event it was tied for, and a touch sees the
members dated at or before its event (its own member always) and the ring tied before it; a fact of its own (bank account, claimant, ring) is
kept for ``ttl_s`` of the wall clock after its last touch, a tracking number for ``ttl_s`` of
event time after its newest touch (to the hour), in a bucket kept ``ttl_s`` of the wall clock
after its last touch and swept as Redis sweeps it; and a ring id tied by this process is seen by
views read before the tie (``ring_of``), when it is dated before their event.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from stream.config import WindowSettings
from stream.core import tracking
from stream.core.facts import (
    RING_FIELD,
    Fact,
    FactLinks,
    event_second,
    event_seconds,
    remember_tie,
    tie_second,
    tied_ring,
)
from stream.core.store_state import StoreState
from stream.core.store_view import StoreView, apply_in_order, with_marks
from stream.core.windows import StateConfig

if TYPE_CHECKING:
    from stream.core.updates import StateUpdate
    from stream.state.protocol import PartitionId

__all__ = ["InMemoryStateStore", "MemoryFactIndex"]

HOUR_S = 3600  # a tracking number's stamp is kept to the hour (link_facts.lua's stamp)


class _Hash:
    """One fact of its own (bank account, claimant, ring): member -> (value, first touch in
    event seconds), and (ring id, tied at) under RING_FIELD, as the Redis hash holds them; gone
    once the wall clock passes ``expires_s``."""

    __slots__ = ("expires_s", "fields")

    def __init__(self) -> None:
        self.expires_s = 0.0
        self.fields: dict[str, tuple[str, int]] = {}


class _Entry:
    """One tracking number, as link_facts.lua's entry holds it: the hour (rounded up) of its
    newest touch, its members (buyer tag -> (store, first touch)) and ring, in event seconds."""

    __slots__ = ("hours", "orders", "ring", "ring_at_s")

    def __init__(self) -> None:
        self.hours = 0
        self.orders: dict[str, tuple[str, int]] = {}
        self.ring: str | None = None
        self.ring_at_s = 0

    def past(self, at_s: int, ttl_s: int) -> bool:
        """Past its ttl for an event at ``at_s`` (link_facts.lua's past)."""
        return self.hours * HOUR_S + ttl_s <= at_s


class _Bucket:
    """The tracking numbers sharing one Redis bucket hash, by fingerprint. The bucket expires
    as its key does (wall clock); ``sweep_due_s`` is its '' field (event seconds)."""

    __slots__ = ("entries", "expires_s", "sweep_due_s")

    def __init__(self) -> None:
        self.expires_s = 0.0
        self.sweep_due_s = -1
        self.entries: dict[int, _Entry] = {}  # by fingerprint


class MemoryFactIndex:
    """The cross-store facts of one process, with ``stream.core.facts.FactIndex``'s interface and
    ``link_facts.lua``'s rules (see the module docstring). ``wall_s`` is the clock that
    expires keys (the Redis server's clock), and the event time of touches made without one."""

    def __init__(
        self,
        cap: int,
        ttl_s: int,
        *,
        trk_buckets: int = tracking.DEFAULT_BUCKETS,
        wall_s: Callable[[], float] = time.time,
    ) -> None:
        self.cap = cap
        self.ttl_s = ttl_s
        self.trk_buckets = trk_buckets
        self._wall_s = wall_s
        self._hashes: dict[tuple[str, str], _Hash] = {}
        self._buckets: dict[int, _Bucket] = {}
        # ring ids tied by this process and when, by (kind, value): what FactIndex keeps
        self._rings: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()
        self._purged_s = wall_s()

    async def link(
        self, facts: Sequence[Fact], at_s: Sequence[float] | None = None
    ) -> list[FactLinks]:
        """Record every touch, in order, and return who touched each fact as of its event
        (``at_s``, default the wall clock)."""
        now_s = self._wall_s()
        seconds = event_seconds(len(facts), at_s, self._wall_s)
        links = []
        for fact, at in zip(facts, seconds, strict=True):
            if fact.kind == tracking.KIND:
                tag = tracking.member_tag(fact.member)  # kept as Redis keeps it: collisions alike
                orders, ring_id = self._touch_tracking(
                    fact.value, at, now_s, tag, fact.member_value, None
                )
                if tag in orders:
                    orders[fact.member] = orders.pop(tag)
                links.append(FactLinks(fact.kind, fact.value, orders, ring_id, at))
            else:
                members = self._link_fact(
                    (fact.kind, fact.value), fact.member, fact.member_value, at, now_s
                )
                ring_id = members.pop(RING_FIELD, None)
                links.append(FactLinks(fact.kind, fact.value, members, ring_id, at))
        return links

    def ring_of(self, link: FactLinks) -> str | None:
        """The ring ``link``'s fact belongs to, counting ties written since it was read (those
        dated before its event)."""
        return link.ring_id or tied_ring(self._rings, link)

    async def join_ring(
        self,
        ring_id: str,
        store_id: str,
        facts: Sequence[FactLinks],
        at_s: float | None = None,
    ) -> set[str]:
        """Add an alerted store to its ring, tie the facts its event touched to the ring, and
        return the ring's stores as of the alert's event ``at_s`` (this one included)."""
        now_s = self._wall_s()
        at = event_second(now_s if at_s is None else at_s)
        members = self._link_fact(("ring", ring_id), store_id, "", at, now_s)
        self._tie(ring_id, facts, now_s)
        return {member for member in members if member != RING_FIELD}

    async def tie(self, ring_id: str, facts: Sequence[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id, dated
        with the event each link was read for."""
        self._tie(ring_id, facts, self._wall_s())

    def _tie(self, ring_id: str, facts: Sequence[FactLinks], now_s: float) -> None:
        for link in facts:
            at = tie_second(link, self._wall_s)
            remember_tie(self._rings, link, ring_id, at)
            if link.kind == tracking.KIND:
                self._touch_tracking(link.value, at, now_s, "", "", ring_id)
                continue
            fields = self._live_hash((link.kind, link.value), now_s).fields
            known = fields.get(RING_FIELD)
            if known is not None and known[0] == ring_id:
                at = min(at, known[1])
            fields[RING_FIELD] = (ring_id, at)

    def _live_hash(self, key: tuple[str, str], now_s: float) -> _Hash:
        """The fact's hash (a new one if it expired), kept for another ttl from now."""
        found = self._hashes.get(key)
        if found is None or now_s > found.expires_s:
            found = self._hashes[key] = _Hash()
        found.expires_s = now_s + self.ttl_s
        return found

    def _link_fact(
        self, key: tuple[str, str], member: str, value: str, at_s: int, now_s: float
    ) -> dict[str, str]:
        """link_facts.lua's link_fact: the member joins while the hash (ring id included)
        has fewer than cap fields, dated ``at_s``; a known member takes a new non-empty value
        and keeps its first time. Returns the fields as of ``at_s`` (the ring if tied before)."""
        fields = self._live_hash(key, now_s).fields
        known = fields.get(member)
        if known is not None:
            fields[member] = (value or known[0], min(known[1], at_s))
        elif len(fields) < self.cap:
            fields[member] = (value, at_s)
        return {
            name: seen
            for name, (seen, dated) in fields.items()
            if dated < at_s or (name != RING_FIELD and (dated == at_s or name == member))
        }

    def _touch_tracking(
        self, number: str, at_s: int, now_s: float, order: str, store: str, ring_id: str | None
    ) -> tuple[dict[str, str], str | None]:
        """link_facts.lua's touch_tracking: link ``order`` of ``store``, or with ``ring_id``
        tie the number to that ring, by an event at ``at_s``; returns the number's orders and
        ring as of that event."""
        field = tracking.fingerprint(number)  # filed as Redis files it: collisions alike
        index = field % self.trk_buckets  # tracking.bucket_of
        bucket = self._buckets.get(index)
        if bucket is None or now_s > bucket.expires_s:
            bucket = self._buckets[index] = _Bucket()
        ttl_s = self.ttl_s
        entry = bucket.entries.get(field)
        if entry is None or entry.past(at_s, ttl_s):  # absent for this event
            if bucket.sweep_due_s <= at_s:
                bucket.entries = {
                    n: e for n, e in bucket.entries.items() if not e.past(at_s, ttl_s)
                }
                bucket.sweep_due_s = _hour_up(at_s + max(HOUR_S, ttl_s / 16))
            entry = _Entry()
        entry.hours = max(entry.hours, math.ceil(at_s / HOUR_S))
        orders = entry.orders
        if ring_id is not None:
            if entry.ring == ring_id:
                entry.ring_at_s = min(entry.ring_at_s, at_s)
            else:
                entry.ring, entry.ring_at_s = ring_id, at_s
        elif order in orders:
            known = orders[order]
            orders[order] = (store or known[0], min(known[1], at_s))
        elif len(orders) + (entry.ring is not None) < self.cap:
            orders[order] = (store, at_s)
        bucket.entries[field] = entry
        bucket.expires_s = now_s + ttl_s
        seen = {
            name: shipper
            for name, (shipper, dated) in orders.items()
            if dated <= at_s or name == order
        }
        return seen, entry.ring if entry.ring is not None and entry.ring_at_s < at_s else None

    def purge(self) -> int:
        """Forget the facts whose key expired by the wall clock (Redis expires them by itself);
        returns how many. Tracking numbers past their ttl in event time go as in Redis, when a
        new number sweeps their bucket. Called now and then, so memory stays bounded."""
        now_s = self._wall_s()
        self._purged_s = now_s
        before = len(self._hashes) + sum(len(b.entries) for b in self._buckets.values())
        self._hashes = {k: h for k, h in self._hashes.items() if now_s <= h.expires_s}
        self._buckets = {i: b for i, b in self._buckets.items() if now_s <= b.expires_s}
        return before - len(self._hashes) - sum(len(b.entries) for b in self._buckets.values())

    def purge_when_due(self) -> None:
        if self._wall_s() - self._purged_s >= max(HOUR_S, self.ttl_s / 16):
            self.purge()

    def clear(self) -> int:
        """Forget every fact; returns how many facts (hashes and tracking numbers) there were."""
        count = len(self._hashes) + sum(len(b.entries) for b in self._buckets.values())
        self._hashes.clear()
        self._buckets.clear()
        self._rings.clear()
        return count


def _hour_up(at_s: float) -> int:
    """``at_s`` rounded up to the hour, in seconds (link_facts.lua's stamp, read back)."""
    return math.ceil(at_s / HOUR_S) * HOUR_S


class InMemoryStateStore:
    """StateStore: every store and fact in this process's memory; no Redis, no I/O.

    Applying, linking and marking follow ``RedisStateStore`` step for step, so the views,
    links, alert marks and ring members are the same for the same updates. ``commit`` has
    nothing to write and keeps every store; ``release`` keeps them too (no other worker can
    own them), so a replay or a test sees its stores from start to end."""

    def __init__(self, windows: WindowSettings, *, wall_s: Callable[[], float] = time.time) -> None:
        self.facts = MemoryFactIndex(
            windows.fact_cap,
            int(windows.fact_ttl_s),
            trk_buckets=windows.trk_buckets,
            wall_s=wall_s,
        )
        self.reconfigure(windows)
        self._stores: dict[str, StoreState] = {}
        self._changed: set[str] = set()
        # alert marks written since the last commit, for the views read before them
        self._batch_marks: dict[str, dict[str, str]] = {}
        self._models: dict[str, dict[str, bytes]] = {}
        self._decided: dict[PartitionId, int] = {}

    def reconfigure(self, windows: WindowSettings) -> None:
        """Use new window settings from the next event on (as RedisStateStore does)."""
        self._windows = windows
        self._lengths_s = tuple(windows.lengths_s)
        self._config = StateConfig.of(
            list(self._lengths_s), windows.buckets_per_window, windows.allowed_lateness_s
        )
        self.facts.cap = windows.fact_cap
        self.facts.ttl_s = int(windows.fact_ttl_s)

    async def load(self, store_ids: set[str]) -> None:
        """Every store is here already; one never met starts empty."""
        stores = self._stores
        for store_id in store_ids:
            if store_id not in stores:
                stores[store_id] = StoreState()

    async def apply_many(self, updates: list[StateUpdate]) -> list[StoreView]:
        """Apply updates in order; each view sees the updates before it."""
        if not updates:
            return []
        return apply_in_order(
            self._stores, updates, self._config, self._lengths_s, self._changed, new_stores=True
        )

    async def link_facts(
        self, updates: list[StateUpdate], views: list[StoreView]
    ) -> list[StoreView]:
        """Record the cross-store facts of the events the stores accepted (a refused event
        leaves no trace) and return the views with who else touched them as of each
        event."""
        linking = [
            i
            for i, (update, view) in enumerate(zip(updates, views, strict=True))
            if update.facts and view.refusal is None
        ]
        if not linking:
            return views
        facts = [fact for i in linking for fact in updates[i].facts]
        at_s = [updates[i].ts_s for i in linking for _ in updates[i].facts]
        links = iter(await self.facts.link(facts, at_s))
        for i in linking:  # views made by apply_many for this batch, not yet handed out
            views[i].links = {fact.kind: next(links) for fact in updates[i].facts}
        return views

    async def commit(self) -> None:
        """Nothing to write: every store stays as it is. Marks the end of a batch, as a
        Redis commit does (views read from now on carry the marks written before)."""
        self._changed.clear()
        self._batch_marks.clear()
        self.facts.purge_when_due()

    def release(self) -> None:
        """Nothing is forgotten: this memory is the only copy of the stores."""

    async def decided_offsets(self, partitions: set[PartitionId]) -> dict[PartitionId, int]:
        """The highest offset decided per partition (-1: none), as RedisStateStore keeps it."""
        return {partition: self._decided.get(partition, -1) for partition in partitions}

    def decided(self, partition: PartitionId, offset: int) -> None:
        if offset > self._decided.get(partition, -1):
            self._decided[partition] = offset

    @property
    def stores_in_memory(self) -> int:
        return len(self._stores)

    def current(self, view: StoreView, store_id: str) -> StoreView:
        """``view`` with the alert marks and ring ids written since it was read."""
        return with_marks(view, self._batch_marks.get(store_id), self.facts.ring_of)

    def remember(self, store_id: str, fields: dict[str, str]) -> None:
        """Write a detector's note (its episode's evidence so far) to the store's profile; the
        store's next events, in this batch or later, see it."""
        self._stores[store_id].mark(fields)
        self._changed.add(store_id)
        self._batch_marks.setdefault(store_id, {}).update(fields)

    async def mark_alert(
        self, store_id: str, detector: str, ts_s: float, ring_id: str, facts: list[FactLinks]
    ) -> set[str]:
        """Remember an alert and return the stores of its ring (this one included); see
        RedisStateStore.mark_alert."""
        fields = {f"alerted:{detector}": repr(ts_s), "ring_id": ring_id}
        self._stores[store_id].mark(fields)
        self._changed.add(store_id)
        self._batch_marks.setdefault(store_id, {}).update(fields)
        return await self.facts.join_ring(ring_id, store_id, facts, ts_s)

    async def tie_facts(self, ring_id: str, facts: list[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        await self.facts.tie(ring_id, facts)

    async def save_models(self, app_id: str, snapshots: dict[str, bytes]) -> None:
        self._models.setdefault(app_id, {}).update(snapshots)

    async def load_models(self, app_id: str) -> dict[str, bytes]:
        return dict(self._models.get(app_id, {}))

    async def tracked_stores(self) -> int:
        """How many stores have state (as RedisStateStore counts its saved stores: one whose
        every event was refused has none)."""
        return sum(1 for state in self._stores.values() if state.max_ts_s >= 0)

    async def saved_state(self, store_id: str) -> StoreState | None:
        """A store's state as a save would keep it (read back from its saved form, as
        RedisStateStore.saved_state reads it from Redis), None for a store never met."""
        state = self._stores.get(store_id)
        return StoreState.from_blob(state.to_blob(self._config)) if state is not None else None

    async def drop_all(self) -> int:
        """Forget every store, fact and model snapshot; returns how many there were."""
        dropped = len(self._stores) + self.facts.clear() + len(self._models)
        self._stores.clear()
        self._changed.clear()
        self._batch_marks.clear()
        self._models.clear()
        return dropped

    async def ping(self) -> None:
        """Always available."""

    async def close(self) -> None:
        """Nothing to close."""
