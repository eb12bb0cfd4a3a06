"""Round 2's honest stores: trades a real marketplace has that round 1 did not model.

Each habit is an ordinary way of doing business whose surface resembles some fraud: wholesale
(few, huge orders and payouts), fashion (half the goods come back), a shop in another time zone
(busy during our night), a seasonal shop waking after months, a seller who changes bank, the
marketplace-wide sale day (everyone cuts prices at the same hour and buyers claim price
protection), preorders (paid weeks before shipping), high-volume sellers sweeping their balance
many times a day, and cross-border shops whose parcels leave through a consolidator under one
tracking number for many buyers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from itertools import accumulate

from stream.tools.redteam.honest import (
    buyer_picker,
    catalogue,
    claims,
    draw_habits,
    honest_flow,
    payouts,
)
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
    weekday,
    yuan,
)

HABITS2: dict[str, float] = {  # share of round 2's honest population per habit
    "plain": 0.18,
    "b2b_wholesale": 0.07,
    "fashion_returns": 0.10,
    "overseas_tz": 0.08,
    "seasonal_revival": 0.07,
    "bank_change": 0.08,
    "sale_day": 0.17,
    "preorder": 0.07,
    "micro_payouts": 0.08,
    "consolidator": 0.10,
}
OFFICE_HOURS = tuple(
    2.0 if 9 <= h < 12 or 14 <= h < 18 else 0.8 if h in (12, 13, 18) else 0.02 for h in range(24)
)


def shifted(weights: tuple[float, ...], hours: int) -> tuple[float, ...]:
    """A rhythm moved by ``hours``: a shop whose customers live that many hours behind us."""
    return tuple(weights[(h + hours) % 24] for h in range(24))


def trade(
    shop: Shop,
    start: float,
    end: float,
    rate: Callable[[float], float],
    hours: list[float],
    buyers: Callable[[], str],
    pick_sku: Callable[[float], str],
    qty: Callable[[], int],
    weekend: float = 1.0,
    basket_p: float = 0.0,
) -> list[list[Order]]:
    """Placed orders only, grouped by basket; the caller decides how they are fulfilled."""
    w, rng = shop.w, shop.w.rng
    groups: list[list[Order]] = []
    for day in w.midnights():
        if day + DAY <= start or day >= end:
            continue
        lam = rate(day) * (weekend if weekday(day) >= 5 else 1.0)
        for _ in range(poisson(rng, lam)):
            ts = w.at_hour(day, hours)
            if not start <= ts < end:
                continue
            buyer, k = buyers(), 1 if rng.random() >= basket_p else rng.randint(2, 4)
            groups.append(
                [
                    shop.place(ts + j * rng.uniform(20, 600), buyer, pick_sku(ts), qty())
                    for j in range(k)
                ]
            )
    return groups


def timed_payouts(
    shop: Shop,
    times: list[float],
    share: tuple[float, float],
    account: Callable[[float], str],
) -> None:
    """Withdraw a share of the balance at each time, to the account in use then."""
    rng = shop.w.rng
    for t in times:
        if t < shop.w.t1:
            shop.withdraw(t, shop.available(t) * rng.uniform(*share), account(t))


def daily_at(w: World, start: float, hours_local: tuple[float, float], every_d: int) -> list[float]:
    """One time a day (or every ``every_d`` days) in a local-hour range, from ``start``."""
    rng = w.rng
    return [
        day + rng.uniform(*hours_local) * HOUR
        for i, day in enumerate(w.midnights())
        if i % every_d == 0 and day + hours_local[1] * HOUR >= start
    ]


def consolidated(shop: Shop, orders: list[Order], every_d: float) -> None:
    """Cross-border forwarding: every few days the warehouse sends everything waiting as one
    consignment under one tracking number, whoever bought it; it arrives 5-12 days later."""
    w, rng = shop.w, shop.w.rng
    courier = rng.choice(("EMS", "SF Express", "JD Logistics"))
    waiting: list[Order] = []
    for o in sorted(orders, key=lambda o: o.placed):
        if rng.random() < 0.04:
            shop.cancel(o, o.placed + rng.uniform(0.2, 6) * HOUR)
        else:
            waiting.append(o)
    if not waiting:
        return
    t = waiting[0].placed + rng.uniform(0.5, 1.0) * every_d * DAY
    while waiting and t < w.t1 + 30 * DAY:
        batch = [o for o in waiting if o.placed < t - HOUR]
        waiting = waiting[len(batch) :]
        if batch:
            ref = shop.ship(batch[0], t, (w.tracking(courier), courier))
            for o in batch[1:]:
                shop.ship(o, t + rng.uniform(0, 300), ref)
            arrive = t + rng.uniform(5, 12) * DAY
            for o in batch:
                shop.deliver(o, arrive + rng.uniform(0, 2) * DAY)
                if rng.random() < 0.03:
                    shop.refund(o, arrive + rng.uniform(2, 9) * DAY, o.value, "return")
        t += rng.uniform(0.7, 1.3) * every_d * DAY


def preordered(shop: Shop, orders: list[Order], release: dict[str, float]) -> None:
    """Paid now, shipped in one wave on the sku's release day; some buyers tire and cancel."""
    rng = shop.w.rng
    cancel_p = rng.uniform(0.05, 0.15)
    for o in orders:
        r = release[o.sku]
        if rng.random() < cancel_p:
            shop.cancel(o, o.placed + rng.uniform(0.1, 1.0) * max(HOUR, r - o.placed))
            continue
        t = max(r, o.placed + HOUR) + rng.uniform(0, 2) * DAY
        shop.ship(o, t)
        shop.deliver(o, t + rng.uniform(1, 4) * DAY)


