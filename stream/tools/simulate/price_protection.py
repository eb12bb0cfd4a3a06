"""Price-protection gangs: shops that sell dear to the gang's own accounts, cut the price, and
let the platform refund the difference (the Shanghai case in the seed reports).

A gang buys expensive SKUs from its shops, cuts their price, claims price protection on every
order, and cashes the shop out before the platform recovers the claims from it; the shop, which
cost a small deposit, is then abandoned. Depth and number of cuts, the span of the purchases,
when and where the money goes, and how old the shop is are all drawn per store (``tactics``).
"""

from __future__ import annotations

from collections.abc import Sequence

from stream.tools.simulate.behaviour import (
    Claimants,
    claim_price_protection,
    honest_fulfilment,
    settle_after_sale,
    shop,
)
from stream.tools.simulate.core import DAY_MS, MINUTE_MS, Order, Parcel, Store
from stream.tools.simulate.tactics import (
    Tactics,
    cash_out,
    cut_prices,
    draw_tactics,
    open_fraud_store,
)
from stream.tools.simulate.world import World, shelf_price_fen

VARIANTS = (
    "shallow_cut",
    "stepped_cut",
    "slow_burst",
    "own_account",
    "partial_payout",
    "split_payout",
    "aged_shop",
    "no_store_event",
)


def run(w: World, store_ids: Sequence[str]) -> dict[str, str]:
    """One gang running ``store_ids`` one after another; returns each store's variant."""
    rng = w.rng
    accounts = [w.ids.buyer() for _ in range(rng.randint(4, 15))]
    shared_cards = [w.ids.bank_account() for _ in range(rng.randint(1, 3))]
    batch = [w.random_parcel() for _ in range(rng.randint(2, 6))]
    claims = Claimants(
        rng.uniform(0.6, 0.95), 0.0, MINUTE_MS, int(rng.uniform(10, 360) * MINUTE_MS)
    )
    campaign_ms = w.start_ms + rng.uniform(0, max(0, w.span_ms - 4 * DAY_MS))
    variants = {}
    for position, store_id in enumerate(store_ids):
        tactics = draw_tactics(rng, VARIANTS)
        opened_ms = w.within(campaign_ms + position * w.delay_ms(0, 48), 4 * DAY_MS)
        store = open_fraud_store(
            w,
            store_id,
            rng.choice(("electronics", "appliances", "luxury")),
            opened_ms,
            tactics,
            rng.choice((800, 1_000, 1_000, 1_000, 1_200, 1_500)),
        )
        _store(
            w,
            store,
            tactics,
            accounts,
            shared_cards,
            batch,
            claims,
            max(opened_ms, store.opened_ms),
        )
        variants[store_id] = tactics.variant
    return variants


def _store(
    w: World,
    store: Store,
    tactics: Tactics,
    accounts: Sequence[str],
    shared_cards: Sequence[str],
    batch: Sequence[Parcel],
    claims: Claimants,
    active_ms: int,
) -> None:
    rng = w.rng
    burst_ms = w.within(active_ms + w.delay_ms(2, 30), DAY_MS)
    orders: list[Order] = []
    if tactics.aged_shop or rng.random() < 0.5:  # camouflage: ordinary sales first
        orders += shop(
            w,
            store,
            w.category_catalog("home", rng.randint(2, 5)),
            rng.uniform(0.5, 4),
            honest_fulfilment(w, store, 24),
            until_ms=burst_ms,
        )
    expensive = w.catalog(
        [shelf_price_fen(rng.uniform(3_000, 20_000)) for _ in range(rng.randint(1, 3))]
    )
    bought = [
        order
        for _ in range(rng.randint(3, 12))
        for order in [
            w.log.place(
                store.store_id,
                rng.choice(accounts),
                rng.choice(expensive),
                burst_ms + w.delay_ms(0, tactics.burst_h),
                rng.choice((1, 1, 1, 2)),
            )
        ]
        if order is not None
    ]
    if not bought:  # the window closed before the gang could buy
        return
    if rng.random() < 0.6:  # a parcel for the record, often empty
        for order in bought:
            parcel = w.random_parcel() if tactics.fresh_tracking else rng.choice(batch)
            shipped_ms = order.placed_ms + w.delay_ms(3, 20)
            delivered_ms = shipped_ms + w.delay_ms(12, 60) if rng.random() < 0.5 else None
            w.log.ship(order, shipped_ms, parcel, delivered_ms)
    last_buy_ms = max(order.placed_ms for order in bought)
    cuts = cut_prices(w, store, expensive, last_buy_ms + w.delay_ms(1, 48), tactics)
    claim_price_protection(w, bought, cuts, claims)
    settle_after_sale(w, orders)
    w.log.settle_withdrawals(store.store_id, cash_out(w, store, last_buy_ms, tactics, shared_cards))
