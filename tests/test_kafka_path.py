"""The Kafka path end to end: real broker (Tansu), real redis-server, a real worker process."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stream.config import Settings
from stream.tools.dev import DevStack
from stream.tools.embedded import EmbeddedRedis
from stream.tools.replay import replay_in_process
from stream.tools.replay_kafka import replay_via_kafka
from stream.tools.simulate import simulate, write_events
from tests.helpers import factories as f
from tests.helpers.bad_input import MALFORMED, malformed
from tests.helpers.harness import price_protection_scheme
from tests.helpers.kafka_stack import one_worker_stack, write_jsonl
from tests.helpers.servers import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack() -> Iterator[DevStack]:
    yield from one_worker_stack()


async def test_an_event_published_to_kafka_raises_its_alert_on_the_alert_topic(
    stack: DevStack, tmp_path: Path
) -> None:
    events = write_jsonl(tmp_path / "events.jsonl", price_protection_scheme("kafka-gang-1"))
    result = await replay_via_kafka(events, stack.settings, timeout_s=60)
    assert {a["detector"] for a in result.alerts} >= {"price_cut"}
    records = [
        r
        for r in await read_topic(stack.settings, stack.settings.topics.alerts)
        if json.loads(r.value)["store_id"] == "kafka-gang-1"
    ]
    assert records and all(r.key == b"kafka-gang-1" for r in records)


async def test_a_bad_message_is_dead_lettered_on_kafka_and_the_good_ones_processed(
    stack: DevStack, tmp_path: Path
) -> None:
    scheme = price_protection_scheme("kafka-gang-2")
    events = write_jsonl(
        tmp_path / "events.jsonl", [*scheme[:2], b'{"type": "order", oops', *scheme[2:]]
    )
    result = await replay_via_kafka(events, stack.settings, timeout_s=60)
    assert "price_cut" in {a["detector"] for a in result.alerts}
    letters = [
        json.loads(r.value)
        for r in await read_topic(stack.settings, stack.settings.topics.dead_letter)
    ]
    bad = [letter for letter in letters if letter["raw_text"] == '{"type": "order", oops']
    assert bad and bad[0]["reason"] == "not_json"
    assert bad[0]["topic"] == stack.settings.topics.orders and bad[0]["offset"] >= 0


def test_the_kafka_path_alerts_the_same_stores_as_the_in_process_replay(tmp_path: Path) -> None:
    sim = simulate(stores=80, days=6, seed=5)
    events = tmp_path / "events.jsonl"
    write_events(events, sim.events)
    settings = Settings(kafka_partitions=4, app_id="storewatch-equivalence")
    with EmbeddedRedis() as redis:
        in_process = asyncio.run(replay_in_process(events, settings, redis.url))
    with DevStack(settings) as equivalence_stack:
        equivalence_stack.start(workers=1)
        via_kafka = asyncio.run(replay_via_kafka(events, equivalence_stack.settings, timeout_s=300))
    assert in_process.flagged_stores(), "the file should raise some alerts"
    assert via_kafka.flagged_stores() == in_process.flagged_stores()


async def test_every_kind_of_bad_message_is_dead_lettered_by_the_worker_and_harms_no_alert(
    stack: DevStack, tmp_path: Path
) -> None:
    scheme = price_protection_scheme("kafka-gang-bad")
    placed = scheme[1]
    bad = {kind: malformed(placed, kind) for kind in MALFORMED}
    later_order = f.order(
        "kafka-gang-bad", f.T0 + 4 * f.HOUR, price=10
    )  # moves the order stream on
    bad["duplicate"] = (f.raw(later_order), "duplicate")
    bad["late"] = (f.raw(f.order("kafka-gang-bad", f.T0 + f.HOUR - 2 * f.DAY)), "late")
    bad["unknown_order"] = (
        f.raw(f.refund("kafka-gang-bad", f.T0 + 2 * f.HOUR, 5.0, order_id="never-placed")),
        "unknown_order",
    )
    lines: list[dict[str, Any] | bytes] = [
        *scheme[:2],
        later_order,
        *(raw for raw, _ in bad.values()),
        *scheme[2:],
    ]
    good_only = write_jsonl(tmp_path / "good.jsonl", [*scheme[:2], later_order, *scheme[2:]])
    with EmbeddedRedis() as redis:
        expected = await replay_in_process(good_only, stack.settings, redis.url)
    result = await replay_via_kafka(
        write_jsonl(tmp_path / "mixed.jsonl", lines), stack.settings, rate_per_s=50, timeout_s=120
    )
    assert {a["alert_id"] for a in result.alerts} == {a["alert_id"] for a in expected.alerts}
    letters = [
        json.loads(r.value)
        for r in await read_topic(stack.settings, stack.settings.topics.dead_letter)
    ]
    reason_of = {letter["raw_sha256"]: letter["reason"] for letter in letters}
    assert {
        kind: reason_of.get(hashlib.sha256(raw).hexdigest()) for kind, (raw, _) in bad.items()
    } == {kind: reason for kind, (_, reason) in bad.items()}
