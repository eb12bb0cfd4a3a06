"""A backlog is decided as live traffic would be: real broker, real Redis, real workers.

The same simulated marketplace is published twice: live (at a fixed rate, the worker keeping
up) and whole before the worker starts (a backlog, as after any outage, deploy or new
worker), and again with the worker killed -9 a third of the way through the backlog and a new
one started. The worker holds records behind a watermark over all its partitions of the five
topics, so every run must flag the same stores with the same alert ids. (Rule gates only:
the models learn from every event in arrival order, which only the watermark's granularity
fixes, and a model's weak-evidence call is not what this tests.)
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

from stream.config import DetectorSettings, Settings
from stream.tools.dev import DevStack
from stream.tools.publish import publish_file
from stream.tools.replay_kafka import follow_alerts, wait_until_processed
from stream.tools.simulate import simulate, write_events
from tests.helpers.servers import metric

pytestmark = pytest.mark.integration

STORES, DAYS, SEED = 200, 10, 21  # ~37,000 events; 8 partitions: discriminating
LIVE_RATE_PER_S = 1500.0


def backlog_settings() -> Settings:
    return Settings(
        kafka_partitions=8,
        app_id=f"storewatch-backlog-{uuid.uuid4().hex[:8]}",
        detectors=DetectorSettings(use_models=False),
    )


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backlog") / "events.jsonl"
    write_events(path, simulate(stores=STORES, days=DAYS, seed=SEED).events)
    return path


async def alerts_of(
    stack: DevStack, path: Path, rate_per_s: float | None, then_start_worker: bool
) -> set[str]:
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()
    follower = asyncio.create_task(follow_alerts(stack.settings, seen.append, done))
    try:
        _, ends, _ = await publish_file(path, stack.settings, rate_per_s)
        if then_start_worker:
            stack.start_worker()
        await wait_until_processed(stack.settings, ends, timeout_s=240)
    finally:
        done.set()
        await follower
    return {alert["alert_id"] for alert in seen}


@pytest.fixture(scope="module")
def live(marketplace: Path) -> set[str]:
    with DevStack(backlog_settings()) as stack:
        stack.start(workers=1)
        return asyncio.run(alerts_of(stack, marketplace, LIVE_RATE_PER_S, False))


def test_a_backlog_published_before_the_worker_starts_raises_the_alerts_of_live_traffic(
    marketplace: Path, live: set[str]
) -> None:
    assert live, "the marketplace should raise alerts"
    with DevStack(backlog_settings()) as stack:
        stack.start(workers=0)
        backlog = asyncio.run(alerts_of(stack, marketplace, None, True))
    assert backlog == live, (
        f"{len(backlog - live)} alerts only from the backlog, " f"{len(live - backlog)} only live"
    )


def decided_events(port: int) -> float:
    """storewatch_events_consumed_total over every topic, from a worker's /metrics page."""
    try:
        return metric(port, "storewatch_events_consumed_total") or 0.0
    except OSError:  # not serving yet
        return 0.0


def test_a_backlog_whose_worker_is_killed_midway_and_restarted_raises_the_alerts_of_live_traffic(
    marketplace: Path, live: set[str]
) -> None:
    """The worker is killed -9 a third of the way through the backlog; a new one resumes
    from the last commit, with the state saved before it (alerts published twice carry the
    same id)."""

    async def run(stack: DevStack) -> set[str]:
        seen: list[dict[str, Any]] = []
        done = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(stack.settings, seen.append, done))
        try:
            sent, ends, _ = await publish_file(marketplace, stack.settings)
            first = stack.start_worker()
            while decided_events(first.metrics_port) < sent / 3:
                await asyncio.sleep(0.05)
            stack.kill_worker(first)
            stack.start_worker()
            await wait_until_processed(stack.settings, ends, timeout_s=240)
        finally:
            done.set()
            await follower
        return {alert["alert_id"] for alert in seen}

    with DevStack(backlog_settings()) as stack:
        stack.start(workers=0)
        restarted = asyncio.run(run(stack))
    assert restarted == live, (
        f"{len(restarted - live)} alerts only after the restart, "
        f"{len(live - restarted)} only live"
    )
