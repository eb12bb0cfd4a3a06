"""Detection over a real Redis: which schemes alert, which honest habits do not, episodes, rings.

Each test is one behaviour, stated by its name; the models are cold in these short streams, so
what alerts here is the strong form of each rule (weak evidence waits for a warm model).
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis_asyncio

from stream.config import DetectorSettings, Settings
from tests import factories as f
from tests.factories import DAY, HOUR, T0
from tests.test_engine import Harness, price_protection_scheme


def family_store(store_id: str, ts_s: float, bank: str) -> dict[str, Any]:
    return {**f.store(store_id, ts_s, bank=bank), "owner_id": "owner-family"}


async def test_a_payout_to_an_account_another_owner_s_store_paid_out_to_is_flagged(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(f.store("a", T0, bank="bank-a"), f.store("b", T0, bank="bank-b"),
                 f.order("a", T0 + HOUR, price=500), f.order("b", T0 + HOUR, price=500),
                 f.withdrawal("a", T0 + 10 * DAY, 400, bank="card-9"),
                 f.withdrawal("b", T0 + 10 * DAY + HOUR, 400, bank="card-9"))
    alert = next(a for a in h.alerts.alerts if a.store_id == "b")
    assert alert.detector == "withdrawal" and alert.extra["action"] == "hold_payout"
    assert any("1 other store(s) of other owners also paid out to card-9" in r for r in alert.reasons)


async def test_a_family_business_paying_out_to_its_shared_registered_account_is_not_flagged(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(family_store("a", T0 - 90 * DAY, "bank-fam"), family_store("b", T0 - 90 * DAY, "bank-fam"),
                 f.order("a", T0, price=500), f.order("b", T0, price=500),
                 f.withdrawal("a", T0 + DAY, 450, bank="bank-fam"),
                 f.withdrawal("b", T0 + DAY, 450, bank="bank-fam"))
    assert h.detectors() == []


async def test_an_established_seller_moving_to_a_new_bank_account_is_not_flagged(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    sales = [f.order("old", T0 + day * DAY, price=200) for day in range(8)]
    await h.feed(f.store("old", T0 - 200 * DAY, bank="bank-old"), *sales,
                 f.withdrawal("old", T0 + 8 * DAY, 1_500, bank="bank-new"),
                 f.withdrawal("old", T0 + 9 * DAY, 150, bank="bank-new"))
    assert h.detectors() == []


async def test_a_dormant_store_paying_out_a_sudden_burst_to_a_new_account_is_flagged(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    burst = [f.order("mule", T0 + 20 * DAY + i * HOUR, price=15_000, buyer="b-1") for i in range(3)]
    await h.feed(f.store("mule", T0 - 300 * DAY, bank="bank-own"), *burst,
                 f.withdrawal("mule", T0 + 20 * DAY + 6 * HOUR, 44_000, bank="bank-never"))
    alert = next(a for a in h.alerts.alerts if a.detector == "withdrawal")
    assert alert.features["first_use_account"] == 1.0
    assert any("was quiet" in reason for reason in alert.reasons)


async def test_a_tracking_number_reused_across_orders_is_flagged(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    events = []
    for i in range(3):
        events += [f.order("front", T0 + i * HOUR, price=100, order_id=f"o{i}"),
                   f.order("front", T0 + i * HOUR + 600, price=100, order_id=f"o{i}",
                           status="shipped", tracking_no="YT-BATCH-1")]
    await h.feed(f.store("front", T0 - DAY, bank="bank-f"), *events)
    alert = next(a for a in h.alerts.alerts if a.detector == "tracking_reuse")
    assert alert.features["tracking_other_orders"] == 2.0
    assert alert.extra["action"] == "hold_payout"


async def test_a_store_gets_one_alert_per_detector_per_episode(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(*price_protection_scheme("gang-1"),
                 f.price("gang-1", T0 + DAY + 3 * HOUR, old=300, new=100, sku="tv"))
    assert h.detectors().count("price_cut") == 1


async def test_an_episode_survives_a_restart(redis_client: redis_asyncio.Redis) -> None:
    first = Harness(redis_client)
    await first.feed(*price_protection_scheme("gang-1"))
    restarted = Harness(redis_client)
    await restarted.feed(f.price("gang-1", T0 + DAY + 3 * HOUR, old=300, new=100, sku="tv"))
    assert restarted.detectors() == []


async def test_a_new_episode_opens_after_the_episode_length(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(*price_protection_scheme("gang-1"),
                 f.order("gang-1", T0 + 8 * DAY, price=9_000, sku="tv"),
                 f.price("gang-1", T0 + 8 * DAY + HOUR, old=9_000, new=100, sku="tv"))
    assert h.detectors().count("price_cut") == 2


async def test_linked_stores_share_a_ring_id_and_name_each_other(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(*price_protection_scheme("gang-1"),
                 f.store("gang-2", T0 + 2 * DAY, bank="bank-gang-2"),
                 f.order("gang-2", T0 + 2 * DAY + HOUR, price=8_000),
                 f.withdrawal("gang-2", T0 + 2 * DAY + 2 * HOUR, 7_900, bank="bank-gang-1"))
    first = next(a for a in h.alerts.alerts if a.store_id == "gang-1")
    second = next(a for a in h.alerts.alerts if a.store_id == "gang-2")
    assert second.extra["ring_id"] == first.extra["ring_id"]
    assert "gang-1" in second.extra["linked_stores"]


async def test_a_new_member_of_a_known_ring_is_flagged_at_its_first_act(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    # gang-1 is alerted at its cut; its claimant (buyer-1) then claims at gang-2, which has
    # done nothing else suspicious yet
    await h.feed(*price_protection_scheme("gang-1"),
                 f.store("gang-2", T0 + 2 * DAY, bank="bank-gang-2"),
                 f.order("gang-2", T0 + 2 * DAY + HOUR, price=8_000),
                 f.refund("gang-2", T0 + 2 * DAY + 3 * HOUR, amount=100))
    alert = next(a for a in h.alerts.alerts if a.store_id == "gang-2")
    assert alert.detector == "ring_member"
    assert alert.extra["action"] == "suspend_price_protection"
    assert alert.extra["ring_id"] == h.alerts.alerts[0].extra["ring_id"]


def brand_new_store_paying_out_elsewhere(store_id: str) -> list[dict[str, Any]]:
    """Weak evidence: a store a few hours old pays all of three sales to another account."""
    return [f.store(store_id, T0, bank="bank-own"),
            *[f.order(store_id, T0 + i * HOUR, price=2_000) for i in range(1, 4)],
            f.withdrawal(store_id, T0 + 5 * HOUR, 5_900, bank="card-1")]


async def test_weak_evidence_waits_for_the_model(redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client)
    await h.feed(*brand_new_store_paying_out_elsewhere("new"))
    assert h.detectors() == []


async def test_without_models_weak_evidence_alerts_on_its_own(
        redis_client: redis_asyncio.Redis) -> None:
    h = Harness(redis_client, Settings(detectors=DetectorSettings(use_models=False)))
    await h.feed(*brand_new_store_paying_out_elsewhere("new"))
    alert = next(a for a in h.alerts.alerts if a.detector == "withdrawal")
    assert alert.severity == "medium"
    assert any("not consulted" in reason for reason in alert.reasons)
