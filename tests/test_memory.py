"""Memory stays bounded under a flood of distinct keys: every key expires, costs are measured.

A flood of new stores, buyers, SKUs, tracking numbers and bank accounts is what an attacker
(or a bot-driven marketplace) can produce at will. Each of them may create Redis keys, so
every key must carry a TTL, and the worker itself must keep no more stores in memory than
``windows.stores_in_memory``. The bounds asserted here are documented in the README ("Limits").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from prometheus_client import CollectorRegistry

from stream.config import Settings, WindowSettings
from stream.core import tracking
from stream.core.facts import KEY_PREFIX
from stream.runtime.alerts import ListAlertSink
from stream.runtime.dead_letters import ListDeadLetterSink, Source
from stream.runtime.engine import Engine
from stream.runtime.metrics import Metrics
from stream.state.state import RedisStateStore
from stream.tools.embedded import EmbeddedRedis
from tests.helpers import factories as f

pytestmark = pytest.mark.integration

FLOOD_STORES = 10_000  # x 6 events: 60,000 events, 40,000 distinct facts
# Measured (README "Limits"): Redis per flooded store (its state key, its 3 fact keys and an
# entry for its tracking number in a shared bucket) and the worker's RSS past the warm-up,
# with 1,000 stores kept in memory; the bounds leave room for allocator and version
# differences, not for a leak.
STORES_IN_MEMORY = 1_000
# A month of a simulated store held in memory (README "Memory bounds"): measured ~28 KB.
IN_MEMORY_BYTES_PER_STORE_MAX = 64_000
REDIS_BYTES_PER_STORE_MAX = 4_000
RSS_GROWTH_MAX_BYTES = 16 * 2**20


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    with open(f"/proc/{os.getpid()}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def flood(first: int, count: int) -> Iterator[dict[str, Any]]:
    """Six events per store, every identifier new: the store's bank account, a buyer, a SKU,
    a tracking number, a price-protection claimant and a payout account."""
    for i in range(first, first + count):
        store, ts = f"flood-{i}", f.T0 + i * 2.0
        yield f.store(store, ts, bank=f"bank-{i}")
        yield f.order(store, ts + 1, sku=f"sku-{i}", buyer=f"buyer-{i}", order_id=f"o-{i}")
        yield f.order(
            store,
            ts + 2,
            sku=f"sku-{i}",
            buyer=f"buyer-{i}",
            order_id=f"o-{i}",
            status="shipped",
            tracking_no=f"trk-{i}",
        )
        yield f.price(store, ts + 3, old=100.0, new=95.0, sku=f"sku-{i}")
        yield {**f.refund(store, ts + 4, 5.0, order_id=f"o-{i}"), "buyer_id": f"claimant-{i}"}
        yield f.withdrawal(store, ts + 5, 50.0, bank=f"payout-{i}")


def tracking_buckets(first: int, count: int) -> set[str]:
    """The bucket keys that the flood's tracking numbers fall in."""
    return {
        tracking.bucket_key(f"trk-{i}", tracking.DEFAULT_BUCKETS, KEY_PREFIX)
        for i in range(first, first + count)
    }


async def run(engine: Engine, events: Iterator[dict[str, Any]]) -> int:
    batch, count = [], 0
    for event in events:
        batch.append((f.raw(event), Source("flood", 0, count)))
        count += 1
        if len(batch) == 200:
            await engine.process_batch(batch)
            await engine.commit()
            batch = []
    if batch:
        await engine.process_batch(batch)
    await engine.commit()
    return count


@pytest.fixture
async def fresh_redis() -> AsyncIterator[redis_asyncio.Redis]:
    """A Redis of its own, so its memory figures are this test's alone."""
    with EmbeddedRedis() as server:
        client = redis_asyncio.Redis.from_url(server.url, decode_responses=True)
        yield client
        await client.aclose()


def engine_on(client: redis_asyncio.Redis, windows: WindowSettings) -> Engine:
    settings = Settings().model_copy(update={"windows": windows})
    return Engine.from_settings(
        settings,
        RedisStateStore(client, windows),
        ListAlertSink(),
        ListDeadLetterSink(),
        Metrics.create(CollectorRegistry()),
        check_topics=False,
    )


