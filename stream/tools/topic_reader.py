"""Reading a topic as a tool does: group-less, from a given position, to its end or for ever.

The tools (replay's summary, `alerts tail`, `alert ID`, `label`, `evaluate --labels-topic`)
read topics that workers write; none of them may join the workers' group or commit offsets,
so every reader here assigns partitions itself. "The end" is the end offsets asked for at the
start, with a quiet spell as a fallback: Tansu's end offsets have been seen to lag.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
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


async def _assign(consumer: Any, topic: str) -> list[Any]:
    from aiokafka import TopicPartition

    await consumer.topics()  # loads the cluster metadata partitions_for_topic reads
    partitions = consumer.partitions_for_topic(topic) or set()
    assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
    consumer.assign(assigned)
    return assigned


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
    """Every record of ``topic`` from ``start`` (partition -> offset; default: the beginning)
    up to the end it had when reading began. Records of different partitions interleave."""
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


async def _seek(consumer: Any, assigned: list[Any], start: dict[int, int] | None) -> None:
    await consumer.seek_to_beginning()
    for tp in assigned:
        if start and start.get(tp.partition):
            consumer.seek(tp, start[tp.partition])
