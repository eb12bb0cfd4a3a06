"""Round 4's building blocks, shared by its honest stores and its fraud: the festival's orders,
international and same-city parcels, a re-pricing robot, round sums on a weekly slot, and the
ways a crew's own orders, parcels and claims are made.

Fraud borrows these on purpose: a gang that dresses as a cross-border shop ships through the
same forwarders, a drift hidden in a robot's moves uses the same robot.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from stream.tools.redteam.gang import Gang
from stream.tools.redteam.honest import (
    buyer_picker,
    catalogue,
    courier_hours,
)
from stream.tools.redteam.round2_honest import trade
from stream.tools.redteam.world import (
    CATEGORIES,
    DAY,
    HOUR,
    PP_WINDOW,
    SHOPPER_HOURS,
    Order,
    Shop,
    World,
    cumulate,
    poisson,
    weekday,
)

# international forwarders: (prefix, digits, suffix) of their tracking numbers
CROSS_BORDER: dict[str, tuple[str, int, str]] = {
    "Cainiao Global": ("LP", 14, ""),
    "4PX": ("4PX", 11, "CN"),
    "Yanwen": ("UG", 9, "YP"),
}
LOCAL_COURIER = "Dada Now"  # same-city riders: the grocery's bags, delivered within hours
ROUND_TIERS_CNY = (1000, 2000, 3000, 5000, 8000, 10000, 20000, 30000, 50000, 100000)


def festival_day(w: World) -> float:
    """Local midnight opening the festival, half-way through the window (11 November from
    27 October)."""
    days = int(w.span // DAY)
    return w.midnights()[min(days - 1, round(days / 2))]


def festival_orders(
    shop: Shop,
    fest: float,
    start: float,
    n: int,
    pick_sku: Callable[[float], str],
    buyers: Callable[[], str],
) -> list[Order]:
    """The festival's extra orders: two in five in the midnight rush (the first hour or two),
    the rest through the day."""
    w, rng = shop.w, shop.w.rng
    hours, out = cumulate(SHOPPER_HOURS, rng, 0.3), []
    for _ in range(n):
        if rng.random() < 0.4:
            t = fest + min(3 * HOUR, rng.expovariate(1 / (35 * 60)))
        else:
            t = w.at_hour(fest, hours)
        if start <= t < w.t1:
            out.append(shop.place(t, buyers(), pick_sku(t), 1 if rng.random() < 0.8 else 2))
    return out


def cross_border_flow(shop: Shop, group: list[Order]) -> None:
    """Shipped from a bonded or overseas warehouse in 1-4 days, then 10-25 days in transit and
    customs; a few parcels are lost and refunded a month later."""
    w, rng = shop.w, shop.w.rng
    for o in group:
        if rng.random() < 0.03:
            shop.cancel(o, o.placed + rng.uniform(0.2, 20) * HOUR)
            continue
        courier = rng.choice(sorted(CROSS_BORDER))
        prefix, digits, suffix = CROSS_BORDER[courier]
        t_ship = courier_hours(w, o.placed + rng.uniform(1, 4) * DAY)
        shop.ship(o, t_ship, (w.uid(prefix, digits) + suffix, courier))
        if rng.random() < 0.04:
            shop.refund(o, t_ship + rng.uniform(28, 40) * DAY, o.value, "not_received")
            continue
        t_del = t_ship + rng.uniform(10, 25) * DAY
        shop.deliver(o, t_del)
        if rng.random() < 0.02:
            shop.refund(o, t_del + rng.uniform(1, 7) * DAY, o.value, "return")


def local_flow(shop: Shop, group: list[Order]) -> None:
    """Same-city delivery: a rider picks the bag up within the hour and brings it in one or two."""
    w, rng = shop.w, shop.w.rng
    for o in group:
        if rng.random() < 0.02:
            shop.cancel(o, o.placed + rng.uniform(2, 20) * 60)
            continue
        t = o.placed + rng.uniform(10, 60) * 60
        shop.ship(o, t, (w.uid("DD", 14), LOCAL_COURIER))
        shop.deliver(o, t + rng.uniform(20, 100) * 60)
        if rng.random() < 0.01:
            shop.refund(o, t + rng.uniform(2, 20) * HOUR, o.value * rng.uniform(0.1, 0.5), "other")


def algorithm(
    shop: Shop,
    skus: list[str],
    start: float,
    end: float,
    runs_local_h: tuple[float, ...],
    factor: Callable[[str, float, int, int], float],
    always: frozenset[str] = frozenset(),
) -> None:
    """A re-pricing robot: at each run a share of the catalogue moves by ``factor(sku, t,
    now_cents, usual_cents)``, to the cent (robots do not write charm prices); skus in
    ``always`` move at every run."""
    w, rng = shop.w, shop.w.rng
    anchor = {sku: shop.price_at(sku, start) for sku in skus}
    move_p = rng.uniform(0.4, 0.9)
    for day in w.midnights():
        for h in runs_local_h:
            t = day + h * HOUR + rng.uniform(0, 300)
            if not start <= t < end:
                continue
            for i, sku in enumerate(skus):
                if rng.random() < move_p or sku in always:
                    now = shop.price_at(sku, t)
                    new = round(now * factor(sku, t, now, anchor[sku]))
                    shop.reprice(t + i * 0.2, sku, new)


def wander(uniform: Callable[[float, float], float]) -> Callable[[str, float, int, int], float]:
    """The honest robot's move: -3% to +3% (matching a competitor), pulled back towards the
    sku's usual price so that a month of moves stays within about 15% of it."""

    def factor(_sku: str, _t: float, now: int, usual: int) -> float:
        return uniform(0.97, 1.03) * math.pow(usual / now, 0.2)

    return factor


