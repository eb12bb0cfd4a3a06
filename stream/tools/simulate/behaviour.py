"""Behaviour honest stores and fraud camouflage share: shoppers, fulfilment, refunds, payouts.

Fraud stores borrow these pieces to look ordinary, which is why they live apart from both the
honest habits and the schemes: a detector cannot tell the two apart by the code path taken.
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_left
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from stream.tools.simulate.core import (
    DAY_MS,
    HOUR_MS,
    LOCAL_UTC_OFFSET_MS,
    MINUTE_MS,
    PRICE_PROTECTION_WINDOW_MS,
    AfterSale,
    Cut,
    Order,
    Sku,
    Store,
)
from stream.tools.simulate.world import CATEGORIES, COURIERS, World

HOURS = range(24)
# Orders by local hour: an evening peak for most shoppers, small hours for night owls (honest
# night-time sellers and gamblers alike draw from these).
SHOPPER_HOURS_CUM = list(
    itertools.accumulate(
        (3, 2, 1, 0.6, 0.5, 0.6, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 7, 5)
    )
)
NIGHT_HOURS_CUM = list(
    itertools.accumulate(
        (
            9,
            10,
            10,
            9,
            7,
            4,
            1,
            0.3,
            0.2,
            0.2,
            0.2,
            0.2,
            0.3,
            0.3,
            0.3,
            0.3,
            0.3,
            0.3,
            0.5,
            0.8,
            1.5,
            3,
            5,
            7,
        )
    )
)
WEEKDAY_FACTOR = (0.95, 0.93, 0.97, 1.0, 1.05, 1.15, 1.2)  # Monday first

CANCEL_RATE = 0.03
LOST_PARCEL_RATE = 0.01
OTHER_REFUND_RATE = 0.008

Basket = list[Order]
Fulfil = Callable[[Basket], None]


class Discount(NamedTuple):
    """A price factor a SKU carries from ``begin_ms`` until ``end_ms``."""

    begin_ms: int
    end_ms: int
    factor: float


class Claimants(NamedTuple):
    """How buyers use price protection: who claims a cut, and how soon after it."""

    chance: float  # of claiming any cut...
    chance_per_depth: float  # ...plus this times the share of the price cut
    min_delay_ms: int
    mean_extra_delay_ms: int


SHOPPERS_CLAIM = Claimants(0.1, 0.6, 10 * MINUTE_MS, 8 * HOUR_MS)


class Shoppers(NamedTuple):
    """Who buys at a store and when: the crowd's rhythm, or a store's own night or loyal trade."""

    hours_cum: list[float] = SHOPPER_HOURS_CUM
    regulars: int = 5
    regular_share: float = 0.2  # of orders placed by the store's regulars
    basket_rate: float = 0.0  # of orders followed by more from the same buyer, shipped as one
    sale_day_factor: float = 1.0  # extra lift on the marketplace-wide sale day


CROWD = Shoppers()  # the marketplace's ordinary shoppers


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: Knuth's product of uniforms when small, a rounded normal when large."""
    if mean <= 0:
        return 0
    if mean > 40:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def discounted_fen(base_fen: int, factor: float) -> int:
    """``base_fen`` times ``factor``, to the 10 fen, never below 1 CNY.

    >>> discounted_fen(1_299_900, 0.03)
    39000
    """
    return max(100, round(base_fen * factor / 10) * 10)


def popularity(count: int) -> list[float]:
    """Cumulative Zipf weights: a few best sellers (or most loyal buyers), a long tail."""
    return list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(count)))


def honest_category(rng: random.Random) -> str:
    return rng.choices(list(CATEGORIES), [c.honest_weight for c in CATEGORIES.values()])[0]


def quantity(rng: random.Random, unit_price_fen: int) -> int:
    if unit_price_fen > 1_000_00 or rng.random() < 0.8:
        return 1
    return rng.choice((2, 2, 2, 3, 4, 5))


def day_times(w: World, day: int, count: int, hours_cum: list[float]) -> list[int]:
    """``count`` moments of a local day, following an hour-of-day profile."""
    day_ms = w.day0_ms + day * DAY_MS
    return [
        day_ms + hour * HOUR_MS + w.rng.randrange(HOUR_MS)
        for hour in w.rng.choices(HOURS, cum_weights=hours_cum, k=count)
    ]