def store_age_s(rng: random.Random) -> float:
    return rng.uniform(60, 4 * 365) * DAY


def honest2(w: World, habit: str, sale_t: float) -> Shop:
    """One honest store of round 2; ``sale_t`` is the marketplace-wide sale's start."""
    rng = w.rng
    cat = {
        "b2b_wholesale": rng.choice(("groceries", "home", "auto_parts", "tea", "pets")),
        "fashion_returns": rng.choice(("apparel", "apparel", "sports")),
        "seasonal_revival": rng.choice(("tea", "groceries", "sports", "toys")),
        "preorder": rng.choice(("electronics", "phones", "toys", "books")),
        "micro_payouts": rng.choice(("groceries", "beauty", "pets", "home")),
    }.get(habit) or rng.choice([c for c in CATEGORIES if c not in ("gift_cards", "luxury")])
    shop = Shop(w, f"legit/{habit}", cat)
    hb = draw_habits(rng)
    opened = w.t0 - store_age_s(rng)
    deposit = rng.choice((1000, 2000, 2000, 5000, 10000, 30000))
    shop.register(opened, deposit)
    lo, hi = CATEGORIES[cat]
    if habit == "micro_payouts":
        lo, hi = lo, min(hi, lo * 6)
    n_skus = rng.randint(3, 10) if habit in ("b2b_wholesale", "preorder") else rng.randint(6, 80)
    skus = catalogue(shop, n_skus, lo, hi)
    popularity = list(accumulate(1 / (i + 1) ** rng.uniform(0.5, 1.3) for i in range(len(skus))))
    base = min(250.0, max(0.2, rng.lognormvariate(math.log(6), 1.1)))
    base = {
        "b2b_wholesale": rng.uniform(0.15, 1.2),
        "micro_payouts": rng.uniform(25, 70),
        "preorder": rng.uniform(2, 15),
    }.get(habit, base)
    start = w.t0
    revive = w.t0 + rng.uniform(0.15, 0.5) * w.span
    if habit == "seasonal_revival":  # the season opens: relist at this year's prices
        start = revive
        for sku in skus:
            shop.reprice(
                revive - rng.uniform(2, 30) * HOUR,
                sku,
                charm(rng, shop.price_at(sku, revive) / 100 * rng.uniform(0.9, 1.25)),
            )
    growth = rng.uniform(-0.01, 0.03)
    season = rng.uniform(1.5, 4)
    if habit != "preorder":  # routine price moves: a competitor's price, a supplier's
        quiet = (sale_t - DAY, sale_t + 4 * DAY) if habit == "sale_day" else (0.0, 0.0)
        for sku in skus:
            for t in sorted(
                start + rng.random() * (w.t1 - start)
                for _ in range(poisson(rng, w.span / DAY * rng.uniform(0, 0.04)))
            ):
                if quiet[0] <= t < quiet[1]:  # the sale's own cut and restore own this stretch
                    continue
                now = shop.price_at(sku, t) / 100
                shop.reprice(t, sku, charm(rng, now * rng.uniform(0.85, 1.15)))

    def rate(day: float) -> float:
        r = base * math.exp(growth * (day - w.t0) / DAY)
        if habit == "seasonal_revival":
            r *= season * min(1.0, 0.3 + (day - revive) / (2 * DAY))
        return r

    def pick_sku(_ts: float) -> str:
        return rng.choices(skus, cum_weights=popularity)[0]

    def qty() -> int:
        if habit == "b2b_wholesale":
            return rng.choice((50, 100, 120, 200, 240, 500, 1000, 2000))
        return 1 if rng.random() < 0.8 else rng.randint(2, 4)

    weights = {
        "b2b_wholesale": OFFICE_HOURS,
        "overseas_tz": shifted(SHOPPER_HOURS, rng.choice((-12, -13, -15, -16, -7))),
    }.get(habit, SHOPPER_HOURS)
    hours = cumulate(weights, rng, 0.35)
    if habit == "b2b_wholesale":  # a handful of business customers who come back
        firms = [
            w.pool_buyer() if rng.random() < 0.3 else w.buyer() for _ in range(rng.randint(3, 15))
        ]

        def buyers() -> str:
            return rng.choice(firms)
    else:
        buyers = buyer_picker(w)
    if habit == "fashion_returns":  # bracketing: two sizes ordered, one sent back
        hb.return_p, hb.basket_p, hb.merge_p = rng.uniform(0.25, 0.55), rng.uniform(0.2, 0.5), 0.9
    weekend = 0.15 if habit == "b2b_wholesale" else hb.weekend
    groups = trade(shop, start, w.t1, rate, hours, buyers, pick_sku, qty, weekend, hb.basket_p)
    release = {sku: w.t0 + rng.uniform(0.3, 1.4) * w.span for sku in skus}
    consolidate_p, forwarded = rng.uniform(0.6, 0.95), []
    for group in groups:
        if habit == "preorder":
            preordered(shop, group, release)
        elif habit == "consolidator" and rng.random() < consolidate_p:
            forwarded += group
        else:
            honest_flow(shop, group, hb)
    if forwarded:
        consolidated(shop, forwarded, rng.uniform(1, 4))
    if habit == "sale_day":
        sale_day(shop, sale_t, skus, base, buyers)
    claims(shop, rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.5))
    new_bank, changed = shop.bank, w.t0 + rng.uniform(0.3, 0.8) * w.span
    if habit == "bank_change":  # the new card's first payout can precede the profile update
        new_bank = w.bank()
        t_reg = changed + rng.uniform(-2 * DAY, 3 * DAY)
        w.emit(
            t_reg,
            "store",
            shop.sid,
            owner_id=shop.owner,
            bank_account=new_bank,
            deposit=yuan(deposit * 100),
            category=cat,
        )

    def account(t: float) -> str:
        return new_bank if t >= changed else shop.bank

    if habit == "micro_payouts":  # an automatic sweep every hour or two, all day long
        every_h = rng.uniform(1, 3)
        n = int(w.span / (every_h * HOUR))
        times = [w.t0 + (i + rng.uniform(0, 0.3)) * every_h * HOUR for i in range(n)]
        timed_payouts(shop, times, (0.8, 1.0), account)
    elif habit == "overseas_tz":  # their office hours are our night
        timed_payouts(shop, daily_at(w, start, (-6, 4), rng.choice((1, 3, 7))), (0.6, 1.0), account)
    elif habit == "b2b_wholesale":
        every = rng.choice((7, 14, 14, 30))
        timed_payouts(shop, daily_at(w, start, (10, 17), every), (0.9, 1.0), account)
    elif habit == "seasonal_revival":
        timed_payouts(
            shop, daily_at(w, start + DAY, (9, 22), rng.choice((1, 2))), (0.7, 1.0), account
        )
    elif habit == "bank_change":
        timed_payouts(shop, daily_at(w, start, (9, 22), rng.choice((3, 7))), (0.7, 1.0), account)
    else:
        payouts(
            shop,
            start,
            w.t1,
            rng.choices(("weekly", "biweekly", "adhoc", "daily"), (45, 15, 25, 15))[0],
            [shop.bank],
        )
    return shop


