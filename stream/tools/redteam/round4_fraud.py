"""Round 4's fraud: each scheme's known shape with one or two things changed, or dressed as one of
round 4's honest habits.

The gangs know only that the platform runs some automated check on store behaviour, and guess
what it keys on: a single deep cut and claims on every order, bought tracking numbers that never
move, a cash-out within hours of opening, a payout to a card nobody registered, a batch of stores
opened the same day, a night of round stakes. Each variant keeps its scheme's money flow (the
store pays out, or the accomplices' claims are paid, before the platform can collect) and moves
one or two of those: three shallow cuts over two days and claims on two orders in five, a robot's
daily drift, the festival's midnight price, group-buying bursts, a delivery scan bought with the
tracking number, weeks of "international transit", a week's wait and round weekly payouts, a
franchise's registered corporate account, the festival's rush, openings spread over two weeks, a
harvest week on villagers' identities.
"""

from __future__ import annotations

import random

from stream.tools.redteam.gang import Gang, background, cover_trade, spread
from stream.tools.redteam.honest import buyer_picker, catalogue
from stream.tools.redteam.round2_fraud import _claim_all, _cut
from stream.tools.redteam.round2_honest import daily_at, timed_payouts
from stream.tools.redteam.round4_honest import CATEGORY4
from stream.tools.redteam.round4_trade import (
    algorithm,
    bought,
    cross_border_cover,
    festival_orders,
    international,
    pp_window_claims,
    round_payouts,
    round_tier,
    steady,
    to,
    wander,
    weekly_at,
)
from stream.tools.redteam.world import (
    CATEGORIES,
    DAY,
    HOUR,
    SHOPPER_HOURS,
    Shop,
    World,
    charm,
    cumulate,
    poisson,
)

VARIANTS4: dict[str, tuple[str, ...]] = {
    "price_protection": ("three_step_partial", "algo_drift", "festival_cut"),
    "gambling_front": ("group_buy_front", "cross_border_front"),
    "ghost_supplier": ("scanned_tracking", "cross_border_ghost"),
    "mule_cashout": ("weekly_round", "franchise_ring", "festival_cashout"),
    "bulk_identity": ("two_week_spread", "harvest_batch"),
}