def weekday(w: World, day: int) -> int:
    return datetime.fromtimestamp(
        (w.day0_ms + LOCAL_UTC_OFFSET_MS + day * DAY_MS) / 1000, UTC
    ).weekday()


def fulfil_honestly(
    w: World, basket: Basket, courier: str, handling_h: float, return_rate: float
) -> None:
    """Cancel, or ship and deliver; plan the return, lost parcel or goodwill refund, if any.

    A basket of one buyer's orders travels in one parcel under one tracking number, as real
    merchants ship them; each order keeps its own after-sale fate.
    """
    rng = w.rng
    placed_ms = max(order.placed_ms for order in basket)
    if rng.random() < CANCEL_RATE:
        for order in basket:
            w.log.cancel(order, order.placed_ms + w.delay_ms(0.05, 10))
        return
    shipped_ms = placed_ms + w.delay_ms(0.3 * handling_h, 1.7 * handling_h) + 5 * MINUTE_MS
    parcel = w.ids.parcel(courier)
    if rng.random() < LOST_PARCEL_RATE:
        for order in basket:
            w.log.ship(order, shipped_ms, parcel)
            order.after_sale = AfterSale(
                shipped_ms + w.delay_ms(7 * 24, 12 * 24), "not_received", 1
            )
        return
    delivered_ms = shipped_ms + w.delay_ms(18, 100)
    for order in basket:
        w.log.ship(order, shipped_ms, parcel, delivered_ms)
        draw = rng.random()
        if draw < return_rate:
            order.after_sale = AfterSale(delivered_ms + w.delay_ms(24, 7 * 24), "return", 1)
        elif draw < return_rate + OTHER_REFUND_RATE:
            order.after_sale = AfterSale(
                delivered_ms + w.delay_ms(2, 5 * 24), "other", rng.uniform(0.1, 0.5)
            )


def honest_fulfilment(w: World, store: Store, handling_h: float) -> Fulfil:
    courier = w.rng.choice(list(COURIERS))
    return_rate = CATEGORIES[store.category].return_rate
    return lambda basket: fulfil_honestly(w, basket, courier, handling_h, return_rate)


def settle_after_sale(w: World, orders: Sequence[Order]) -> None:
    """Returns, lost parcels and goodwill refunds, after price protection has had its share."""
    for order in orders:
        if order.after_sale is not None:
            ts_ms, reason, share = order.after_sale
            w.log.refund(order, ts_ms, round(order.paid_fen * share), reason)


def claim_price_protection(
    w: World, orders: Sequence[Order], cuts: Sequence[Cut], claimants: Claimants
) -> None:
    """Buyers who paid more in the week before a cut claim the difference, before a full
    refund closes their order; each claim protects them down to the new price."""
    by_sku: dict[str, list[Order]] = {}
    for order in sorted(orders, key=lambda o: o.placed_ms):
        by_sku.setdefault(order.sku, []).append(order)
    placed_ms = {sku: [o.placed_ms for o in sold] for sku, sold in by_sku.items()}
    for cut in sorted(cuts):
        sold = by_sku.get(cut.sku, [])
        first = bisect_left(placed_ms.get(cut.sku, []), cut.ts_ms - PRICE_PROTECTION_WINDOW_MS)
        for order in sold[first : bisect_left(placed_ms.get(cut.sku, []), cut.ts_ms)]:
            if order.cancelled or order.protected_fen <= cut.new_fen:
                continue
            depth = 1 - cut.new_fen / order.protected_fen
            if w.rng.random() > claimants.chance + claimants.chance_per_depth * depth:
                continue
            claim_ms = (
                cut.ts_ms
                + claimants.min_delay_ms
                + int(w.rng.expovariate(1 / claimants.mean_extra_delay_ms))
            )
            if order.closed_ms is not None and claim_ms >= order.closed_ms:
                continue
            amount_fen = (order.protected_fen - cut.new_fen) * order.quantity
            if w.log.refund(order, claim_ms, amount_fen, "price_protection"):
                order.protected_fen = cut.new_fen


