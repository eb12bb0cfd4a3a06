"""The control topic: runtime tuning changes published by `storewatch tune set`, read by workers.

A compacted topic keyed by parameter name, so the latest change of every parameter survives
and a worker that starts later reads them all before it processes its first event. Records are
read with an assigned (group-less) consumer from the beginning: every worker needs every change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from stream.config import Settings
from stream.core.tuning import Change, InvalidChangeError
from stream.runtime.topic_reader import read_from_start

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

    def hand_on(record: Any) -> None:
        try:
            on_change(Change.from_json(record.value))
        except InvalidChangeError as exc:
            on_refused(str(exc), record.value)

    await read_from_start(
        settings,
        settings.topics.control,
        hand_on,
        quiet_s=QUIET_S,
        caught_up=caught_up,
        follow=follow,
    )


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

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        **settings.kafka_security.aiokafka_options(),
    )
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise
    try:
        for change in changes:
            await producer.send_and_wait(
                settings.topics.control, change.to_json(), key=change.key.encode()
            )
    finally:
        await producer.stop()
