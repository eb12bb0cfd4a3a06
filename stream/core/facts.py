"""Cross-store facts in Redis: bank accounts, tracking numbers, price-protection claimants, rings.

A fact links stores that never share a partition, so unlike a store's own state it cannot live
in the worker that owns the store: every worker reads and writes it in Redis. All the touches
of a batch go to Redis in one call of ``link_facts.lua`` (one per slot on a Redis Cluster, all
pipelined), so a batch costs one round trip and one script call for all of its facts. Memory is
bounded: a fact keeps at most ``cap`` members and expires ``ttl_s`` after its last touch. A bank
account, a claimant or a ring is one hash; tracking numbers, one per shipped order and hence
most facts, share bucket hashes (``stream.core.tracking``).

Facts are read as of the event. A store's own state is saved at commit, but its touches of facts
are written when its batch is decided, so a worker killed between the two leaves facts that
already hold the touches of the events it will redo, and of the events after them. Each member
therefore keeps the event time of its first touch (whole seconds), and a ring id the time of the
event it was tied for; an event sees the members dated at or before it (its own always) and the
rings tied before it (an alert ties its own event's facts: redone, the event must not find that
tie). So a redone event decides on what it saw the first time, and an event that arrives late
sees no touch made after it. Touches within the same second see each other.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, NamedTuple

from stream.core import tracking
from stream.core.tracking import TrackingEntry, entry_field, escape, member_tag, unescape

KEY_PREFIX: Final = "sw:v1"

# What links stores, and what a fact's members and values are.
FACT_KINDS: Final = {
    "bank": "bank account",  # member: store id, value: its owner ('' when not registered)
    "trk": "tracking number",  # member: buyer id (kept as its tag), value: the shipping store
    "claim": "price-protection claimant",  # member: store id, value: ''
}
RING_FIELD: Final = "~ring"
# Ring ids this process wrote, so events read earlier in the same batch see them.
RINGS_KEPT: Final = 100_000


def event_second(ts_s: float) -> int:
    """The whole epoch second a touch or a read is dated with (what ``link_facts.lua`` keeps).

    >>> event_second(1_709_251_200.999), event_second(-5.0)
    (1709251200, 0)
    """
    return max(0, math.floor(ts_s))


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
    """Who else touched a fact, as of the event (the event's own touch included): members
    dated after ``as_of_s``, the event's second, are left out, and a ring tied at it or after.
    ``as_of_s`` also dates a ring tie made for the event; None (a link made without an event)
    sees and dates by the wall clock. A tracking number's members are buyers (-> their store):
    the event's own by its id, the others by their tag (``tracking.member_tag``), which is all
    a count of buyers needs."""

    kind: str
    value: str
    members: dict[str, str]
    ring_id: str | None = None
    as_of_s: int | None = None

    def other_stores(self, store_id: str) -> set[str]:
        """Stores other than ``store_id`` that share this fact."""
        if self.kind == "trk":
            return {store for store in self.members.values() if store and store != store_id}
        return {member for member in self.members if member != store_id}


def frame(touches: Iterable[Sequence[str]]) -> bytes:
    """Every value of ``touches`` as '<length in bytes>:<bytes>', in one argument (what
    ``link_facts.lua`` unframes): redis-py packs each argument in Python, several times slower
    than this framing, and a batch has hundreds of touches.

    >>> frame([("trk", "1709251200", "F1", "b-1", "s-1")])
    b'3:trk10:17092512002:F13:b-13:s-1'
    """
    parts = []
    for touch in touches:
        for value in touch:
            data = value.encode()
            parts.append(b"%d:%b" % (len(data), data))
    return b"".join(parts)


class Touch(NamedTuple):
    """One operation of ``link_facts.lua`` on one key (its header lists the ops), by an event
    of second ``at_s``."""

    key: str
    op: str
    at_s: int
    a: str
    b: str = ""
    c: str = ""
    d: str = ""

    def values(self) -> tuple[str, str, str, str, str, str]:
        """What the script reads of the touch, in its order (the key goes in KEYS)."""
        return (self.op, str(self.at_s), self.a, self.b, self.c, self.d)


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
        # ring ids tied by this process and when, by (kind, value)
        self._rings: OrderedDict[tuple[str, str], tuple[str, int]] = OrderedDict()

    def key(self, kind: str, value: str) -> str:
        """The key that holds the fact (for a tracking number: its bucket, shared)."""
        if kind == tracking.KIND:
            return tracking.bucket_key(value, self.trk_buckets, self._namespace)
        return fact_key(kind, value, self._namespace)

    async def link(
        self, facts: Sequence[Fact], at_s: Sequence[float] | None = None
    ) -> list[FactLinks]:
        """Record every touch, in order, and return who touched each fact as of its event (one
        round trip). ``at_s`` holds each touch's event time (default: the wall clock)."""
        if not facts:
            return []
        seconds = event_seconds(len(facts), at_s, self._wall_s)
        replies = await self._run(
            [self._link_touch(fact, at) for fact, at in zip(facts, seconds, strict=True)]
        )
        return [
            self._links(fact, reply, at)
            for fact, reply, at in zip(facts, replies, seconds, strict=True)
        ]

    def _link_touch(self, fact: Fact, at_s: int) -> Touch:
        if fact.kind == tracking.KIND:  # its bucket and field both from one fingerprint
            key, field = tracking.bucket_and_field(fact.value, self.trk_buckets, self._namespace)
            tag, store, member = member_tag(fact.member), escape(fact.member_value), fact.member
            return Touch(key, "trk", at_s, field, tag, store, escape(member))
        key = self.key(fact.kind, fact.value)
        return Touch(key, "fact", at_s, fact.member, escape(fact.member_value))

    @staticmethod
    def _links(fact: Fact, reply: str, at_s: int) -> FactLinks:
        if fact.kind == tracking.KIND:
            entry = TrackingEntry.decode(reply)
            members = entry.members_of(fact.member)
            return FactLinks(fact.kind, fact.value, members, entry.ring_id, at_s)
        members, ring_id = _fact_members(reply)
        return FactLinks(fact.kind, fact.value, members, ring_id, at_s)

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
        return the ring's stores as of the alert's event ``at_s`` (this one included). One
        round trip; one per alert, so rare."""
        at = event_second(self._wall_s() if at_s is None else at_s)
        ring_key = fact_key("ring", ring_id, self._namespace)
        replies = await self._run(
            [Touch(ring_key, "fact", at, store_id, ""), *self._tie_touches(ring_id, facts)]
        )
        return set(_fact_members(replies[0])[0])

    async def tie(self, ring_id: str, facts: Sequence[FactLinks]) -> None:
        """Mark facts a store of ``ring_id`` touched after its alert with the ring's id, dated
        with the event each link was read for."""
        await self._run(self._tie_touches(ring_id, facts))

    def _tie_touches(self, ring_id: str, facts: Sequence[FactLinks]) -> list[Touch]:
        touches = []
        for link in facts:
            at = tie_second(link, self._wall_s)
            remember_tie(self._rings, link, ring_id, at)
            key = self.key(link.kind, link.value)
            if link.kind == tracking.KIND:
                field = entry_field(link.value)
                touches.append(Touch(key, "trk_tie", at, field, escape(ring_id)))
            else:
                touches.append(Touch(key, "ring", at, escape(ring_id)))
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
        limits = [self.cap, self.ttl_s, tracking.PIECE_BYTES]
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


def event_seconds(
    count: int, at_s: Sequence[float] | None, wall_s: Callable[[], float]
) -> list[int]:
    """The event second of each of ``count`` touches: ``at_s``, or the wall clock."""
    if at_s is None:
        return [event_second(wall_s())] * count
    if len(at_s) != count:
        raise ValueError(f"{len(at_s)} event times for {count} facts")
    return [event_second(at) for at in at_s]


def stored_fact(fields: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """A fact's members (member -> value) and ring id as its Redis hash holds them, times
    left out: for tools that read the hash itself (``link_facts.lua`` has the format).

    >>> stored_fact({"s1": "owner-1\x1fsd1ozk", "s2": "", "~ring": "r-1\x1fsd1ozk"})
    ({'s1': 'owner-1', 's2': ''}, 'r-1')
    """
    members = {
        member: unescape(value.partition(tracking.TIME_SEP)[0])
        for member, value in fields.items()
        if member != RING_FIELD
    }
    ring_id = fields.get(RING_FIELD)
    return members, unescape(ring_id.partition(tracking.TIME_SEP)[0]) if ring_id else None


def _fact_members(reply: str) -> tuple[dict[str, str], str | None]:
    """A fact's members (member -> value) and ring id, from ``link_facts.lua``'s JSON reply."""
    found = json.loads(reply) if reply else {}
    if not isinstance(found, dict):
        return {}, None
    ring_id = found.pop(RING_FIELD, None)
    members = {member: unescape(value) for member, value in found.items()}
    return members, unescape(ring_id) if ring_id is not None else None


def tie_second(link: FactLinks, wall_s: Callable[[], float]) -> int:
    """When a tie of ``link``'s fact is dated: the second of the event it was read for."""
    return link.as_of_s if link.as_of_s is not None else event_second(wall_s())


def remember_tie(
    rings: OrderedDict[tuple[str, str], tuple[str, int]], link: FactLinks, ring_id: str, at_s: int
) -> None:
    """Keep a tie this process wrote, for ``tied_ring``: as ``link_facts.lua`` keeps it, a ring
    tied again keeps its first time, another ring replaces it. At most RINGS_KEPT facts."""
    fact = (link.kind, link.value)
    known = rings.get(fact)
    if known is not None and known[0] == ring_id:
        at_s = min(at_s, known[1])
    rings[fact] = (ring_id, at_s)
    rings.move_to_end(fact)
    while len(rings) > RINGS_KEPT:
        rings.popitem(last=False)


def tied_ring(rings: OrderedDict[tuple[str, str], tuple[str, int]], link: FactLinks) -> str | None:
    """The ring this process tied ``link``'s fact to, if tied before its event."""
    known = rings.get((link.kind, link.value))
    if known is None or (link.as_of_s is not None and known[1] >= link.as_of_s):
        return None
    return known[0]