def sale_day(
    shop: Shop,
    sale_t: float,
    skus: list[str],
    base: float,
    buyers: Callable[[], str],
) -> None:
    """The marketplace's sale: at its start hour the shop cuts 30-70% off a share of its
    catalogue, sells several days' worth in one night, and restores prices a few days later;
    buyers of the week before claim the difference."""
    rng = shop.w.rng
    on_sale = rng.sample(skus, max(1, int(len(skus) * rng.uniform(0.3, 0.8))))
    before = {sku: shop.price_at(sku, sale_t) for sku in on_sale}
    t_cut = sale_t + rng.uniform(-15, 5) * 60
    for sku in on_sale:
        shop.reprice(
            t_cut + rng.uniform(0, 120), sku, charm(rng, before[sku] / 100 * rng.uniform(0.3, 0.7))
        )
    t_back = sale_t + rng.uniform(1.2, 3.5) * DAY
    for sku in on_sale:
        shop.reprice(t_back + rng.uniform(0, 600), sku, before[sku])
    sale_hb = draw_habits(rng)
    sale_hb.ship_h = rng.uniform(20, 72)
    for _ in range(int(base * rng.uniform(4, 12)) + rng.randint(5, 30)):
        t = t_cut + 300 + rng.expovariate(1 / (5 * HOUR))
        if t < t_back:
            sku = rng.choice(on_sale) if rng.random() < 0.75 else rng.choice(skus)
            honest_flow(
                shop, [shop.place(t, buyers(), sku, 1 if rng.random() < 0.8 else 2)], sale_hb
            )


def sale_start(w: World) -> float:
    """The sale opens at 20:00 local two thirds into the window (10 November from 21 October)."""
    days = int(w.span // DAY)
    return w.midnights()[min(days - 1, round(days * 2 / 3))] + 20 * HOUR
