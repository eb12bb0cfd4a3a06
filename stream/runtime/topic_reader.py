"""Reading a Kafka topic from its first offset until it has been quiet for a while.

Tansu reports unreliable end offsets, so "read to the end" cannot ask the broker where the end
is: a topic is read to its end once no record has arrived for ``quiet_s``. The control topic
(every worker reads every tuning change), the alert topic (``stream.tools.replay_kafka``
follows it) and the tests (dead letters, alerts) all read this way, with an assigned,
group-less consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from stream.config import Settings

POLL_MS = 250


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
    ``caught_up`` is set, and the call returns unless ``follow`` asks to go on reading.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # a failed start leaves connections that warn at exit
        raise
    try:
        await consumer.topics()  # loads the cluster metadata partitions_for_topic reads
        partitions = consumer.partitions_for_topic(topic) or {0}
        assigned = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning()
        for tp in assigned:
            if start and start.get(tp.partition):
                consumer.seek(tp, start[tp.partition])
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
    finally:
        await consumer.stop()


async def read_records(settings: Settings, topic: str, quiet_s: float = 2.0) -> list[Any]:
    """Every record of ``topic`` so far (aiokafka ``ConsumerRecord`` objects)."""
    records: list[Any] = []
    await read_from_start(settings, topic, records.append, quiet_s=quiet_s)
    return records
