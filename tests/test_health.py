"""The worker's HTTP endpoint: /healthz follows storewatch_healthy, metrics everywhere else;
the health checks behind it (stall, partitions, crash, Redis PING) and the watch that notices
a Redis which lost its data."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from prometheus_client import CollectorRegistry

from stream.runtime.health import HEALTH_PATH, PING_TIMEOUT_S, WorkerHealth, serve
from stream.runtime.metrics import Metrics
from stream.runtime.redis_watch import RedisWatch
from stream.state.redis_client import redis_client
from stream.tools.embedded import EmbeddedRedis, free_port


def get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as page:
            return page.status, page.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


@pytest.fixture
def served(registry: CollectorRegistry) -> Iterator[int]:
    port = free_port()
    server = serve(port, addr="127.0.0.1", registry=registry)
    yield port
    server.shutdown()


def test_a_worker_not_built_yet_is_not_healthy(served: int) -> None:
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "starting" in body


def test_a_worker_whose_redis_does_not_answer_is_not_healthy(
    served: int, registry: CollectorRegistry
) -> None:
    Metrics.create(registry).healthy.set(0)
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "Redis" in body


def test_a_worker_whose_redis_answers_is_healthy(served: int, registry: CollectorRegistry) -> None:
    Metrics.create(registry).healthy.set(1)
    assert get(served, HEALTH_PATH) == (200, "ok\n")


def test_every_other_path_serves_the_metrics(served: int, registry: CollectorRegistry) -> None:
    Metrics.create(registry).healthy.set(1)
    status, body = get(served, "/metrics")
    assert status == 200 and "storewatch_healthy 1.0" in body


# -- the checks behind /healthz ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def health(clock: Clock, metrics: Metrics) -> WorkerHealth:
    checks = WorkerHealth(
        stall_after_s=5, partitions_after_s=20, ping_timeout_s=1, clock=clock
    ).bind(metrics)
    checks.assigned(4)
    checks.redis.answered(clock.now)
    return checks


def healthy(registry: CollectorRegistry) -> float | None:
    return registry.get_sample_value("storewatch_healthy")


def failing(registry: CollectorRegistry, check: str) -> float | None:
    return registry.get_sample_value("storewatch_health_check_failing", {"check": check})


def test_a_worker_whose_checks_pass_is_healthy(
    health: WorkerHealth, served: int, registry: CollectorRegistry
) -> None:
    assert health.status() == (True, "ok") and healthy(registry) == 1
    assert get(served, HEALTH_PATH) == (200, "ok\n")


def test_a_consumer_stalled_with_work_pending_turns_unhealthy_within_its_limit(
    health: WorkerHealth, clock: Clock, served: int, registry: CollectorRegistry
) -> None:
    health.work_pending(True)
    for _ in range(4):  # batches keep being decided: work pending is only a backlog
        clock.now += 3
        health.batch_decided()
        health.work_pending(True)
        assert healthy(registry) == 1
    clock.now += 4.9
    assert healthy(registry) == 1
    clock.now += 0.2  # 5.1 s since the last decided batch, work still pending
    assert healthy(registry) == 0 and failing(registry, "stalled") == 1
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "stalled" in body and "no batch was decided" in body
    health.batch_decided()
    assert healthy(registry) == 1 and failing(registry, "stalled") == 0


def test_an_idle_consumer_with_nothing_pending_is_not_stalled(
    health: WorkerHealth, clock: Clock, registry: CollectorRegistry
) -> None:
    health.work_pending(True)
    health.batch_decided()
    health.work_pending(False)
    clock.now += 3600
    assert healthy(registry) == 1


def test_a_worker_holding_no_partition_after_a_revocation_turns_unhealthy(
    health: WorkerHealth, clock: Clock, served: int, registry: CollectorRegistry
) -> None:
    health.revoked()
    clock.now += 19  # a rebalance in progress
    assert healthy(registry) == 1
    clock.now += 2
    assert healthy(registry) == 0 and failing(registry, "no_partitions") == 1
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "no_partitions" in body
    health.assigned(2)
    assert healthy(registry) == 1


def test_a_worker_that_never_joins_is_unhealthy_one_left_idle_by_the_group_is_not(
    clock: Clock, metrics: Metrics, registry: CollectorRegistry
) -> None:
    health = WorkerHealth(partitions_after_s=20, clock=clock).bind(metrics)
    health.redis.answered(clock.now)
    clock.now += 21
    assert "no_partitions" in health.failing()
    health.assigned(0)  # more workers than partitions: idle, not broken
    assert health.status() == (True, "ok")


async def test_a_crashed_agent_or_task_makes_the_worker_unhealthy_for_good(
    health: WorkerHealth, served: int, registry: CollectorRegistry
) -> None:
    @health.watched("agent detect")
    async def agent() -> None:
        raise RuntimeError("boom")

    @health.watched("task cancelled")
    async def stopped() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await stopped()
    assert healthy(registry) == 1  # a task cancelled at shutdown did not crash
    with pytest.raises(RuntimeError):
        await agent()
    assert healthy(registry) == 0 and failing(registry, "crashed") == 1
    assert "agent detect: RuntimeError('boom')" in health.status()[1]
    status, body = get(served, HEALTH_PATH)
    assert status == 503 and "crashed" in body


async def test_a_redis_that_stops_answering_turns_the_worker_unhealthy_within_two_seconds(
    metrics: Metrics, registry: CollectorRegistry
) -> None:
    """A real redis-server frozen with SIGSTOP (what the outage test of issue 15 did)."""
    health = WorkerHealth().bind(metrics)
    health.assigned(1)
    with EmbeddedRedis() as server:
        client = redis_client(
            server.url, socket_timeout=PING_TIMEOUT_S, socket_connect_timeout=PING_TIMEOUT_S
        )
        watch = RedisWatch(client, health, metrics, ping_interval_s=0.1)
        task = asyncio.create_task(watch.run())
        try:
            await wait_until(lambda: healthy(registry) == 1, 5)
            assert server.pid is not None
            os.kill(server.pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                await wait_until(lambda: healthy(registry) == 0, 5)
                took_s = time.monotonic() - stopped_at
                assert failing(registry, "redis") == 1 and "redis" in health.failing()
            finally:
                os.kill(server.pid, signal.SIGCONT)
            assert took_s < 2.0
            await wait_until(lambda: healthy(registry) == 1, 5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await client.aclose()


async def wait_until(condition: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


# -- Redis that lost its data -----------------------------------------------------------------


async def test_a_flushed_or_emptied_redis_is_noticed_and_counted_a_durable_restart_is_not(
    metrics: Metrics, registry: CollectorRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    health = WorkerHealth().bind(metrics)

    def lost() -> float | None:
        return registry.get_sample_value("storewatch_redis_state_lost_total")

    server = EmbeddedRedis(durable=True).start()
    client = redis_client(server.url, socket_timeout=PING_TIMEOUT_S)
    watch = RedisWatch(client, health, metrics, ping_interval_s=0.05, state_check_interval_s=0.1)
    task = asyncio.create_task(watch.run())
    try:
        await wait_until(lambda: watch.seen is not None, 5)
        assert lost() == 0
        assert registry.get_sample_value("storewatch_redis_state_lost_timestamp_seconds") == 0

        # a restart that keeps its append-only file: same data, new run id, nothing lost
        first = watch.seen
        assert first is not None
        server.stop(keep_data=True)
        server.start()
        await wait_until(lambda: watch.seen is not None and watch.seen.run_id != first.run_id, 10)
        assert lost() == 0 and watch.seen is not None and watch.seen.marker == first.marker

        # FLUSHALL under the running watch
        with caplog.at_level(logging.ERROR, logger="stream.runtime.redis_watch"):
            await client.flushall()
            await wait_until(lambda: lost() == 1, 5)
        assert "Redis lost its data" in caplog.text and "runbook" in caplog.text
        assert (registry.get_sample_value("storewatch_redis_state_lost_timestamp_seconds") or 0) > 0

        # a restart without its data: a new empty Redis on the same port
        server.stop()
        server = EmbeddedRedis(port=server.port).start()
        await wait_until(lambda: lost() == 2, 10)
        await asyncio.sleep(0.5)  # counted once, not at every check
        assert lost() == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await client.aclose()
        server.stop()


async def test_every_worker_notices_a_loss_another_worker_noticed_first(
    redis_server: EmbeddedRedis,
) -> None:
    registries = [CollectorRegistry(), CollectorRegistry()]
    watches = []
    clients = []
    for registry in registries:
        metrics = Metrics.create(registry)
        client = redis_client(redis_server.url)
        clients.append(client)
        watches.append(
            RedisWatch(client, WorkerHealth().bind(metrics), metrics, namespace="sw:test-two")
        )
    try:
        for watch in watches:
            assert await watch.check_state() is False
        await clients[0].delete("sw:test-two:marker")
        assert await watches[0].check_state() is True  # recreates the marker
        assert await watches[1].check_state() is True  # sees it replaced
        assert [await w.check_state() for w in watches] == [False, False]
    finally:
        for client in clients:
            await client.aclose()
