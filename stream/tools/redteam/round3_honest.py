"""Round 3's honest stores: ten more ordinary trades that rounds 1 and 2 did not model.

Each resembles some fraud on the surface: a reseller paying out once a month in one large sum, a
charity campaign with one enormous day, siblings' shops paying one parent's card, digital goods
"delivered" the minute they are bought, made-to-order goods that many buyers cancel, a weekly
subscription box renewed at midnight by the same buyers, live-streamed evening sales, a brand
moving platforms with full volume from its first day, sloppy "raise then discount" marketing, and
companies buying gifts in round bulk amounts.
"""

from __future__ import annotations

import math
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
from stream.tools.redteam.round2_honest import OFFICE_HOURS, daily_at, timed_payouts, trade
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

HABITS3: dict[str, float] = {  # share of round 3's honest population per habit
    "plain": 0.16,
    "bulk_reseller": 0.08,
    "charity_drive": 0.06,
    "family_card": 0.08,
    "digital_goods": 0.10,
    "made_to_order": 0.08,
    "subscription_box": 0.08,
    "live_stream": 0.10,
    "platform_migrant": 0.08,
    "fake_discount": 0.10,
    "corporate_gifts": 0.08,
}
DIGITAL = "e-delivery"  # the "courier" of a code sent by the platform the minute it is paid
CATEGORY3 = {
    "bulk_reseller": ("electronics", "home", "beauty", "apparel"),
    "charity_drive": ("books", "apparel", "toys"),
    "digital_goods": ("gift_cards", "electronics", "books"),
    "made_to_order": ("jewelry", "home", "apparel"),
    "subscription_box": ("groceries", "pets", "beauty", "tea"),
    "live_stream": ("apparel", "beauty", "jewelry", "groceries"),
    "corporate_gifts": ("tea", "groceries", "home", "jewelry"),
}


def deliver_now(shop: Shop, o: Order) -> None:
    """Digital delivery: a licence key or top-up code goes out a minute or two after payment
    and counts as delivered seconds later; there is no parcel."""
    rng = shop.w.rng
    t = o.placed + rng.uniform(60, 240)
    shop.ship(o, t, (shop.w.uid("KEY", 14), DIGITAL))
    shop.deliver(o, t + rng.uniform(1, 40))


def stream_nights(w: World, per_week: float, hour_local: float = 20.0) -> list[float]:
    """Start times of a seller's live streams: a few evenings a week at a fixed local hour."""
    rng = w.rng
    return [
        day + (hour_local + rng.uniform(-0.25, 0.5)) * HOUR
        for day in w.midnights()
        if rng.random() < per_week / 7 and w.t0 <= day + hour_local * HOUR < w.t1
    ]


def live_orders(
    shop: Shop, t_on: float, n: int, skus: list[str], buyers: Callable[[], str]
) -> list[Order]:
    """A stream's orders: most in its two hours, bunched after each item is shown."""
    rng = shop.w.rng
    return [
        shop.place(
            t_on + min(2 * HOUR, rng.expovariate(1 / (40 * 60))) + rng.uniform(0, 600),
            buyers(),
            rng.choice(skus),
            1 if rng.random() < 0.85 else 2,
        )
        for _ in range(n)
    ]


