"""Honest stores: habits whose surface traits resemble fraud (launch promotions, clearances, sweeps...)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

from stream.tools.redteam.world import (
    CATEGORIES,
    DAY,
    HOUR,
    LOCAL,
    NIGHT_HOURS,
    PP_WINDOW,
    SHOPPER_HOURS,
    Order,
    Shop,
    World,
    charm,
    cumulate,
    poisson,
    weekday,
)


@dataclass
class Habits:
    """How a store fulfils orders; every store draws its own values."""

    cancel_p: float
    ship_h: float  # median hours from order to shipping
    deliver_d: float  # median days in transit
    lost_p: float
    return_p: float
    other_p: float
    basket_p: float  # a buyer placing several orders at once
    merge_p: float  # such orders leaving in one parcel
    weekend: float
    bad_courier: tuple[float, float, float] = (0.0, 0.0, 0.0)  # from, to, lost share


def draw_habits(rng: random.Random, dropship: bool = False) -> Habits:
    return Habits(
        cancel_p=rng.uniform(0.01, 0.08) * (1.6 if dropship else 1),
        ship_h=rng.uniform(50, 130) if dropship else rng.lognormvariate(math.log(14), 0.7),
        deliver_d=rng.uniform(1.2, 4.0) * (1.4 if dropship else 1),
        lost_p=rng.uniform(0.002, 0.02) * (2.5 if dropship else 1),
        return_p=rng.uniform(0.005, 0.07),
        other_p=rng.uniform(0.0, 0.01),
        basket_p=rng.uniform(0.0, 0.12),
        merge_p=rng.uniform(0.0, 0.4),
        weekend=rng.uniform(0.7, 1.6),
    )


def courier_hours(w: World, ts: float) -> float:
    """Parcels leave during couriers' local pick-up hours (08:00-21:00)."""
    local_h = ((ts + LOCAL) % DAY) / HOUR
    if 8 <= local_h < 21:
        return ts
    wait = (8 - local_h) % 24
    return ts + wait * HOUR + w.rng.uniform(0, 4) * HOUR


def honest_flow(shop: Shop, group: list[Order], hb: Habits) -> None:
    """Cancel, ship (one parcel for a merged basket), deliver or lose, and maybe refund."""
    w, rng = shop.w, shop.w.rng
    live = []
    for o in group:
        if rng.random() < hb.cancel_p:
            shop.cancel(o, o.placed + rng.uniform(300, 12 * HOUR))
        else:
            live.append(o)
    if not live:
        return
    ship_ts = courier_hours(
        w,
        max(o.placed for o in live) + max(0.3, rng.lognormvariate(math.log(hb.ship_h), 0.5)) * HOUR,
    )
    merged = len(live) > 1 and rng.random() < hb.merge_p
    for parcel in [live] if merged else [[o] for o in live]:
        p_ship = ship_ts + rng.uniform(0, 1800)
        ref = shop.ship(parcel[0], p_ship)
        for o in parcel[1:]:
            shop.ship(o, p_ship + rng.uniform(0, 90), ref)
        lo, hi, bad = hb.bad_courier
        if rng.random() < (bad if lo <= p_ship < hi else hb.lost_p):
            for o in parcel:
                if rng.random() < 0.85:
                    shop.refund(o, p_ship + rng.uniform(5, 15) * DAY, o.value, "not_received")
            continue
        d_ts = p_ship + min(8.0, max(0.4, rng.lognormvariate(math.log(hb.deliver_d), 0.4))) * DAY
        for o in parcel:
            shop.deliver(o, d_ts + rng.uniform(0, 60))
            if rng.random() < hb.return_p:
                share = 1.0 if rng.random() < 0.7 else rng.uniform(0.3, 0.9)
                shop.refund(o, d_ts + rng.uniform(1, 7) * DAY, o.value * share, "return")
    for o in live:
        if rng.random() < hb.other_p:
            shop.refund(
                o,
                o.placed + rng.uniform(2 * HOUR, 10 * DAY),
                o.value * rng.uniform(0.05, 0.3),
                "other",
            )


def buyer_picker(w: World, new_p: float | None = None) -> Callable[[], str]:
    """Each store's mix of its own regulars, marketplace-wide shoppers and first-time buyers."""
    rng = w.rng
    regulars = [w.pool_buyer() for _ in range(rng.randint(3, 120))]
    reg_p = rng.uniform(0.05, 0.5)
    new_p = rng.uniform(0.15, 0.5) if new_p is None else new_p

    def pick() -> str:
        r = rng.random()
        if r < reg_p:
            return rng.choice(regulars)
        return w.buyer() if r < reg_p + new_p * (1 - reg_p) else w.pool_buyer()

    return pick


def catalogue(shop: Shop, n: int, lo: float, hi: float) -> list[str]:
    rng = shop.w.rng
    return [
        shop.add_sku(charm(rng, math.exp(rng.uniform(math.log(lo), math.log(hi)))))
        for _ in range(n)
    ]