async def test_a_flood_of_distinct_keys_costs_bounded_redis_memory_and_worker_rss(
    fresh_redis: redis_asyncio.Redis,
) -> None:
    windows = WindowSettings(stores_in_memory=STORES_IN_MEMORY)
    engine = engine_on(fresh_redis, windows)
    await run(engine, flood(0, 2 * STORES_IN_MEMORY))  # warm-up: models, pools, the store cache
    memory_before = int((await fresh_redis.info("memory"))["used_memory"])
    rss_before = rss_bytes()
    started = time.perf_counter()
    events = await run(engine, flood(2 * STORES_IN_MEMORY, FLOOD_STORES))
    elapsed_s = time.perf_counter() - started
    redis_per_store = (
        int((await fresh_redis.info("memory"))["used_memory"]) - memory_before
    ) / FLOOD_STORES
    rss_growth = rss_bytes() - rss_before
    print(
        f"\nflood: {events} events in {elapsed_s:.1f}s; Redis {redis_per_store:.0f} B/store; "
        f"RSS +{rss_growth / 2**20:.1f} MiB; {await fresh_redis.dbsize()} keys"
    )
    assert events == 6 * FLOOD_STORES
    assert redis_per_store < REDIS_BYTES_PER_STORE_MAX
    assert rss_growth < RSS_GROWTH_MAX_BYTES
    assert engine.state.stores_in_memory <= STORES_IN_MEMORY  # type: ignore[attr-defined]


async def test_every_key_a_flood_creates_carries_its_ttl(fresh_redis: redis_asyncio.Redis) -> None:
    windows = WindowSettings(idle_store_ttl_s="8d", fact_ttl_s="2d")
    await run(engine_on(fresh_redis, windows), flood(0, 2_000))
    kinds: dict[str, int] = {}
    async for key in fresh_redis.scan_iter(count=1000):
        ttl = await fresh_redis.ttl(key)
        kind = key.split(":")[3] if ":fact:" in key else key.rpartition(":")[2]  # fact's kind
        kind = "store" if kind == "state" else kind
        limit = windows.fact_ttl_s if ":fact:" in key else windows.idle_store_ttl_s
        assert 0 < ttl <= limit, (key, ttl)
        kinds[kind] = kinds.get(kind, 0) + 1
    # a store's state is one key; its bank account, claimant and payout account one key each;
    # its tracking number an entry in one of the shared buckets; one key holds the offsets the
    # saved state covers
    assert kinds == {
        "store": 2_000,
        "decided": 1,
        "bank": 2 * 2_000,
        "claim": 2_000,
        "trk": len(tracking_buckets(0, 2_000)),
    }, kinds


async def test_state_and_facts_are_gone_once_their_ttl_has_passed(
    fresh_redis: redis_asyncio.Redis,
) -> None:
    # Validation keeps TTLs at a minute or more (no window is shorter); built without it, a
    # two-second TTL lets the test see Redis expire what the scripts wrote.
    windows = WindowSettings.model_construct(
        **{**Settings().windows.model_dump(), "idle_store_ttl_s": 2.0, "fact_ttl_s": 2.0}
    )
    await run(engine_on(fresh_redis, windows), flood(0, 500))
    # as above, and the decided offsets
    assert await fresh_redis.dbsize() == (1 + 3) * 500 + len(tracking_buckets(0, 500)) + 1
    await asyncio.sleep(3.0)
    deadline = time.monotonic() + 10
    while await fresh_redis.dbsize() and time.monotonic() < deadline:
        await asyncio.sleep(0.2)  # active expiry samples keys; it catches up within a second
    assert await fresh_redis.dbsize() == 0


async def test_a_store_a_worker_keeps_in_memory_costs_bounded_bytes(
    fresh_redis: redis_asyncio.Redis,
) -> None:
    """What `windows.stores_in_memory` is sized by: a month of a simulated marketplace, then
    the bytes Python allocates to hold its stores again (tracemalloc), and their saved size."""
    import tracemalloc

    from stream.core.store_state import StoreState
    from stream.tools.simulate import simulate

    windows = Settings().windows
    engine = engine_on(fresh_redis, windows)
    events = simulate(stores=100, days=30, seed=21).events
    await run(engine, iter(events))
    state = engine.state
    assert isinstance(state, RedisStateStore)
    saved = [store.to_blob(state._config) for store in state._stores.values()]
    tracemalloc.start()
    copies = [StoreState.from_blob(blob) for blob in saved]
    in_memory, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_store = in_memory / len(copies)
    print(
        f"\n{len(events)} events, {len(copies)} stores: {per_store:,.0f} B a store in memory, "
        f"{sum(map(len, saved)) / len(saved):,.0f} B saved"
    )
    assert len(copies) == 100
    assert per_store < IN_MEMORY_BYTES_PER_STORE_MAX
