"""Replay through Kafka and a running worker: publish a file, wait until the worker group has
committed it, and collect the alerts and dead letters this run caused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.runtime.topic_reader import end_offsets, read_from_start, read_records
from stream.tools.publish import PublishedOffsets, publish_file
from stream.tools.replay import Progress, ReplayResult


def committed_offsets(settings: Settings) -> dict[tuple[str, int], int]:
    """The worker group's committed offsets, per input partition.

    kafka-python's admin client, because aiokafka's OffsetFetch version is one Tansu drops.
    """
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id="storewatch-replay",
        **settings.kafka_security.kafka_python_options(),
    )
    try:
        offsets = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
    finally:
        admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()}


async def wait_until_processed(
    settings: Settings, ends: dict[tuple[str, int], int], timeout_s: float
) -> None:
    """Wait until the worker group has committed every offset that was published."""
    deadline = time.monotonic() + timeout_s
    while True:
        committed = await asyncio.to_thread(committed_offsets, settings)
        behind = {
            tp: end - committed.get(tp, 0) for tp, end in ends.items() if committed.get(tp, 0) < end
        }
        if not behind:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the worker group {settings.app_id!r} has not processed "
                f"{sum(behind.values())} events after {timeout_s:.0f}s "
                f"(is `storewatch worker` running?)"
            )
        await asyncio.sleep(0.5)


async def follow_alerts(
    settings: Settings,
    on_alert: Callable[[dict[str, Any]], None],
    done: asyncio.Event,
    idle_s: float = 2.0,
    start: dict[int, int] | None = None,
) -> None:
    """Hand every alert on the alert topic to ``on_alert``, from the start (or from ``start``,
    partition -> offset), as it arrives; return once ``done`` is set and the topic has then
    stayed quiet for ``idle_s``.

    Tansu's end offsets are unreliable, so "finished" means quiet. Every alert is acknowledged
    before its input offset is committed, so once the worker has committed the last input,
    every alert it caused is already readable.
    """
    await read_from_start(
        settings,
        settings.topics.alerts,
        lambda record: on_alert(json.loads(record.value)),
        quiet_s=idle_s,
        after=done,
        start=start,
    )


async def replay_via_kafka(
    path: str | Path,
    settings: Settings,
    alerts_out: str | Path | None = None,
    rate_per_s: float | None = None,
    timeout_s: float = 300.0,
    progress: Progress | None = None,
    on_alert: Callable[[dict[str, Any]], None] | None = None,
) -> ReplayResult:
    """Publish a file to a running worker's topics and report what this run caused: the
    alerts its events raised and the reasons the worker refused some of them.

    Only this run counts: alerts are read from where the alert topic ended when the run began
    (a file replayed twice does not report the first run's alerts again), and dead letters are
    read from the dead-letter topic and kept when they name a record this run published (a
    second run of the same file is refused as duplicate or late, and says so). ``on_alert``
    sees each alert live, as the worker publishes it.
    """
    result = ReplayResult()
    started = time.perf_counter()
    seen: list[dict[str, Any]] = []

    def collect(alert: dict[str, Any]) -> None:
        seen.append(alert)
        if on_alert:
            on_alert(alert)

    alerts_from = await end_offsets(settings, settings.topics.alerts)
    letters_from = await end_offsets(settings, settings.topics.dead_letter)
    published = PublishedOffsets()
    done = asyncio.Event()
    follower = asyncio.create_task(follow_alerts(settings, collect, done, start=alerts_from))
    try:
        result.events, ends, event_ids = await publish_file(
            path, settings, rate_per_s, progress, published=published
        )
        await wait_until_processed(settings, ends, timeout_s)
    finally:
        done.set()
        await follower
    result.alerts = [a for a in seen if a.get("event_id") in event_ids]
    result.rejected = await refused_in_run(settings, letters_from, published)
    result.elapsed_s = time.perf_counter() - started
    if alerts_out:
        with open(alerts_out, "w", encoding="utf-8") as handle:
            for alert in result.alerts:
                handle.write(json.dumps(alert, separators=(",", ":")) + "\n")
    return result


async def refused_in_run(
    settings: Settings, start: dict[int, int], published: PublishedOffsets
) -> dict[str, int]:
    """Dead letters per reason, of the records ``published`` holds, read from ``start``.

    Every dead letter is acknowledged before its input offset is committed, so once the
    worker has committed the run's last record they are all on the topic."""
    rejected: dict[str, int] = {}
    async for record in read_records(settings, settings.topics.dead_letter, start):
        try:
            letter = json.loads(record.value)
            source = (str(letter["topic"]), int(letter["partition"]))
            mine = published.holds(source, int(letter["offset"]))
        except (ValueError, KeyError, TypeError):
            continue  # not a dead letter this version wrote
        if mine:
            reason = str(letter.get("reason", "unknown"))
            rejected[reason] = rejected.get(reason, 0) + 1
    return dict(sorted(rejected.items()))
