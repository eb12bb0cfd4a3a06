"""Round 4's honest stores: another marketplace, with ten trades that rounds 1-3 did not model.

Each is ordinary business whose shape resembles some fraud: cross-border parcels that take weeks
to arrive, the 11.11 festival (a midnight rush of 5-20 days' sales, paid out the next morning), a
franchise whose stores all pay one registered corporate account, group-buying bursts of dozens of
buyers within the hour, fixed round payouts every week, a neighbourhood grocery whose buyers are
nearly all regulars, a farmer's one harvest week, second-hand items sold once each, algorithmic
re-pricing of the whole catalogue every day, and refurbished phones shipped a week late.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from stream.tools.redteam.honest import (
    Habits,
    buyer_picker,
    catalogue,
    claims,
    draw_habits,
    honest_flow,
    payouts,
)
from stream.tools.redteam.round2_honest import daily_at, timed_payouts, trade
from stream.tools.redteam.round4_trade import (
    algorithm,
    cross_border_flow,
    festival_orders,
    local_flow,
    round_payouts,
    round_tier,
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

HABITS4: dict[str, float] = {  # share of round 4's honest population per habit
    "plain": 0.35,
    "festival_rush": 0.09,
    "cross_border": 0.07,
    "franchise": 0.07,
    "group_buy": 0.06,
    "round_weekly": 0.07,
    "neighbourhood_grocery": 0.06,
    "harvest_week": 0.05,
    "secondhand": 0.06,
    "algo_repricer": 0.06,
    "refurbisher": 0.06,
}
CATEGORY4 = {
    "cross_border": ("beauty", "electronics", "toys", "pets"),
    "group_buy": ("groceries", "home", "beauty", "pets"),
    "neighbourhood_grocery": ("groceries",),
    "harvest_week": ("groceries", "tea"),
    "secondhand": ("phones", "electronics", "luxury", "books", "apparel"),
    "algo_repricer": ("electronics", "home", "appliances", "auto_parts"),
    "refurbisher": ("phones", "electronics", "appliances"),
    "franchise": ("apparel", "beauty", "tea", "home", "sports"),
}
GROCERY_HOURS = tuple(
    2.5 if 7 <= h < 10 else 3.0 if 16 <= h < 20 else 0.8 if 10 <= h < 16 else 0.05
    for h in range(24)
)
# who joins the festival (else 0.6): not a farm out of season nor a grocery serving its street;
# a second-hand seller (one of each item) has no festival stock
FESTIVAL_JOIN_P = {"festival_rush": 1.0, "harvest_week": 0.0, "neighbourhood_grocery": 0.0}


@dataclass(frozen=True)
class Franchise:
    """What a chain's stores share: one operator, one corporate account, one payout slot."""

    owner: str
    bank: str
    category: str
    opened: float
    deposit_cny: int
    payday: int  # weekday, 0 = Monday
    pay_hour_local: float


def franchises(w: World, n: int) -> list[Franchise]:
    """One Franchise per store of chains of 3-6 stores (fewer if fewer are left)."""
    rng, out = w.rng, []
    while n > 0:
        size = n if n <= 6 else rng.randint(3, min(6, n - 3))
        chain = Franchise(
            w.uid("ow"),
            w.bank(),
            rng.choice(CATEGORY4["franchise"]),
            w.t0 - rng.uniform(2, 6) * 365 * DAY,  # its stores open over the next year
            rng.choice((10000, 20000, 50000)),
            rng.randrange(7),
            rng.uniform(9, 17),
        )
        out += [chain] * size
        n -= size
    return out