def price_protection4(
    w: World, variant: str, gang: Gang, t_crew: float, fest: float, _owner: str
) -> Shop:
    """Accomplices buy, the price falls, they claim the difference; the store has paid out the
    accomplices' own money by the time the platform collects the claims from it."""
    rng = w.rng
    cat = rng.choice(("electronics", "phones", "appliances", "home"))
    shop = Shop(w, f"price_protection/{variant}", cat)
    if variant == "three_step_partial":  # three ordinary-looking markdowns, few claims
        opened = t_crew - rng.uniform(10, 60) * DAY
        shop.register(opened, rng.choice((2000, 5000)))
        background(shop, max(w.t0, opened), w.t1, rng.uniform(1, 5))
        skus = [shop.add_sku(charm(rng, rng.uniform(1500, 8000))) for _ in range(rng.randint(2, 5))]
        accounts = [w.buyer() for _ in range(rng.randint(15, 40))]  # one order per bought account
        orders = [
            shop.place(t, a, rng.choice(skus), rng.choices((1, 2), (4, 1))[0])
            for t, a in zip(
                spread(rng, t_crew, rng.uniform(1, 2) * DAY, len(accounts)), accounts, strict=True
            )
        ]
        for o in orders:
            if rng.random() < 0.6:
                shop.ship(o, o.placed + rng.uniform(6, 30) * HOUR)
                if rng.random() < 0.7:
                    shop.deliver(o, o.placed + rng.uniform(2, 4) * DAY)
        t1 = max(o.placed for o in orders) + rng.uniform(4, 12) * HOUR
        steps = [t1, t1 + rng.uniform(10, 20) * HOUR]
        steps.append(steps[1] + rng.uniform(10, 20) * HOUR)
        for t in steps:
            _cut(shop, skus, t, (0.7, 0.85))
        first = _claim_all(shop, orders, steps[2], 3 * DAY, 0.4)
        t_w = rng.uniform(steps[0], steps[2])
        shop.withdraw(t_w, shop.available(t_w) * rng.uniform(0.6, 0.9), shop.bank)
        t_w2 = rng.uniform(t_w + HOUR, max(t_w + 2 * HOUR, min(first, steps[2] + DAY) - 60))
        shop.withdraw(t_w2, shop.available(t_w2) * rng.uniform(0.8, 1.0), shop.bank)
        return shop
    shop.register(w.t0 - rng.uniform(60, 700) * DAY, rng.choice((5000, 10000)))
    lo, hi = CATEGORIES[cat]
    skus = catalogue(
        shop, rng.randint(10, 40) if variant == "algo_drift" else rng.randint(4, 15), lo, hi
    )
    targets = [shop.add_sku(charm(rng, rng.uniform(1000, 6000))) for _ in range(rng.randint(2, 4))]
    buyers = rng.sample(gang.buyers, min(len(gang.buyers), rng.randint(6, 20)))
    if variant == "algo_drift":  # a robot's daily small moves; on the targets they all go down
        t_buy, drift_s = t_crew, rng.uniform(4, 5.5) * DAY
        t_d0 = t_buy + rng.uniform(1.2, 1.8) * DAY
        honest = wander(rng.uniform)

        def factor(sku: str, t: float, now: int, usual: int) -> float:
            if sku in targets and t_d0 <= t < t_d0 + drift_s:
                return rng.uniform(0.9, 0.95)
            if sku in targets and t >= t_d0 + drift_s and now < usual:
                return rng.uniform(1.02, 1.08)
            return honest(sku, t, now, usual)

        runs = tuple(sorted(rng.sample((2.0, 10.0, 14.0, 22.0), 2)))
        algorithm(shop, skus + targets, w.t0, w.t1, runs, factor, frozenset(targets))
        cover_trade(shop, skus, w.t0, w.t1, rng.uniform(2, 8))
        orders = [
            shop.place(
                t, rng.choice(buyers), rng.choice(targets), rng.choices((1, 2, 3), (5, 3, 2))[0]
            )
            for t in spread(rng, t_buy, rng.uniform(0.5, 1.2) * DAY, rng.randint(8, 25))
        ]
        for o in orders:
            if rng.random() < 0.5:
                shop.ship(o, o.placed + rng.uniform(6, 30) * HOUR)
        first = pp_window_claims(shop, orders, rng.uniform(0.8, 0.95))
        payout_t = min(first, t_d0 + drift_s) - rng.uniform(1, 10) * HOUR
        timed_payouts(shop, [payout_t], (0.85, 1.0), to(shop.bank))
        weekly = weekly_at(w, w.t0, rng.randrange(7), rng.uniform(9, 21), 0.5)
        timed_payouts(shop, [t for t in weekly if t < t_buy], (0.7, 1.0), to(shop.bank))
        return shop
    # festival_cut: bought in the week before 11.11, the "festival price" is the cut
    cover_trade(shop, skus, w.t0, w.t1, rng.uniform(1, 5))
    cover = festival_orders(
        shop,
        fest,
        w.t0,
        poisson(rng, rng.uniform(10, 60)),
        lambda _t: rng.choice(skus),
        buyer_picker(w),
    )
    for o in cover:
        shop.ship(o, o.placed + rng.uniform(24, 72) * HOUR)
        shop.deliver(o, o.placed + rng.uniform(3, 6) * DAY)
    orders = [
        shop.place(t, rng.choice(buyers), rng.choice(targets), rng.choices((1, 2, 3), (5, 3, 2))[0])
        for t in spread(rng, fest - 6 * DAY, rng.uniform(4, 5.5) * DAY, rng.randint(8, 25))
    ]
    before = {sku: shop.price_at(sku, fest) for sku in targets}
    t_cut = fest - rng.uniform(0, 600)
    for sku in targets:
        shop.reprice(t_cut, sku, charm(rng, before[sku] / 100 * rng.uniform(0.3, 0.55)))
        shop.reprice(fest + DAY + rng.uniform(0, 1800), sku, before[sku])
    _claim_all(shop, orders, t_cut, 1.5 * DAY, rng.uniform(0.8, 1.0))
    eve = fest - rng.uniform(2, 10) * HOUR
    timed_payouts(shop, [eve, fest + DAY + rng.uniform(8, 11) * HOUR], (0.85, 1.0), to(shop.bank))
    return shop