def apply_discounts(
    w: World, store: Store, catalog: Sequence[Sku], discounts: dict[int, list[Discount]]
) -> list[Cut]:
    """Emit the price changes that discounts (by catalog index) imply; return the cuts.

    A SKU's price at a moment is its base times every discount active then, so overlapping
    promotions, clearance and the sale day compose without contradicting one another.
    """
    cuts = []
    for index, sku_discounts in sorted(discounts.items()):
        sku = catalog[index]
        bounds_ms = {ts for d in sku_discounts for ts in (d.begin_ms, d.end_ms)}
        for bound_ms in sorted(bounds_ms):
            factor = math.prod(d.factor for d in sku_discounts if d.begin_ms <= bound_ms < d.end_ms)
            new_fen = sku.base_fen if factor == 1 else discounted_fen(sku.base_fen, factor)
            old_fen = sku.price_fen[-1]
            if w.log.reprice(store.store_id, sku, bound_ms, new_fen) and new_fen < old_fen:
                cuts.append(Cut(bound_ms, sku.sku, new_fen))
    return cuts


def payout_times(w: World, cadence: str, from_ms: int, local_hour: float) -> list[int]:
    """When a store asks for its money: daily, weekly, ad hoc, quickly after opening, never."""
    rng = w.rng
    if cadence == "never":
        return []
    if cadence == "quick":  # every day, from a few hours after opening
        return [from_ms + w.delay_ms(3, 20) + day * DAY_MS for day in range(w.local_days)]
    if cadence == "ad_hoc":
        times, ts_ms = [], from_ms
        while ts_ms < w.end_ms:
            ts_ms += int(rng.expovariate(1 / (rng.uniform(2, 9) * DAY_MS)))
            times.append(ts_ms)
        return times
    step_days = 1 if cadence == "daily" else 7
    first_day = w.local_day(from_ms) + (rng.randrange(7) if cadence == "weekly" else 0)
    return [
        w.day0_ms + day * DAY_MS + int(local_hour * HOUR_MS) + rng.randrange(45 * MINUTE_MS)
        for day in range(first_day, w.local_days, step_days)
    ]


def daily_demand(w: World, day: int, opened_ms: int, sale_day_factor: float = 1.0) -> float:
    """Weekly rhythm, the sale day and the dip before it, and a new store's ramp-up."""
    sale_day = w.local_day(w.sale_start_ms)
    factor = WEEKDAY_FACTOR[weekday(w, day)] * w.rng.lognormvariate(0, 0.25)
    if day == sale_day:
        factor *= w.rng.uniform(2.5, 4) * sale_day_factor
    elif sale_day - 2 <= day < sale_day:
        factor *= 0.85
    age_days = (w.day0_ms + day * DAY_MS - opened_ms) / DAY_MS
    return factor * min(1.0, 0.3 + max(0.0, age_days) / 10)


def shop(
    w: World,
    store: Store,
    catalog: Sequence[Sku],
    orders_per_day: float,
    fulfil: Fulfil,
    until_ms: int | None = None,
    from_ms: int | None = None,
    shoppers: Shoppers = CROWD,
) -> list[Order]:
    """Ordinary shoppers buying from a store between ``from_ms`` and ``until_ms``: regulars
    and passers-by, now and then a buyer adding to a basket that ships as one parcel."""
    rng = w.rng
    ranks = popularity(len(catalog))
    regulars = rng.sample(w.shoppers, shoppers.regulars)
    loyalty = popularity(len(regulars))
    from_ms = store.opened_ms if from_ms is None else max(from_ms, store.opened_ms)
    until_ms = w.end_ms if until_ms is None else until_ms
    orders = []
    for day in range(max(0, w.local_day(from_ms)), w.local_days):
        count = poisson(
            rng, orders_per_day * daily_demand(w, day, store.opened_ms, shoppers.sale_day_factor)
        )
        skus = rng.choices(catalog, cum_weights=ranks, k=count)
        for ts_ms, sku in zip(day_times(w, day, count, shoppers.hours_cum), skus, strict=False):
            if not from_ms < ts_ms < until_ms:
                continue
            buyer_id = (
                rng.choices(regulars, cum_weights=loyalty)[0]
                if rng.random() < shoppers.regular_share
                else rng.choice(w.shoppers)
            )
            basket: Basket = []
            while True:
                order = w.log.place(
                    store.store_id, buyer_id, sku, ts_ms, quantity(rng, sku.price_at(ts_ms))
                )
                if order is not None:
                    basket.append(order)
                if len(basket) > 3 or rng.random() >= shoppers.basket_rate:
                    break
                ts_ms += w.delay_ms(0.02, 1.5)
                sku = rng.choices(catalog, cum_weights=ranks)[0]
                if ts_ms >= until_ms:
                    break
            if basket:
                fulfil(basket)
                orders.extend(basket)
    return orders
