"""Reading a topic without joining a consumer group: the one group-less reader.

The workers read the control topic (every worker needs every tuning change), the tools read
the topics the workers write (replay's summary, `alerts tail`, `alert ID`, `label`,
`evaluate --labels-topic`), and the tests read dead letters and alerts. None of them may
join the workers' group or commit offsets, so every reader here assigns partitions itself.

Where "the end" of a topic is depends on the reader, because Tansu's end offsets have been
seen to lag: ``read_records`` stops at the end offsets asked for when it starts, with a quiet
spell as a fallback; ``read_from_start`` never asks, and counts a topic as read once it has
been quiet for a while (a writer may still be writing, or the topic may not exist yet).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from stream.config import Settings

QUIET_S = 2.0
POLL_MS = 250


@asynccontextmanager
async def open_consumer(settings: Settings) -> AsyncIterator[Any]:
    """A started group-less consumer, stopped on the way out (also after a failed start,
    which otherwise leaves connections that warn at exit)."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()
        raise
    try:
        yield consumer
    finally:
        await consumer.stop()


async def end_offsets(settings: Settings, topic: str) -> dict[int, int]:
    """The next offset to be written, per partition of ``topic`` (empty: no such topic)."""
    async with open_consumer(settings) as consumer:
        assigned = await _assign(consumer, topic)
        if not assigned:
            return {}
        ends = await consumer.end_offsets(assigned)
        return {tp.partition: int(offset) for tp, offset in ends.items()}


async def read_records(
    settings: Settings, topic: str, start: dict[int, int] | None = None, quiet_s: float = QUIET_S
) -> AsyncIterator[Any]:
    """Every record of ``topic`` (aiokafka ``ConsumerRecord`` objects) from ``start``
    (partition -> offset; default: the beginning) up to the end it had when reading began,
    or until it has been quiet for ``quiet_s``. Records of different partitions interleave."""
    async with open_consumer(settings) as consumer:
        assigned = await _assign(consumer, topic)
        if not assigned:
            return
        ends = {tp.partition: int(o) for tp, o in (await consumer.end_offsets(assigned)).items()}
        await _seek(consumer, assigned, start)
        left = {p for p, end in ends.items() if end > (start or {}).get(p, 0)}
        quiet_since = time.monotonic()
        while left and time.monotonic() - quiet_since < quiet_s:
            batches = await consumer.getmany(timeout_ms=POLL_MS)
            for tp, records in batches.items():
                quiet_since = time.monotonic()
                for record in records:
                    yield record
                    if record.offset + 1 >= ends[tp.partition]:
                        left.discard(tp.partition)


async def follow_records(
    settings: Settings, topic: str, from_beginning: bool = False
) -> AsyncIterator[Any]:
    """Every record written to ``topic`` from now on (or from its beginning), for ever."""
    async with open_consumer(settings) as consumer:
        assigned = await _assign(consumer, topic)
        if from_beginning:
            await consumer.seek_to_beginning()
        elif assigned:
            await consumer.seek_to_end()
        while True:
            batches = await consumer.getmany(timeout_ms=POLL_MS)
            for records in batches.values():
                for record in records:
                    yield record


async def read_from_start(
    settings: Settings,
    topic: str,
    on_record: Callable[[Any], None],
    *,
    quiet_s: float = 1.0,
    after: asyncio.Event | None = None,
    caught_up: asyncio.Event | None = None,
    follow: bool = False,
    start: dict[int, int] | None = None,
) -> None:
    """Hand every record of ``topic`` (an aiokafka ``ConsumerRecord``) to ``on_record``, in
    partition order, from the first offset (or from ``start``, partition -> offset).

    The topic counts as read once it has been quiet for ``quiet_s`` (and, when ``after`` is
    given, only from the moment that event is set: the writer has finished). Then
    ``caught_up`` is set, and the call returns unless ``follow`` asks to go on reading. A topic
    the cluster does not know yet is read on its partition 0 (the control topic's only one),
    so a worker that starts before anyone has tuned anything still sees the first change.
    """
    async with open_consumer(settings) as consumer:
        assigned = await _assign(consumer, topic, unknown={0})
        await _seek(consumer, assigned, start)
        quiet_since = time.monotonic()
        while True:
            for records in (await consumer.getmany(timeout_ms=POLL_MS)).values():
                for record in records:
                    quiet_since = time.monotonic()
                    on_record(record)
            if after is not None and not after.is_set():
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_s:
                if caught_up is not None:
                    caught_up.set()
                if not follow:
                    return


async def _assign(consumer: Any, topic: str, unknown: set[int] | None = None) -> list[Any]:
    """Assign every partition of ``topic``; ``unknown`` is what to assign when the cluster
    does not know the topic (by default nothing)."""
    from aiokafka import TopicPartition

    await consumer.topics()  # loads the cluster metadata partitions_for_topic reads
    partitions = consumer.partitions_for_topic(topic) or unknown or set()
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    return assigned


async def _seek(consumer: Any, assigned: list[Any], start: dict[int, int] | None) -> None:
    await consumer.seek_to_beginning()
    for tp in assigned:
        if start and start.get(tp.partition):
            consumer.seek(tp, start[tp.partition])