def organic(
    shop: Shop,
    hb: Habits,
    start: float,
    end: float,
    rate: Callable[[float], float],
    hours: list[float],
    buyers: Callable[[], str],
    pick_sku: Callable[[float], str],
    qty: Callable[[], int],
) -> None:
    """Ordinary orders: a daily Poisson count shaped by weekday and the store's local rhythm."""
    w, rng = shop.w, shop.w.rng
    for day in w.midnights():
        if day + DAY <= start or day >= end:
            continue
        lam = rate(day) * (hb.weekend if weekday(day) >= 5 else 1.0)
        for _ in range(poisson(rng, lam)):
            ts = w.at_hour(day, hours)
            if not start <= ts < end:
                continue
            buyer = buyers()
            k = 1 if rng.random() >= hb.basket_p else rng.randint(2, 4)
            group = [
                shop.place(ts + j * rng.uniform(20, 600), buyer, pick_sku(ts), qty())
                for j in range(k)
            ]
            honest_flow(shop, group, hb)


def claims(shop: Shop, p_small: float, p_big: float) -> None:
    """Buyers claim price protection when a price falls within a week of their purchase."""
    rng = shop.w.rng
    for o in list(shop.orders):
        if o.cancelled:
            continue
        drops = [(t, p) for t, p in shop.sched[o.sku] if o.placed < t <= o.placed + PP_WINDOW]
        if not drops:
            continue
        t, low = min(drops, key=lambda tp: tp[1])
        if low >= o.price:
            continue
        cut = 1 - low / o.price
        if rng.random() < (p_big if cut >= 0.15 else p_small):
            when = min(t + rng.lognormvariate(math.log(8 * HOUR), 1.0), o.placed + PP_WINDOW - 60)
            shop.refund(o, max(when, t + 60), (o.price - low) * o.qty, "price_protection")


