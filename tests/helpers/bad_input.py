"""Builders of bad messages of every kind the contract refuses, placed among good events.

Shared by the property tests of the core and of the worker (tests/test_bad_input_property.py)
and the worker's dead-letter test (tests/test_kafka_path.py).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from stream.config import Settings
from stream.core.checks import parse_ts_s
from stream.core.contract import MAX_EVENT_BYTES
from tests.helpers import factories as f
from tests.helpers.factories import DAY

LATENESS_S = Settings().windows.allowed_lateness_s


@dataclass(frozen=True)
class Bad:
    """A bad message, where it goes in the stream, and the reason it must be refused for."""

    raw: bytes
    reason: str
    after: int  # inserted after this many good events


def raw_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()


def _fresh(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**event, "event_id": f"bad-{time.monotonic_ns()}", **changes}


def malformed(template: dict[str, Any], kind: str) -> tuple[bytes, str]:
    """A message broken in one way the contract forbids, and the reason for it."""
    amount_field = {
        "store": "deposit",
        "order": "unit_price",
        "price": "new_price",
        "refund": "amount",
        "withdrawal": "amount",
    }[template["type"]]
    event = _fresh(template)
    match kind:
        case "not_json":  # each names its event id, so a run can find its own
            return f'{{"event_id": "{event["event_id"]}", "type": '.encode(), "not_json"
        case "bad_utf8":
            return (
                f'{{"event_id": "{event["event_id"]}", "type": "'.encode() + b'\xff"}',
                "bad_utf8",
            )
        case "not_object":
            return f'["{event["event_id"]}", 2, 3]'.encode(), "not_object"
        case "missing_field":
            return raw_of({k: v for k, v in event.items() if k != "store_id"}), "missing_field"
        case "wrong_type":
            return raw_of({**event, amount_field: "a lot"}), "wrong_type"
        case "not_finite":
            return raw_of(event).replace(b"}", b', "extra": NaN}'), "not_finite"
        case "bad_amount":
            return raw_of({**event, amount_field: -5}), "bad_amount"
        case "absurd_amount":
            return raw_of({**event, amount_field: 1e15}), "bad_amount"
        case "unknown_type":
            return raw_of({**event, "type": "coupon"}), "unknown_type"
        case "unknown_status":
            order = _fresh(f.order(template["store_id"], parse_ts_s(template["ts"])))
            return raw_of({**order, "status": "teleported"}), "unknown_status"
        case "before_epoch":
            return raw_of({**event, "ts": "1969-07-20T20:17:00.000Z"}), "bad_ts"
        case "far_future":
            return raw_of({**event, "ts": time.time() + 30 * DAY}), "bad_ts"
        case "oversize":
            return raw_of({**event, "category": "x" * MAX_EVENT_BYTES}), "oversize"
    raise AssertionError(kind)


MALFORMED = (
    "not_json",
    "bad_utf8",
    "not_object",
    "missing_field",
    "wrong_type",
    "not_finite",
    "bad_amount",
    "absurd_amount",
    "unknown_type",
    "unknown_status",
    "before_epoch",
    "far_future",
    "oversize",
)


def _stream_state(good: list[dict[str, Any]], after: int) -> dict[tuple[str, str], float]:
    """Newest event time per (store, event type) among the first ``after`` good events."""
    newest: dict[tuple[str, str], float] = {}
    for event in good[:after]:
        key = (event["store_id"], event["type"])
        newest[key] = max(newest.get(key, 0.0), parse_ts_s(event["ts"]))
    return newest


def _stateful(good: list[dict[str, Any]], kind: str, after: int) -> Bad | None:
    """Bad messages that are bad only given what came before: copies, late events, refunds
    for orders never placed. None when the stream so far cannot make one."""
    newest = _stream_state(good, after)
    if kind == "duplicate":
        original = good[max(0, after - 1)]
        if after == 0:
            return None
        behind = newest[(original["store_id"], original["type"])] - parse_ts_s(original["ts"])
        return Bad(raw_of(original), "late" if behind > LATENESS_S else "duplicate", after)
    if kind == "late":
        candidates = [key for key in newest if key[1] in ("order", "withdrawal", "price")]
        if not candidates:
            return None
        store_id, kind_of = candidates[0]
        template = next(
            e for e in good[:after] if (e["store_id"], e["type"]) == (store_id, kind_of)
        )
        late_ts = newest[(store_id, kind_of)] - 2 * LATENESS_S
        return Bad(raw_of(_fresh(template, ts=late_ts)), "late", after)
    if kind == "unknown_order":
        firsts: dict[str, float] = {}
        for event in good[:after]:
            firsts.setdefault(event["store_id"], parse_ts_s(event["ts"]))
        for (store_id, kind_of), newest_ts in newest.items():
            ts = newest_ts - 2 * LATENESS_S
            refunds_ts = newest.get((store_id, "refund"), 0.0)
            if (
                kind_of == "order"
                and ts >= firsts[store_id]
                and ts >= refunds_ts - LATENESS_S
                and newest_ts - firsts[store_id] < 6 * DAY
            ):
                refund = _fresh(f.refund(store_id, ts, amount=10, order_id="never-placed"))
                return Bad(raw_of(refund), "unknown_order", after)
        return None
    raise AssertionError(kind)


@st.composite
def bad_messages(draw: st.DrawFn, good: list[dict[str, Any]]) -> list[Bad]:
    """Up to 8 bad messages of any kind, each with where it goes among the good events."""
    bads = []
    for _ in range(draw(st.integers(1, 8))):
        after = draw(st.integers(0, len(good)))
        kind = draw(st.sampled_from([*MALFORMED, "duplicate", "late", "unknown_order"]))
        if kind in MALFORMED:
            template = good[min(after, len(good) - 1)]
            raw, reason = malformed(template, kind)
            bads.append(Bad(raw, reason, after))
        elif (bad := _stateful(good, kind, after)) is not None:
            bads.append(bad)
    return bads


def interleaved(good: list[dict[str, Any]], bads: list[Bad]) -> list[bytes]:
    """The good events with every bad message in its place."""
    messages: list[bytes] = []
    cursor = 0
    for bad in sorted(bads, key=lambda bad: bad.after):
        messages += [raw_of(event) for event in good[cursor : bad.after]]
        cursor = max(cursor, bad.after)
        messages.append(bad.raw)
    return messages + [raw_of(event) for event in good[cursor:]]
