"""Round 3's fraud: the five schemes dressed as round 3's honest habits, or split thinner.

A defender who saw rounds 1 and 2 looks for deep cuts on new stores, night stakes with bought
tracking numbers, bursts on dormant stores, payouts to unregistered cards, batches of fresh
stores. Each variant here keeps the scheme's money flow (the withdrawal is always the cash-out)
and changes one or two of those surfaces: a raise before the cut, digital "delivery" instead of
parcels, live-stream blind boxes in the evening, made-to-order lead times, a platform migrant's
day-one volume, a charity day's round amounts, one patient monthly payout, a family's shared card.
"""

from __future__ import annotations

from stream.tools.redteam.gang import Gang, background, spread
from stream.tools.redteam.honest import buyer_picker, catalogue
from stream.tools.redteam.round2_fraud import _claim_all
from stream.tools.redteam.round2_honest import daily_at, timed_payouts
from stream.tools.redteam.round3_honest import deliver_now, live_orders, stream_nights
from stream.tools.redteam.world import (
    CATEGORIES,
    DAY,
    HOUR,
    SHOPPER_HOURS,
    Order,
    Shop,
    World,
    charm,
    cumulate,
    poisson,
)

VARIANTS3: dict[str, tuple[str, ...]] = {
    "price_protection": ("raise_then_cut", "digital_instant"),
    "gambling_front": ("digital_stakes", "live_blind_box"),
    "ghost_supplier": ("made_to_order_ghost", "migrant_ghost"),
    "mule_cashout": ("charity_burst", "patient_reseller", "family_ring"),
    "bulk_identity": ("migrant_batch", "digital_batch"),
}


def _steady(
    shop: Shop, start: float, end: float, per_day: float, skus: list[str], new_p: float
) -> list[Order]:
    """Placed orders at a daily Poisson rate in shoppers' hours, from mostly new buyers."""
    w, rng = shop.w, shop.w.rng
    hours, pick, out = cumulate(SHOPPER_HOURS, rng, 0.3), buyer_picker(w, new_p=new_p), []
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            ts = w.at_hour(day, hours)
            if start <= ts < end:
                qty = 1 if rng.random() < 0.85 else 2
                out.append(shop.place(ts, pick(), rng.choice(skus), qty))
    return out