def payouts(shop: Shop, start: float, end: float, cadence: str, accounts: list[str]) -> None:
    """The seller's payout cadence; each payout takes a share of what is available."""
    w, rng = shop.w, shop.w.rng
    hour, day_of_week, frac = rng.uniform(9, 23), rng.randrange(7), rng.uniform(0.5, 1.0)
    adhoc_p, threshold = rng.uniform(0.05, 0.3), rng.uniform(500, 20000) * 100
    weights = [1.0] + [rng.uniform(0.2, 1.0) for _ in accounts[1:]]
    for i, day in enumerate(w.midnights()):
        due = (
            cadence in ("daily", "threshold")
            or (cadence == "weekly" and weekday(day) == day_of_week)
            or (cadence == "biweekly" and weekday(day) == day_of_week and (i // 7) % 2 == 0)
            or (cadence == "adhoc" and rng.random() < adhoc_p)
        )
        t = day + (hour + rng.uniform(-0.5, 0.5)) * HOUR
        if not due or not start <= t < end:
            continue
        avail = shop.available(t)
        if cadence == "threshold" and avail < threshold:
            continue
        share = 1.0 if cadence == "daily" else rng.uniform(frac, 1.0)
        shop.withdraw(t, avail * share, rng.choices(accounts, weights)[0])


def honest_store(w: World, habit: str, owner: str | None = None, bank: str | None = None) -> Shop:
    rng = w.rng
    cat = {
        "round_vouchers": "gift_cards",
        "big_ticket": rng.choice(("luxury", "jewelry", "appliances")),
        "wholesale": rng.choice(("groceries", "home", "apparel", "auto_parts", "tea")),
    }.get(habit) or rng.choice([c for c in CATEGORIES if c not in ("gift_cards", "luxury")])
    shop = Shop(w, f"legit/{habit}", cat, owner, bank)
    hb = draw_habits(rng, dropship=habit == "dropship")
    if habit == "merged_parcels":
        hb.basket_p, hb.merge_p = rng.uniform(0.15, 0.45), rng.uniform(0.85, 1.0)
    base = min(350.0, max(0.15, rng.lognormvariate(math.log(4), 1.3)))
    base = {
        "wholesale": rng.uniform(0.2, 2),
        "big_ticket": rng.uniform(0.1, 1.2),
        "round_vouchers": rng.uniform(3, 40),
    }.get(habit, base)
    new = habit in ("launch_promo", "new_store")
    opened = w.t0 + rng.uniform(0, 0.6) * w.span if new else w.t0 - rng.uniform(30, 6 * 365) * DAY
    if habit != "no_store_event":
        shop.register(
            opened, rng.choice((500, 1000, 1000, 1000, 2000, 3000, 5000, 10000, 20000, 50000))
        )
    lo, hi = CATEGORIES[cat]
    if habit == "round_vouchers":
        faces = rng.sample((50, 100, 200, 300, 500, 1000), rng.randint(3, 6))
        skus = [shop.add_sku(v * 100) for v in faces]
    else:
        skus = catalogue(shop, rng.randint(2, 12) if base < 1 else rng.randint(5, 60), lo, hi)
    popularity = list(accumulate(1 / (i + 1) ** rng.uniform(0.6, 1.4) for i in range(len(skus))))
    start = max(opened, w.t0)
    revive = w.t0 + rng.uniform(0.3, 0.6) * w.span
    if habit == "revived_dormant":  # silent in the data until the owner returns, often relisting
        start = revive + rng.uniform(0, DAY)
        if rng.random() < 0.5:
            for sku in rng.sample(skus, max(1, len(skus) // 3)):
                shop.reprice(
                    start - rng.uniform(1, 12) * HOUR,
                    sku,
                    charm(rng, shop.price_at(sku, start) / 100 * rng.uniform(0.85, 1.15)),
                )
    # prices: routine moves on some skus, a launch promotion or a clearance on others
    special: list[str] = rng.sample(skus, max(1, int(len(skus) * rng.uniform(0.2, 0.6))))
    promo = (start + rng.uniform(0.5, 3) * DAY, rng.uniform(2, 5) * DAY)
    clear_t = w.t0 + rng.uniform(0.25, 0.8) * w.span
    for sku in skus:
        if habit == "launch_promo" and sku in special:
            p0 = shop.price_at(sku, start)
            shop.reprice(promo[0], sku, charm(rng, p0 / 100 * rng.uniform(0.5, 0.8)))
            shop.reprice(promo[0] + promo[1], sku, p0)
        elif habit == "deep_clearance" and sku in special:
            shop.reprice(
                clear_t + rng.uniform(0, 3 * HOUR),
                sku,
                charm(rng, shop.price_at(sku, clear_t) / 100 * rng.uniform(0.1, 0.4)),
            )
        elif habit != "round_vouchers":  # a voucher's face value does not move
            for t in sorted(
                start + rng.random() * (w.t1 - start)
                for _ in range(poisson(rng, w.span / DAY * rng.uniform(0, 0.05)))
            ):
                now = shop.price_at(sku, t) / 100
                shop.reprice(t, sku, charm(rng, now * rng.uniform(0.8, 1.2)))
    ramp, growth = rng.uniform(3, 12) * DAY, rng.uniform(-0.015, 0.03)
    flash = (w.t0 + rng.uniform(0.2, 0.85) * w.span, rng.uniform(10, 40))

    def rate(day: float) -> float:
        r = base * math.exp(growth * (day - w.t0) / DAY)
        if new:
            r *= min(1.0, 0.2 + (day - opened) / ramp)
            if habit == "launch_promo" and promo[0] - DAY <= day < promo[0] + promo[1]:
                r *= 2.5
        if habit == "revived_dormant":
            r = 0.0 if day < revive - DAY else r * min(1.0, 0.15 + (day - revive) / ramp)
        if habit == "deep_clearance" and clear_t - DAY <= day < clear_t + 5 * DAY:
            r *= 2.0
        return r

    def pick_sku(ts: float) -> str:
        if habit == "deep_clearance" and ts >= clear_t and rng.random() < 0.5:
            return rng.choice(special)
        return rng.choices(skus, cum_weights=popularity)[0]

    if habit == "wholesale":

        def qty() -> int:
            return rng.randint(10, 400)
    else:

        def qty() -> int:
            return 1 if rng.random() < 0.8 else rng.randint(2, 5)

    hours = cumulate(NIGHT_HOURS if habit == "round_vouchers" else SHOPPER_HOURS, rng, 0.35)
    buyers = buyer_picker(w, new_p=0.05 if habit == "wholesale" else None)
    if habit == "lost_parcels":
        lost_from = w.t0 + rng.uniform(0.1, 0.7) * w.span
        hb.bad_courier = (lost_from, lost_from + rng.uniform(3, 7) * DAY, rng.uniform(0.3, 0.7))
    organic(shop, hb, start, w.t1, rate, hours, buyers, pick_sku, qty)
    if habit == "flash_sale":  # one evening's livestream sale
        t_f = flash[0] - (flash[0] + LOCAL) % DAY + rng.uniform(19, 21) * HOUR
        n = int(flash[1] + base * 5)
        live_hb = Habits(**{**hb.__dict__, "ship_h": rng.uniform(20, 60)})
        for _ in range(n):
            o = shop.place(
                t_f + rng.uniform(0, 4) * HOUR,
                buyers(),
                rng.choice(special),
                1 if rng.random() < 0.85 else 2,
            )
            honest_flow(shop, [o], live_hb)
    claims(shop, rng.uniform(0.0, 0.15), rng.uniform(0.2, 0.6))
    accounts = [shop.bank]
    if habit == "several_accounts":
        accounts += [w.bank() for _ in range(rng.randint(1, 2))]
    cadence = {
        "daily_sweep": "daily",
        "round_vouchers": "daily",
        "big_ticket": "adhoc",
        "flash_sale": rng.choice(("adhoc", "weekly")),
    }.get(habit) or rng.choices(
        ("weekly", "biweekly", "adhoc", "threshold", "daily"), (40, 12, 25, 15, 8)
    )[0]
    payouts(shop, start, w.t1, cadence, accounts)
    return shop


# --------------------------------------------------------------------------- fraud