def honest4(w: World, habit: str, fest: float, chain: Franchise | None = None) -> Shop:
    """One honest store of round 4; ``fest`` is the festival's local midnight, ``chain`` the
    franchise a ``franchise`` store belongs to."""
    rng = w.rng
    if chain is not None:
        cat = chain.category
    else:
        cat = rng.choice(
            CATEGORY4.get(habit) or [c for c in CATEGORIES if c not in ("gift_cards", "luxury")]
        )
    shop = Shop(
        w, f"legit/{habit}", cat, chain.owner if chain else None, chain.bank if chain else None
    )
    hb = draw_habits(rng)
    opened = w.t0 - rng.uniform(0.5, 10) * 365 * DAY
    deposit = rng.choice((2000, 5000, 5000, 10000, 20000))
    harvest = w.t0 + rng.uniform(0.05, 0.7) * w.span
    if chain is not None:
        opened, deposit = chain.opened + rng.uniform(0, 400) * DAY, chain.deposit_cny
    if habit == "harvest_week" and rng.random() < 0.4:  # a farmer opens a store for the crop
        opened, deposit = harvest - rng.uniform(2, 10) * DAY, 1000
    shop.register(opened, deposit)
    start = max(w.t0, opened)
    lo, hi = CATEGORIES[cat]
    base = min(200.0, max(0.2, rng.lognormvariate(math.log(5), 1.0)))
    base = {
        "neighbourhood_grocery": rng.uniform(8, 40),
        "harvest_week": rng.uniform(0.0, 0.3),
        "secondhand": rng.uniform(0.5, 5),
        "refurbisher": rng.uniform(1, 10),
        "group_buy": rng.uniform(0.5, 3),
    }.get(habit, base)
    if habit == "secondhand":
        return _secondhand(shop, start, base, hb)
    if habit == "refurbisher":  # tested and refurbished after the order: a week before it ships
        hb.ship_h, hb.cancel_p = rng.uniform(5, 12) * 24, rng.uniform(0.08, 0.2)
        hb.return_p = rng.uniform(0.05, 0.15)
    n_skus = rng.randint(20, 80) if habit == "algo_repricer" else rng.randint(4, 50)
    skus = catalogue(shop, n_skus, lo, hi)
    popularity = list(accumulate(1 / (i + 1) ** rng.uniform(0.5, 1.2) for i in range(len(skus))))
    joins = rng.random() < FESTIVAL_JOIN_P.get(habit, 0.6)
    on_sale: list[str] = []
    if habit == "algo_repricer":
        runs = tuple(sorted(rng.sample((2.0, 6.0, 10.0, 14.0, 18.0, 22.0), rng.randint(1, 2))))
        algorithm(shop, skus, start, w.t1, runs, wander(rng.uniform))
    elif habit != "harvest_week":  # routine moves: a competitor's price, a supplier's
        for sku in skus:
            for t in sorted(
                start + rng.random() * (w.t1 - start)
                for _ in range(poisson(rng, w.span / DAY * rng.uniform(0, 0.03)))
            ):
                if not (habit == "festival_rush" and fest - DAY <= t < fest + 2 * DAY):
                    now = shop.price_at(sku, t) / 100
                    shop.reprice(t, sku, charm(rng, now * rng.uniform(0.9, 1.1)))
    if habit == "festival_rush":  # the "11.11 price" from midnight to midnight, then back
        on_sale = rng.sample(skus, max(1, int(len(skus) * rng.uniform(0.3, 0.8))))
        for sku in on_sale:
            p0 = shop.price_at(sku, fest)
            cut = charm(rng, p0 / 100 * rng.uniform(0.6, 0.9))
            shop.reprice(fest - rng.uniform(0, 600), sku, cut)
            shop.reprice(fest + DAY + rng.uniform(0, 1800), sku, p0)

    def rate(_day: float) -> float:
        return base

    def pick_sku(ts: float) -> str:
        if on_sale and fest <= ts < fest + DAY and rng.random() < 0.7:
            return rng.choice(on_sale)
        return rng.choices(skus, cum_weights=popularity)[0]

    def qty() -> int:
        return 1 if rng.random() < 0.8 else rng.randint(2, 3)

    if habit == "neighbourhood_grocery":  # the same households, morning and evening
        locals_ = [w.buyer() for _ in range(rng.randint(30, 150))]

        def buyers() -> str:
            return rng.choice(locals_) if rng.random() < 0.92 else w.buyer()

        hours = cumulate(GROCERY_HOURS, rng, 0.25)
        hb.basket_p, hb.merge_p = rng.uniform(0.2, 0.5), 1.0
    else:
        buyers = buyer_picker(w)
        hours = cumulate(SHOPPER_HOURS, rng, 0.35)
    groups = trade(shop, start, w.t1, rate, hours, buyers, pick_sku, qty, hb.weekend, hb.basket_p)
    rush_hb = Habits(**{**hb.__dict__, "ship_h": hb.ship_h + rng.uniform(24, 60)})
    if joins:
        mult = rng.uniform(5, 20) if habit == "festival_rush" else rng.uniform(1.5, 4)
        extra = festival_orders(
            shop, fest, start, poisson(rng, base * (mult - 1)), pick_sku, buyers
        )
        groups += [[o] for o in extra]
    for group in groups:
        if habit == "cross_border":
            cross_border_flow(shop, group)
        elif habit == "neighbourhood_grocery":
            local_flow(shop, group)
        elif joins and fest <= group[0].placed < fest + DAY:
            honest_flow(shop, group, rush_hb)
        else:
            honest_flow(shop, group, hb)
    if habit == "group_buy":
        _group_deals(shop, start, lo, buyers)
    elif habit == "harvest_week":
        _harvest(shop, harvest, buyers)
    claims(shop, rng.uniform(0.0, 0.1) if habit != "algo_repricer" else 0.03, rng.uniform(0.2, 0.5))
    if habit == "festival_rush":  # the night's takings go out the next morning
        timed_payouts(shop, [fest + DAY + rng.uniform(8, 11) * HOUR], (0.9, 1.0), to(shop.bank))
    if chain is not None:  # the operator's treasury sweeps every store on one day
        times = weekly_at(w, start, chain.payday, chain.pay_hour_local, 0.2)
        timed_payouts(shop, times, (0.9, 1.0), to(chain.bank))
    elif habit == "round_weekly":
        weekly = sum(o.value for o in shop.orders) / max(1.0, (w.t1 - start) / (7 * DAY))
        times = weekly_at(w, start, rng.randrange(7), rng.uniform(9, 21), 0.3)
        round_payouts(shop, times, round_tier(weekly * rng.uniform(0.4, 0.8)), to(shop.bank))
    elif habit == "neighbourhood_grocery":
        timed_payouts(shop, daily_at(w, start, (21, 23.5), 1), (0.8, 1.0), to(shop.bank))
    elif habit == "harvest_week":
        times = [t for t in daily_at(w, harvest, (10, 20), 2) if t < harvest + 16 * DAY]
        timed_payouts(shop, times, (0.7, 1.0), to(shop.bank))
    else:
        cadence = rng.choices(("weekly", "biweekly", "adhoc", "daily"), (45, 20, 25, 10))[0]
        payouts(shop, start, w.t1, cadence, [shop.bank])
    return shop