def price_protection3(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Accomplices buy, the price falls, they claim the difference; the store has paid out by
    the time the platform collects the claims from it."""
    rng = w.rng
    digital = variant == "digital_instant"
    cat = rng.choice(("gift_cards", "electronics") if digital else ("home", "beauty", "sports"))
    shop = Shop(w, f"price_protection/{variant}", cat)
    opened = t_crew - rng.uniform(5, 40) * DAY
    shop.register(opened, rng.choice((3000, 5000, 10000)))
    background(shop, max(w.t0, opened), w.t1, rng.uniform(1, 6))
    skus = [shop.add_sku(charm(rng, rng.uniform(800, 5000))) for _ in range(rng.randint(2, 5))]
    gang_buyers = rng.sample(gang.buyers, min(len(gang.buyers), rng.randint(5, 20)))
    t_raise = t_crew + rng.uniform(0, 2) * DAY
    before = {sku: shop.price_at(sku, t_raise) for sku in skus}
    if not digital:  # "was 2,999": the list price doubles before the accomplices buy
        for sku in skus:
            shop.reprice(t_raise, sku, charm(rng, before[sku] / 100 * rng.uniform(1.6, 2.4)))
    t_buy = t_raise + rng.uniform(2, 20) * HOUR
    orders = [
        shop.place(
            t, rng.choice(gang_buyers), rng.choice(skus), rng.choices((1, 2, 3), (5, 3, 2))[0]
        )
        for t in spread(rng, t_buy, rng.uniform(1, 3) * DAY, rng.randint(6, 25))
    ]
    for o in orders:
        if digital:  # the codes go out at once: every accomplice's order is "delivered"
            deliver_now(shop, o)
        elif rng.random() < 0.5:
            shop.ship(o, o.placed + rng.uniform(4, 30) * HOUR)
    t_cut = max(o.placed for o in orders) + rng.uniform(6, 30) * HOUR
    for sku in skus:  # raise_then_cut: back to about the old price, the "discount" of a fake sale
        keep = rng.uniform(0.15, 0.35) if digital else rng.uniform(0.85, 1.0)
        shop.reprice(t_cut + rng.uniform(0, 600), sku, charm(rng, before[sku] / 100 * keep))
    first = _claim_all(shop, orders, t_cut, 3 * DAY, rng.uniform(0.85, 1.0))
    t = rng.uniform(t_cut - 10 * HOUR, max(t_cut - 9 * HOUR, min(first, t_cut + 600) - 60))
    for _ in range(rng.randint(1, 3)):
        shop.withdraw(t, shop.available(t) * rng.uniform(0.6, 0.95), shop.bank)
        t += rng.uniform(1, 8) * HOUR
    return shop


def gambling_front3(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Stakes as purchases, winnings as payouts; the goods are codes or blind boxes."""
    rng = w.rng
    digital = variant == "digital_stakes"
    cat = rng.choice(("gift_cards", "books") if digital else ("toys", "jewelry", "apparel"))
    shop = Shop(w, f"gambling_front/{variant}", cat)
    shop.register(w.t0 - rng.uniform(30, 500) * DAY, rng.choice((3000, 5000, 10000)))
    background(shop, w.t0, w.t1, rng.uniform(0.5, 4))
    cards = [shop.bank, *gang.cards[:2]]
    if digital:  # game credits at odd prices, bought at night, codes "delivered" at once
        skus = [
            shop.add_sku(charm(rng, rng.uniform(30, 800)) + rng.randint(1, 99)) for _ in range(6)
        ]
        hours = cumulate(tuple(4.0 if h >= 21 or h < 3 else 0.3 for h in range(24)), rng, 0.3)
        per_night = rng.uniform(3, 15)
        for day in w.midnights():
            for _ in range(poisson(rng, per_night)):
                ts = w.at_hour(day, hours)
                if w.t0 <= ts < w.t1:
                    o = shop.place(
                        ts, rng.choice(gang.buyers), rng.choice(skus), rng.choice((1, 1, 2, 5))
                    )
                    deliver_now(shop, o)
        times = daily_at(w, w.t0 + DAY, (22, 26), 1)
        timed_payouts(shop, times, (0.7, 1.0), lambda _t: shop.bank)
        return shop
    # blind boxes on evening streams: a stake is a box at 99-999, the prize an empty parcel
    skus = [shop.add_sku((v - rng.choice((0, 1))) * 100) for v in (100, 200, 500, 1000)]
    ends = []
    for t_on in stream_nights(w, rng.uniform(3, 6), rng.uniform(19.5, 21)):
        n = poisson(rng, rng.uniform(10, 60))
        for o in live_orders(shop, t_on, n, skus, lambda: rng.choice(gang.buyers)):
            ref = rng.choice(gang.parcels)
            shop.ship(o, o.placed + rng.uniform(6, 30) * HOUR, (w.tracking(ref[1]), ref[1]))
            if rng.random() < 0.6:
                shop.deliver(o, o.placed + rng.uniform(1.5, 4) * DAY)
        ends.append(t_on + rng.uniform(2.5, 5) * HOUR)
    timed_payouts(shop, ends, (0.6, 0.95), lambda _t: rng.choice(cards))
    return shop


def ghost_supplier3(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Paid orders that are never fulfilled, paid out as they come in."""
    rng = w.rng
    migrant = variant == "migrant_ghost"
    cat = rng.choice(("electronics", "home", "beauty") if migrant else ("jewelry", "home"))
    shop = Shop(w, f"ghost_supplier/{variant}", cat)
    opened = t_crew - rng.uniform(0, 5) * DAY if migrant else w.t0 - rng.uniform(200, 900) * DAY
    shop.register(opened, rng.choice((10000, 20000, 50000)) if migrant else 5000)
    lo, hi = CATEGORIES[cat]
    if not migrant:
        background(shop, w.t0, w.t1, rng.uniform(0.5, 2))
    skus = catalogue(shop, rng.randint(4, 20), max(lo, 99), min(hi, 3000))
    start = max(w.t0, opened, t_crew)
    end = start + (rng.uniform(8, 14) if migrant else rng.uniform(14, 24)) * DAY
    per_day = rng.uniform(20, 80) if migrant else rng.uniform(3, 15)
    victims = _steady(shop, start, end, per_day, skus, 0.5)
    for o in victims:
        if not migrant:  # "made to order, 3-5 weeks": some buyers tire and cancel
            if rng.random() < rng.uniform(0.15, 0.3):
                shop.cancel(o, o.placed + rng.uniform(0.5, 5) * DAY)
        elif rng.random() < 0.8:  # bought tracking numbers that never move past "shipped"
            ref = rng.choice(gang.parcels)
            shop.ship(o, o.placed + rng.uniform(6, 40) * HOUR, (w.tracking(ref[1]), ref[1]))
            if rng.random() < 0.3:
                shop.refund(o, o.placed + rng.uniform(9, 18) * DAY, o.value, "not_received")
    weekly = [t for t in daily_at(w, start + DAY, (9, 21), 7) if t < end]
    last = end + rng.uniform(2, 30) * HOUR
    timed_payouts(shop, [*weekly, last], (0.8, 1.0), lambda _t: shop.bank)
    return shop


def mule_cashout3(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Laundered money passed through a store's sales and paid out."""
    rng = w.rng
    cat = rng.choice(
        ("books", "apparel", "toys")
        if variant == "charity_burst"
        else ("home", "beauty", "pets", "sports")
    )
    shop = Shop(w, f"mule_cashout/{variant}", cat)
    shop.register(w.t0 - rng.uniform(200, 6 * 365) * DAY, rng.choice((3000, 5000)))
    t_b = t_crew + rng.uniform(0, 2) * DAY
    if rng.random() < 0.5:
        background(shop, w.t0, w.t1, rng.uniform(0.05, 0.5))
    ship_p, account = rng.uniform(0.1, 0.5), shop.bank
    if variant == "charity_burst":  # one "campaign" day of round-priced packs from new buyers
        skus = [shop.add_sku(v * 100) for v in (10, 20, 50, 100, 200, 500)]
        day = t_b - (t_b % DAY) + rng.uniform(7, 9) * HOUR
        orders = [
            shop.place(t, w.buyer(), rng.choices(skus, (10, 20, 25, 25, 15, 5))[0], 1)
            for t in spread(rng, day, rng.uniform(12, 16) * HOUR, rng.randint(200, 900))
        ]
        times = [day + rng.uniform(1, 2) * DAY, day + rng.uniform(2.5, 3.5) * DAY]
    elif variant == "patient_reseller":  # weeks of steady sales, one large payout at the end
        skus = catalogue(shop, rng.randint(3, 10), 80, 2000)
        end = t_b + rng.uniform(16, 24) * DAY
        orders = _steady(shop, t_b, end, rng.uniform(10, 40), skus, 0.9)
        times = [end + rng.uniform(2, 30) * HOUR]
    else:  # family_ring: a small burst per store, every store of the ring paying one card
        skus = catalogue(shop, rng.randint(2, 6), 100, 3000)
        orders = [
            shop.place(t, w.buyer(), rng.choice(skus), rng.choices((1, 2), (8, 2))[0])
            for t in spread(rng, t_b, rng.uniform(1, 3) * DAY, rng.randint(10, 30))
        ]
        account = gang.cards[0]
        times = daily_at(w, t_b + DAY, (10, 22), 2)[:3]
    for o in orders:
        if rng.random() < ship_p:
            shop.ship(o, o.placed + rng.uniform(4, 36) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, o.placed + rng.uniform(2, 5) * DAY)
    timed_payouts(shop, sorted(times), (0.85, 1.0), lambda _t: account)
    return shop


def bulk_identity3(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Stores on bought identities, a batch opened within a day, busy from the first hour."""
    rng = w.rng
    digital = variant == "digital_batch"
    shop = Shop(
        w,
        f"bulk_identity/{variant}",
        "gift_cards" if digital else rng.choice(("apparel", "beauty", "home")),
    )
    opened = t_crew + rng.uniform(0, 20) * HOUR
    shop.register(opened, rng.choice((3000, 5000, 10000)))
    end = opened + rng.uniform(4, 9) * DAY
    if digital:
        skus = [shop.add_sku(charm(rng, rng.uniform(200, 2000))) for _ in range(rng.randint(3, 8))]
        orders = _steady(shop, opened + HOUR, end, rng.uniform(8, 30), skus, 0.95)
        for o in orders:
            deliver_now(shop, o)
        times = daily_at(w, opened + 12 * HOUR, (18, 23), 1)
    else:  # "we moved from another platform": volume from day one, weekly-looking payouts
        lo, hi = CATEGORIES[shop.category]
        skus = catalogue(shop, rng.randint(8, 30), lo, min(hi, 1500))
        orders = _steady(shop, opened + HOUR, end, rng.uniform(15, 50), skus, 0.95)
        for o in orders:
            if rng.random() < 0.7:
                ref = rng.choice(gang.parcels)
                shop.ship(o, o.placed + rng.uniform(6, 30) * HOUR, (w.tracking(ref[1]), ref[1]))
        times = [opened + rng.uniform(3, 4) * DAY]
    last = end + rng.uniform(1, 12) * HOUR
    timed_payouts(shop, [*(t for t in times if t < end), last], (0.85, 1.0), lambda _t: shop.bank)
    return shop
