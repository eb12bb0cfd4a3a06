"""Generated bad input thrown at the core: it is refused with the right reason and harms nothing.

The good stream is a small simulated marketplace plus two price-protection gangs (so there are
alerts to protect). Hypothesis interleaves bad messages of every kind the contract names; the
engine, over a real redis-server, must dead-letter each with its reason, process every good
event, and raise exactly the alerts of the run without the bad ones.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import pytest
import redis.asyncio as redis_asyncio
from hypothesis import HealthCheck, given, settings, strategies as st
from prometheus_client import CollectorRegistry

from stream.alerts import ListAlertSink
from stream.config import Settings
from stream.embedded import EmbeddedRedis
from stream.engine import Engine, ListDeadLetterSink, Source
from stream.events import MAX_EVENT_BYTES, parse_ts_s
from stream.metrics import Metrics
from stream.simulate import simulate
from stream.state import RedisStateStore
from tests import factories as f
from tests.factories import DAY
from tests.test_engine import price_protection_scheme

SETTINGS = Settings()
LATENESS_S = SETTINGS.windows.allowed_lateness_s


def good_stream() -> list[dict[str, Any]]:
    sim = simulate(stores=12, days=4, seed=3)
    t0 = parse_ts_s(sim.events[-1]["ts"]) - 3 * DAY
    gangs = price_protection_scheme("gang-a", t0) + price_protection_scheme("gang-b", t0 + DAY)
    return sorted([*sim.events, *gangs], key=lambda event: parse_ts_s(event["ts"]))


GOOD = good_stream()


@dataclass(frozen=True)
class Bad:
    """A bad message, where it goes in the stream, and the reason it must be refused for."""

    raw: bytes
    reason: str
    after: int  # inserted after this many good events


def _raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _fresh(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, "event_id": f"bad-{time.monotonic_ns()}", **changes}


def malformed(template: dict[str, Any], kind: str) -> tuple[bytes, str]:
    """A message broken in one way the contract forbids, and the reason for it."""
    amount_field = {"store": "deposit", "order": "unit_price", "price": "new_price",
                    "refund": "amount", "withdrawal": "amount"}[template["type"]]
    event = _fresh(template)
    match kind:
        case "not_json":
            return b'{"type": "order", "event_id": ', "not_json"
        case "bad_utf8":
            return b'{"type": "\xff\xfe"}', "bad_utf8"
        case "not_object":
            return b"[1, 2, 3]", "not_object"
        case "missing_field":
            return _raw({k: v for k, v in event.items() if k != "store_id"}), "missing_field"
        case "wrong_type":
            return _raw({**event, amount_field: "a lot"}), "wrong_type"
        case "not_finite":
            return _raw(event).replace(b"}", b', "extra": NaN}'), "not_finite"
        case "bad_amount":
            return _raw({**event, amount_field: -5}), "bad_amount"
        case "absurd_amount":
            return _raw({**event, amount_field: 1e15}), "bad_amount"
        case "unknown_type":
            return _raw({**event, "type": "coupon"}), "unknown_type"
        case "unknown_status":
            order = _fresh(f.order(template["store_id"], parse_ts_s(template["ts"])))
            return _raw({**order, "status": "teleported"}), "unknown_status"
        case "before_epoch":
            return _raw({**event, "ts": "1969-07-20T20:17:00.000Z"}), "bad_ts"
        case "far_future":
            return _raw({**event, "ts": time.time() + 30 * DAY}), "bad_ts"
        case "oversize":
            return _raw({**event, "category": "x" * MAX_EVENT_BYTES}), "oversize"
    raise AssertionError(kind)


MALFORMED = ("not_json", "bad_utf8", "not_object", "missing_field", "wrong_type", "not_finite",
             "bad_amount", "absurd_amount", "unknown_type", "unknown_status", "before_epoch",
             "far_future", "oversize")


def _stream_state(after: int) -> dict[tuple[str, str], float]:
    """Newest event time per (store, event type) among the first ``after`` good events."""
    newest: dict[tuple[str, str], float] = {}
    for event in GOOD[:after]:
        key = (event["store_id"], event["type"])
        newest[key] = max(newest.get(key, 0.0), parse_ts_s(event["ts"]))
    return newest


def _stateful(kind: str, after: int) -> Bad | None:
    """Bad messages that are bad only given what came before: copies, late events, refunds
    for orders never placed. None when the stream so far cannot make one."""
    newest = _stream_state(after)
    if kind == "duplicate":
        original = GOOD[max(0, after - 1)]
        if after == 0:
            return None
        behind = newest[(original["store_id"], original["type"])] - parse_ts_s(original["ts"])
        return Bad(_raw(original), "late" if behind > LATENESS_S else "duplicate", after)
    if kind == "late":
        candidates = [key for key in newest if key[1] in ("order", "withdrawal", "price")]
        if not candidates:
            return None
        store_id, kind_of = candidates[0]
        template = next(e for e in GOOD[:after] if (e["store_id"], e["type"]) == (store_id, kind_of))
        late_ts = newest[(store_id, kind_of)] - 2 * LATENESS_S
        return Bad(_raw(_fresh(template, ts=late_ts)), "late", after)
    if kind == "unknown_order":
        firsts: dict[str, float] = {}
        for event in GOOD[:after]:
            firsts.setdefault(event["store_id"], parse_ts_s(event["ts"]))
        for (store_id, kind_of), newest_ts in newest.items():
            ts = newest_ts - 2 * LATENESS_S
            refunds_ts = newest.get((store_id, "refund"), 0.0)
            if (kind_of == "order" and ts >= firsts[store_id] and ts >= refunds_ts - LATENESS_S
                    and newest_ts - firsts[store_id] < 6 * DAY):
                refund = f.refund(store_id, ts, amount=10, order_id="never-placed")
                return Bad(_raw(refund), "unknown_order", after)
        return None
    raise AssertionError(kind)


@st.composite
def bad_messages(draw: st.DrawFn) -> list[Bad]:
    bads = []
    for _ in range(draw(st.integers(1, 8))):
        after = draw(st.integers(0, len(GOOD)))
        kind = draw(st.sampled_from([*MALFORMED, "duplicate", "late", "unknown_order"]))
        if kind in MALFORMED:
            template = GOOD[min(after, len(GOOD) - 1)]
            raw, reason = malformed(template, kind)
            bads.append(Bad(raw, reason, after))
        elif (bad := _stateful(kind, after)) is not None:
            bads.append(bad)
    return bads


async def run(redis_url: str, messages: list[bytes]) -> tuple[list[str], list[str], int]:
    """Alert ids, dead-letter reasons and events processed of one fresh run."""
    client = redis_asyncio.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    alerts, dead = ListAlertSink(), ListDeadLetterSink()
    engine = Engine.from_settings(SETTINGS, RedisStateStore(client, SETTINGS.windows), alerts,
                                  dead, Metrics.create(CollectorRegistry()), check_topics=False)
    for offset in range(0, len(messages), 50):
        batch = messages[offset:offset + 50]
        await engine.process_batch([(raw, Source("file", 0, offset + i)) for i, raw in enumerate(batch)])
    await client.aclose()
    return [a.alert_id for a in alerts.alerts], [d.reason for d in dead.letters], len(messages)


@pytest.fixture(scope="module")
def good_run(redis_server: EmbeddedRedis) -> tuple[list[str], list[str]]:
    alerts, reasons, _ = asyncio.run(run(redis_server.url, [_raw(event) for event in GOOD]))
    return alerts, reasons


@given(bads=bad_messages())
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_bad_messages_are_refused_with_their_reason_and_change_no_alert(
        bads: list[Bad], redis_server: EmbeddedRedis, good_run: tuple[list[str], list[str]]) -> None:
    good_alerts, _ = good_run
    messages: list[bytes] = []
    by_position = sorted(bads, key=lambda bad: bad.after)
    cursor = 0
    for bad in by_position:
        messages += [_raw(event) for event in GOOD[cursor:bad.after]]
        cursor = max(cursor, bad.after)
        messages.append(bad.raw)
    messages += [_raw(event) for event in GOOD[cursor:]]
    alerts, reasons, _ = asyncio.run(run(redis_server.url, messages))
    assert sorted(reasons) == sorted(bad.reason for bad in bads)
    assert alerts == good_alerts


def test_the_good_stream_alone_raises_alerts_and_refuses_nothing(
        good_run: tuple[list[str], list[str]]) -> None:
    alerts, reasons = good_run
    assert alerts, "the gangs in the good stream should raise alerts"
    assert reasons == []