def _group_deals(shop: Shop, start: float, lo: float, buyers: Callable[[], str]) -> None:
    """拼团: a deal at a group price is shared in chat groups; 3-50 buyers join within the hour,
    most of them new to the shop. A group that does not fill is cancelled the next day."""
    w, rng = shop.w, shop.w.rng
    deals = [
        shop.add_sku(charm(rng, rng.uniform(max(lo, 5), 60))) for _ in range(rng.randint(2, 6))
    ]
    hb = draw_habits(rng)
    hb.cancel_p, hb.merge_p, hb.ship_h = 0.0, 0.0, rng.uniform(20, 40)
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    per_day = rng.uniform(0.5, 4)
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            t0 = w.at_hour(day, hours)
            if not start <= t0 < w.t1:
                continue
            sku, size = rng.choice(deals), rng.choice((3, 5, 10, 20, 50))
            joined = size if rng.random() < 0.88 else rng.randint(1, size - 1)
            span_s = rng.uniform(5, 60) * 60
            orders = [
                shop.place(
                    t0 + rng.random() * span_s,
                    w.buyer() if rng.random() < 0.7 else buyers(),
                    sku,
                    1,
                )
                for _ in range(joined)
            ]
            for o in orders:
                if joined < size:
                    shop.cancel(o, t0 + DAY + rng.uniform(0, 600))
                else:
                    honest_flow(shop, [o], hb)


