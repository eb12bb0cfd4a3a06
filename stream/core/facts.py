"""Cross-store facts in Redis: bank accounts, tracking numbers, price-protection claimants, rings.

A fact links stores that never share a partition, so unlike a store's own state it cannot live
in the worker that owns the store: every worker reads and writes it in Redis. All the touches
of a batch go to Redis in one call of ``link_facts.lua`` (one per slot on a Redis Cluster, all
pipelined), so a batch costs one round trip and one script call for all of its facts. Memory is
bounded: a fact keeps at most ``cap`` members and expires ``ttl_s`` after its last touch. A bank
account, a claimant or a ring is one hash; tracking numbers, one per shipped order and hence
most facts, share bucket hashes (``stream.core.tracking``).
"""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, NamedTuple

from stream.core import tracking
from stream.core.tracking import TrackingEntry, entry_field, escape

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


def frame(touches: Iterable[Sequence[str]]) -> bytes:
    """Every value of ``touches`` as '<length in bytes>:<bytes>', in one argument (what
    ``link_facts.lua`` unframes): redis-py packs each argument in Python, several times slower
    than this framing, and a batch has hundreds of touches.

    >>> frame([("trk", "F1", "o-1", "s-1")])
    b'3:trk2:F13:o-13:s-1'
    """
    parts = []
    for touch in touches:
        for value in touch:
            data = value.encode()
            parts.append(b"%d:%b" % (len(data), data))
    return b"".join(parts)


class Touch(NamedTuple):
    """One operation of ``link_facts.lua`` on one key (its header lists the ops)."""

    key: str
    op: str
    a: str
    b: str = ""
    c: str = ""

    def values(self) -> tuple[str, str, str, str]:
        """What the script reads of the touch, in its order (the key goes in KEYS)."""
        return (self.op, self.a, self.b, self.c)


class FactIndex:
    """The cross-store facts of one namespace, on a redis.asyncio client (or Cluster client
    whose pipelines run scripts, see ``redis_client.ClusterClient``). ``slot_of`` (a key's Cluster
    slot) splits a batch's touches into one script call per slot, as a Cluster requires."""

    def __init__(
        self,
        client: Any,
        namespace: str,
        cap: int,
        ttl_s: int,
        *,
        trk_buckets: int = tracking.DEFAULT_BUCKETS,
        wall_s: Callable[[], float] = time.time,
        slot_of: Callable[[str], int] | None = None,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self.cap = cap
        self.ttl_s = ttl_s
        self.trk_buckets = trk_buckets
        self._wall_s = wall_s
        self._slot_of = slot_of
        self._script = client.register_script(
            resources.files("stream.core").joinpath("link_facts.lua").read_text()
        )
        # ring ids tied by this process, by (kind, value)
        self._rings: OrderedDict[tuple[str, str], str] = OrderedDict()

    def key(self, kind: str, value: str) -> str:
        """The key that holds the fact (for a tracking number: its bucket, shared)."""
        if kind == tracking.KIND:
            return tracking.bucket_key(value, self.trk_buckets, self._namespace)
        return fact_key(kind, value, self._namespace)

    async def link(self, facts: Sequence[Fact]) -> list[FactLinks]:
        """Record every touch, in order, and return who touched each fact (one round trip)."""
        if not facts:
            return []
        replies = await self._run([self._link_touch(fact) for fact in facts])
        return [self._links(fact, reply) for fact, reply in zip(facts, replies, strict=True)]

    def _link_touch(self, fact: Fact) -> Touch:
        if fact.kind == tracking.KIND:  # its bucket and field both from one fingerprint
            key, field = tracking.bucket_and_field(fact.value, self.trk_buckets, self._namespace)
            return Touch(key, "trk", field, escape(fact.member), escape(fact.member_value))
        return Touch(self.key(fact.kind, fact.value), "fact", fact.member, fact.member_value)

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
        return the ring's stores (this one included). One round trip; one per alert, so rare."""
        joined = Touch(fact_key("ring", ring_id, self._namespace), "fact", store_id, "")
        replies = await self._run([joined, *self._tie_touches(ring_id, facts)])
        members = json.loads(replies[0]) if replies[0] else {}
        return {m for m in (members if isinstance(members, dict) else {}) if m != RING_FIELD}

    async def tie(self, ring_id: str, facts: Sequence[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id."""
        await self._run(self._tie_touches(ring_id, facts))

    def _tie_touches(self, ring_id: str, facts: Sequence[FactLinks]) -> list[Touch]:
        touches = []
        for link in facts:
            fact = (link.kind, link.value)
            self._rings[fact] = ring_id
            self._rings.move_to_end(fact)
            key = self.key(link.kind, link.value)
            if link.kind == tracking.KIND:
                touches.append(Touch(key, "trk_tie", entry_field(link.value), escape(ring_id)))
            else:
                touches.append(Touch(key, "ring", ring_id))
        while len(self._rings) > RINGS_KEPT:
            self._rings.popitem(last=False)
        return touches

    async def _run(self, touches: Sequence[Touch]) -> list[str]:
        """Run ``touches`` in order and return what each found: one script call, or one per
        slot on a Cluster (touches of different slots share no key, so their order across
        calls does not matter), in one pipelined round trip."""
        if not touches:
            return []
        if self._slot_of is None:
            groups: list[Sequence[int]] = [range(len(touches))]
        else:
            by_slot: dict[int, list[int]] = {}  # indexes of touches, grouped by slot
            for i, touch in enumerate(touches):
                by_slot.setdefault(self._slot_of(touch.key), []).append(i)
            groups = list(by_slot.values())
        limits = [self.cap, self.ttl_s, tracking.PIECE_BYTES, int(self._wall_s())]
        if len(groups) == 1:
            # no pipeline for one call: redis-py's pipeline asks SCRIPT EXISTS before every
            # execute, a round trip more; the plain call loads the script on NOSCRIPT instead
            return list(
                await self._script(
                    keys=[touch.key for touch in touches],
                    args=[*limits, frame(touch.values() for touch in touches)],
                )
            )
        pipe = self._client.pipeline(transaction=False)
        for group in groups:
            await self._script(
                keys=[touches[i].key for i in group],
                args=[*limits, frame(touches[i].values() for i in group)],
                client=pipe,
            )
        replies = [""] * len(touches)
        for group, found in zip(groups, await pipe.execute(), strict=True):
            for i, reply in zip(group, found, strict=True):
                replies[i] = reply
        return replies
