"""Cross-store facts, above all tracking numbers in shared bucket hashes: what a touch
returns, expiry, compactness, and a batch of touches in one script call."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis.asyncio as redis_asyncio

from stream.core import tracking
from stream.core.facts import KEY_PREFIX, Fact, FactIndex, FactLinks
from tests.helpers.tracking import named

DAY_S = 86400
TTL_S = 30 * DAY_S
CAP = 32
COMPACT = {"listpack", "ziplist"}  # Redis 7, Redis 6


class Clock:
    """A wall clock the test moves."""

    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


def index(
    client: redis_asyncio.Redis, clock: Clock, buckets: int = 16, cap: int = CAP
) -> FactIndex:
    return FactIndex(client, KEY_PREFIX, cap, TTL_S, trk_buckets=buckets, wall_s=clock)


async def ship(facts: FactIndex, number: str, order: str, store: str) -> FactLinks:
    return (await facts.link([Fact("trk", number, order, store)]))[0]


def numbers(count: int) -> list[str]:
    """Tracking numbers shaped like couriers' (two letters, twelve digits)."""
    return [f"YT{738_177_723_661 + 7919 * i:012d}" for i in range(count)]


@pytest.fixture
async def compact_hashes(redis_client: redis_asyncio.Redis) -> AsyncIterator[redis_asyncio.Redis]:
    """The server with Redis 7's compiled-in limit (128 entries; 6.2 and redis.conf say 512)."""
    before = await redis_client.config_get("hash-max-ziplist-entries")
    await redis_client.config_set("hash-max-ziplist-entries", 128)
    yield redis_client
    await redis_client.config_set(
        "hash-max-ziplist-entries", str(before["hash-max-ziplist-entries"])
    )


async def test_the_orders_of_a_tracking_number_reused_across_stores_are_returned(
    redis_client: redis_asyncio.Redis,
) -> None:
    facts = index(redis_client, Clock())
    await ship(facts, "YT100", "o1", "s1")
    await ship(facts, "YT999", "o9", "s9")  # another number, maybe in the same bucket
    link = await ship(facts, "YT100", "o2", "s2")
    assert named(link.members, "o1") == {"o1": "s1", "o2": "s2"}
    assert link.other_stores("s2") == {"s1"}


async def test_a_touch_keeps_a_tracking_number_for_another_ttl(
    redis_client: redis_asyncio.Redis,
) -> None:
    clock = Clock()
    facts = index(redis_client, clock)
    await ship(facts, "YT100", "o1", "s1")
    clock.now_s += TTL_S - DAY_S
    await ship(facts, "YT100", "o1", "s1")  # delivered
    clock.now_s += TTL_S - DAY_S
    again = await ship(facts, "YT100", "o2", "s2")
    assert named(again.members, "o1") == {"o1": "s1", "o2": "s2"}


async def test_a_tracking_number_is_forgotten_once_its_ttl_has_passed_since_its_last_touch(
    redis_client: redis_asyncio.Redis,
) -> None:
    clock = Clock()
    facts = index(redis_client, clock)
    await ship(facts, "YT100", "o1", "s1")
    clock.now_s += TTL_S + 3600  # the deadline is kept to the hour
    assert (await ship(facts, "YT100", "o2", "s2")).members == {"o2": "s2"}


async def test_a_new_number_sweeps_its_bucket_of_numbers_past_their_ttl(
    redis_client: redis_asyncio.Redis,
) -> None:
    clock = Clock()
    facts = index(redis_client, clock, buckets=1)
    for number in numbers(50):
        await ship(facts, number, f"o-{number}", "s1")
    clock.now_s += TTL_S + 3600
    await ship(facts, "YT100", "o1", "s1")
    bucket = facts.key("trk", "YT100")
    # '' says when to sweep next
    assert set(await redis_client.hkeys(bucket)) == {"", tracking.entry_field("YT100")}
    assert 0 < await redis_client.ttl(bucket) <= TTL_S


