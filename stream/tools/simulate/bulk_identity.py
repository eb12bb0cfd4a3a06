"""Bulk identities: shops opened in bulk in other people's names that move money straight
through (the Dengzhou case in the seed reports: accounts opened in villagers' names during a
card campaign, sold on to launder gambling and fraud money).

A syndicate opens many shops within hours, each registered to a different person with an
account in that person's name; a few buyers (the launderers' own) pay each shop a large sum and
the shop is cashed out within hours, then never used again. How many buyers, how fast the money
leaves, in how many parts, to which account, and whether the shop was opened long before and
left idle are drawn per store.
"""

from __future__ import annotations

from collections.abc import Sequence

from stream.tools.simulate.behaviour import honest_category
from stream.tools.simulate.core import DAY_MS, Order
from stream.tools.simulate.tactics import cash_out, draw_tactics, open_fraud_store, spread
from stream.tools.simulate.world import World, log_uniform, shelf_price_fen

VARIANTS = (
    "own_account",
    "shared_account",
    "many_buyers",
    "slow_cashout",
    "split_payout",
    "partial_payout",
    "shipped_goods",
    "no_store_event",
)


def run(w: World, store_ids: Sequence[str]) -> dict[str, str]:
    """One syndicate's batch of shops, opened minutes to hours apart; returns the variants."""
    rng = w.rng
    launderers = [w.ids.buyer() for _ in range(rng.randint(3, 20))]
    ring_accounts = [w.ids.bank_account() for _ in range(rng.randint(1, 3))]
    opened_ms = w.start_ms + rng.uniform(0, max(0, w.span_ms - 2 * DAY_MS))
    variants = {}
    for store_id in store_ids:
        tactics = draw_tactics(rng, VARIANTS)
        if tactics.variant not in ("slow_cashout", "split_payout"):
            tactics.payout_delay_h = log_uniform(rng, 0.1, 6)  # straight through
            tactics.payout_gap_h = log_uniform(rng, 0.05, 3)
        if tactics.variant not in ("own_account", "shared_account"):
            tactics.account = rng.choices(("registered", "shared", "new"), (6, 2, 2))[0]
        store = open_fraud_store(
            w,
            store_id,
            honest_category(rng),
            w.within(opened_ms, DAY_MS),
            tactics,
            rng.choice((500, 1_000, 1_000)),
        )
        active_ms = w.within(opened_ms, DAY_MS) + w.delay_ms(0.1, 12)
        buyers = rng.sample(
            launderers,
            min(
                len(launderers),
                rng.randint(5, 15) if tactics.variant == "many_buyers" else rng.randint(1, 4),
            ),
        )
        item_cny = (
            rng.uniform(100, 3_000)
            if tactics.variant == "many_buyers"
            else log_uniform(rng, 800, 60_000)
        )
        items = w.catalog(
            [shelf_price_fen(item_cny * rng.uniform(0.7, 1.3)) for _ in range(rng.randint(1, 3))]
        )
        ships = tactics.variant == "shipped_goods" or rng.random() < 0.3
        orders: list[Order] = []
        burst_h = log_uniform(rng, 0.2, 8)
        for ts_ms in spread(w, active_ms, len(buyers) * rng.randint(1, 3), burst_h):
            order = w.log.place(store_id, rng.choice(buyers), rng.choice(items), ts_ms)
            if order is None:
                continue
            orders.append(order)
            if ships:
                shipped_ms = ts_ms + w.delay_ms(0.2, 6)
                w.log.ship(order, shipped_ms, w.random_parcel(), shipped_ms + w.delay_ms(2, 30))
        if orders:
            last_ms = max(order.placed_ms for order in orders)
            w.log.settle_withdrawals(store_id, cash_out(w, store, last_ms, tactics, ring_accounts))
        opened_ms += w.delay_ms(0.05, 6)
        variants[store_id] = tactics.variant
    return variants