def gambling_front4(
    w: World, variant: str, gang: Gang, _t_crew: float, _fest: float, _owner: str
) -> Shop:
    """Stakes as purchases, empty parcels on bought tracking numbers, takings paid out daily."""
    rng = w.rng
    cross = variant == "cross_border_front"
    cat = rng.choice(CATEGORY4["cross_border"] if cross else CATEGORY4["group_buy"])
    shop = Shop(w, f"gambling_front/{variant}", cat)
    shop.register(w.t0 - rng.uniform(30, 500) * DAY, rng.choice((2000, 5000, 10000)))
    if cross:  # imported goods at odd prices, any hour, parcels "in international transit"
        cross_border_cover(shop, w.t0, w.t1, rng.uniform(1, 4))
        stakes = [
            shop.add_sku(charm(rng, rng.uniform(80, 2000)) + rng.randint(1, 99))
            for _ in range(rng.randint(4, 8))
        ]
        hours = cumulate(SHOPPER_HOURS, rng, 0.3)
        per_day = rng.uniform(5, 30)
        for day in w.midnights():
            for _ in range(poisson(rng, per_day)):
                ts = w.at_hour(day, hours)
                if w.t0 <= ts < w.t1:
                    o = shop.place(
                        ts, rng.choice(gang.buyers), rng.choice(stakes), rng.choice((1, 1, 2, 3))
                    )
                    shop.ship(o, o.placed + rng.uniform(1, 4) * DAY, international(w))
        times = sorted(
            weekly_at(w, w.t0, 1, rng.uniform(10, 16), 0.5)
            + weekly_at(w, w.t0, 4, rng.uniform(10, 16), 0.5)
        )
        timed_payouts(shop, times, (0.85, 1.0), to(shop.bank))
        return shop
    # group_buy_front: stakes are "group deals" that fill within the hour in the evening
    background(shop, w.t0, w.t1, rng.uniform(0.5, 3))
    stakes = [
        shop.add_sku(charm(rng, v))
        for v in rng.sample((49, 99, 199, 299, 499, 999), rng.randint(3, 4))
    ]
    evening = cumulate(
        tuple(3.0 if 19 <= h < 24 else 0.4 if 9 <= h < 19 else 0.05 for h in range(24)), rng, 0.3
    )
    per_day = rng.uniform(1.5, 4)
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            t0 = w.at_hour(day, evening)
            if not w.t0 <= t0 < w.t1:
                continue
            sku, span_s = rng.choice(stakes), rng.uniform(10, 50) * 60
            group = [
                shop.place(
                    t0 + rng.random() * span_s,
                    rng.choice(gang.buyers),
                    sku,
                    rng.choice((1, 1, 2, 3)),
                )
                for _ in range(rng.randint(5, 30))
            ]
            t_ship = t0 + rng.uniform(14, 30) * HOUR
            for o in group:
                shop.ship(o, t_ship + rng.uniform(0, 1800), bought(w, gang))
                if rng.random() < 0.7:  # the courier's insider scans it "delivered"
                    shop.deliver(o, t_ship + rng.uniform(2, 3) * DAY)
    timed_payouts(shop, daily_at(w, w.t0 + DAY, (9, 11), 1), (0.85, 1.0), to(shop.bank))
    return shop