async def test_a_bucket_at_the_configured_size_stays_a_compact_encoding(
    compact_hashes: redis_asyncio.Redis,
) -> None:
    buckets = 4
    facts = index(compact_hashes, Clock(), buckets=buckets)
    for number in numbers(buckets * tracking.TARGET_ENTRIES):
        await ship(facts, number, f"o-{number[-8:]}", f"s{number[-5:]}")
    for i in range(CAP + 5):  # and a number reused by a ring, far past the listpack value size
        await ship(facts, "YT100", f"o-{i:08d}", f"s{i:05d}")
    keys = await compact_hashes.keys(f"{KEY_PREFIX}:fact:trk:*")
    assert len(keys) == buckets
    assert {await compact_hashes.object("encoding", key) for key in keys} <= COMPACT


async def test_a_tracking_number_keeps_the_orders_within_the_cap_of_every_fact(
    redis_client: redis_asyncio.Redis,
) -> None:
    facts = index(redis_client, Clock(), cap=3)
    for i in range(6):
        bank = (await facts.link([Fact("bank", "b1", f"s{i}")]))[0]
        trk = await ship(facts, "YT100", f"o{i}", f"s{i}")
    # README: at most `windows.fact_cap` members per fact; the first ones are kept
    assert bank.members == {f"s{i}": "" for i in range(3)}
    assert named(trk.members, "o0", "o1", "o2") == {f"o{i}": f"s{i}" for i in range(3)}


async def test_a_long_entry_is_kept_in_pieces_within_the_listpack_value_size(
    redis_client: redis_asyncio.Redis,
) -> None:
    facts = index(redis_client, Clock(), buckets=1)
    for i in range(CAP):
        link = await ship(facts, "YT100", f"order-{i:06d}", f"store-{i:04d}")
    orders = [f"order-{i:06d}" for i in range(CAP)]
    assert named(link.members, *orders) == {o: f"store-{i:04d}" for i, o in enumerate(orders)}
    bucket = facts.key("trk", "YT100")
    fields = await redis_client.hkeys(bucket)
    assert len(fields) > 3
    assert all([await redis_client.hstrlen(bucket, f) <= tracking.PIECE_BYTES for f in fields])


async def test_a_ring_tie_is_read_by_the_next_touch_of_the_number(
    redis_client: redis_asyncio.Redis,
) -> None:
    clock = Clock()
    facts = index(redis_client, clock)
    link = await ship(facts, "YT100", "o1", "s1")
    await facts.tie("ring-s1", [link])
    clock.now_s += 60
    assert (await ship(facts, "YT100", "o2", "s2")).ring_id == "ring-s1"


async def test_ids_holding_the_entry_separators_come_back_unchanged(
    redis_client: redis_asyncio.Redis,
) -> None:
    clock = Clock()
    facts = index(redis_client, clock)
    odd = "".join(map(chr, range(0x1B, 0x20))) + "é~"
    link = await ship(facts, "~" + odd, "o" + odd, "s" + odd)
    await facts.tie("ring" + odd, [link])
    clock.now_s += 1
    again = await ship(facts, "~" + odd, "o2", "s2")
    assert named(again.members, "o" + odd) == {"o" + odd: "s" + odd, "o2": "s2"}
    assert again.ring_id == "ring" + odd


async def test_each_touch_of_a_batch_sees_the_touches_before_it(
    redis_client: redis_asyncio.Redis,
) -> None:
    facts = index(redis_client, Clock())
    links = await facts.link(
        [
            Fact("bank", "b1", "s1"),
            Fact("trk", "YT100", "o1", "s1"),
            Fact("bank", "b1", "s2"),
            Fact("trk", "YT100", "o2", "s2"),
        ]
    )
    assert [set(named(link.members, "o1")) for link in links] == [
        {"s1"},
        {"o1"},
        {"s1", "s2"},
        {"o1", "o2"},
    ]


async def test_ids_that_look_like_the_scripts_framing_come_back_unchanged(
    redis_client: redis_asyncio.Redis,
) -> None:
    facts = index(redis_client, Clock())
    odd = ["12:", ":3:", "é:1:x", "0:"]
    await facts.link([Fact("bank", odd[0], odd[1], odd[2])])
    link = (await facts.link([Fact("bank", odd[0], odd[3])]))[0]
    assert link.members == {odd[1]: odd[2], odd[3]: ""}


