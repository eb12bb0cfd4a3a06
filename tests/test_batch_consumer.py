"""The batch consumer: what it relies on in Faust, and that a rebalance loses and doubles nothing.

``stream.runtime.batch_consumer`` overrides private methods of faust-streaming's consumer; these tests
pin what it relies on, so an upgrade that changes one fails here rather than in production.
The rebalance test runs real workers on the embedded broker: a second worker joins while the
first works through a backlog, and every event must be decided exactly once between them
(stock Faust decided 4,500 of 60,000 records twice in such a test: its issue 502).
"""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from importlib.metadata import version
from pathlib import Path

import pytest
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaConsumer

from stream.config import DetectorSettings, Settings
from stream.runtime.batch_consumer import BatchConsumer
from stream.runtime.faust_app import StorewatchApp, faust_settings
from stream.tools.dev import DevStack
from stream.tools.embedded import EmbeddedRedis
from stream.tools.publish import publish_file
from stream.tools.replay import replay_in_process
from stream.tools.replay_kafka import follow_alerts, wait_until_processed
from stream.tools.simulate import simulate, write_events
from tests.helpers.servers import metric, wait_for_metric

FAUST_PINNED = "0.15.3"


def test_faust_streaming_is_the_version_the_batch_consumer_was_written_against() -> None:
    assert version("faust-streaming") == FAUST_PINNED
    pins = Path(__file__).parent.parent.joinpath("pyproject.toml").read_text()
    assert f'"faust-streaming=={FAUST_PINNED}"' in pins


@pytest.mark.parametrize(
    ("method", "parameters"),
    [
        ("_drain_messages", ["self", "fetcher"]),
        ("_new_offset", ["self", "tp"]),
        ("_filter_tps_with_pending_acks", ["self", "topics"]),
        ("on_partitions_revoked", ["self", "revoked"]),
        ("_wait_next_records", ["self", "timeout"]),
        ("_should_commit", ["self", "tp", "offset"]),
        ("on_stop", ["self"]),
    ],
)
def test_the_faust_methods_the_batch_consumer_overrides_or_calls_keep_their_shape(
    method: str, parameters: list[str]
) -> None:
    assert list(inspect.signature(getattr(FaustConsumer, method)).parameters) == parameters


def test_faust_commits_through_the_two_methods_the_batch_consumer_overrides() -> None:
    """force_commit asks _filter_tps_with_pending_acks which partitions to commit, and
    _filter_committable_offsets asks _new_offset for each one's offset."""
    assert "self._filter_tps_with_pending_acks(" in inspect.getsource(FaustConsumer.force_commit)
    assert "self._new_offset(" in inspect.getsource(FaustConsumer._filter_committable_offsets)


def test_the_worker_app_builds_the_batch_consumer_and_the_ceiling_app_the_stock_one() -> None:
    settings = Settings(app_id=f"storewatch-shape-{uuid.uuid4().hex[:6]}")
    worker = StorewatchApp(settings.app_id, **faust_settings(settings))
    stock = StorewatchApp(settings.app_id + "-stock", **faust_settings(settings))
    stock.batch_consumer = False
    assert isinstance(worker.consumer, BatchConsumer)
    assert isinstance(stock.consumer, AIOKafkaConsumer)
    assert not isinstance(stock.consumer, BatchConsumer)


def wait_until_up(port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            scrape(port, "storewatch_healthy")
            return
        except OSError:
            assert time.monotonic() < deadline, f"no metrics on port {port} after {timeout_s}s"
            time.sleep(0.1)


def scrape(port: int, name: str) -> float:
    """The sum of every sample of ``name`` on a worker's /metrics page."""
    return metric(port, name) or 0.0


@pytest.mark.integration
def test_a_worker_joining_mid_backlog_takes_partitions_over_and_no_event_is_lost_or_doubled(
    tmp_path: Path,
) -> None:
    """A second worker starts as 37,000 events are published as fast as the broker takes them:
    it joins while the first works through them, which is revoked with a batch in flight and
    fetched records not yet decided. The second half of the file is published only once the
    second worker owns partitions, so on a slow machine (where the first worker could finish
    the whole backlog before the join completes) both still decide part of it."""
    sim = simulate(stores=200, days=10, seed=23)
    events = tmp_path / "events.jsonl"
    write_events(events, sim.events)
    lines = events.read_text().splitlines(keepends=True)
    first_half, second_half = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first_half.write_text("".join(lines[: len(lines) // 2]))
    second_half.write_text("".join(lines[len(lines) // 2 :]))
    settings = Settings(
        kafka_partitions=4,
        app_id=f"storewatch-join-{uuid.uuid4().hex[:8]}",
        detectors=DetectorSettings(use_models=False),
    )
    with EmbeddedRedis() as redis:
        expected = asyncio.run(replay_in_process(events, settings, redis.url))
    assert expected.flagged_stores(), "the file should raise alerts"

    async def run(stack: DevStack) -> tuple[int, set[str]]:
        alerts: list[dict[str, str]] = []
        done = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(stack.settings, alerts.append, done))
        try:
            second = stack.start_worker()
            await asyncio.to_thread(wait_until_up, second.metrics_port)  # it joins in ~2 s
            sent_first, ends, _ = await publish_file(first_half, stack.settings)
            await wait_for_metric(
                second.metrics_port, "storewatch_assigned_partitions", 1, 120, at_least=True
            )
            sent_second, ends_second, _ = await publish_file(second_half, stack.settings)
            for partition, end in ends_second.items():
                ends[partition] = max(ends.get(partition, 0), end)
            await wait_until_processed(stack.settings, ends, timeout_s=240)
        finally:
            done.set()
            await follower
        return sent_first + sent_second, {a["store_id"] for a in alerts}

    with DevStack(settings) as stack:
        stack.start(workers=1)
        sent, flagged = asyncio.run(run(stack))
        ports = [worker.metrics_port for worker in stack.workers]
        consumed = [scrape(port, "storewatch_events_consumed_total") for port in ports]
        redelivered = [scrape(port, "storewatch_events_redelivered_total") for port in ports]
        rejected = [scrape(port, "storewatch_events_rejected_total") for port in ports]
    assert all(consumed), f"both workers should have decided part of the backlog: {consumed}"
    assert sum(consumed) == sent, f"{sum(consumed) - sent:+.0f} events decided twice or lost"
    assert sum(redelivered) == 0
    assert sum(rejected) == sum(expected.rejected.values())
    assert flagged == expected.flagged_stores()