def _harvest(shop: Shop, harvest: float, buyers: Callable[[], str]) -> None:
    """The crop's week: fresh listings at this year's price, 20-150 orders a day from a county
    live stream's new buyers, picked and packed in 1-3 days; spoiled fruit partly refunded."""
    w, rng = shop.w, shop.w.rng
    crop = [shop.add_sku(charm(rng, rng.uniform(19, 199))) for _ in range(rng.randint(1, 4))]
    per_day, days = rng.uniform(20, 150), rng.uniform(5, 9)
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    hb = draw_habits(rng)
    hb.ship_h, hb.return_p = rng.uniform(24, 72), 0.0
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            t = w.at_hour(day, hours)
            if harvest <= t < min(w.t1, harvest + days * DAY):
                o = shop.place(
                    t,
                    w.buyer() if rng.random() < 0.7 else buyers(),
                    rng.choice(crop),
                    rng.choice((1, 1, 2)),
                )
                honest_flow(shop, [o], hb)
                if not o.cancelled and rng.random() < 0.08:
                    shop.refund(
                        o,
                        o.placed + rng.uniform(3, 8) * DAY,
                        o.value * rng.uniform(0.2, 0.6),
                        "other",
                    )


def _secondhand(shop: Shop, start: float, per_day: float, hb: Habits) -> Shop:
    """One item per listing: each sku sells once, at most; unsold items are marked down every
    few days ("擦亮降价") until someone buys."""
    w, rng = shop.w, shop.w.rng
    lo, hi = CATEGORIES[shop.category]
    hi = min(hi, lo * 30)
    listed: list[tuple[float, str]] = [
        (start - rng.uniform(0, 30) * DAY, shop.add_sku(round(rng.uniform(lo, hi)) * 100))
        for _ in range(rng.randint(10, 60))
    ]
    for day in w.midnights():
        for _ in range(poisson(rng, per_day * 1.1)):
            t = day + rng.uniform(9, 23) * HOUR
            if start <= t < w.t1:
                listed.append((t, shop.add_sku(round(rng.uniform(lo, hi)) * 100)))
    listed.sort()
    sold: dict[str, float] = {}
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            t = w.at_hour(day, hours)
            left = [sku for t_l, sku in listed if t_l < t - HOUR and sku not in sold]
            if start <= t < w.t1 and left:
                sold[rng.choice(left)] = t
    for t_l, sku in listed:
        t, end = max(start, t_l) + rng.uniform(3, 8) * DAY, min(w.t1, sold.get(sku, w.t1))
        while t < end - HOUR:
            shop.reprice(t, sku, charm(rng, shop.price_at(sku, t) / 100 * rng.uniform(0.85, 0.97)))
            t += rng.uniform(3, 8) * DAY
    hb.basket_p, hb.return_p = 0.0, rng.uniform(0.01, 0.05)
    for sku, t in sorted(sold.items(), key=lambda kv: kv[1]):
        honest_flow(
            shop, [shop.place(t, w.buyer() if rng.random() < 0.8 else w.pool_buyer(), sku, 1)], hb
        )
    payouts(shop, start, w.t1, rng.choice(("weekly", "adhoc", "adhoc")), [shop.bank])
    return shop
