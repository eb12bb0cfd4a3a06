"""State on a real Redis Cluster: same alerts as one Redis, every script call in one slot."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio.cluster as redis_asyncio_cluster
from prometheus_client import CollectorRegistry
from redis.crc import key_slot

from stream.config import Settings
from stream.core import tracking
from stream.core.checks import event_from_dict
from stream.core.facts import fact_key
from stream.core.updates import update_for
from stream.inputs import read_lines
from stream.runtime.alerts import ListAlertSink
from stream.runtime.dead_letters import ListDeadLetterSink, Source
from stream.runtime.engine import Engine
from stream.runtime.metrics import Metrics
from stream.state.state import RedisStateStore, state_key
from stream.tools.embedded import EmbeddedRedis, EmbeddedRedisCluster
from stream.tools.replay import replay_in_process
from stream.tools.simulate import simulate, write_events

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster() -> Iterator[EmbeddedRedisCluster]:
    with EmbeddedRedisCluster(nodes=3) as started:
        yield started


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cluster") / "events.jsonl"
    write_events(path, simulate(stores=80, days=6, seed=5).events)
    return path


def keys_on_each_node(cluster: EmbeddedRedisCluster) -> list[int]:
    counts = []
    for port in cluster.ports:
        with redis.Redis(port=port) as node:
            counts.append(int(node.dbsize()))
    return counts


def test_an_embedded_cluster_has_three_primaries_sharing_every_slot(
    cluster: EmbeddedRedisCluster,
) -> None:
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    try:
        assert client.cluster_info()["cluster_state"] == "ok"
        assert len(client.get_primaries()) == 3  # type: ignore[no-untyped-call]
        slots = client.cluster_slots()
        assert sum(end - start + 1 for start, end in slots) == 16384
    finally:
        client.close()


def test_the_replay_on_a_cluster_raises_the_same_alerts_as_on_one_redis(
    cluster: EmbeddedRedisCluster, marketplace: Path
) -> None:
    settings = Settings()
    with EmbeddedRedis() as single:
        on_single = asyncio.run(replay_in_process(marketplace, settings, single.url))
    on_cluster = asyncio.run(replay_in_process(marketplace, settings, cluster.url))
    assert len(on_single.alerts) >= 5, "the marketplace should raise alerts"
    assert on_cluster.events == on_single.events and on_cluster.rejected == on_single.rejected
    assert {a["alert_id"] for a in on_cluster.alerts} == {a["alert_id"] for a in on_single.alerts}


async def test_a_marketplace_on_a_cluster_spreads_over_every_node_and_is_dropped_after(
    cluster: EmbeddedRedisCluster, marketplace: Path
) -> None:
    settings = Settings()
    state = RedisStateStore.from_url(cluster.url, settings.windows, "sw:v1:spread")
    engine = Engine.from_settings(
        settings,
        state,
        ListAlertSink(),
        ListDeadLetterSink(),
        Metrics.create(CollectorRegistry()),
        check_topics=False,
    )
    lines = list(read_lines(marketplace))
    for start in range(0, len(lines), 200):
        await engine.process_batch(
            [
                (raw, Source("file", 0, start + i))
                for i, raw in enumerate(lines[start : start + 200])
            ]
        )
    await engine.commit()
    keys_per_node = keys_on_each_node(cluster)
    assert all(keys > 100 for keys in keys_per_node), keys_per_node
    assert await state.tracked_stores() == 80
    await state.drop_all()
    await state.close()
    assert keys_on_each_node(cluster) == [0, 0, 0]


async def test_the_cluster_refuses_a_script_call_whose_keys_span_two_slots(
    cluster: EmbeddedRedisCluster,
) -> None:
    client = redis_asyncio_cluster.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
    try:
        # the node itself answers CROSSSLOT: what a script spanning two stores would get
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            await client.eval("return 1", 2, "{s1}:profile", "{s2}:profile")
    finally:
        await client.aclose()


def test_every_key_of_a_marketplace_lies_in_the_slot_of_its_store_or_fact(
    marketplace: Path,
) -> None:
    import json

    calls = 0
    for line in marketplace.read_text().splitlines():
        update = update_for(event_from_dict(json.loads(line)))
        namespace = "sw:v1:replay-0123abcd"  # replays namespace their keys; braces unaffected
        assert key_slot(state_key(update.store_id, namespace).encode()) == key_slot(
            f"{{{update.store_id}}}".encode()
        )
        for fact in update.facts:  # each touch of link_facts.lua works on one key
            if fact.kind == tracking.KIND:  # the slot of the number's bucket
                key = tracking.bucket_key(fact.value, tracking.DEFAULT_BUCKETS, namespace)
                tag = f"{{f{tracking.bucket_of(fact.value, tracking.DEFAULT_BUCKETS)}}}"
            else:
                key, tag = fact_key(fact.kind, fact.value, namespace), f"{{{fact.value}}}"
            assert key_slot(key.encode()) == key_slot(tag.encode())
        calls += len(update.facts)
    assert calls > 1_000


async def test_a_batch_on_nodes_that_lost_the_scripts_is_applied_once(
    cluster: EmbeddedRedisCluster,
) -> None:
    from tests.helpers import factories as f

    state = RedisStateStore.from_url(cluster.url, Settings().windows, "sw:v1:noscript")
    stores = [f"s{i}" for i in range(12)]  # several stores, so several nodes

    async def ship_and_pay_out(day: int) -> list[tuple[float, int]]:
        # a shipment links its tracking number, a withdrawal its account: link_facts.lua calls
        # on several slots of several nodes
        events = [
            e
            for s in stores
            for e in (
                f.order(
                    s,
                    f.T0 + day * f.DAY,
                    status="shipped",
                    order_id=f"o-{s}-{day}",
                    buyer=f"b-{day}",
                    tracking_no=f"T-{s}",
                ),
                f.withdrawal(s, f.T0 + day * f.DAY + 1, 10, bank=f"b-{s}"),
            )
        ]
        updates = [update_for(event_from_dict(e)) for e in events]
        views = await state.link_facts(updates, await state.apply_many(updates))
        await state.commit()
        return [
            (
                paid.window(604800.0)["withdrawn_cny"],
                len(shipped.links["trk"].members) + len(paid.links["bank"].members),
            )
            for shipped, paid in zip(views[::2], views[1::2], strict=True)
        ]

    try:
        assert await ship_and_pay_out(0) == [(10.0, 2)] * 12
        for port in cluster.ports:  # as a node restarted without its script cache would be
            with redis.Redis(port=port) as node:
                node.script_flush()
        assert await ship_and_pay_out(1) == [(20.0, 3)] * 12  # a second buyer on each number
    finally:
        await state.drop_all()
        await state.close()


async def test_a_touch_of_one_slot_on_nodes_that_lost_the_scripts_is_recorded_once(
    cluster: EmbeddedRedisCluster,
) -> None:
    from stream.core.facts import Fact

    state = RedisStateStore.from_url(cluster.url, Settings().windows, "sw:v1:noscript-one")
    try:
        await state.facts.link([Fact("bank", "b-one", "s1")])
        for port in cluster.ports:  # one slot, one script call, not a pipeline
            with redis.Redis(port=port) as node:
                node.script_flush()
        links = await state.facts.link([Fact("bank", "b-one", "s2")])
        assert links[0].members == {"s1": "", "s2": ""}
    finally:
        await state.drop_all()
        await state.close()


async def test_model_snapshots_are_saved_compressed_and_read_back_on_a_cluster(
    cluster: EmbeddedRedisCluster,
) -> None:
    state = RedisStateStore.from_url(cluster.url, Settings().windows, "sw:v1:models")
    snapshots = {"price_cut": b"\x80forest" * 500, "claims": b""}
    try:
        await state.save_models("app", snapshots)
        assert await state.load_models("app") == snapshots
    finally:
        await state.drop_all()
        await state.close()


def test_stopping_a_cluster_leaves_no_node_running() -> None:
    from tests.helpers.servers import process_gone

    with EmbeddedRedisCluster(nodes=3) as started:
        pids = [node.pid for node in started.nodes]
        assert all(pid is not None for pid in pids)
    assert all(process_gone(pid) for pid in pids if pid is not None)
