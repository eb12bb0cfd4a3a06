"""Round 2's fraud: the five schemes as run by people who know that simple rules exist.

Each variant changes more than one trait of the reported scheme, or borrows the look of one of
round 2's honest habits: slower (weeks instead of hours), smaller or larger amounts (x0.3, x3),
several small stores paying one card, many small withdrawals, an aged store, a launch promotion,
the sale day, preorders, wholesale, the other time zone, a bank change. Every function takes the
crew's strike time ``t_crew`` so that stores of one crew act within days of each other.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from stream.tools.redteam.gang import Gang, background, spread
from stream.tools.redteam.honest import buyer_picker, catalogue, draw_habits, organic
from stream.tools.redteam.round2_honest import daily_at, shifted, timed_payouts
from stream.tools.redteam.world import (
    CATEGORIES,
    DAY,
    HOUR,
    NIGHT_HOURS,
    PP_WINDOW,
    SHOPPER_HOURS,
    Order,
    Shop,
    World,
    charm,
    cumulate,
    poisson,
    yuan,
)

VARIANTS2: dict[str, tuple[str, ...]] = {
    "price_protection": ("ring_shared_card", "launch_mimic", "sale_day_cover"),
    "gambling_front": ("slow_small", "overseas_hours"),
    "ghost_supplier": ("slow_ghost", "preorder_ghost", "wholesale_ghost"),
    "mule_cashout": ("micro_withdrawals", "bank_change", "slow_rental"),
    "bulk_identity": ("staggered_batch",),
}


def _claim_all(shop: Shop, orders: list[Order], t_cut: float, within_s: float, p: float) -> float:
    """Accomplices claim the price difference after a cut; returns the first claim's time."""
    rng, first = shop.w.rng, math.inf
    for o in orders:
        now = shop.price_at(o.sku, t_cut + 601)
        if o.cancelled or now >= o.price or rng.random() > p:
            continue
        room = max(HOUR, o.placed + PP_WINDOW - t_cut - HOUR)
        when = t_cut + 600 + rng.uniform(0.02, 1.0) * min(within_s, room)
        if shop.refund(o, when, (o.price - now) * o.qty - o.refunded, "price_protection"):
            first = min(first, max(when, o.placed + 60))
    return first


def _cut(shop: Shop, skus: list[str], t: float, keep: tuple[float, float]) -> None:
    rng = shop.w.rng
    for sku in skus:
        now = shop.price_at(sku, t) / 100
        shop.reprice(t + rng.uniform(0, 600), sku, charm(rng, now * rng.uniform(*keep)))


