"""The control topic: runtime tuning changes published by `storewatch tune set`, read by workers.

A compacted topic keyed by parameter name, so the latest change of every parameter survives
and a worker that starts later reads them all before it processes its first event. Records are
read with an assigned (group-less) consumer from the beginning: every worker needs every change.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from stream.config import Settings
from stream.core.tuning import Change, InvalidChangeError

log = logging.getLogger(__name__)

QUIET_S = 1.0


async def consume_changes(
    settings: Settings,
    on_change: Callable[[Change], None],
    on_refused: Callable[[str, bytes], None],
    caught_up: asyncio.Event | None = None,
    follow: bool = True,
) -> None:
    """Hand every control record to ``on_change`` (or ``on_refused`` if malformed), in order.

    ``caught_up`` is set once the topic has been read to its end (quiet for ``QUIET_S``: Tansu's
    end offsets are unreliable). With ``follow=False`` it returns then.
    """
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **settings.kafka_security.aiokafka_options())
    try:
        await consumer.start()
    except BaseException:
        await consumer.stop()  # a failed start leaves connections that warn at exit
        raise
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(settings.topics.control) or {0}
        consumer.assign([TopicPartition(settings.topics.control, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        quiet_since = time.monotonic()
        while True:
            batches = await consumer.getmany(timeout_ms=250)
            for records in batches.values():
                for record in records:
                    quiet_since = time.monotonic()
                    try:
                        on_change(Change.from_json(record.value))
                    except InvalidChangeError as exc:
                        on_refused(str(exc), record.value)
            if time.monotonic() - quiet_since >= QUIET_S:
                if caught_up is not None:
                    caught_up.set()
                if not follow:
                    return
    finally:
        await consumer.stop()


async def latest_changes(settings: Settings) -> dict[str, Change]:
    """The latest well-formed change of every parameter on the control topic."""
    latest: dict[str, Change] = {}

    def keep(change: Change) -> None:
        latest[change.key] = change

    def skip(reason: str, raw: bytes) -> None:
        log.warning("ignoring malformed control record %r: %s", raw[:200], reason)

    await consume_changes(settings, keep, skip, follow=False)
    return latest


async def publish_changes(settings: Settings, changes: list[Change]) -> None:
    """Publish changes keyed by parameter name and wait for the broker's acknowledgement."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                **settings.kafka_security.aiokafka_options())
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    try:
        for change in changes:
            await producer.send_and_wait(settings.topics.control, change.to_json(),
                                         key=change.key.encode())
    finally:
        await producer.stop()
