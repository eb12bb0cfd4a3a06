"""No message can make the worker skip another: real broker (Tansu), real Redis, real workers.

A 1 MiB and a 10 MiB message sit among good events on the orders topic. The worker must
dead-letter both (their letters bounded: a prefix, the size and the sha256 of the original),
decide every good event exactly once, and raise the alerts an in-process replay of the good
events alone raises. When the broker refuses the dead letters (a producer whose request limit
is below their size), the worker must retry, then halt: unhealthy, and no offset committed past
an event it has not decided. A restarted worker then finishes the job as if nothing happened.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from stream.config import Settings
from stream.core.checks import parse_ts_s
from stream.runtime.dead_letters import DEAD_LETTER_RAW_MAX_BYTES
from stream.tools.dev import DevStack
from stream.tools.embedded import EmbeddedRedis
from stream.tools.replay import replay_in_process
from stream.tools.replay_kafka import committed_offsets, follow_alerts, wait_until_processed
from tests.helpers import factories as f
from tests.helpers.harness import price_protection_scheme
from tests.helpers.servers import metric, read_topic, redis_state

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
BIG_SIZES = (1 * MIB, 10 * MIB)
STORES = 6
PROCESSED_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Record:
    topic: str
    raw: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Marketplace:
    """Good events of a few fraudulent stores in event-time order, with big messages among them."""

    records: list[Record]
    good: list[bytes]
    big: list[bytes]


@dataclass
class Run:
    alert_ids: set[str]
    letters: list[dict[str, Any]]
    windows: dict[str, Any]
    decided: float | None


def big_message(size: int) -> bytes:
    head = b'{"type": "order", "store_id": "gang-0", "pad": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.fixture(scope="module")
def marketplace() -> Marketplace:
    settings = Settings()
    events = sorted(
        (
            event
            for i in range(STORES)
            for event in price_protection_scheme(f"noskip-{i}", f.T0 + i * f.HOUR)
        ),
        key=lambda e: e["ts"],
    )
    topics = settings.topics.input_topics()
    records = [Record(topics[e["type"]], f.raw(e), int(parse_ts_s(e["ts"]) * 1000)) for e in events]
    big = [big_message(size) for size in BIG_SIZES]
    for share, raw in zip((1 / 3, 2 / 3), big, strict=True):
        at = int(len(records) * share)
        records.insert(at, Record(settings.topics.orders, raw, records[at - 1].timestamp_ms))
    return Marketplace(records, [f.raw(e) for e in events], big)


async def publish(settings: Settings, records: list[Record]) -> dict[tuple[str, int], int]:
    """Every record in order, keyed alike (one partition per topic here); the next offset of
    every partition written."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", max_request_size=16 * MIB
    )
    await producer.start()
    ends: dict[tuple[str, int], int] = {}
    try:
        for record in records:
            sent = await (
                await producer.send(
                    record.topic, record.raw, key=b"k", timestamp_ms=record.timestamp_ms
                )
            )
            ends[(sent.topic, sent.partition)] = sent.offset + 1
    finally:
        await producer.stop()
    return ends


