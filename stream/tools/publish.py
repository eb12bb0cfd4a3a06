"""Publishing a JSONL file to the input topics: each line routed to its topic, keyed by store and
stamped with its event time, paced if asked, and the offsets written remembered."""

from __future__ import annotations

import asyncio
import bisect
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stream.config import Settings
from stream.core.events import parse_event
from stream.core.records import InvalidEventError
from stream.inputs import read_lines
from stream.tools.replay import Progress


@dataclass(frozen=True, slots=True)
class Routing:
    """Where a line is published: topic, key (store_id) and record timestamp (event time)."""

    topic: str
    key: bytes | None
    timestamp_ms: int | None
    event_id: str | None


def route(raw: bytes, settings: Settings) -> Routing:
    """Routing of a raw line; a line that is not a valid event still goes out as it is, to the
    orders topic unless its type names another, so the worker dead-letters it as a bad producer
    would cause."""
    topics = settings.topics.input_topics()
    try:
        event = parse_event(raw)
    except InvalidEventError:
        return Routing(topics.get(_declared_type(raw), settings.topics.orders), None, None, None)
    return Routing(
        topics[event.type], event.store_id.encode(), int(event.ts_s * 1000), event.event_id
    )


def _declared_type(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return ""
    return str(data.get("type")) if isinstance(data, dict) else ""


async def publish_file(
    path: str | Path,
    settings: Settings,
    rate_per_s: float | None = None,
    progress: Progress | None = None,
    stamp_send_time: bool = False,
    published: PublishedOffsets | None = None,
) -> tuple[int, dict[tuple[str, int], int], set[str]]:
    """Publish every line to its topic, keyed by store_id, in file order.

    Returns the count, the next offset per partition written (to know when the worker is done),
    and the event ids. ``rate_per_s`` paces publishing, as live traffic would arrive. Records
    carry the event time as their timestamp, or with ``stamp_send_time`` the time they are sent
    (to measure latency from Kafka to decision). ``published``, if given, learns the offset of
    every record written, to tell this run's dead letters from any other's.
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()  # a failed start leaves connections that warn at exit
        raise
    ends: dict[tuple[str, int], int] = {}
    event_ids: set[str] = set()
    sent = 0
    started = time.perf_counter()
    pending: list[asyncio.Future[Any]] = []
    try:
        for raw in read_lines(path):
            routing = route(raw, settings)
            timestamp_ms = None if stamp_send_time else routing.timestamp_ms
            pending.append(
                await producer.send(routing.topic, raw, key=routing.key, timestamp_ms=timestamp_ms)
            )
            if routing.event_id:
                event_ids.add(routing.event_id)
            sent += 1
            if len(pending) >= 500:
                await _settle(pending, ends, published)
                if progress:
                    progress(500)
            if rate_per_s:
                ahead_s = sent / rate_per_s - (time.perf_counter() - started)
                if ahead_s > 0:
                    await asyncio.sleep(ahead_s)
        remainder = len(pending)
        await _settle(pending, ends, published)
        if progress:
            progress(remainder)
    finally:
        await producer.stop()
    return sent, ends, event_ids


async def _settle(
    pending: list[asyncio.Future[Any]],
    ends: dict[tuple[str, int], int],
    published: PublishedOffsets | None = None,
) -> None:
    for metadata in await asyncio.gather(*pending):
        key = (metadata.topic, metadata.partition)
        ends[key] = max(ends.get(key, 0), metadata.offset + 1)
        if published is not None:
            published.add(key, metadata.offset)
    pending.clear()


class PublishedOffsets:
    """The offsets one run wrote, per partition, as runs of consecutive offsets: a million
    records published alone are one run per partition, not a million set entries.

    >>> mine = PublishedOffsets()
    >>> for offset in (4, 5, 6, 9):
    ...     mine.add(("orders", 0), offset)
    >>> [mine.holds(("orders", 0), o) for o in (3, 4, 6, 7, 9)]
    [False, True, True, False, True]
    """

    def __init__(self) -> None:
        self._runs: dict[tuple[str, int], list[list[int]]] = {}

    def add(self, partition: tuple[str, int], offset: int) -> None:
        runs = self._runs.setdefault(partition, [])
        if runs and runs[-1][1] == offset:
            runs[-1][1] = offset + 1
        else:
            runs.append([offset, offset + 1])

    def holds(self, partition: tuple[str, int], offset: int) -> bool:
        runs = self._runs.get(partition, [])
        i = bisect.bisect_right(runs, offset, key=lambda run: run[0]) - 1
        return i >= 0 and runs[i][0] <= offset < runs[i][1]