def test_every_tracking_number_has_a_field_of_its_own_that_packs_as_an_integer() -> None:
    tricky = [
        "YT1",
        "YT01",
        "YT001",
        "YT10",
        "AB1",
        "BA1",
        "ZZ999999999999999",
        "AA0",
        "YT1234567890123456",
        "yt1",
        "73011572740984",
        "073011572740984",
        "-1",
        "~-1",
        "~1:x",
        "~~1:x",
        "",
        "x" * 300,
        "é",
    ]
    fields = [tracking.entry_field(number) for number in tricky]
    assert len(set(fields)) == len(tricky), dict(zip(tricky, fields, strict=True))
    # a listpack packs a field as an integer only if it is a 64-bit integer's canonical text
    assert all(str(int(field)) == field and -(2**63) <= int(field) < 2**63 for field in fields)
    assert all(
        tracking.bucket_key(n, 64, "ns") == f"ns:fact:trk:{{f{int(f) % 64}}}"
        for n, f in zip(tricky, fields, strict=True)
    )


def old_stamp(at_s: float) -> str:
    """An entry's deadline as the format before times were kept wrote it: 4 base-36 digits,
    hours since the epoch, rounded up."""
    hours, digits = -(-int(at_s) // 3600), ""
    for _ in range(4):
        hours, digit = divmod(hours, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
    return digits


async def test_facts_written_before_times_were_kept_read_as_always_seen(
    redis_client: redis_asyncio.Redis,
) -> None:
    """Redis may hold them at the upgrade: undated, they count for every event, however early."""
    clock = Clock()
    facts = index(redis_client, clock)
    bucket, field = facts.key("trk", "YT100"), tracking.entry_field("YT100")
    await redis_client.hset(
        bucket, field, old_stamp(clock.now_s + TTL_S) + "o1\x1fs1\x1eo2\x1fs2\x1dring-old"
    )
    await redis_client.hset(facts.key("bank", "b1"), mapping={"s1": "owner-1", "~ring": "ring-old"})
    early = clock.now_s - 300 * DAY_S
    trk, bank = await facts.link(
        [Fact("trk", "YT100", "o3", "s3"), Fact("bank", "b1", "s3")], [early, early]
    )
    assert (trk.members, trk.ring_id) == ({"o1": "s1", "o2": "s2", "o3": "s3"}, "ring-old")
    assert (bank.members, bank.ring_id) == ({"s1": "owner-1", "s3": ""}, "ring-old")
    # rewritten in the new form, they stay undated; the new touch is dated
    before = await facts.link(
        [Fact("trk", "YT100", "o4", "s4"), Fact("bank", "b1", "s4")], [early - 1, early - 1]
    )
    assert set(named(before[0].members, "o3")) == {"o1", "o2", "o4"}  # o3 came after
    assert set(before[1].members) == {"s1", "s4"}
    # a buyer kept by id before tags finds itself, and is kept by tag from then on
    (delivered,) = await facts.link([Fact("trk", "YT100", "o1", "s1")], [early])
    assert named(delivered.members, "o3", "o4") == {"o1": "s1", "o2": "s2", "o3": "s3", "o4": "s4"}
    entry = await redis_client.hget(bucket, field)
    assert entry is not None and "o1\x1f" not in entry and tracking.member_tag("o1") in entry


async def test_a_number_is_stored_compactly_with_the_time_of_each_touch(
    redis_client: redis_asyncio.Redis,
) -> None:
    """An entry costs its stamp, the buyer's 4-byte tag, the store id and, for the time of the
    newest touch, 3 bytes at most: an age in seconds from the stamp's hour, not a 6-digit time."""
    facts = index(redis_client, Clock())
    at = 1_709_251_200 + 1  # an hour and a second: the longest age, 3,599 s to the next hour
    await facts.link([Fact("trk", "YT100", "buyer-with-a-long-id-0001", "s-1")], [at])
    entry = await redis_client.hget(facts.key("trk", "YT100"), tracking.entry_field("YT100"))
    assert entry is not None
    assert len(entry) == 4 + len("TAG_\x1fs-1\x1f") + 3
