"""Bulk identities: batches of stores opened together with recycled identity details."""

from __future__ import annotations

from stream.tools.redteam.world import CATEGORIES, DAY, HOUR, Shop, World, charm


def bulk_identity(w: World, variant: str, batch_time: float) -> Shop:
    """One of a batch of stores opened in other people's names: a few large orders from fresh
    accounts minutes after opening, all cashed out to the registered account within hours."""
    rng = w.rng
    shop = Shop(w, f"bulk_identity/{variant}", rng.choice(sorted(CATEGORIES)))
    opened = batch_time + rng.uniform(0, 90) * 60
    shop.register(opened, rng.choice((300, 500, 1000, 1000, 1500)))
    t = opened + rng.uniform(3, 60) * 60
    orders = []
    for _ in range(rng.randint(1, 5)):
        price = (
            charm(rng, rng.uniform(3000, 60000))
            if rng.random() < 0.5
            else rng.randint(30, 600) * 10000
        )
        orders.append(shop.place(t, w.buyer(), shop.add_sku(price), 1))
        t += rng.uniform(2, 50) * 60
    if variant == "fake_shipping":
        for o in orders:
            shop.ship(o, o.placed + rng.uniform(1, 5) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, o.placed + rng.uniform(1, 2) * DAY)
    delay = rng.uniform(24, 48) if variant == "next_day" else rng.uniform(0.5, 6)
    t = orders[-1].placed + delay * HOUR
    if variant == "split_payouts":
        k = rng.randint(3, 6)
        for i in range(k):
            share = 1.0 if i == k - 1 else rng.uniform(0.7, 1.0)
            shop.withdraw(t, shop.available(t) / (k - i) * share, shop.bank)
            t += rng.uniform(0.2, 2.5) * HOUR
    else:
        shop.withdraw(t, shop.available(t), shop.bank)
    return shop


# --------------------------------------------------------------------------- assembly