def honest3(w: World, habit: str, family_card: str | None = None) -> Shop:
    """One honest store of round 3; ``family_card`` is the card a family_card store pays."""
    rng = w.rng
    cat = rng.choice(CATEGORY3.get(habit) or [c for c in CATEGORIES if c != "luxury"])
    shop = Shop(w, f"legit/{habit}", cat)
    hb = draw_habits(rng)
    migrant = habit == "platform_migrant"
    opened = (
        w.t0 + rng.uniform(-10, 0.5 * w.span / DAY) * DAY
        if migrant
        else w.t0 - rng.uniform(365, 8 * 365) * DAY
    )
    if habit == "charity_drive" and rng.random() < 0.6:  # a store opened for the campaign
        opened = w.t0 + rng.uniform(-20, 0.3 * w.span / DAY) * DAY
    shop.register(opened, rng.choice((3000, 5000, 10000, 10000, 20000, 50000)))
    start = max(w.t0, opened)
    lo, hi = CATEGORIES[cat]
    if habit == "corporate_gifts":
        skus = [shop.add_sku(v * 100) for v in rng.sample((100, 150, 200, 300, 500, 800), 4)]
    elif habit == "subscription_box":
        skus = catalogue(shop, rng.randint(2, 4), max(lo, 59), min(hi, 399))
    else:
        skus = catalogue(shop, rng.randint(4, 50), lo, hi)
    popularity = list(accumulate(1 / (i + 1) ** rng.uniform(0.5, 1.2) for i in range(len(skus))))
    base = min(300.0, max(0.3, rng.lognormvariate(math.log(8), 1.0)))
    base = {
        "bulk_reseller": rng.uniform(8, 60),
        "platform_migrant": rng.uniform(20, 120),
        "charity_drive": rng.uniform(0.3, 3),
        "corporate_gifts": rng.uniform(0.5, 3),
        "subscription_box": rng.uniform(0.3, 2),
        "live_stream": rng.uniform(1, 6),
    }.get(habit, base)
    if habit == "fake_discount":  # "was 299, now 199": the price goes up before the discount
        for sku in rng.sample(skus, max(1, len(skus) // 2)):
            t = start + rng.uniform(0, 6) * DAY
            while t < w.t1:
                p0 = shop.price_at(sku, t) / 100
                shop.reprice(t, sku, charm(rng, p0 * rng.uniform(1.3, 1.8)))
                t_cut = t + rng.uniform(3, 10) * DAY
                shop.reprice(t_cut, sku, charm(rng, p0 * rng.uniform(0.85, 1.05)))
                t = t_cut + rng.uniform(5, 15) * DAY
    elif habit not in ("corporate_gifts", "subscription_box", "live_stream"):
        for sku in skus:  # routine moves (a streamer's prices move on air only)
            for t in sorted(
                start + rng.random() * (w.t1 - start)
                for _ in range(poisson(rng, w.span / DAY * rng.uniform(0, 0.03)))
            ):
                shop.reprice(
                    t, sku, charm(rng, shop.price_at(sku, t) / 100 * rng.uniform(0.9, 1.1))
                )

    def rate(_day: float) -> float:
        return base

    def pick_sku(_ts: float) -> str:
        return rng.choices(skus, cum_weights=popularity)[0]

    def qty() -> int:
        if habit == "bulk_reseller":
            return rng.choice((1, 1, 2, 3, 5, 10))
        return 1 if rng.random() < 0.8 else rng.randint(2, 3)

    if migrant:  # followers come along from the old platform: many regulars from day one
        buyers = buyer_picker(w, new_p=0.1)
    else:
        buyers = buyer_picker(w)
    hours = cumulate(SHOPPER_HOURS, rng, 0.35)
    if habit == "made_to_order":  # weeks of lead time; buyers who cannot wait cancel
        hb.cancel_p, hb.ship_h = rng.uniform(0.15, 0.4), rng.uniform(5, 20) * 24
    groups = trade(shop, start, w.t1, rate, hours, buyers, pick_sku, qty, hb.weekend, hb.basket_p)
    for group in groups:
        if habit == "digital_goods":
            for o in group:
                deliver_now(shop, o)
                if rng.random() < 0.01:
                    shop.refund(o, o.placed + rng.uniform(1, 48) * HOUR, o.value, "other")
        else:
            honest_flow(shop, group, hb)
    if habit == "charity_drive":
        campaign(shop, start, buyers)
    elif habit == "subscription_box":
        subscriptions(shop, start, skus[0])
    elif habit == "live_stream":
        streams(shop, skus, buyers)
    elif habit == "corporate_gifts":
        gift_orders(shop, start, skus)
    claims(shop, rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.5))
    if habit == "bulk_reseller":  # restocks in bulk, pays out once a month in one sum
        first = start + rng.uniform(0.3, 1.0) * w.span
        timed_payouts(shop, [first, first + rng.uniform(25, 35) * DAY], (0.92, 1.0), _to(shop.bank))
    elif habit == "family_card" and family_card is not None:  # the parents' card pays the stock
        every = rng.choice((3, 7, 7, 14))
        times = daily_at(w, start, (10, 22), every)
        timed_payouts(shop, times, (0.6, 1.0), _to(family_card))
    elif habit == "charity_drive":  # the campaign's sum is paid out to the charity's account
        timed_payouts(shop, daily_at(w, start, (10, 18), 2), (0.7, 1.0), _to(shop.bank))
    elif migrant:
        timed_payouts(shop, daily_at(w, start + DAY, (9, 21), 7), (0.8, 1.0), _to(shop.bank))
    elif habit == "digital_goods":
        payouts(shop, start, w.t1, rng.choice(("daily", "daily", "weekly")), [shop.bank])
    else:
        cadence = rng.choices(("weekly", "biweekly", "adhoc", "daily"), (45, 20, 25, 10))[0]
        payouts(shop, start, w.t1, cadence, [shop.bank])
    return shop


def _to(account: str) -> Callable[[float], str]:
    return lambda _t: account


def campaign(shop: Shop, start: float, buyers: Callable[[], str]) -> None:
    """One campaign day: donation packs at round prices sell in their hundreds, mostly to
    people who have never bought here, then the shop goes back to a trickle."""
    w, rng = shop.w, shop.w.rng
    packs = [shop.add_sku(v * 100) for v in (10, 20, 50, 100, 200)]
    day = rng.choice([d for d in w.midnights() if start - DAY < d < w.t1 - DAY] or [start])
    hb = draw_habits(rng)
    hb.ship_h = rng.uniform(24, 96)
    for _ in range(rng.randint(200, 1200)):
        t = day + rng.uniform(8, 23.5) * HOUR
        if start <= t < w.t1:
            buyer = w.buyer() if rng.random() < 0.7 else buyers()
            o = shop.place(t, buyer, rng.choices(packs, (30, 30, 20, 15, 5))[0], 1)
            honest_flow(shop, [o], hb)


def subscriptions(shop: Shop, start: float, box: str) -> None:
    """A weekly box: subscribers' renewals are charged together just after local midnight on
    the renewal day; a few skip a week (cancel) or stop."""
    w, rng = shop.w, shop.w.rng
    subscribers = [
        w.pool_buyer() if rng.random() < 0.5 else w.buyer() for _ in range(rng.randint(20, 250))
    ]
    renew_dow, hb = rng.randrange(7), draw_habits(rng)
    hb.cancel_p, hb.ship_h = 0.0, rng.uniform(24, 60)
    for i, day in enumerate(w.midnights()):
        if (i + renew_dow) % 7 or day < start:
            continue
        subscribers = [s for s in subscribers if rng.random() > 0.02]
        subscribers += [w.buyer() for _ in range(poisson(rng, len(subscribers) * 0.03))]
        for s in subscribers:
            o = shop.place(day + rng.uniform(0, 40) * 60, s, box, 1)
            if rng.random() < 0.04:
                shop.cancel(o, o.placed + rng.uniform(1, 30) * HOUR)
            else:
                honest_flow(shop, [o], hb)


def streams(shop: Shop, skus: list[str], buyers: Callable[[], str]) -> None:
    """Two-hour evening streams: featured items drop to a stream price on air and go back up
    after; a stream sells dozens to hundreds of orders."""
    w, rng = shop.w, shop.w.rng
    audience = rng.uniform(20, 300)
    hb = draw_habits(rng)
    hb.ship_h, hb.return_p = rng.uniform(24, 80), rng.uniform(0.05, 0.2)
    for t_on in stream_nights(w, rng.uniform(2, 5)):
        featured = rng.sample(skus, min(len(skus), rng.randint(2, 6)))
        before = {sku: shop.price_at(sku, t_on) for sku in featured}
        for sku in featured:
            shop.reprice(
                t_on - rng.uniform(0, 300),
                sku,
                charm(rng, before[sku] / 100 * rng.uniform(0.6, 0.85)),
            )
        for o in live_orders(shop, t_on, poisson(rng, audience), featured, buyers):
            honest_flow(shop, [o], hb)
        for sku in featured:
            shop.reprice(t_on + rng.uniform(2.2, 3) * HOUR, sku, before[sku])


def gift_orders(shop: Shop, start: float, skus: list[str]) -> None:
    """Companies buying gifts for staff or clients: a few buyers, office hours, round unit
    prices and round quantities, one consignment per order."""
    w, rng = shop.w, shop.w.rng
    firms = [w.buyer() for _ in range(rng.randint(1, 4))]
    office = cumulate(OFFICE_HOURS, rng, 0.2)
    for _ in range(rng.randint(2, 6)):
        day = w.midnights()[rng.randrange(int((w.t1 - start) / DAY) + 1)]
        t = w.at_hour(day, office)
        if not start <= t < w.t1:
            continue
        o = shop.place(
            t, rng.choice(firms), rng.choice(skus), rng.choice((20, 50, 100, 200, 300, 500))
        )
        shop.ship(o, t + rng.uniform(1, 4) * DAY)
        shop.deliver(o, t + rng.uniform(5, 8) * DAY)
