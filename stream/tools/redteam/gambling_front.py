"""Gambling fronts: a shop whose "sales" are stakes and whose payouts are winnings."""

from __future__ import annotations

from stream.tools.redteam.gang import Gang, background
from stream.tools.redteam.world import (
    DAY,
    HOUR,
    NIGHT_HOURS,
    SHOPPER_HOURS,
    Shop,
    World,
    charm,
    cumulate,
    poisson,
)


def gambling_front(w: World, variant: str, gang: Gang) -> Shop:
    """Gamblers 'buy' set stakes at night; empty parcels go out on bought tracking numbers that are
    reused and never delivered; takings are cashed out every morning to the gang's cards."""
    rng = w.rng
    shop = Shop(
        w,
        f"gambling_front/{variant}",
        rng.choice(("tea", "gift_cards", "apparel", "beauty", "toys")),
    )
    opened = (
        w.t0 - rng.uniform(5, 120) * DAY
        if rng.random() < 0.5
        else w.t0 + rng.uniform(0, 0.3) * w.span
    )
    shop.register(opened, rng.choice((1000, 2000, 3000, 5000)))
    start = max(opened, w.t0)
    background(shop, start, w.t1, rng.uniform(0.1, 1.5))
    if variant == "odd_amounts":
        stakes = [
            charm(rng, rng.uniform(40, 3000)) + rng.randint(1, 99) for _ in range(rng.randint(4, 8))
        ]
    else:
        faces = (50, 100, 200, 300, 500, 1000, 2000, 5000)
        stakes = [v * 100 for v in rng.sample(faces, rng.randint(3, 6))]
    skus = [shop.add_sku(p) for p in stakes]
    act = start + rng.uniform(0, 0.3) * (w.t1 - start)
    act_end = min(w.t1, act + rng.uniform(0.4, 1.0) * w.span)
    hours = cumulate(SHOPPER_HOURS if variant == "daytime" else NIGHT_HOURS, rng, 0.3)
    per_night, ship_h = rng.uniform(4, 40), rng.uniform(0.5, 14)
    for day in w.midnights():
        for _ in range(poisson(rng, per_night)):
            ts = w.at_hour(day, hours)
            if not act <= ts < act_end:
                continue
            o = shop.place(
                ts,
                rng.choice(gang.buyers),
                rng.choice(skus),
                rng.choices((1, 2, 3, 5), (10, 3, 2, 1))[0],
            )
            ref = None if variant == "fresh_tracking" else rng.choice(gang.parcels)
            if ref is None:
                courier = gang.parcels[0][1]
                ref = (w.tracking(courier), courier)
            shop.ship(o, o.placed + rng.uniform(0.5, ship_h) * HOUR, ref)
            if variant == "delivered":
                shop.deliver(o, o.placed + rng.uniform(1, 3.5) * DAY)
    for day in w.midnights():
        t = day + rng.uniform(6, 12) * HOUR
        if act <= t < act_end + 2 * DAY:
            shop.withdraw(t, shop.available(t) * rng.uniform(0.85, 1.0), rng.choice(gang.cards[:6]))
    return shop