def ghost_supplier4(
    w: World, variant: str, gang: Gang, t_crew: float, _fest: float, _owner: str
) -> Shop:
    """Paid orders that are never fulfilled, paid out as they come in."""
    rng = w.rng
    cross = variant == "cross_border_ghost"
    cat = rng.choice(CATEGORY4["cross_border"] if cross else ("electronics", "phones", "beauty"))
    shop = Shop(w, f"ghost_supplier/{variant}", cat)
    lo, hi = CATEGORIES[cat]
    if cross:  # an aged cross-border shop: buyers expect 10-25 days, nobody complains in time
        shop.register(w.t0 - rng.uniform(100, 900) * DAY, rng.choice((5000, 10000, 20000)))
        cross_border_cover(shop, w.t0, w.t1, rng.uniform(0.5, 3))
        skus = catalogue(shop, rng.randint(4, 15), max(lo, 150), min(hi, 3000))
        start, end = t_crew, t_crew + rng.uniform(14, 21) * DAY
        victims = steady(shop, start, end, rng.uniform(5, 25), skus, 0.6)
        for o in victims:
            if rng.random() < 0.05:
                shop.cancel(o, o.placed + rng.uniform(1, 20) * HOUR)
            else:
                shop.ship(o, o.placed + rng.uniform(1, 4) * DAY, international(w))
        weekly = [
            t
            for t in weekly_at(w, start + DAY, rng.randrange(7), rng.uniform(9, 21), 0.5)
            if t < end
        ]
        timed_payouts(shop, [*weekly, end + rng.uniform(2, 20) * HOUR], (0.8, 1.0), to(shop.bank))
        return shop
    # scanned_tracking: the bought numbers come with a delivery scan two or three days later
    opened = t_crew - rng.uniform(3, 20) * DAY
    shop.register(opened, rng.choice((2000, 5000)))
    background(shop, max(w.t0, opened), w.t1, rng.uniform(0.5, 2))
    skus = catalogue(shop, rng.randint(4, 12), max(lo, 200), min(hi, 4000))
    end = t_crew + rng.uniform(7, 14) * DAY
    victims = steady(shop, t_crew, end, rng.uniform(10, 40), skus, 0.5)
    complain_p = rng.uniform(0.3, 0.6)
    for o in victims:
        t_ship = o.placed + rng.uniform(6, 40) * HOUR
        shop.ship(o, t_ship, bought(w, gang))
        if rng.random() < 0.9:
            shop.deliver(o, t_ship + rng.uniform(2, 3) * DAY)
        if rng.random() < complain_p:
            shop.refund(o, o.placed + rng.uniform(5, 12) * DAY, o.value, "not_received")
    times = [t for t in daily_at(w, t_crew + DAY, (20, 23), 1) if t < end]
    timed_payouts(shop, [*times, end + rng.uniform(2, 12) * HOUR], (0.7, 0.95), to(shop.bank))
    return shop