def round_payouts(
    shop: Shop, times: list[float], amount_cny: int, account: Callable[[float], str]
) -> None:
    """The same round sum at each time; when the balance is short, the largest whole thousand
    below it (or nothing)."""
    for t in times:
        if t >= shop.w.t1:
            continue
        avail = shop.available(t)
        cents = amount_cny * 100 if avail >= amount_cny * 100 else avail // 100_000 * 100_000
        if cents >= 100_000:
            shop.withdraw(t, cents, account(t))


def round_tier(weekly_cents: float) -> int:
    """The largest round sum (CNY) a seller can count on taking out every week."""
    fits = [v for v in ROUND_TIERS_CNY if v * 100 <= weekly_cents]
    return fits[-1] if fits else ROUND_TIERS_CNY[0]


def weekly_at(
    w: World, start: float, weekday_: int, hour_local: float, jitter_h: float
) -> list[float]:
    """The same weekday and local hour every week from ``start``."""
    rng = w.rng
    return [
        day + (hour_local + rng.uniform(-jitter_h, jitter_h)) * HOUR
        for day in w.midnights()
        if weekday(day) == weekday_ and day + hour_local * HOUR >= start
    ]


def to(account: str) -> Callable[[float], str]:
    return lambda _t: account


def steady(
    shop: Shop, start: float, end: float, per_day: float, skus: list[str], new_p: float
) -> list[Order]:
    """Placed orders at a daily Poisson rate in shoppers' hours, from mostly new buyers."""
    w, rng = shop.w, shop.w.rng
    hours, pick, out = cumulate(SHOPPER_HOURS, rng, 0.3), buyer_picker(w, new_p=new_p), []
    for day in w.midnights():
        for _ in range(poisson(rng, per_day)):
            ts = w.at_hour(day, hours)
            if start <= ts < end:
                out.append(
                    shop.place(ts, pick(), rng.choice(skus), 1 if rng.random() < 0.85 else 2)
                )
    return out


def cross_border_cover(shop: Shop, start: float, end: float, per_day: float) -> None:
    """A cross-border shop's real trade, shipped through international forwarders."""
    w, rng = shop.w, shop.w.rng
    lo, hi = CATEGORIES[shop.category]
    skus = catalogue(shop, rng.randint(4, 20), lo, hi)
    for group in trade(
        shop,
        start,
        end,
        lambda _d: per_day,
        cumulate(SHOPPER_HOURS, rng, 0.3),
        buyer_picker(w),
        lambda _t: rng.choice(skus),
        lambda: 1,
    ):
        cross_border_flow(shop, group)


def international(w: World) -> tuple[str, str]:
    """A bought tracking number of an international forwarder: it will show no movement."""
    courier = w.rng.choice(sorted(CROSS_BORDER))
    prefix, digits, suffix = CROSS_BORDER[courier]
    return w.uid(prefix, digits) + suffix, courier


def bought(w: World, gang: Gang) -> tuple[str, str]:
    """A fresh number from the gang's courier contact (never one already used)."""
    courier = w.rng.choice(gang.parcels)[1]
    return w.tracking(courier), courier


def pp_window_claims(shop: Shop, orders: list[Order], p: float) -> float:
    """Claims filed late in each order's week, for the lowest price reached by then; returns the
    first claim's time."""
    rng, first = shop.w.rng, math.inf
    for o in orders:
        if o.cancelled or rng.random() > p:
            continue
        end = o.placed + PP_WINDOW - rng.uniform(1, 10) * HOUR
        drops = [(t, c) for t, c in shop.sched[o.sku] if o.placed < t <= end]
        if not drops:
            continue
        t_low, low = min(drops, key=lambda tc: tc[1])
        if low < o.price:
            when = rng.uniform(t_low + 60, max(t_low + 120, end))
            if shop.refund(o, when, (o.price - low) * o.qty - o.refunded, "price_protection"):
                first = min(first, when)
    return first
