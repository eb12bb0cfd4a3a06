"""The engine over a real Redis: what raises an alert, what does not, and bad input."""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Any

import jsonschema
import pytest
import redis.asyncio as redis_asyncio

from stream.core.alert_schema import alert_json_schema
from stream.runtime.dead_letters import DEAD_LETTER_LINES_PER_MINUTE, LogBudget, Source
from stream.state.protocol import StateStore
from stream.state.state import RedisStateStore
from tests.helpers import factories as f
from tests.helpers.factories import DAY, HOUR, T0
from tests.helpers.harness import Harness, price_protection_scheme


async def test_a_new_store_cutting_a_sold_sku_to_a_few_percent_raises_a_price_cut_alert(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    await h.feed(*price_protection_scheme("gang-1"))
    alert = next(a for a in h.alerts.alerts if a.detector == "price_cut")
    assert alert.store_id == "gang-1"
    assert alert.features["cut_vs_sold_ratio"] == 0.97
    assert any("97% below" in reason for reason in alert.reasons)
    assert alert.extra["action"] == "suspend_price_protection"


async def test_cashing_out_a_new_store_right_after_its_sales_raises_a_withdrawal_alert(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    await h.feed(*price_protection_scheme("gang-1"))
    alert = next(a for a in h.alerts.alerts if a.detector == "withdrawal")
    assert alert.features["withdrawn_share"] >= 0.99
    assert alert.extra["action"] == "hold_payout"


async def test_an_established_store_clearing_stock_raises_no_alert(state_store: StateStore) -> None:
    h = Harness(state_store)
    opened = T0 - 400 * DAY
    await h.feed(
        f.store("old", opened, deposit=50_000),
        f.order("old", T0, price=200, qty=5, sku="coat"),
        f.price("old", T0 + DAY, old=200, new=40, sku="coat"),
        f.withdrawal("old", T0 + 2 * DAY, amount=900),
    )
    assert h.detectors() == []


async def test_a_price_rise_is_not_a_price_cut(state_store: StateStore) -> None:
    h = Harness(state_store)
    await h.feed(
        f.store("s", T0),
        f.order("s", T0 + 1, price=100, sku="x"),
        f.price("s", T0 + 2, old=100, new=1000, sku="x"),
    )
    assert "price_cut" not in h.detectors()


async def test_a_cut_on_a_sku_that_never_sold_raises_no_price_cut_alert(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    await h.feed(f.store("s", T0), f.price("s", T0 + DAY, old=10_000, new=300, sku="never-sold"))
    assert h.detectors() == []


async def test_payouts_rotating_across_unregistered_accounts_are_flagged(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    await h.feed(
        f.store("ghost", T0, bank="bank-own"),
        f.order("ghost", T0 + HOUR, price=20_000, qty=1),
        f.withdrawal("ghost", T0 + 2 * HOUR, amount=9_000, bank="card-1"),
        f.withdrawal("ghost", T0 + 3 * HOUR, amount=9_000, bank="card-2"),
    )
    alert = next(a for a in h.alerts.alerts if a.detector == "withdrawal")
    assert alert.features["first_use_account"] == 1.0
    assert alert.features["unregistered_accounts_used"] == 2.0
    assert any("card-2" in reason for reason in alert.reasons)


async def test_every_alert_matches_the_published_alert_schema(state_store: StateStore) -> None:
    h = Harness(state_store)
    await h.feed(*price_protection_scheme("gang-1"))
    assert h.alerts.alerts
    for alert in h.alerts.alerts:
        jsonschema.Draft202012Validator(alert_json_schema()).validate(alert.to_dict())


async def test_re_processing_an_event_yields_the_same_alert_id(
    redis_client: redis_asyncio.Redis,
) -> None:
    first = Harness(redis_client)
    events = price_protection_scheme("gang-1")
    await first.feed(*events)
    await redis_client.flushdb()
    again = Harness(redis_client)
    await again.feed(*events)
    assert [a.alert_id for a in first.alerts.alerts] == [a.alert_id for a in again.alerts.alerts]


async def test_a_bad_message_is_dead_lettered_counted_and_the_next_event_processed(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    scheme = price_protection_scheme("gang-1")
    await h.feed(*scheme[:2], b"\xff\xfe garbage", *scheme[2:], topic="orders-file")
    assert [letter.reason for letter in h.dead.letters] == ["bad_utf8"]
    letter = h.dead.letters[0]
    assert (letter.source.topic, letter.source.offset, letter.raw) == (
        "orders-file",
        2,
        b"\xff\xfe garbage",
    )
    assert (
        h.registry.get_sample_value(
            "storewatch_events_rejected_total", {"reason": "bad_utf8", "topic": "orders-file"}
        )
        == 1
    )
    assert "price_cut" in h.detectors()


async def test_an_event_on_the_wrong_topic_is_dead_lettered(state_store: StateStore) -> None:
    h = Harness(state_store)
    await h.feed(f.withdrawal("s", T0, 5.0), topic="orders")
    assert [letter.reason for letter in h.dead.letters] == ["wrong_topic"]


async def test_a_late_event_is_dead_lettered_as_late(state_store: StateStore) -> None:
    h = Harness(state_store)
    await h.feed(f.order("s", T0 + DAY), f.order("s", T0))
    assert [letter.reason for letter in h.dead.letters] == ["late"]
    assert "allowed lateness" in h.dead.letters[0].error


async def test_alerts_are_counted_by_detector_and_severity(state_store: StateStore) -> None:
    h = Harness(state_store)
    await h.feed(*price_protection_scheme("gang-1"))
    raised = Counter((a.detector, a.severity) for a in h.alerts.alerts)
    assert {"price_cut", "withdrawal"} <= {detector for detector, _ in raised}
    for (detector, severity), alerts in raised.items():
        assert (
            h.registry.get_sample_value(
                "storewatch_alerts_total", {"detector": detector, "severity": severity}
            )
            == alerts
        )


async def test_a_young_store_cashing_out_orders_it_never_shipped_is_flagged(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    orders = [f.order("ghost", T0 + i * HOUR, price=3000) for i in range(1, 6)]
    await h.feed(
        f.store("ghost", T0, bank="bank-ghost"),
        *orders,
        f.withdrawal("ghost", T0 + 2 * DAY, amount=14_500, bank="bank-ghost"),
    )
    alert = next(a for a in h.alerts.alerts if a.detector == "withdrawal")
    assert alert.features["unshipped_share"] == 1.0
    assert any("never shipped" in reason for reason in alert.reasons)


async def test_a_young_store_cashing_out_orders_it_shipped_is_not_flagged(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    events: list[dict[str, Any]] = [f.store("honest", T0, bank="bank-honest")]
    for i in range(1, 6):
        events.append(
            f.order("honest", T0 + i * HOUR, price=300, order_id=f"o{i}", buyer=f"buyer-{i}")
        )
        events.append(
            f.order(
                "honest",
                T0 + i * HOUR + 4 * HOUR,
                price=300,
                order_id=f"o{i}",
                buyer=f"buyer-{i}",
                status="shipped",
            )
        )
    events.sort(key=lambda e: e["ts"])
    await h.feed(*events, f.withdrawal("honest", T0 + 2 * DAY, amount=1_450, bank="bank-honest"))
    assert h.detectors() == []


async def test_an_event_far_ahead_of_the_wall_clock_is_dead_lettered(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    await h.feed(f.order("s1", time.time() + 3 * DAY))
    assert [letter.reason for letter in h.dead.letters] == ["bad_ts"]
    assert "ahead of the wall clock" in h.dead.letters[0].error


async def test_events_redelivered_after_a_crash_are_counted_as_redeliveries_not_dead_lettered(
    state_store: StateStore,
) -> None:
    """A worker decided and saved a stream, then died before Kafka committed its offsets: the
    worker taking over gets the same records (same partition, same offsets) again."""
    scheme = price_protection_scheme("gang-1")
    first = Harness(state_store)
    await first.feed(*scheme)
    assert first.alerts.alerts
    restarted = Harness(state_store)
    await restarted.feed(*scheme)
    assert not restarted.dead.letters
    assert not restarted.alerts.alerts, "their alerts were published the first time"
    assert restarted.registry.get_sample_value(
        "storewatch_events_redelivered_total", {"topic": "file"}
    ) == len(scheme)


async def test_an_event_published_twice_is_dead_lettered_as_a_duplicate_and_raises_nothing_new(
    state_store: StateStore,
) -> None:
    h = Harness(state_store)
    scheme = price_protection_scheme("gang-1")
    await h.feed(*scheme)
    first = [alert.alert_id for alert in h.alerts.alerts]
    await h.feed(*scheme, first_offset=len(scheme))  # a producer sent them again
    assert [alert.alert_id for alert in h.alerts.alerts] == first
    assert {letter.reason for letter in h.dead.letters} == {"duplicate"}
    assert len(h.dead.letters) == len(scheme)
    assert not h.registry.get_sample_value("storewatch_events_redelivered_total", {"topic": "file"})


async def test_an_event_at_an_offset_already_decided_but_new_to_its_store_is_applied(
    state_store: StateStore,
) -> None:
    """A topic deleted and created again numbers its records from 0 anew: the saved decided
    offset only ever turns a refusal into a redelivery, it never skips an event."""
    h = Harness(state_store)
    await h.feed(*price_protection_scheme("gang-1"))
    recreated = Harness(state_store)
    await recreated.feed(*price_protection_scheme("gang-2"))
    assert {a.store_id for a in recreated.alerts.alerts} == {"gang-2"}
    assert not recreated.dead.letters


async def test_a_batch_cut_off_before_its_commit_is_decided_again_with_the_same_alert_id(
    redis_client: redis_asyncio.Redis,
) -> None:
    scheme = price_protection_scheme("gang-1")
    undisturbed = Harness(redis_client)
    await undisturbed.feed(*scheme)
    await redis_client.flushdb()
    crashed = Harness(redis_client)
    await crashed.feed(*scheme[:2])  # decided and committed
    # the rest is decided and its alerts published, then the worker dies before its commit
    published = await crashed.engine.process_batch(
        [(f.raw(event), Source("file", 0, offset)) for offset, event in enumerate(scheme[2:], 2)]
    )
    assert published, "the cut-off batch should have raised its alerts before the crash"
    h = Harness(redis_client)  # the worker that takes over reads the committed state
    await h.feed(*scheme[2:], first_offset=2)
    taken_over = [a.alert_id for a in h.alerts.alerts]
    assert taken_over == [a.alert_id for a in published]
    assert taken_over == [a.alert_id for a in undisturbed.alerts.alerts]
    assert not h.dead.letters


async def test_a_batch_redone_after_a_crash_does_not_see_what_its_later_events_touched(
    redis_client: redis_asyncio.Redis,
) -> None:
    """Cross-store facts are written when a batch is decided, before its commit: redone, an
    event must not find a later store's use of its tracking number, nor the ring that store
    tied the number to, which it never saw live."""
    ring = price_protection_scheme("gang-1")  # alerted: its ring id is in its profile
    later = T0 + 3 * DAY
    cut_off = [
        f.order("honest", later, status="shipped", buyer="b-1", tracking_no="YT-SHARED"),
        f.order("gang-1", later + HOUR, status="shipped", buyer="b-2", tracking_no="YT-SHARED"),
    ]
    crashed = Harness(redis_client)
    await crashed.feed(*ring)  # decided and committed
    # the cut-off batch is decided (gang-1 ties the number to its ring), then the worker dies
    published = await crashed.engine.process_batch(
        [(f.raw(event), Source("file", 0, offset)) for offset, event in enumerate(cut_off, 5)]
    )
    h = Harness(redis_client)
    await h.feed(*cut_off, first_offset=5)
    assert [a.alert_id for a in h.alerts.alerts] == [a.alert_id for a in published]
    assert "honest" not in {a.store_id for a in h.alerts.alerts}


async def test_a_restarted_engine_resumes_its_models_from_the_saved_snapshots(
    redis_client: redis_asyncio.Redis,
) -> None:
    h = Harness(redis_client)
    await h.feed(*price_protection_scheme("gang-1"), *price_protection_scheme("gang-2"))
    state = RedisStateStore(redis_client, h.settings.windows)
    await state.save_models("storewatch", h.engine.model_snapshots())
    restarted = Harness(redis_client)
    restored = restarted.engine.restore_models(await state.load_models("storewatch"))
    assert set(restored) == {"price_cut", "withdrawal", "claims", "tracking_reuse"}
    assert [d.model.seen for d in restarted.engine.detectors if d.model] == [
        d.model.seen for d in h.engine.detectors if d.model
    ]


async def test_a_copy_within_one_batch_is_a_duplicate(state_store: StateStore) -> None:
    h = Harness(state_store)
    cut = f.raw(f.price("s1", T0, old=100, new=10))
    await h.engine.process_batch([(cut, Source("file", 0, 0)), (cut, Source("file", 0, 1))])
    assert [letter.reason for letter in h.dead.letters] == ["duplicate"]


async def test_a_stream_of_bad_messages_logs_a_few_examples_not_a_line_each(
    state_store: StateStore, caplog: pytest.LogCaptureFixture
) -> None:
    h = Harness(state_store)
    with caplog.at_level(logging.WARNING, logger="stream.engine"):
        await h.feed(*[b"not json %d" % i for i in range(500)])
    lines = [r for r in caplog.records if r.getMessage().startswith("dead-lettered")]
    assert len(h.dead.letters) == 500  # every one is still dead-lettered and counted
    assert 1 <= len(lines) <= DEAD_LETTER_LINES_PER_MINUTE + 1  # + a summary if a minute turned


def test_the_log_budget_counts_what_it_held_back_when_the_minute_turns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    budget = LogBudget(2, lambda: now[0])
    assert [budget.allow("bad_json") for _ in range(5)] == [True, True, False, False, False]
    now[0] = 61.0
    with caplog.at_level(logging.WARNING, logger="stream.engine"):
        assert budget.allow("bad_json")
    assert "dead-lettered 3 bad_json more without a log line" in caplog.text
