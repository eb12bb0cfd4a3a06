"""Ghost suppliers: shops under fake identities selling goods that never arrive (the Putian
ring in the seed reports), cashed out to the ring's cards before the refunds come in.

A ring opens shops one after another; each ships its first few orders to build a reputation,
then takes orders it never fulfils (now and then with a tracking number for the record) and pays
its balance out while buyers wait. How long the reputation phase lasts, whether parcels carry
numbers, how much goes out and where, and how old the shop is are drawn per store.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from stream.tools.simulate.behaviour import (
    Basket,
    fulfil_honestly,
    settle_after_sale,
    shop,
)
from stream.tools.simulate.core import DAY_MS, HOUR_MS, AfterSale, Parcel, Payout, Store
from stream.tools.simulate.tactics import Tactics, draw_tactics, open_fraud_store
from stream.tools.simulate.world import World

VARIANTS = (
    "fake_tracking",
    "long_reputation",
    "own_account",
    "shared_account",
    "partial_payout",
    "slow_cashout",
    "aged_shop",
    "no_store_event",
)


def run(w: World, store_ids: Sequence[str]) -> dict[str, str]:
    """One ring opening ``store_ids`` hours to days apart; returns each store's variant."""
    rng = w.rng
    cards = [w.ids.bank_account() for _ in range(rng.randint(4, 12))]
    batch = [w.random_parcel() for _ in range(rng.randint(3, 10))]
    opened_ms = w.start_ms + rng.uniform(0, max(0, w.span_ms - 5 * DAY_MS))
    variants = {}
    for store_id in store_ids:
        tactics = draw_tactics(rng, VARIANTS)
        if tactics.variant == "fake_tracking":
            tactics.fresh_tracking = True
        store = open_fraud_store(
            w,
            store_id,
            "electronics",
            w.within(opened_ms, 2 * DAY_MS),
            tactics,
            rng.choice((1_000, 2_000, 3_000)),
        )
        _store(w, store, tactics, cards, batch, max(store.opened_ms, w.within(opened_ms)))
        opened_ms += w.delay_ms(6, 48)
        variants[store_id] = tactics.variant
    return variants


def _store(
    w: World,
    store: Store,
    tactics: Tactics,
    cards: Sequence[str],
    batch: Sequence[Parcel],
    active_ms: int,
) -> None:
    rng = w.rng
    long_reputation = tactics.variant == "long_reputation"
    reputation = rng.randint(8, 25) if long_reputation else rng.randint(0, 3)
    closes_ms = active_ms + w.delay_ms(3 * 24, 9 * 24) + (4 * DAY_MS if long_reputation else 0)
    ships_numbers = tactics.variant == "fake_tracking" or rng.random() < 0.3
    sold = itertools.count()

    def never_deliver(basket: Basket) -> None:
        if next(sold) < reputation:
            fulfil_honestly(w, basket, "ZTO", 20, 0.0)
            return
        for order in basket:
            if rng.random() < 0.12:  # buyers who tire of waiting
                w.log.cancel(order, order.placed_ms + w.delay_ms(48, 96))
                continue
            if ships_numbers:
                parcel = w.random_parcel() if tactics.fresh_tracking else rng.choice(batch)
                w.log.ship(order, order.placed_ms + w.delay_ms(24, 72), parcel)
            if rng.random() < 0.85:
                order.after_sale = AfterSale(
                    order.placed_ms + w.delay_ms(5 * 24, 12 * 24), "not_received", 1
                )

    catalog = w.category_catalog("electronics", rng.randint(3, 10))
    orders = shop(
        w, store, catalog, rng.uniform(4, 25), never_deliver, until_ms=closes_ms, from_ms=active_ms
    )
    settle_after_sale(w, orders)
    w.log.settle_withdrawals(
        store.store_id, _payouts(w, store, tactics, cards, active_ms, closes_ms)
    )


def _payouts(
    w: World, store: Store, tactics: Tactics, cards: Sequence[str], active_ms: int, closes_ms: int
) -> list[Payout]:
    """Payouts every few hours to two days while the shop sells, and one after it closes."""
    rng = w.rng
    if tactics.account == "registered":
        accounts = [store.bank_account]
    elif tactics.account == "new":
        accounts = [w.ids.bank_account()]
    else:
        accounts = list(cards)
    first = rng.randrange(len(accounts))
    gap_h = (6, 24) if tactics.variant != "slow_cashout" else (36, 72)
    payouts: list[Payout] = []
    ts_ms = active_ms + int(tactics.payout_delay_h * HOUR_MS)
    while ts_ms < closes_ms + 12 * HOUR_MS:
        ts_ms += w.delay_ms(*gap_h)
        payouts.append(
            Payout(ts_ms, tactics.payout_share, accounts[(first + len(payouts)) % len(accounts)])
        )
    return payouts