def price_protection2(w: World, variant: str, gang: Gang, t_crew: float, sale_t: float) -> Shop:
    """Self-buying, a cut, claims; the money leaves before the platform collects them."""
    rng = w.rng
    cat = rng.choice(("electronics", "phones", "appliances", "jewelry", "sports"))
    shop = Shop(w, f"price_protection/{variant}", cat)
    gang_buyers = rng.sample(gang.buyers, min(len(gang.buyers), rng.randint(4, 15)))
    if variant == "sale_day_cover":  # an old shop that strikes when every shop cuts prices
        shop.register(w.t0 - rng.uniform(100, 700) * DAY, rng.choice((2000, 5000, 10000)))
        background(shop, w.t0, w.t1, rng.uniform(1, 6))
        skus = [
            shop.add_sku(charm(rng, rng.uniform(2000, 12000))) for _ in range(rng.randint(2, 5))
        ]
        orders = [
            shop.place(t, rng.choice(gang_buyers), rng.choice(skus), rng.randint(1, 3))
            for t in spread(rng, sale_t - 6 * DAY, 5.5 * DAY, rng.randint(6, 25))
        ]
        t_cut = sale_t + rng.uniform(-10, 5) * 60
        before = {sku: shop.price_at(sku, t_cut) for sku in skus}
        _cut(shop, skus, t_cut, (0.08, 0.3))
        _claim_all(shop, orders, t_cut, 72 * HOUR, rng.uniform(0.8, 1.0))
        t = sale_t - rng.uniform(2, 14) * HOUR
        for _ in range(rng.randint(3, 6)):
            shop.withdraw(t, shop.available(t) * rng.uniform(0.4, 0.8), shop.bank)
            t += rng.uniform(6, 20) * HOUR
        t_back = sale_t + rng.uniform(2, 3) * DAY
        for sku in skus:
            shop.reprice(t_back + rng.uniform(0, 600), sku, before[sku])
        return shop
    ring = variant == "ring_shared_card"
    opened = t_crew + (rng.uniform(0, 5) * DAY if ring else 0.0) - rng.uniform(2, 10) * DAY
    shop.register(opened, 1000 if ring else rng.choice((1000, 2000, 3000)))
    background(shop, opened, w.t1, rng.uniform(0.5, 3) if ring else rng.uniform(1, 5))
    lo, hi = (600, 6000) if ring else (3000, 15000)  # a ring's stores each stay small
    skus = [shop.add_sku(charm(rng, rng.uniform(lo, hi))) for _ in range(rng.randint(1, 4))]
    t_s = opened + rng.uniform(0.5, 2) * DAY
    orders = [
        shop.place(
            t, rng.choice(gang_buyers), rng.choice(skus), rng.choices((1, 2, 3), (5, 3, 2))[0]
        )
        for t in spread(rng, t_s, rng.uniform(1, 3) * DAY, rng.randint(3, 12 if ring else 20))
    ]
    t_cut = max(o.placed for o in orders) + rng.uniform(6, 40) * HOUR
    if ring:
        _cut(shop, skus, t_cut, (0.2, 0.45))
        first = _claim_all(shop, orders, t_cut, 48 * HOUR, rng.uniform(0.85, 1.0))
        card = gang.cards[0]  # the ring's one card, never registered by any of its stores
    else:  # looks like a launch promotion: 40-55% off for a few days, then back to list price
        before = {sku: shop.price_at(sku, t_cut) for sku in skus}
        _cut(shop, skus, t_cut, (0.45, 0.6))
        first = _claim_all(shop, orders, t_cut, 4 * DAY, rng.uniform(0.85, 1.0))
        t_back = t_cut + rng.uniform(3, 5) * DAY
        for sku in skus:
            shop.reprice(t_back + rng.uniform(0, 600), sku, before[sku])
        card = shop.bank
    t = rng.uniform(t_cut - 12 * HOUR, max(t_cut - 11 * HOUR, min(first, t_cut + 600) - 60))
    for _ in range(rng.randint(2, 3)):
        shop.withdraw(t, shop.available(t) * rng.uniform(0.5, 0.95), card)
        t += rng.uniform(1, 10) * HOUR
    return shop


