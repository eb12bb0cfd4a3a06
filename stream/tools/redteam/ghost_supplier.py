"""Ghost suppliers: paid orders that never ship (or ship empty parcels), then a cash-out."""

from __future__ import annotations

from stream.tools.redteam.gang import Gang, background, spread
from stream.tools.redteam.honest import catalogue
from stream.tools.redteam.world import (
    DAY,
    HOUR,
    SHOPPER_HOURS,
    Order,
    Shop,
    World,
    cumulate,
    poisson,
)


def ghost_supplier(w: World, variant: str, gang: Gang) -> Shop:
    """A shop on a fake identity takes real buyers' money for electronics it never sends, and
    empties the balance to cards from the gang's drawer before complaints arrive."""
    rng = w.rng
    shop = Shop(
        w,
        f"ghost_supplier/{variant}",
        rng.choice(("electronics", "phones", "appliances", "sports")),
    )
    cards = rng.sample(gang.cards, min(len(gang.cards), rng.randint(3, 10)))
    seasoning: list[tuple[float, str]] = []
    if variant == "seasoned_card":
        t_b = w.t0 + rng.uniform(0.55, 0.8) * w.span
        shop.register(w.t0 - rng.uniform(5, 60) * DAY, rng.choice((1000, 2000, 3000)))
        background(shop, w.t0, t_b, rng.uniform(1, 4))
        seasoning = [
            (t, c)
            for t, c in zip(
                spread(rng, w.t0 + DAY, max(DAY, t_b - w.t0 - 12 * DAY), len(cards)),
                cards,
                strict=True,
            )
        ]
    else:
        opened = w.t0 + rng.uniform(0, 0.7) * w.span
        t_b = opened + rng.uniform(0.5, 4) * DAY
        shop.register(opened, rng.choice((1000, 1000, 2000, 3000)))
    skus = catalogue(shop, rng.randint(3, 10), 300, 9000)
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    fake_ship_p, end = rng.uniform(0, 0.6), t_b + rng.uniform(12, 48) * HOUR
    victims: list[Order] = []
    for day in w.midnights():
        for _ in range(poisson(rng, rng.uniform(15, 80))):
            ts = w.at_hour(day, hours)
            if t_b <= ts < end:
                buyer = w.buyer() if rng.random() < 0.3 else w.pool_buyer()
                qty = 1 if rng.random() < 0.85 else 2
                victims.append(shop.place(ts, buyer, rng.choice(skus), qty))
    cancel_p, complain_p = rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.8)
    for o in victims:
        if rng.random() < fake_ship_p:
            shop.ship(o, o.placed + rng.uniform(4, 40) * HOUR)
            if rng.random() < complain_p:
                shop.refund(o, o.placed + rng.uniform(7, 14) * DAY, o.value, "not_received")
        elif rng.random() < cancel_p:
            shop.cancel(o, o.placed + rng.uniform(2, 6) * DAY)
    for t, card in seasoning:
        shop.withdraw(t, rng.uniform(50, 500) * 100, card)
    t = t_b + rng.uniform(6, 30) * HOUR
    if variant == "partial_payouts":
        for _ in range(rng.randint(4, 9)):
            shop.withdraw(t, shop.available(t) * rng.uniform(0.2, 0.45), rng.choice(cards))
            t += rng.uniform(3, 14) * HOUR
        return shop
    for i in range(len(cards)):
        left = len(cards) - i
        share = 1.0 if left == 1 else rng.uniform(0.7, 1.2) / left
        account = shop.bank if variant == "registered_card" else cards[i]
        shop.withdraw(t, shop.available(t) * min(1.0, share), account)
        t += rng.uniform(0.3, 6) * HOUR
    return shop
