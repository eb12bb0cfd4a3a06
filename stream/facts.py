"""Cross-store facts in Redis: bank accounts, tracking numbers, price-protection claimants, rings.

A fact links stores that never share a partition, so unlike a store's own state it cannot live
in the worker that owns the store: every worker reads and writes it in Redis. Each event's touch
is one script call on one key (one Cluster slot), pipelined with the batch's others, so a batch
costs one round trip for all of its facts. Memory is bounded: a fact keeps at most ``cap``
members and expires ``ttl_s`` after its last touch. A bank account, a claimant or a ring is one
hash (``link_fact.lua``); tracking numbers, one per shipped order and hence most facts, share
bucket hashes (``stream.tracking``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from stream import tracking
from stream.tracking import FactLimits, TrackingBuckets, TrackingEntry

KEY_PREFIX: Final = "sw:v1"

# What links stores, and what a fact's members and values are.
FACT_KINDS: Final = {
    "bank": "bank account",  # member: store id, value: its owner ('' when not registered)
    "trk": "tracking number",  # member: order id, value: its store
    "claim": "price-protection claimant",  # member: store id, value: ''
}
RING_FIELD: Final = "~ring"
# Ring ids this process wrote, so events read earlier in the same batch see them.
RINGS_KEPT: Final = 100_000


def fact_key(kind: str, value: str, namespace: str = KEY_PREFIX) -> str:
    """The key of one cross-store fact; the braces give each fact its own Cluster slot.

    >>> fact_key("bank", "6222-01")
    'sw:v1:fact:bank:{6222-01}'
    """
    return f"{namespace}:fact:{kind}:{{{value}}}"


@dataclass(frozen=True, slots=True)
class Fact:
    """One event's touch of a cross-store fact: ``member`` (with ``value``) joins ``kind:value``."""

    kind: str
    value: str
    member: str
    member_value: str = ""


@dataclass(frozen=True, slots=True)
class FactLinks:
    """Who else touched a fact, as of the event (the event's own touch included)."""

    kind: str
    value: str
    members: dict[str, str]
    ring_id: str | None = None

    def other_stores(self, store_id: str) -> set[str]:
        """Stores other than ``store_id`` that share this fact."""
        if self.kind == "trk":
            return {store for store in self.members.values() if store and store != store_id}
        return {member for member in self.members if member != store_id}


class FactIndex:
    """The cross-store facts of one namespace, on a redis.asyncio client (or Cluster client
    whose pipelines run scripts, see ``state._ClusterClient``)."""

    def __init__(self, client: Any, namespace: str, cap: int, ttl_s: int, *,
                 trk_buckets: int = tracking.DEFAULT_BUCKETS,
                 wall_s: Callable[[], float] = time.time) -> None:
        self._client = client
        self._namespace = namespace
        self.cap = cap
        self.ttl_s = ttl_s
        self._wall_s = wall_s
        self._link = client.register_script(
            resources.files("stream").joinpath("link_fact.lua").read_text()
        )
        self._tracking = TrackingBuckets(client, namespace, trk_buckets)
        # ring ids tied by this process, by (kind, value)
        self._rings: OrderedDict[tuple[str, str], str] = OrderedDict()

    def key(self, kind: str, value: str) -> str:
        """The key that holds the fact (for a tracking number: its bucket, shared)."""
        if kind == tracking.KIND:
            return self._tracking.key(value)
        return fact_key(kind, value, self._namespace)

    def _limits(self) -> FactLimits:
        return FactLimits(self.cap, self.ttl_s, self._wall_s())

    async def link(self, facts: Sequence[Fact]) -> list[FactLinks]:
        """Record every touch, in order, and return who touched each fact (one round trip)."""
        if not facts:
            return []
        pipe = self._client.pipeline(transaction=False)
        limits = self._limits()
        for fact in facts:
            if fact.kind == tracking.KIND:
                await self._tracking.link(pipe, fact.value, fact.member, fact.member_value, limits)
            else:
                await self._link(keys=[self.key(fact.kind, fact.value)],
                                 args=[fact.member, fact.member_value, self.cap, self.ttl_s],
                                 client=pipe)
        replies = await pipe.execute()
        return [self._links(fact, reply) for fact, reply in zip(facts, replies, strict=True)]

    @staticmethod
    def _links(fact: Fact, reply: str) -> FactLinks:
        if fact.kind == tracking.KIND:
            entry = TrackingEntry.decode(reply)
            return FactLinks(fact.kind, fact.value, entry.orders, entry.ring_id)
        members = json.loads(reply) if reply else {}
        members = members if isinstance(members, dict) else {}
        ring_id = members.pop(RING_FIELD, None)
        return FactLinks(fact.kind, fact.value, members, ring_id)

    def ring_of(self, link: FactLinks) -> str | None:
        """The ring ``link``'s fact belongs to, counting ties written since it was read."""
        return link.ring_id or self._rings.get((link.kind, link.value))

    async def join_ring(self, ring_id: str, store_id: str, facts: Sequence[FactLinks]) -> set[str]:
        """Add an alerted store to its ring, tie the facts its event touched to the ring, and
        return the ring's stores (this one included). One pipeline; one per alert, so rare."""
        pipe = self._client.pipeline(transaction=False)
        await self._link(keys=[fact_key("ring", ring_id, self._namespace)],
                         args=[store_id, "", self.cap, self.ttl_s], client=pipe)
        await self._tie(pipe, ring_id, facts)
        replies = await pipe.execute()
        members = json.loads(replies[0]) if replies[0] else {}
        return {m for m in (members if isinstance(members, dict) else {}) if m != RING_FIELD}

    async def tie(self, ring_id: str, facts: Sequence[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        pipe = self._client.pipeline(transaction=False)
        await self._tie(pipe, ring_id, facts)
        await pipe.execute()

    async def _tie(self, pipe: Any, ring_id: str, facts: Sequence[FactLinks]) -> None:
        limits = self._limits()
        for link in facts:
            fact = (link.kind, link.value)
            self._rings[fact] = ring_id
            self._rings.move_to_end(fact)
            if link.kind == tracking.KIND:
                await self._tracking.tie(pipe, link.value, ring_id, limits)
                continue
            key = self.key(link.kind, link.value)
            pipe.hset(key, RING_FIELD, ring_id)
            pipe.expire(key, self.ttl_s)  # the fact may have expired since it was read
        while len(self._rings) > RINGS_KEPT:
            self._rings.popitem(last=False)
