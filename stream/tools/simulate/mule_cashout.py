"""Mule cash-outs: quiet, long-lived shops that suddenly take a few large orders from a handful
of accounts and pay the money out (dirty money moved through a shop as a sale).

The shop is old and nearly idle; the burst comes from one to three buyers, over an hour or
several days, and the money leaves soon after, in one part or several, to the shop's own
account, a new one, or a card seasoned with a small payout days before.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream.tools.simulate.behaviour import (
    honest_category,
    honest_fulfilment,
    settle_after_sale,
    shop,
)
from stream.tools.simulate.core import DAY_MS, HOUR_MS, Payout
from stream.tools.simulate.tactics import cash_out, draw_tactics, open_fraud_store, spread
from stream.tools.simulate.world import World, shelf_price_fen

VARIANTS = (
    "own_account",
    "slow_burst",
    "partial_payout",
    "split_payout",
    "slow_cashout",
    "shipped_goods",
    "seasoned_card",
    "no_store_event",
)


def run(w: World, store_ids: Sequence[str]) -> dict[str, str]:
    """Independent mules; returns each store's variant."""
    return {store_id: _store(w, store_id) for store_id in store_ids}


def _store(w: World, store_id: str) -> str:
    rng = w.rng
    tactics = draw_tactics(rng, VARIANTS)
    tactics.aged_shop = True  # a mule is an old shop by definition
    if tactics.variant == "seasoned_card" and tactics.account == "registered":
        tactics.account = "new"
    category = honest_category(rng)
    store = open_fraud_store(
        w, store_id, category, w.start_ms, tactics, rng.choice((1_000, 2_000, 5_000))
    )
    burst_ms = w.within(w.start_ms + rng.uniform(0.25, 1.0) * w.span_ms, 18 * HOUR_MS)
    seasoned = tactics.variant == "seasoned_card"
    everyday = shop(
        w,
        store,
        w.category_catalog(category, rng.randint(1, 4)),
        rng.uniform(0.3, 1.0) if seasoned else rng.uniform(0.01, 0.1),
        honest_fulfilment(w, store, 48),
        until_ms=burst_ms,
    )
    accounts = [w.ids.buyer() for _ in range(rng.randint(1, 3))]
    big_items = w.catalog(
        [shelf_price_fen(rng.uniform(2_000, 30_000)) for _ in range(rng.randint(1, 3))]
    )
    ships = tactics.variant == "shipped_goods" or rng.random() < 0.4
    last_ms = burst_ms
    for ts_ms in spread(w, burst_ms, rng.randint(2, 6), tactics.burst_h):
        order = w.log.place(store_id, rng.choice(accounts), rng.choice(big_items), ts_ms)
        if order is None:
            continue
        last_ms = max(last_ms, order.placed_ms)
        if ships:
            shipped_ms = order.placed_ms + w.delay_ms(1, 24)
            w.log.ship(order, shipped_ms, w.random_parcel(), shipped_ms + w.delay_ms(3, 48))
    settle_after_sale(w, everyday)
    payouts = cash_out(w, store, last_ms, tactics, [])
    if seasoned:  # the card is first used for a small, ordinary payout days before the burst
        payouts.append(
            Payout(burst_ms - int(rng.uniform(2, 8) * DAY_MS), 1.0, payouts[0].bank_account)
        )
    w.log.settle_withdrawals(store_id, payouts)
    return tactics.variant
