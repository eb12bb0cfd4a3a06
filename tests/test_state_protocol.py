"""The StateStore protocol, run on every backend: the same tests on the in-memory store and on
Redis (the ``state_store`` and ``make_state_store`` fixtures of conftest.py), then the two side
by side: random fact touches and a simulated marketplace give the same answers on both."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as redis_asyncio

from stream.config import Settings
from stream.core.checks import event_from_dict
from stream.core.facts import KEY_PREFIX, Fact, FactIndex, FactLinks
from stream.core.store_view import StoreView
from stream.core.updates import update_for
from stream.state.memory_state import InMemoryStateStore, MemoryFactIndex
from stream.state.protocol import StateStore
from stream.state.state import RedisStateStore
from stream.tools.embedded import EmbeddedRedis
from stream.tools.replay import replay_in_process
from stream.tools.simulate import simulate, write_events
from tests.helpers import factories as f
from tests.helpers.factories import DAY, HOUR, T0
from tests.helpers.stores import StateStoreFactory
from tests.helpers.tracking import named

WEEK_S = 604800.0


async def apply(store: StateStore, *events: dict[str, Any]) -> list[StoreView]:
    """Apply events as one batch and commit it, as the engine does."""
    updates = [update_for(event_from_dict(e)) for e in events]
    await store.load({u.store_id for u in updates})
    views = await store.link_facts(updates, await store.apply_many(updates))
    await store.commit()
    return views


# --------------------------------------------------------------------------- windows


async def test_sales_fall_in_every_window_that_covers_them(state_store: StateStore) -> None:
    views = await apply(
        state_store, f.order("s1", T0, price=100, qty=2), f.order("s1", T0 + 2 * HOUR, price=50)
    )
    assert views[-1].window(3600.0)["sales_cny"] == 50
    assert views[-1].window(86400.0)["sales_cny"] == 250
    assert views[-1].window(WEEK_S)["orders_placed"] == 2


async def test_events_older_than_a_window_drop_out_of_it(state_store: StateStore) -> None:
    views = await apply(
        state_store, f.order("s1", T0, price=100), f.withdrawal("s1", T0 + 2 * DAY, 10)
    )
    assert views[-1].window(86400.0)["sales_cny"] == 0
    assert views[-1].window(WEEK_S)["sales_cny"] == 100


async def test_a_pipelined_batch_sees_each_earlier_event(state_store: StateStore) -> None:
    views = await apply(state_store, *[f.order("s1", T0 + i, price=1) for i in range(5)])
    assert [v.window(3600.0)["sales_cny"] for v in views] == [1, 2, 3, 4, 5]


async def test_the_profile_is_returned_as_it_was_before_the_event(state_store: StateStore) -> None:
    views = await apply(
        state_store,
        f.store("s1", T0, deposit=1000, bank="b-1"),
        f.withdrawal("s1", T0 + HOUR, 5),
        f.withdrawal("s1", T0 + 2 * HOUR, 5),
    )
    assert views[1].profile["bank_account"] == "b-1"
    assert views[1].profile_float("opened_ts") == T0
    assert "last_withdrawal_ts" not in views[1].profile
    assert views[2].profile_float("last_withdrawal_ts") == T0 + HOUR


async def test_a_later_store_event_changes_the_payout_account_not_the_stores_age(
    state_store: StateStore,
) -> None:
    """A seller who changes bank registers again: the store is still as old as its opening."""
    views = await apply(
        state_store,
        f.store("s1", T0, bank="b-old"),
        f.store("s1", T0 + 90 * DAY, bank="b-new"),
        f.withdrawal("s1", T0 + 91 * DAY, 5, bank="b-new"),
    )
    assert views[2].profile_float("opened_ts") == T0
    assert views[2].profile["bank_account"] == "b-new"


async def test_a_sku_keeps_the_highest_price_it_sold_at(state_store: StateStore) -> None:
    views = await apply(
        state_store,
        f.order("s1", T0, price=10_000, sku="tv"),
        f.order("s1", T0 + 60, price=9_000, qty=2, sku="tv"),
        f.price("s1", T0 + DAY, old=10_000, new=300, sku="tv"),
    )
    sku = views[-1].sku
    assert sku is not None
    assert (sku.highest_unit_price_cny, sku.units, sku.sales_cny) == (10_000, 3, 28_000)
    assert views[-1].window(86400.0)["price_cuts"] == 1


async def test_refunds_are_counted_by_reason(state_store: StateStore) -> None:
    views = await apply(
        state_store,
        f.refund("s1", T0, 70, reason="not_received"),
        f.refund("s1", T0 + 1, 30, reason="price_protection"),
    )
    day = views[-1].window(86400.0)
    assert (day["refund_not_received_cny"], day["refund_price_protection_cny"]) == (70, 30)


async def test_window_sums_equal_a_brute_force_count_under_out_of_order_arrival(
    state_store: StateStore,
) -> None:
    settings = Settings().windows
    rng = random.Random(11)
    clock, events = T0, []
    for _ in range(300):
        clock += rng.expovariate(1 / 900)
        skew = rng.random() * settings.allowed_lateness_s * 0.9 if rng.random() < 0.2 else 0.0
        events.append(f.order("s1", clock - skew, price=float(rng.randint(1, 50))))
    views = await apply(state_store, *events)
    applied: list[tuple[float, float]] = []
    for event, view in zip(events, views, strict=True):
        ts = event_from_dict(event).ts_s
        applied.append((ts, float(event["unit_price"])))
        for length_s in settings.lengths_s:
            bucket_s = length_s / settings.buckets_per_window
            idx = ts // bucket_s
            expected = sum(
                p for t, p in applied if idx - settings.buckets_per_window < t // bucket_s <= idx
            )
            assert abs(view.window(length_s)["sales_cny"] - expected) < 1e-6, (length_s, ts)


# --------------------------------------------------------------------------- refusals


async def test_an_event_beyond_the_allowed_lateness_is_refused_and_changes_nothing(
    make_state_store: StateStoreFactory,
) -> None:
    store = make_state_store(allowed_lateness_s="30m")
    views = await apply(
        store, f.order("s1", T0 + DAY, price=10), f.order("s1", T0 + DAY - 3600, price=5)
    )
    assert views[-1].refusal == "late" and views[-1].max_ts_s == T0 + DAY
    assert list(views[-1].window_sums) == []
    (after,) = await apply(store, f.withdrawal("s1", T0 + DAY + 1, 1))
    assert after.window(WEEK_S)["sales_cny"] == 10


async def test_skew_between_streams_is_not_lateness(make_state_store: StateStoreFactory) -> None:
    store = make_state_store(allowed_lateness_s="30m")
    views = await apply(store, f.withdrawal("s1", T0 + DAY, 10), f.order("s1", T0, price=5))
    assert views[-1].refusal is None
    assert views[-1].window(WEEK_S)["sales_cny"] == 5


async def test_a_copy_is_a_duplicate_in_its_batch_and_after_the_commit(
    state_store: StateStore,
) -> None:
    sale = f.order("s1", T0, price=100)
    first, again = await apply(state_store, sale, sale)
    assert (first.refusal, again.refusal) == (None, "duplicate")
    (later,) = await apply(state_store, sale)
    assert later.refusal == "duplicate"
    (after,) = await apply(state_store, f.order("s1", T0 + 60, price=1))
    assert after.window(3600.0)["sales_cny"] == 101


async def test_a_copy_older_than_the_allowed_lateness_is_refused_as_late(
    make_state_store: StateStoreFactory,
) -> None:
    sale = f.order("s1", T0, price=100)
    *_, again = await apply(
        make_state_store(allowed_lateness_s="30m"), sale, f.order("s1", T0 + HOUR, price=1), sale
    )
    assert again.refusal == "late"


async def test_a_refund_for_an_order_never_placed_is_refused_and_one_that_overtook_counts(
    make_state_store: StateStoreFactory,
) -> None:
    store = make_state_store(allowed_lateness_s="30m")
    *_, unknown = await apply(
        store,
        f.order("s1", T0, price=100, order_id="o-1"),
        f.order("s1", T0 + 2 * HOUR, price=5, order_id="o-2"),
        f.refund("s1", T0 + HOUR, amount=50, order_id="o-9"),
    )
    assert unknown.refusal == "unknown_order"
    refund, order, later = await apply(
        store,
        f.refund("s2", T0 + HOUR, amount=50, order_id="o-1"),
        f.order("s2", T0, price=100, order_id="o-1"),
        f.withdrawal("s2", T0 + 2 * HOUR, 10),
    )
    assert refund.refusal is None and order.refusal is None
    assert later.window(86400.0)["refund_price_protection_cny"] == 50


async def test_a_refused_event_leaves_no_cross_store_fact(state_store: StateStore) -> None:
    views = await apply(
        state_store,
        f.order("s1", T0, price=100, order_id="o-1"),
        f.order("s1", T0 + 4 * HOUR, price=5),
        f.refund("s1", T0 + 3 * HOUR, amount=50, order_id="o-9"),
    )
    assert views[-1].refusal == "unknown_order" and views[-1].links == {}
    (claim,) = await apply(state_store, f.refund("s2", T0 + 5 * HOUR, amount=5))
    assert claim.links["claim"].members == {"s2": ""}  # the same buyer: s1's claim left none


# --------------------------------------------------------------------------- facts and links


async def test_an_account_links_the_stores_paying_out_to_it_with_its_owner(
    state_store: StateStore,
) -> None:
    views = await apply(
        state_store,
        f.store("s1", T0, bank="b-1"),
        f.withdrawal("s2", T0 + 60, 10, bank="b-1"),
        f.withdrawal("s1", T0 + 120, 10, bank="b-1"),
    )
    bank = views[-1].links["bank"]
    assert (bank.kind, bank.value, bank.ring_id) == ("bank", "b-1", None)
    assert bank.members == {"s1": "owner-s1", "s2": ""}  # a withdrawal keeps the known owner
    assert bank.other_stores("s1") == {"s2"}


async def test_a_tracking_number_links_the_buyers_it_was_shipped_to_and_their_stores(
    state_store: StateStore,
) -> None:
    views = await apply(
        state_store,
        f.order("s1", T0, status="shipped", order_id="o-1", buyer="b-1", tracking_no="YT100"),
        f.order("s2", T0 + 60, status="shipped", order_id="o-2", buyer="b-2", tracking_no="YT100"),
        f.order(
            "s1", T0 + DAY, status="delivered", order_id="o-1", buyer="b-1", tracking_no="YT100"
        ),
        # the same buyer's second order merged into the parcel is no new member
        f.order(
            "s1", T0 + DAY + 60, status="shipped", order_id="o-3", buyer="b-1", tracking_no="YT100"
        ),
    )
    assert [named(v.links["trk"].members, "b-1", "b-2") for v in views] == [
        {"b-1": "s1"},
        {"b-1": "s1", "b-2": "s2"},
        {"b-1": "s1", "b-2": "s2"},
        {"b-1": "s1", "b-2": "s2"},
    ]
    assert views[1].links["trk"].other_stores("s2") == {"s1"}


async def test_each_touch_of_a_batch_sees_the_touches_before_it(state_store: StateStore) -> None:
    views = await apply(
        state_store,
        f.withdrawal("s1", T0, 1, bank="b1"),
        f.withdrawal("s2", T0 + 1, 1, bank="b1"),
        f.refund("s3", T0 + 2, 5),
        f.refund("s4", T0 + 3, 5),
    )
    assert [
        set(v.links[k].members)
        for v, k in zip(views, ["bank", "bank", "claim", "claim"], strict=True)
    ] == [{"s1"}, {"s1", "s2"}, {"s3"}, {"s3", "s4"}]


async def test_a_fact_keeps_at_most_its_cap_of_members(
    make_state_store: StateStoreFactory,
) -> None:
    store = make_state_store(fact_cap=3)
    paid = await apply(store, *[f.withdrawal(f"s{i}", T0 + i, 1, bank="b1") for i in range(6)])
    shipped = await apply(
        store,
        *[
            f.order(
                f"s{i}",
                T0 + i,
                status="shipped",
                order_id=f"o{i}",
                buyer=f"b{i}",
                tracking_no="YT100",
            )
            for i in range(6)
        ],
    )
    assert [len(v.links["bank"].members) for v in paid] == [1, 2, 3, 3, 3, 3]
    assert named(shipped[-1].links["trk"].members, "b0", "b1", "b2") == {
        f"b{i}": f"s{i}" for i in range(3)
    }
    # a member already known still takes a new value past the cap
    (opened,) = await apply(store, f.store("s0", T0 + 10, bank="b1"))
    assert opened.links["bank"].members["s0"] == "owner-s0"
    assert set(opened.links["bank"].members) == {"s0", "s1", "s2"}


async def test_a_ring_id_takes_one_of_the_places_of_a_fact_once_tied(
    make_state_store: StateStoreFactory,
) -> None:
    store = make_state_store(fact_cap=3)
    first = await apply(
        store,
        f.withdrawal("s0", T0, 1, bank="b1"),
        f.order("s0", T0, status="shipped", order_id="o0", buyer="b0", tracking_no="YT1"),
    )
    await store.mark_alert(
        "s0", "withdrawal", T0, "ring-s0", [first[0].links["bank"], first[1].links["trk"]]
    )
    await store.commit()
    later = await apply(
        store,
        *[
            e
            for i in range(1, 5)
            for e in (
                f.withdrawal(f"s{i}", T0 + i, 1, bank="b1"),
                f.order(
                    f"s{i}",
                    T0 + i,
                    status="shipped",
                    order_id=f"o{i}",
                    buyer=f"b{i}",
                    tracking_no="YT1",
                ),
            )
        ],
    )
    bank, trk = later[-2].links["bank"], later[-1].links["trk"]
    assert (bank.ring_id, trk.ring_id) == ("ring-s0", "ring-s0")
    assert set(bank.members) == {"s0", "s1"}
    assert named(trk.members, "b0", "b1") == {"b0": "s0", "b1": "s1"}


# --------------------------------------------------------------------------- alert marks and rings


async def test_an_alert_marks_its_store_and_joins_its_ring(state_store: StateStore) -> None:
    views = await apply(
        state_store, f.withdrawal("s1", T0, 1, bank="b1"), f.withdrawal("s2", T0 + 1, 1, bank="b1")
    )
    assert await state_store.mark_alert(
        "s1", "withdrawal", T0, "ring-s1", [views[0].links["bank"]]
    ) == {"s1"}
    marked = state_store.current(views[1], "s2")  # read before the mark: the tie shows
    assert marked.links["bank"].ring_id == "ring-s1"
    assert state_store.current(views[0], "s1").profile["ring_id"] == "ring-s1"
    assert await state_store.mark_alert(
        "s2", "withdrawal", T0 + 1, "ring-s1", [marked.links["bank"]]
    ) == {"s1", "s2"}
    await state_store.commit()
    (after,) = await apply(state_store, f.withdrawal("s1", T0 + HOUR, 1, bank="b2"))
    assert after.profile["alerted:withdrawal"] == repr(T0)
    assert after.profile["ring_id"] == "ring-s1"
    assert after.links["bank"].ring_id is None


async def test_a_view_read_before_an_alert_is_brought_up_to_date_by_current(
    state_store: StateStore,
) -> None:
    updates = [
        update_for(event_from_dict(e))
        for e in (f.withdrawal("s1", T0, 1, bank="b1"), f.withdrawal("s1", T0 + 1, 1, bank="b1"))
    ]
    await state_store.load({"s1"})
    views = await state_store.link_facts(updates, await state_store.apply_many(updates))
    assert state_store.current(views[1], "s1") is views[1]  # nothing written since
    await state_store.mark_alert("s1", "withdrawal", T0, "ring-s1", [views[0].links["bank"]])
    now = state_store.current(views[1], "s1")
    assert (now.profile["ring_id"], now.links["bank"].ring_id) == ("ring-s1", "ring-s1")
    assert "ring_id" not in views[1].profile  # the view itself is never written
    await state_store.commit()


async def test_facts_touched_after_an_alert_are_tied_to_the_ring(state_store: StateStore) -> None:
    (first,) = await apply(state_store, f.withdrawal("s1", T0, 1, bank="b1"))
    await state_store.mark_alert("s1", "withdrawal", T0, "ring-s1", [first.links["bank"]])
    await state_store.commit()
    (later,) = await apply(
        state_store, f.order("s1", T0 + HOUR, status="shipped", order_id="o-1", tracking_no="YT7")
    )
    assert later.links["trk"].ring_id is None
    await state_store.tie_facts("ring-s1", [later.links["trk"]])
    await state_store.commit()
    (other,) = await apply(
        state_store,
        f.order("s9", T0 + DAY, status="shipped", order_id="o-9", buyer="b-9", tracking_no="YT7"),
    )
    assert other.links["trk"].ring_id == "ring-s1"
    assert other.links["trk"].other_stores("s9") == {"s1"}


# --------------------------------------------------------------------------- commit and reload


async def test_a_store_outlives_its_commit_and_a_release(state_store: StateStore) -> None:
    await apply(
        state_store, f.store("s1", T0, deposit=1000), f.order("s1", T0 + 60, price=100, sku="tv")
    )
    state_store.release()  # Redis: read again from what was committed; memory: kept
    (view,) = await apply(state_store, f.order("s1", T0 + 120, price=50, sku="tv"))
    assert view.window(3600.0)["sales_cny"] == 150
    assert view.profile_float("deposit") == 1000
    assert view.sku is not None and view.sku.units == 2


async def test_the_saved_state_is_bounded(make_state_store: StateStoreFactory) -> None:
    store = make_state_store(allowed_lateness_s="30m")
    await apply(store, *(f.order("s1", T0 + i * HOUR, price=1) for i in range(48)))
    saved = await store.saved_state("s1")
    assert saved is not None and len(saved.ids["order"]) == 1
    assert await store.saved_state("s-none") is None
    await apply(store, f.order("s2", T0, order_id="o-1"), f.order("s2", T0 + 8 * DAY))
    established = await store.saved_state("s2")
    assert established is not None and established.orders == {}


async def test_stores_models_and_facts_are_counted_kept_and_dropped(
    state_store: InMemoryStateStore | RedisStateStore,
) -> None:
    await apply(state_store, f.order("s1", T0), f.withdrawal("s2", T0, 5, bank="b1"))
    assert await state_store.tracked_stores() == 2
    await state_store.save_models("app", {"price_cut": b"\x00\x01"})
    assert await state_store.load_models("app") == {"price_cut": b"\x00\x01"}
    assert await state_store.drop_all() > 0
    assert await state_store.tracked_stores() == 0
    (fresh,) = await apply(state_store, f.withdrawal("s3", T0 + 1, 5, bank="b1"))
    assert fresh.links["bank"].members == {"s3": ""}
    assert fresh.window(3600.0)["withdrawn_cny"] == 5


# --------------------------------------------------------------------------- the fact index alone


class Clock:
    def __init__(self, now_s: float = 1_700_000_000.0) -> None:
        self.now_s = now_s

    def __call__(self) -> float:
        return self.now_s


FactIndexFactory = Callable[..., Any]
TTL_S = 30 * 86400


@pytest.fixture
def make_fact_index(state_backend: str, request: pytest.FixtureRequest) -> FactIndexFactory:
    """A fact index of the backend under test on a clock the test moves (for Redis the clock
    is the script's, which dates tracking numbers; keys expire on the server's own)."""
    if state_backend == "memory":
        return lambda clock, cap=32, buckets=16: MemoryFactIndex(
            cap, TTL_S, trk_buckets=buckets, wall_s=clock
        )
    client = request.getfixturevalue("redis_client")
    return lambda clock, cap=32, buckets=16: FactIndex(
        client, KEY_PREFIX, cap, TTL_S, trk_buckets=buckets, wall_s=clock
    )


async def ship(facts: Any, number: str, order: str, store: str) -> FactLinks:
    links: list[FactLinks] = await facts.link([Fact("trk", number, order, store)])
    return links[0]


async def test_a_tracking_number_lives_a_ttl_after_its_last_touch(
    make_fact_index: FactIndexFactory,
) -> None:
    clock = Clock()
    facts = make_fact_index(clock)
    await ship(facts, "YT100", "o1", "s1")
    clock.now_s += TTL_S - DAY
    await ship(facts, "YT100", "o1", "s1")  # delivered
    clock.now_s += TTL_S - DAY
    again = await ship(facts, "YT100", "o2", "s2")
    assert named(again.members, "o1") == {"o1": "s1", "o2": "s2"}
    clock.now_s += TTL_S + HOUR  # the deadline is kept to the hour
    assert (await ship(facts, "YT100", "o3", "s3")).members == {"o3": "s3"}


async def test_a_ring_tie_of_a_tracking_number_is_read_by_its_next_touch(
    make_fact_index: FactIndexFactory,
) -> None:
    clock = Clock()
    facts = make_fact_index(clock)
    link, later = await facts.link(
        [Fact("trk", "YT100", "o1", "s1"), Fact("trk", "YT100", "o2", "s2")],
        [clock.now_s, clock.now_s + 60],
    )
    assert facts.ring_of(later) is None
    await facts.tie("ring-s1", [link])
    assert facts.ring_of(later) == "ring-s1"  # tied by this process, seen before a new read
    assert facts.ring_of(link) is None  # by the event it was tied for: it came after
    clock.now_s += 120
    assert (await ship(facts, "YT100", "o3", "s3")).ring_id == "ring-s1"


async def test_ids_holding_separators_and_framing_come_back_unchanged(
    make_fact_index: FactIndexFactory,
) -> None:
    clock = Clock()
    facts = make_fact_index(clock)
    odd = "".join(map(chr, range(0x1B, 0x20))) + "é~:1:"
    link = await ship(facts, "~" + odd, "o" + odd, "s" + odd)
    await facts.tie("ring" + odd, [link])
    clock.now_s += 1
    again = await ship(facts, "~" + odd, "o2", "s2")
    assert named(again.members, "o" + odd) == {"o" + odd: "s" + odd, "o2": "s2"}
    assert again.ring_id == "ring" + odd
    bank = await facts.link([Fact("bank", "12:", ":3:", "é:1:x"), Fact("bank", "12:", "0:")])
    assert bank[1].members == {":3:": "é:1:x", "0:": ""}


async def test_a_tracking_number_lives_a_ttl_of_event_time_whatever_the_wall_clock(
    make_fact_index: FactIndexFactory,
) -> None:
    """A month replayed in minutes keeps and drops numbers as live traffic would."""
    facts = make_fact_index(Clock())  # the wall clock stands still
    t0 = 1_709_251_200

    async def ship_at(at_s: float, order: str, store: str) -> FactLinks:
        links: list[FactLinks] = await facts.link([Fact("trk", "YT100", order, store)], [at_s])
        return links[0]

    await ship_at(t0, "o1", "s1")
    again = await ship_at(t0 + TTL_S - DAY, "o2", "s2")
    assert named(again.members, "o1") == {"o1": "s1", "o2": "s2"}
    # a ttl after the newest touch (kept to the hour), whoever reads it: gone
    assert (await ship_at(t0 + 2 * TTL_S - DAY + HOUR, "o3", "s3")).members == {"o3": "s3"}


async def test_an_event_does_not_see_a_fact_touched_after_it(
    make_fact_index: FactIndexFactory,
) -> None:
    facts = make_fact_index(Clock())
    t1, t2 = T0, T0 + HOUR
    # store s2 touched first, at t2 (its partition ran ahead); s1's event at t1 comes after
    await facts.link(
        [Fact("bank", "b1", "s2"), Fact("claim", "u1", "s2"), Fact("trk", "YT1", "u2", "s2")],
        [t2, t2, t2],
    )
    early = await facts.link(
        [Fact("bank", "b1", "s1"), Fact("claim", "u1", "s1"), Fact("trk", "YT1", "u1", "s1")],
        [t1, t1, t1],
    )
    assert [link.members for link in early] == [{"s1": ""}, {"s1": ""}, {"u1": "s1"}]
    assert [link.other_stores("s1") for link in early] == [set(), set(), set()]
    late = await facts.link(
        [Fact("bank", "b1", "s3"), Fact("trk", "YT1", "u3", "s3")], [t2 + 1, t2 + 1]
    )
    assert late[0].members == {"s1": "", "s2": "", "s3": ""}
    assert named(late[1].members, "u1", "u2") == {"u1": "s1", "u2": "s2", "u3": "s3"}
    # the same second counts as before: touches within it see each other
    assert (await facts.link([Fact("bank", "b1", "s4")], [t2 + 0.5]))[0].members.keys() == {
        "s1",
        "s2",
        "s4",
    }


async def test_a_members_own_touch_counts_however_late_it_was_first_made(
    make_fact_index: FactIndexFactory,
) -> None:
    facts = make_fact_index(Clock())
    await facts.link([Fact("bank", "b1", "s1", "owner-1"), Fact("trk", "YT1", "u1", "s1")],
                     [T0 + DAY, T0 + DAY])  # fmt: skip
    again = await facts.link([Fact("bank", "b1", "s1"), Fact("trk", "YT1", "u1", "s1")], [T0, T0])
    assert [link.members for link in again] == [{"s1": "owner-1"}, {"u1": "s1"}]
    # and it now dates from its earliest touch
    between = await facts.link(
        [Fact("bank", "b1", "s2"), Fact("trk", "YT1", "u2", "s2")], [T0 + HOUR, T0 + HOUR]
    )
    assert [set(named(link.members, "u1")) for link in between] == [{"s1", "s2"}, {"u1", "u2"}]


async def test_an_event_does_not_see_a_ring_tied_after_it(
    make_fact_index: FactIndexFactory,
) -> None:
    facts = make_fact_index(Clock())
    t1, t2 = T0, T0 + HOUR
    read_at_t2 = await facts.link(
        [Fact("bank", "b1", "s2"), Fact("trk", "YT1", "u2", "s2")], [t2, t2]
    )
    await facts.join_ring("ring-s2", "s2", read_at_t2, t2)  # s2 alerted at t2
    early = await facts.link([Fact("bank", "b1", "s1"), Fact("trk", "YT1", "u1", "s1")], [t1, t1])
    assert [link.ring_id for link in early] == [None, None]
    # nor a tie this process made after reading it: ring_of dates it too
    assert [facts.ring_of(link) for link in early] == [None, None]
    assert await facts.join_ring("ring-s2", "s1", early, t1) == {"s1"}  # s2 joined at t2
    late = await facts.link([Fact("bank", "b1", "s3"), Fact("trk", "YT1", "u3", "s3")], [t2, t2])
    assert [link.ring_id for link in late] == ["ring-s2", "ring-s2"]
    assert await facts.join_ring("ring-s2", "s3", late, t2) == {"s1", "s2", "s3"}


async def test_a_batch_redone_after_a_crash_finds_what_it_found_the_first_time(
    make_fact_index: FactIndexFactory,
) -> None:
    """A worker killed before its commit: the next one redoes the events since, on facts that
    already hold their touches and those of the events after them."""
    facts = make_fact_index(Clock())
    batch = [
        Fact("trk", "YT1", "u1", "s1"),
        Fact("bank", "b1", "s1"),
        Fact("trk", "YT1", "u2", "s2"),
        Fact("claim", "u9", "s2"),
    ]
    times = [T0, T0 + 60, T0 + 120, T0 + 180]
    first = await facts.link(batch, times)
    await facts.tie("ring-s1", first[1:2])  # s1 alerted on its withdrawal, at T0 + 60
    after = await facts.link(
        [Fact("trk", "YT1", "u3", "s3"), Fact("bank", "b1", "s3"), Fact("claim", "u9", "s3")],
        [T0 + DAY] * 3,
    )
    await facts.tie("ring-s3", after[::2])
    redone = await facts.link(batch, times)
    assert redone == first
    assert [facts.ring_of(link) for link in redone] == [facts.ring_of(link) for link in first]


def test_a_memory_fact_is_forgotten_a_ttl_after_its_last_touch() -> None:
    """What Redis does on its own clock, the memory index does on its wall clock."""
    clock = Clock()
    facts = MemoryFactIndex(32, TTL_S, wall_s=clock)
    asyncio.run(facts.link([Fact("bank", "b1", "s1")]))
    clock.now_s += TTL_S - 1
    assert asyncio.run(facts.link([Fact("bank", "b1", "s2")]))[0].members == {"s1": "", "s2": ""}
    clock.now_s += TTL_S + 1
    assert asyncio.run(facts.link([Fact("bank", "b1", "s3")]))[0].members == {"s3": ""}
    clock.now_s += TTL_S + 1
    assert facts.purge() == 1


# --------------------------------------------------------------------------- both, side by side


async def test_random_fact_touches_find_the_same_on_memory_as_on_redis(
    redis_client: redis_asyncio.Redis,
) -> None:
    """Random links, ring joins and ties, with a small cap and few values so facts fill up and
    rings meet, by events out of order and across more than a TTL of event time: every answer
    must be the same on both. The wall clock moves less than a TTL in all: Redis expires keys
    on its own clock, which the test does not move (expiry on both is tested above)."""
    for seed in range(4):
        await redis_client.flushdb()
        clock = Clock()
        start_s = clock.now_s
        cap, ttl_s = 3, 3 * int(DAY)  # a short ttl: numbers expire in event time, often
        on_redis = FactIndex(redis_client, KEY_PREFIX, cap, ttl_s, trk_buckets=4, wall_s=clock)
        in_memory = MemoryFactIndex(cap, ttl_s, trk_buckets=4, wall_s=clock)
        rng = random.Random(seed)
        seen: list[FactLinks] = []
        event_s = clock.now_s

        def at(now_s: float, rng: random.Random = rng) -> float:  # mostly in order, some late
            return now_s - rng.choice([0, 0, 0, 0.5, 30, HOUR, DAY])

        def fact(rng: random.Random = rng) -> Fact:
            kind = rng.choice(["bank", "claim", "trk", "trk"])
            value = rng.choice(["v1", "v2", "v3", "YT100", "YT200"])
            member = rng.choice(["s1", "s2", "s3", "s4", "s5", "o1", "o2", "o3"])
            member_value = rng.choice(["", "", "s1", "s2", "owner-1"])
            return Fact(kind, value, member, member_value)

        for step in range(300):
            roll = rng.random()
            if roll < 0.6:
                batch = [fact() for _ in range(rng.randint(1, 6))]
                times = [at(event_s) for _ in batch]
                found = await in_memory.link(batch, times)
                assert found == await on_redis.link(batch, times), (seed, step, batch)
                seen.extend(found)
            elif roll < 0.8 and seen:
                ring, store = f"ring-{rng.randint(1, 3)}", f"s{rng.randint(1, 5)}"
                links = rng.sample(seen[-20:], min(len(seen[-20:]), rng.randint(0, 3)))
                when = at(event_s)
                assert await in_memory.join_ring(
                    ring, store, links, when
                ) == await on_redis.join_ring(ring, store, links, when), (seed, step)
            elif roll < 0.9 and seen:
                links = rng.sample(seen[-20:], min(len(seen[-20:]), rng.randint(1, 3)))
                ring = f"ring-{rng.randint(1, 3)}"
                await in_memory.tie(ring, links)
                await on_redis.tie(ring, links)
            elif roll < 0.95:
                event_s += rng.choice([1, 60, HOUR, DAY, 2 * DAY, 4 * DAY])
            elif clock.now_s + HOUR < start_s + ttl_s:
                clock.now_s += rng.choice([60, HOUR])
            for link in seen[-10:]:
                assert in_memory.ring_of(link) == on_redis.ring_of(link)


def test_a_simulated_marketplace_raises_the_same_alerts_in_memory_as_on_redis(
    redis_server: EmbeddedRedis, tmp_path: Path
) -> None:
    path = tmp_path / "events.jsonl"
    write_events(path, simulate(stores=80, days=6, seed=5).events)
    settings = Settings()
    on_redis = asyncio.run(replay_in_process(path, settings, redis_server.url))
    in_memory = asyncio.run(replay_in_process(path, settings, None, state_backend="memory"))
    assert len(on_redis.alerts) >= 5, "the marketplace should raise alerts"
    assert (in_memory.events, in_memory.rejected) == (on_redis.events, on_redis.rejected)
    assert [a["alert_id"] for a in in_memory.alerts] == [a["alert_id"] for a in on_redis.alerts]
    varying = {"detected_at", "processed_at", "latency_ms"}  # wall-clock fields, if any
    assert [{k: v for k, v in a.items() if k not in varying} for a in in_memory.alerts] == [
        {k: v for k, v in a.items() if k not in varying} for a in on_redis.alerts
    ]


async def test_the_engine_decides_alike_on_both_stores(state_store: StateStore) -> None:
    """A scheme through the whole engine: its alerts do not depend on where the state lives."""
    from prometheus_client import CollectorRegistry

    from stream.runtime.alerts import ListAlertSink
    from stream.runtime.dead_letters import ListDeadLetterSink, Source
    from stream.runtime.engine import Engine
    from stream.runtime.metrics import Metrics
    from tests.helpers.harness import price_protection_scheme

    sink = ListAlertSink()
    engine = Engine.from_settings(
        Settings(),
        state_store,
        sink,
        ListDeadLetterSink(),
        Metrics.create(CollectorRegistry()),
        check_topics=False,
    )
    events = price_protection_scheme("gang")
    await engine.process_batch([(f.raw(e), Source("t", 0, i)) for i, e in enumerate(events)])
    await engine.commit()
    assert {a.store_id for a in sink.alerts} == {"gang"}


def test_the_memory_store_imports_nothing_from_redis() -> None:
    check = (
        "import sys, stream.state.memory_state; "
        "assert not any(m.startswith('redis') for m in sys.modules), "
        "sorted(m for m in sys.modules if m.startswith('redis'))"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_replay_with_the_state_in_memory_needs_no_redis(tmp_path: Path) -> None:
    from tests.helpers.harness import price_protection_scheme

    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(f.raw(e) for e in price_protection_scheme("cli-gang")) + b"\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "stream.cli",
            "replay",
            "--input",
            str(events),
            "--state",
            "memory",
            "--redis-url",
            "redis://127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["alerts"] > 0 and summary["stores_flagged"] == 1