def wait_for_metric(port: int, name: str, value: float, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (seen := metric(port, name)) != value:
        assert time.monotonic() < deadline, f"{name} is {seen}, not {value}, after {timeout_s}s"
        time.sleep(0.2)


async def run_to_the_end(stack: DevStack, ends: dict[tuple[str, int], int]) -> Run:
    seen: list[dict[str, Any]] = []
    done = asyncio.Event()
    follower = asyncio.create_task(follow_alerts(stack.settings, seen.append, done))
    try:
        await wait_until_processed(stack.settings, ends, PROCESSED_TIMEOUT_S)
    finally:
        done.set()
        await follower
    letters = [
        json.loads(r.value)
        for r in await read_topic(stack.settings, stack.settings.topics.dead_letter)
    ]
    decided = metric(stack.workers[-1].metrics_port, "storewatch_processing_seconds_count")
    return Run(
        {a["alert_id"] for a in seen}, letters, await redis_state(str(stack.redis_url)), decided
    )


def one_partition_settings() -> Settings:
    return Settings(kafka_partitions=1, app_id=f"storewatch-noskip-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def undisturbed(marketplace: Marketplace) -> Run:
    with DevStack(one_partition_settings()) as stack:
        stack.start(workers=1)
        ends = asyncio.run(publish(stack.settings, marketplace.records))
        return asyncio.run(run_to_the_end(stack, ends))


@pytest.fixture(scope="module")
def expected_alert_ids(
    marketplace: Marketplace, tmp_path_factory: pytest.TempPathFactory
) -> set[str]:
    path = tmp_path_factory.mktemp("noskip") / "good.jsonl"
    path.write_bytes(b"\n".join(marketplace.good) + b"\n")
    with EmbeddedRedis() as redis:
        result = asyncio.run(replay_in_process(path, Settings(), redis.url))
    return {a["alert_id"] for a in result.alerts}


def letter_of(letters: list[dict[str, Any]], raw: bytes) -> dict[str, Any]:
    digest = hashlib.sha256(raw).hexdigest()
    found = [letter for letter in letters if letter["raw_sha256"] == digest]
    assert len(found) == 1, f"{len(found)} dead letters for the {len(raw):,}-byte message"
    return found[0]


def test_1_mib_and_10_mib_messages_are_dead_lettered_bounded_and_every_good_event_decided(
    marketplace: Marketplace, undisturbed: Run, expected_alert_ids: set[str]
) -> None:
    assert expected_alert_ids, "the good events should raise alerts"
    assert undisturbed.alert_ids == expected_alert_ids
    assert undisturbed.decided == len(marketplace.good)
    assert len(undisturbed.letters) == len(marketplace.big)
    for raw in marketplace.big:
        letter = letter_of(undisturbed.letters, raw)
        assert letter["reason"] == "oversize"
        assert letter["raw_bytes"] == len(raw) and letter["raw_truncated"] is True
        assert base64.b64decode(letter["raw_base64"]) == raw[:DEAD_LETTER_RAW_MAX_BYTES]
        assert len(json.dumps(letter)) < 2 * DEAD_LETTER_RAW_MAX_BYTES


def test_a_broker_refusing_the_dead_letters_halts_the_worker_before_the_big_message(
    marketplace: Marketplace, undisturbed: Run
) -> None:
    """Dead letters over 8,000 bytes are refused by the worker's producer; alerts are not."""
    first_big = marketplace.records.index(
        next(r for r in marketplace.records if r.raw == marketplace.big[0])
    )
    with DevStack(
        one_partition_settings(),
        worker_env_extra={
            "STOREWATCH_KAFKA_MAX_REQUEST_BYTES": "8000",
            "STOREWATCH_PUBLISH_GIVE_UP_S": "2",
        },
    ) as stack:
        stack.start(workers=1)
        ends = asyncio.run(publish(stack.settings, marketplace.records))
        halted_worker = stack.workers[0]
        port = halted_worker.metrics_port
        wait_for_metric(port, 'storewatch_health_check_failing{check="halted"}', 1.0, 60)
        assert metric(port, "storewatch_healthy") == 0.0
        assert (metric(port, 'storewatch_publish_errors_total{sink="dead_letter"}') or 0) >= 2
        time.sleep(3)  # a commit timer that would move past the big message has had its chance
        committed = committed_offsets(stack.settings)
        assert halted_worker.process.poll() is None, "the halted worker stays up, unhealthy"
        # the first undecided event of each partition: the big message, or anything after it
        undecided_from: dict[tuple[str, int], int] = {}
        offsets: dict[str, int] = {}
        for i, record in enumerate(marketplace.records):
            offset = offsets[record.topic] = offsets.get(record.topic, -1) + 1
            if i >= first_big:
                undecided_from.setdefault((record.topic, 0), offset)
        past = {
            tp: (committed[tp], first)
            for tp, first in undecided_from.items()
            if committed.get(tp, 0) > first
        }
        assert not past, f"committed past an undecided event: {past}"
        assert "worker halted" in halted_worker.log_path.read_text()

        stack.kill_worker(halted_worker)
        stack.worker_env_extra.clear()
        stack.start_worker()
        disturbed = asyncio.run(run_to_the_end(stack, ends))
    assert disturbed.alert_ids == undisturbed.alert_ids
    assert disturbed.windows == undisturbed.windows, "a good event's effect was lost or doubled"
    for raw in marketplace.big:
        assert letter_of(disturbed.letters, raw)["reason"] == "oversize"
