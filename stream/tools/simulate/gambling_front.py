"""Gambling fronts: shops whose "sales" are gamblers' top-ups (the CCTV report in the seeds).

Gamblers buy "top-ups" from a ring of front shops; the fronts record a shipment for each (often
from a batch of tracking numbers bought from couriers, shared by the ring) so the platform
releases the money, and the takings are swept to the ring's accounts. Whether the parcels carry
fresh numbers, the hours and amounts of the top-ups, and where and how much money goes out are
drawn per store.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream.tools.simulate.behaviour import (
    NIGHT_HOURS_CUM,
    SHOPPER_HOURS_CUM,
    day_times,
    honest_fulfilment,
    poisson,
    popularity,
    settle_after_sale,
    shop,
)
from stream.tools.simulate.core import DAY_MS, HOUR_MS, MINUTE_MS, Parcel, Payout, Store
from stream.tools.simulate.tactics import Tactics, draw_tactics, open_fraud_store
from stream.tools.simulate.world import COURIERS, World, shelf_price_fen

VARIANTS = (
    "fresh_tracking",
    "own_account",
    "daytime_hours",
    "odd_amounts",
    "partial_payout",
    "split_payout",
    "aged_shop",
    "no_store_event",
)
ROUND_TOP_UPS_FEN = (100_00, 200_00, 500_00, 1_000_00, 2_000_00)


def run(w: World, store_ids: Sequence[str]) -> dict[str, str]:
    """One ring of fronts sharing gamblers, a tracking batch and sweep accounts."""
    rng = w.rng
    gamblers = [w.ids.buyer() for _ in range(rng.randint(15, 80))]
    couriers = rng.sample(list(COURIERS), 2)
    batch = [w.ids.parcel(rng.choice(couriers)) for _ in range(rng.randint(5, 25))]
    sweep_accounts = [w.ids.bank_account() for _ in range(rng.randint(2, 4))]
    variants = {}
    for store_id in store_ids:
        tactics = draw_tactics(rng, VARIANTS)
        opened_ms = w.within(w.start_ms + rng.uniform(0, 0.3) * w.span_ms, DAY_MS)
        store = open_fraud_store(
            w,
            store_id,
            rng.choice(("digital_goods", "gift_cards", "home")),
            opened_ms,
            tactics,
            rng.choice((1_000, 2_000, 5_000)),
        )
        _store(w, store, tactics, gamblers, batch, sweep_accounts)
        variants[store_id] = tactics.variant
    return variants


def _store(
    w: World,
    store: Store,
    tactics: Tactics,
    gamblers: Sequence[str],
    batch: Sequence[Parcel],
    sweep_accounts: Sequence[str],
) -> None:
    rng = w.rng
    active_ms = max(store.opened_ms, w.start_ms)
    if rng.random() < 0.4:  # some fronts join the ring later
        active_ms = w.within(active_ms + rng.uniform(0, 0.4) * w.span_ms, DAY_MS)
    camouflage = []
    if rng.random() < 0.4:  # ordinary daytime sales, properly shipped
        camouflage = shop(
            w,
            store,
            w.category_catalog("home", rng.randint(2, 6)),
            rng.uniform(0.5, 3),
            honest_fulfilment(w, store, 24),
        )
    odd = tactics.variant == "odd_amounts" or rng.random() < 0.25
    prices_fen = (
        [shelf_price_fen(rng.uniform(50, 2_000)) for _ in range(rng.randint(3, 6))]
        if odd
        else list(ROUND_TOP_UPS_FEN)
    )
    top_ups = w.catalog(prices_fen)
    daytime = tactics.variant == "daytime_hours" or rng.random() < 0.2
    hours_cum = SHOPPER_HOURS_CUM if daytime else NIGHT_HOURS_CUM
    loyalty = popularity(len(gamblers))
    orders_per_day = rng.uniform(4, 40)
    delivery_h = (rng.uniform(1, 6), rng.uniform(8, 72))
    for day in range(w.local_day(active_ms), w.local_days):
        count = poisson(rng, orders_per_day * rng.lognormvariate(0, 0.3))
        buyers = rng.choices(gamblers, cum_weights=loyalty, k=count)
        skus = rng.choices(top_ups, k=count)
        for ts_ms, buyer_id, sku in zip(
            day_times(w, day, count, hours_cum), buyers, skus, strict=False
        ):
            if ts_ms <= active_ms:
                continue
            order = w.log.place(store.store_id, buyer_id, sku, ts_ms, rng.choice((1, 1, 1, 2, 5)))
            if order is None:
                continue
            if rng.random() < 0.01:
                w.log.cancel(order, ts_ms + w.delay_ms(0.05, 0.5))
                continue
            parcel = w.random_parcel() if tactics.fresh_tracking else rng.choice(batch)
            shipped_ms = ts_ms + w.delay_ms(0.08, 6)
            w.log.ship(order, shipped_ms, parcel, shipped_ms + w.delay_ms(*sorted(delivery_h)))
    settle_after_sale(w, camouflage)
    w.log.settle_withdrawals(store.store_id, _sweeps(w, store, tactics, active_ms, sweep_accounts))


def _sweeps(
    w: World, store: Store, tactics: Tactics, active_ms: int, sweep_accounts: Sequence[str]
) -> list[Payout]:
    """Sweeps every one to three days at a local hour, in ``payout_parts`` parts each."""
    rng = w.rng
    every_days = rng.choice((1, 1, 1, 2, 3))
    hour = rng.uniform(0, 24)
    if tactics.account == "registered":
        accounts = [store.bank_account]
    elif tactics.account == "shared":
        accounts = list(sweep_accounts)
    else:
        accounts = [w.ids.bank_account() for _ in range(rng.randint(1, 3))]
    payouts = []
    for day in range(w.local_day(active_ms) + 1, w.local_days, every_days):
        ts_ms = w.day0_ms + day * DAY_MS + int(hour * HOUR_MS) + rng.randrange(60 * MINUTE_MS)
        for part in range(tactics.payout_parts):
            share = tactics.payout_share / tactics.payout_parts
            payouts.append(
                Payout(ts_ms, min(1.0, share / max(1e-9, 1 - part * share)), rng.choice(accounts))
            )
            ts_ms += int(min(tactics.payout_gap_h, 6) * HOUR_MS)
    return payouts