def mule_cashout4(
    w: World, variant: str, gang: Gang, t_crew: float, fest: float, owner: str
) -> Shop:
    """Laundered money passed through a store's sales and paid out."""
    rng = w.rng
    chain = random.Random(owner)  # what every store of a franchise_ring shares
    if variant == "franchise_ring":  # one bought company licence, its registered account
        cat = chain.choice(CATEGORY4["franchise"])
        shop = Shop(w, f"mule_cashout/{variant}", cat, owner, gang.cards[0])
        shop.register(t_crew - (chain.uniform(300, 700) + rng.uniform(0, 30)) * DAY, 20000)
    else:
        cat = rng.choice(("home", "beauty", "pets", "sports", "apparel"))
        shop = Shop(w, f"mule_cashout/{variant}", cat)
        if variant == "weekly_round":  # a new store on a rented identity
            shop.register(t_crew, rng.choice((2000, 5000)))
        else:
            shop.register(w.t0 - rng.uniform(365, 6 * 365) * DAY, rng.choice((2000, 5000)))
    skus = catalogue(shop, rng.randint(3, 10), 100, 3000)
    if variant == "weekly_round":  # a quiet week first, then the money, then round weekly sums
        background(shop, t_crew, w.t1, rng.uniform(0.3, 2))
        t_b = t_crew + rng.uniform(6, 9) * DAY
        orders = steady(shop, t_b, t_b + rng.uniform(5, 10) * DAY, rng.uniform(8, 30), skus, 0.9)
    elif variant == "franchise_ring":
        background(shop, w.t0, w.t1, rng.uniform(0.2, 1.5))
        t_b = t_crew + rng.uniform(0, 2) * DAY
        orders = [
            shop.place(t, w.buyer(), rng.choice(skus), rng.choices((1, 2), (8, 2))[0])
            for t in spread(rng, t_b, rng.uniform(1, 3) * DAY, rng.randint(20, 60))
        ]
    else:  # festival_cashout: the burst is on 11.11, when every shop has one
        if rng.random() < 0.5:
            background(shop, w.t0, w.t1, rng.uniform(0.05, 0.3))
        orders = festival_orders(
            shop,
            fest,
            w.t0,
            rng.randint(100, 600),
            lambda _t: rng.choice(skus),
            buyer_picker(w, new_p=0.9),
        )
    for o in orders:
        if rng.random() < 0.35:
            shop.ship(o, o.placed + rng.uniform(8, 48) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, o.placed + rng.uniform(2, 5) * DAY)
    if variant == "weekly_round":
        total = sum(o.value for o in orders)
        times = weekly_at(w, t_b + 2 * DAY, rng.randrange(7), rng.uniform(10, 20), 0.3)
        round_payouts(shop, times, round_tier(total * rng.uniform(0.3, 0.5)), to(shop.bank))
    elif variant == "franchise_ring":
        times = weekly_at(w, t_b + DAY, chain.randrange(7), chain.uniform(9, 17), 0.2)
        timed_payouts(shop, times, (0.9, 1.0), to(shop.bank))
    else:
        times = [fest + DAY + rng.uniform(8, 11) * HOUR, fest + rng.uniform(3, 4) * DAY]
        timed_payouts(shop, times, (0.85, 1.0), to(shop.bank))
    return shop


def bulk_identity4(
    w: World, variant: str, gang: Gang, t_crew: float, _fest: float, _owner: str
) -> Shop:
    """Stores on bought identities: a few big orders and a quick cash-out, or a harvest week."""
    rng = w.rng
    if variant == "two_week_spread":  # the classic, with openings spread over two weeks
        shop = Shop(w, f"bulk_identity/{variant}", rng.choice(sorted(CATEGORIES)))
        opened = t_crew + rng.uniform(0, 14) * DAY
        shop.register(opened, rng.choice((1000, 2000, 3000)))
        t = opened + rng.uniform(2, 30) * HOUR
        orders = []
        for _ in range(rng.randint(2, 6)):
            orders.append(
                shop.place(t, w.buyer(), shop.add_sku(charm(rng, rng.uniform(800, 15000))), 1)
            )
            t += rng.uniform(5, 120) * 60
        t = orders[-1].placed + rng.uniform(6, 30) * HOUR
        for _ in range(rng.randint(1, 2)):
            shop.withdraw(t, shop.available(t) * rng.uniform(0.8, 1.0), shop.bank)
            t += rng.uniform(1, 6) * HOUR
        return shop
    # harvest_batch: villagers' identities, each store a "farmer" with one harvest week
    shop = Shop(w, f"bulk_identity/{variant}", rng.choice(CATEGORY4["harvest_week"]))
    opened = t_crew + rng.uniform(0, 36) * HOUR
    shop.register(opened, 1000)
    crop = [shop.add_sku(charm(rng, rng.uniform(19, 199))) for _ in range(rng.randint(1, 4))]
    start = opened + rng.uniform(1, 3) * DAY
    end = start + rng.uniform(5, 8) * DAY
    orders = steady(shop, start, end, rng.uniform(20, 80), crop, 0.8)
    for o in orders:
        if rng.random() < 0.7:
            shop.ship(o, o.placed + rng.uniform(1, 3) * DAY, bought(w, gang))
    times = [t for t in daily_at(w, start, (10, 20), 2) if t < end]
    timed_payouts(shop, [*times, end + rng.uniform(2, 20) * HOUR], (0.8, 1.0), to(shop.bank))
    return shop
