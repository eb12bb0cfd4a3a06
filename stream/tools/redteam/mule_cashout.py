"""Mule cash-outs: laundered money passed through a shop's sales and paid out in a hurry."""

from __future__ import annotations

from stream.tools.redteam.gang import Gang, background, spread
from stream.tools.redteam.honest import catalogue
from stream.tools.redteam.world import CATEGORIES, DAY, HOUR, Shop, World


def mule_cashout(w: World, variant: str, gang: Gang) -> Shop:
    """A dormant shop is rented out: a sudden burst of sales, then the money leaves for an
    account the shop never used."""
    rng = w.rng
    shop = Shop(
        w, f"mule_cashout/{variant}", rng.choice([c for c in CATEGORIES if c != "gift_cards"])
    )
    shop.register(w.t0 - rng.uniform(120, 5 * 365) * DAY, rng.choice((1000, 2000, 5000, 10000)))
    t_b = w.t0 + rng.uniform(0.3, 0.85) * w.span
    if rng.random() < 0.6:
        background(shop, w.t0, t_b, rng.uniform(0.02, 0.3))
    skus = catalogue(shop, rng.randint(2, 8), 100, 5000)
    dur = rng.uniform(60, 110) * HOUR if variant == "spread_burst" else rng.uniform(2, 12) * HOUR
    ship_p = rng.uniform(0, 0.8)
    for t in spread(rng, t_b, dur, rng.randint(15, 100)):
        buyer = rng.choice(gang.buyers) if rng.random() < 0.2 else w.buyer()
        o = shop.place(t, buyer, rng.choice(skus), rng.choices((1, 2, 3), (7, 2, 1))[0])
        if rng.random() < ship_p:
            shop.ship(o, t + rng.uniform(2, 24) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, t + rng.uniform(1.5, 4) * DAY)
    t = t_b + dur + rng.uniform(1, 24) * HOUR
    account = shop.bank if variant == "own_account" else w.bank()
    for _ in range(rng.choice((1, 1, 2))):
        shop.withdraw(t, shop.available(t) * rng.uniform(0.9, 1.0), account)
        t += rng.uniform(0.2, 3) * HOUR
    return shop