def gambling_front2(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Stakes as purchases, empty parcels, winnings as payouts."""
    rng = w.rng
    cat = rng.choice(("tea", "apparel", "beauty", "toys", "home"))
    shop = Shop(w, f"gambling_front/{variant}", cat)
    shop.register(w.t0 - rng.uniform(20, 300) * DAY, rng.choice((1000, 2000, 5000)))
    overseas = variant == "overseas_hours"
    if overseas:  # looks like a shop serving customers 12-16 hours behind us
        lo, hi = CATEGORIES[cat]
        skus_bg = catalogue(shop, rng.randint(4, 20), lo, hi)
        organic(
            shop,
            draw_habits(rng),
            w.t0,
            w.t1,
            lambda _d: rng.uniform(0.5, 3),
            cumulate(shifted(SHOPPER_HOURS, rng.choice((-12, -13, -15))), rng, 0.3),
            buyer_picker(w),
            lambda _t: rng.choice(skus_bg),
            lambda: 1,
        )
        stakes = [v * 100 for v in rng.sample((150, 300, 600, 900, 1500, 3000, 6000), 4)]
    else:  # a third of the classic stakes, odd cents, a few a night for the whole month
        background(shop, w.t0, w.t1, rng.uniform(0.3, 2))
        stakes = [charm(rng, rng.uniform(15, 300)) + rng.randint(1, 99) for _ in range(6)]
    skus = [shop.add_sku(p) for p in stakes]
    per_night = rng.uniform(2, 15) if overseas else rng.uniform(1, 6)
    hours = cumulate(NIGHT_HOURS, rng, 0.3)
    for day in w.midnights():
        for _ in range(poisson(rng, per_night)):
            ts = w.at_hour(day, hours)
            if not w.t0 <= ts < w.t1:
                continue
            o = shop.place(ts, rng.choice(gang.buyers), rng.choice(skus), rng.choice((1, 1, 2)))
            ref = rng.choice(gang.parcels) if overseas else None  # overseas: a "consolidated" box
            shop.ship(o, o.placed + rng.uniform(1, 10) * HOUR, ref)
            if rng.random() < (0.5 if overseas else 0.7):
                shop.deliver(o, o.placed + rng.uniform(1, 3) * DAY)
    if overseas:
        times = daily_at(w, w.t0, (-6, 4), 1)
        timed_payouts(shop, times, (0.8, 1.0), lambda _t: shop.bank)
    else:
        cards = [shop.bank, *gang.cards[1:4]]
        times = [w.t0 + (i + rng.uniform(0, 1)) * 3 * DAY for i in range(int(w.span / 3 / DAY))]
        timed_payouts(shop, times, (0.6, 0.9), lambda _t: rng.choice(cards))
    return shop


def ghost_supplier2(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Takes buyers' money for goods it never sends, and pays itself out as it goes."""
    rng = w.rng
    if variant == "wholesale_ghost":
        cat = rng.choice(("groceries", "home", "auto_parts", "tea"))
    else:
        cat = rng.choice(("electronics", "phones", "appliances", "toys"))
    shop = Shop(w, f"ghost_supplier/{variant}", cat)
    aged = variant != "slow_ghost"
    opened = w.t0 - rng.uniform(60, 600) * DAY if aged else t_crew - rng.uniform(0, 10) * DAY
    shop.register(opened, rng.choice((1000, 2000, 5000)))
    start = max(w.t0, opened)
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    victims: list[Order] = []
    if variant == "wholesale_ghost":  # a few firms order pallets; nothing leaves the warehouse
        background(shop, w.t0, w.t1, rng.uniform(0.1, 0.6))
        skus = catalogue(shop, rng.randint(2, 6), 30, 600)
        firms = [w.buyer() for _ in range(rng.randint(3, 10))]
        for t in spread(rng, t_crew, rng.uniform(5, 14) * DAY, rng.randint(4, 12)):
            qty = rng.choice((50, 100, 200, 300, 500, 800))
            victims.append(shop.place(t, rng.choice(firms), rng.choice(skus), qty))
        for o in victims:
            if rng.random() < 0.3:
                shop.ship(o, o.placed + rng.uniform(1, 3) * DAY)
        times = [o.placed + rng.uniform(4, 30) * HOUR for o in victims]
        timed_payouts(shop, sorted(times), (0.7, 1.0), lambda _t: shop.bank)
        return shop
    if variant == "preorder_ghost":  # "ships on release day", which comes after the money left
        background(shop, w.t0, w.t1, rng.uniform(0.5, 3))
        skus = catalogue(shop, rng.randint(1, 4), 500, 5000)
        end, per_day = t_crew + rng.uniform(14, 21) * DAY, rng.uniform(5, 30)
    else:  # slow_ghost: weeks of steady sales with bought tracking numbers, daily payouts
        skus = catalogue(shop, rng.randint(4, 15), 100, 3000)
        end, per_day = t_crew + rng.uniform(14, 24) * DAY, rng.uniform(3, 15)
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            ts = w.at_hour(day, hours)
            if max(start, t_crew) <= ts < end:
                buyer = w.buyer() if rng.random() < 0.4 else w.pool_buyer()
                victims.append(
                    shop.place(ts, buyer, rng.choice(skus), 1 if rng.random() < 0.9 else 2)
                )
    for o in victims:
        if variant == "preorder_ghost":
            if rng.random() < 0.07:
                shop.cancel(o, o.placed + rng.uniform(1, 10) * DAY)
        elif rng.random() < 0.7:
            parcel = rng.choice(gang.parcels)
            shop.ship(o, o.placed + rng.uniform(6, 48) * HOUR, (w.tracking(parcel[1]), parcel[1]))
            if rng.random() < rng.uniform(0.3, 0.6):
                shop.refund(o, o.placed + rng.uniform(10, 20) * DAY, o.value, "not_received")
    if variant == "preorder_ghost":
        last = end + rng.uniform(2, 20) * HOUR  # the final sweep goes to a card of the gang's
        times = [*(t for t in daily_at(w, t_crew + 2 * DAY, (10, 22), 7) if t < end), last]
        timed_payouts(
            shop, sorted(times), (0.85, 1.0), lambda t: gang.cards[2] if t >= last else shop.bank
        )
    else:
        timed_payouts(shop, daily_at(w, t_crew + DAY, (9, 22), 1), (0.5, 0.8), lambda _t: shop.bank)
    return shop


def mule_cashout2(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """A dormant shop rented out to pass laundered money through its sales."""
    rng = w.rng
    cat = rng.choice([c for c in CATEGORIES if c not in ("gift_cards", "luxury")])
    shop = Shop(w, f"mule_cashout/{variant}", cat)
    deposit = rng.choice((1000, 2000, 5000))
    shop.register(w.t0 - rng.uniform(365, 4 * 365) * DAY, deposit)
    t_b = t_crew + rng.uniform(0, 3) * DAY
    if rng.random() < 0.5:
        background(shop, w.t0, t_b, rng.uniform(0.02, 0.2))
    skus = catalogue(shop, rng.randint(2, 8), 100, 5000)
    accounts = [w.bank() for _ in range(rng.randint(2, 3))]
    if variant == "slow_rental":  # rented for weeks: a steady flow, weekly payouts
        t_b = w.t0 + rng.uniform(0.05, 0.3) * w.span
        dur = rng.uniform(14, 21) * DAY
        n = int(dur / DAY * rng.uniform(5, 25))
        accounts = accounts[:1]
    elif variant == "bank_change":  # the renter binds their own card first, like a new bank
        accounts = accounts[:1]
        w.emit(
            t_b - rng.uniform(6, 48) * HOUR,
            "store",
            shop.sid,
            owner_id=shop.owner,
            bank_account=accounts[0],
            deposit=yuan(deposit * 100),
            category=cat,
        )
        dur, n = rng.uniform(4, 30) * HOUR, rng.randint(15, 80)
    else:
        dur, n = rng.uniform(6, 36) * HOUR, rng.randint(20, 80)
    pick: Callable[[], str] = buyer_picker(w, new_p=0.9)
    for t in spread(rng, t_b, dur, n):
        buyer = rng.choice(gang.buyers) if rng.random() < 0.15 else pick()
        o = shop.place(t, buyer, rng.choice(skus), rng.choices((1, 2, 3), (7, 2, 1))[0])
        if rng.random() < 0.4:
            shop.ship(o, t + rng.uniform(2, 24) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, t + rng.uniform(1.5, 4) * DAY)
    end = t_b + dur
    if variant == "micro_withdrawals":  # dozens of small payouts over a few days
        k = rng.randint(30, 80)
        for t in spread(rng, end + rng.uniform(1, 6) * HOUR, rng.uniform(2, 4) * DAY, k):
            shop.withdraw(
                t, min(shop.available(t), rng.uniform(300, 3000) * 100), rng.choice(accounts)
            )
    elif variant == "slow_rental":
        times = [t_b + (i + 1) * 7 * DAY + rng.uniform(-1, 1) * DAY for i in range(4)]
        timed_payouts(
            shop, [t for t in times if t <= end + 7 * DAY], (0.85, 1.0), lambda _t: accounts[0]
        )
    else:
        t = end + rng.uniform(1, 12) * HOUR
        for _ in range(rng.randint(1, 3)):
            shop.withdraw(t, shop.available(t) * rng.uniform(0.6, 1.0), accounts[0])
            t += rng.uniform(0.5, 5) * HOUR
    return shop


def bulk_identity2(w: World, variant: str, gang: Gang, t_crew: float) -> Shop:
    """Stores on bought identities, opened days apart and aged a little before they strike."""
    rng = w.rng
    shop = Shop(w, f"bulk_identity/{variant}", rng.choice(sorted(CATEGORIES)))
    opened = t_crew + rng.uniform(0, 8) * DAY
    shop.register(opened, rng.choice((500, 1000, 1000, 2000)))
    t_s = opened + rng.uniform(5, 12) * DAY
    background(shop, opened, t_s, rng.uniform(0.3, 2))
    weekly = daily_at(w, opened + DAY, (10, 21), 7)
    timed_payouts(shop, [t for t in weekly if t < t_s], (0.6, 1.0), lambda _t: shop.bank)
    t = t_s
    orders = []
    for _ in range(rng.randint(2, 6)):
        price = charm(rng, rng.uniform(900, 18000))
        orders.append(shop.place(t, w.buyer(), shop.add_sku(price), 1))
        t += rng.uniform(2, 30) * 60
    t = orders[-1].placed + rng.uniform(2, 12) * HOUR
    k = rng.randint(2, 4)
    for i in range(k):
        shop.withdraw(t, shop.available(t) / (k - i) * rng.uniform(0.8, 1.0), shop.bank)
        t += rng.uniform(0.5, 4) * HOUR
    return shop
