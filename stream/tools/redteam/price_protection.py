"""Price-protection abuse: sell to accomplices, cut the price, claim the difference."""

from __future__ import annotations

import math

from stream.tools.redteam.gang import Gang, background, spread
from stream.tools.redteam.honest import payouts
from stream.tools.redteam.world import DAY, HOUR, PP_WINDOW, Shop, World, charm


def price_protection(w: World, variant: str, gang: Gang) -> Shop:
    """Self-buying on a bought licence, a deep cut, price-protection claims; the balance is
    withdrawn to the bound card before the platform collects the claims from the store."""
    rng = w.rng
    shop = Shop(
        w,
        f"price_protection/{variant}",
        rng.choice(("electronics", "phones", "appliances", "jewelry", "luxury")),
    )
    t_s = w.t0 + rng.uniform(0.1, 0.75) * w.span
    if variant == "aged_shop":
        shop.register(w.t0 - rng.uniform(40, 400) * DAY, rng.choice((1000, 2000, 5000)))
        background(shop, w.t0, t_s, rng.uniform(0.3, 4))
        payouts(shop, w.t0, t_s - DAY, "weekly", [shop.bank])
    else:
        shop.register(t_s - rng.uniform(0.3, 4) * DAY, rng.choice((1000, 1000, 1000, 1500, 2000)))
    skus = [shop.add_sku(charm(rng, rng.uniform(2000, 20000))) for _ in range(rng.randint(1, 4))]
    orders = [
        shop.place(
            t, rng.choice(gang.buyers), rng.choice(skus), rng.choices((1, 2, 3), (6, 3, 1))[0]
        )
        for t in spread(rng, t_s, rng.uniform(2, 48) * HOUR, rng.randint(4, 30))
    ]
    for o in orders:
        if rng.random() < gang.ship_p:
            shop.ship(o, o.placed + rng.uniform(1, 24) * HOUR)
            if rng.random() < 0.6:
                shop.deliver(o, o.placed + rng.uniform(1.5, 4) * DAY)
    last = max(o.placed for o in orders)
    t_cut = last + rng.uniform(1, 30) * HOUR
    if variant == "stepped_cut":
        keeps = [rng.uniform(0.25, 0.6) for _ in range(rng.randint(1, 3))]
        keeps.append(min(0.9, rng.uniform(0.01, 0.06) / math.prod(keeps)))
        cuts, t = [], t_cut
        for keep in keeps:  # each step alone looks like a sale; together they take 94-99% off
            cuts.append((t, keep))
            t += rng.uniform(4, 30) * HOUR
    else:
        keep = rng.uniform(0.12, 0.2) if variant == "shallow_cut" else rng.uniform(0.01, 0.05)
        cuts = [(t_cut, keep)]
    claim_p, first_claim = rng.uniform(0.85, 1.0), math.inf
    for i, (t, keep) in enumerate(cuts):
        for sku in skus:
            now = shop.price_at(sku, t) / 100
            shop.reprice(t + rng.uniform(0, 600), sku, charm(rng, now * keep))
        final = i == len(cuts) - 1
        for o in orders:
            if o.cancelled or rng.random() > (claim_p if final else 0.5):
                continue
            now = shop.price_at(o.sku, t + 601)
            if variant == "spread_claims":
                room = max(HOUR, o.placed + PP_WINDOW - t - 2 * HOUR)
                when = t + rng.uniform(0.5 * HOUR, min(6 * DAY, room))
            else:
                when = t + 600 + rng.uniform(300, 6 * HOUR)
            if shop.refund(o, when, (o.price - now) * o.qty - o.refunded, "price_protection"):
                first_claim = min(first_claim, max(when, o.placed + 60))
    first_claim = min(first_claim, t_cut + 600)
    # paid out before the claims land
    t_w = rng.uniform(last + 600, max(last + 700, first_claim - 60))
    for _ in range(rng.choice((1, 1, 2))):
        shop.withdraw(t_w, shop.available(t_w) * rng.uniform(0.92, 1.0), shop.bank)
        t_w += rng.uniform(5, 40) * 60
    return shop
