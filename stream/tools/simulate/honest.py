"""Honest stores: sizes, and the habits that make honest trade look like fraud.

A detector that only ever meets plain honest stores learns that anything unusual is fraud. Real
sellers merge one buyer's orders into one parcel, keep two or three payout accounts, open with a
launch promotion at 50-75% off, sweep their whole balance out every day, dropship after a week,
revive a dormant shop, clear a season's stock at 70-90% off, sell at night, live off a few loyal
buyers, boom on the sale day, or were registered long before the data starts. Each honest store
carries one such habit as its label (``legit/<habit>``, ``legit/plain`` for none), dealt by
quota so every habit is present at its rate in any market of a few dozen stores or more.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from stream.tools.simulate.behaviour import (
    NIGHT_HOURS_CUM,
    SHOPPERS_CLAIM,
    Discount,
    Shoppers,
    apply_discounts,
    claim_price_protection,
    honest_category,
    honest_fulfilment,
    payout_times,
    poisson,
    settle_after_sale,
    shop,
)
from stream.tools.simulate.core import DAY_MS, HOUR_MS, Payout, Store
from stream.tools.simulate.world import World, log_uniform


@dataclass(frozen=True)
class Tier:
    """A size class of honest store: how many there are and how busy they are."""

    name: str
    share: float
    orders_per_day: tuple[float, float]
    skus: tuple[int, int]
    handling_h: tuple[float, float]
    cadences: tuple[str, ...]


TIERS = (
    Tier("big", 0.015, (60, 250), (60, 300), (2, 12), ("daily", "weekly")),
    Tier("medium", 0.15, (5, 30), (15, 80), (4, 24), ("daily", "weekly", "weekly")),
    Tier("small", 0.5, (0.5, 4), (3, 25), (8, 48), ("weekly", "ad_hoc", "ad_hoc")),
    Tier("tiny", 0.27, (0.15, 0.6), (1, 8), (12, 72), ("ad_hoc", "ad_hoc", "never")),
    Tier("dormant", 0.065, (0.005, 0.04), (1, 5), (24, 96), ("ad_hoc", "never", "never")),
)
TIER_BY_NAME = {tier.name: tier for tier in TIERS}

# Share of honest stores showing each habit as their main one; the rest are "plain".
HABITS = {
    "merged_parcels": 0.15,
    "daily_sweep": 0.08,
    "several_accounts": 0.06,
    "no_store_event": 0.06,
    "deep_clearance": 0.05,
    "loyal_buyers": 0.05,
    "launch_promotion": 0.04,
    "dropshipper": 0.04,
    "night_seller": 0.04,
    "sale_day_surge": 0.04,
    "revived_dormant": 0.03,
    "family_account": 0.03,
    "account_switch": 0.02,
}
PLAIN = "plain"
UNRECORDED_OPENING_RATE = 0.2  # of other stores opened before the window
# Habits that need a store busy enough to show them.
BUSY_HABITS = {
    "merged_parcels",
    "daily_sweep",
    "several_accounts",
    "deep_clearance",
    "loyal_buyers",
    "launch_promotion",
    "dropshipper",
    "night_seller",
    "sale_day_surge",
    "family_account",
    "account_switch",
    "no_store_event",
}


@dataclass
class HonestSeller:
    """Who runs an honest store and how they are paid, decided before its activity."""

    store_id: str
    tier: Tier
    habit: str
    opens_in_window: bool
    cadence: str
    payout_hour: float
    owner_id: str | None = None
    bank_account: str | None = None
    extra_accounts: list[str] = field(default_factory=list)


def _assign_tiers(rng: random.Random, count: int) -> list[Tier]:
    """Tier by quota rather than by coin, so event volume scales smoothly with store count;
    what the quotas leave over is dormant."""
    tiers: list[Tier] = []
    for tier in TIERS[:-1]:
        quota = round(tier.share * count)
        tiers += [tier] * (max(1, quota) if tier.name == "big" and count >= 20 else quota)
    tiers = tiers[:count] + [TIERS[-1]] * (count - len(tiers))
    rng.shuffle(tiers)
    return tiers


def assign_habits(rng: random.Random, count: int) -> list[str]:
    """Habits by quota: ``round(share * count)`` each, at least one each from 60 stores on.

    >>> habits = assign_habits(random.Random(1), 200)
    >>> habits.count("merged_parcels"), habits.count("account_switch")
    (30, 4)
    """
    habits: list[str] = []
    for habit, share in HABITS.items():
        habits += [habit] * max(round(share * count), 1 if count >= 60 else 0)
    habits = habits[:count] + [PLAIN] * max(0, count - len(habits))
    rng.shuffle(habits)
    return habits


def honest_sellers(w: World, store_ids: Sequence[str]) -> list[HonestSeller]:
    """Sizes, habits, newcomers and cash-out habits, families paying out to one account."""
    rng = w.rng
    sellers = []
    tiers = _assign_tiers(rng, len(store_ids))
    for store_id, tier, habit in zip(
        store_ids, tiers, assign_habits(rng, len(store_ids)), strict=False
    ):
        if habit in BUSY_HABITS and tier.name in ("tiny", "dormant"):
            tier = TIER_BY_NAME["small"]
        if habit == "revived_dormant":
            tier = TIER_BY_NAME[rng.choice(("small", "small", "medium"))]
        new = habit == "launch_promotion" or (
            habit == PLAIN and tier.name in ("small", "tiny") and rng.random() < 0.25
        )
        cadence = "quick" if new and rng.random() < 0.5 else rng.choice(tier.cadences)
        if habit == "daily_sweep":
            cadence = "sweep"
        seller = HonestSeller(
            store_id,
            tier,
            habit,
            new,
            cadence,
            rng.uniform(0, 24) if habit == "night_seller" else rng.uniform(8, 22),
        )
        if habit == "several_accounts":
            seller.extra_accounts = [w.ids.bank_account() for _ in range(rng.randint(1, 2))]
        sellers.append(seller)
    family = [s for s in sellers if s.habit == "family_account"]
    while family:
        size = min(len(family), rng.randint(2, 4))
        members, family = family[:size], family[size:]
        owner_id, bank_account = w.ids.owner(), w.ids.bank_account()
        for seller in members:
            seller.owner_id, seller.bank_account = owner_id, bank_account
            seller.cadence, seller.payout_hour = members[0].cadence, members[0].payout_hour
    return sellers


def _discounts(
    w: World, seller: HonestSeller, count: int, from_ms: int, opened_ms: int
) -> dict[int, list[Discount]]:
    """Discounts by catalog index: promotions, clearance markdowns, the sale day, and the
    launch promotion or deep clearance of stores with those habits; dormant shops do none."""
    rng = w.rng
    discounts: dict[int, list[Discount]] = {}
    forever_ms = w.end_ms + DAY_MS

    def add(indexes: Sequence[int], *parts: Discount) -> None:
        for index in indexes:
            discounts.setdefault(index, []).extend(parts)

    if seller.tier.name == "dormant":
        return discounts
    for _ in range(poisson(rng, 1.2 * w.local_days / 30)):
        begin_ms = w.day0_ms + rng.randrange(w.local_days) * DAY_MS + rng.choice((0, 10)) * HOUR_MS
        add(
            rng.sample(range(count), min(count, rng.randint(1, 5))),
            Discount(
                begin_ms,
                begin_ms + rng.randint(2, 7) * DAY_MS,
                rng.choice((0.7, 0.75, 0.8, 0.85, 0.9)),
            ),
        )
    if rng.random() < 0.15 or seller.habit == "deep_clearance":
        deep = seller.habit == "deep_clearance"
        begin_ms = rng.randrange(from_ms, max(from_ms, w.within(w.end_ms, 2 * DAY_MS)) + 1)
        pool = range(count) if deep else range(count // 2, count)
        for index in rng.sample(
            pool, min(len(pool), rng.randint(2, 6) if deep else rng.randint(1, 4))
        ):
            target = rng.uniform(0.1, 0.3) if deep else rng.uniform(0.2, 0.5)
            if rng.random() < 0.35:
                second_ms = begin_ms + w.delay_ms(48, 144)
                add(
                    [index],
                    Discount(begin_ms, forever_ms, 0.7),
                    Discount(second_ms, forever_ms, target / 0.7),
                )
            else:
                add([index], Discount(begin_ms, forever_ms, target))
    if seller.habit == "launch_promotion":
        begin_ms = opened_ms + w.delay_ms(0, 24)
        add(
            rng.sample(range(count), max(1, int(count * rng.uniform(0.5, 1)))),
            Discount(begin_ms, begin_ms + rng.randint(2, 7) * DAY_MS, rng.uniform(0.25, 0.5)),
        )
    if rng.random() < 0.7 and from_ms < w.sale_start_ms:
        best_sellers = range(min(count, 40))
        add(
            rng.sample(best_sellers, max(1, int(len(best_sellers) * rng.random()))),
            Discount(w.sale_start_ms, w.sale_start_ms + DAY_MS, rng.uniform(0.6, 0.9)),
        )
    return {
        index: [d for d in sku_discounts if d.begin_ms >= from_ms]
        for index, sku_discounts in discounts.items()
    }


def _shoppers(rng: random.Random, habit: str) -> Shoppers:
    basket_rate = rng.uniform(0.1, 0.35) if habit == "merged_parcels" else rng.uniform(0, 0.03)
    if habit == "night_seller":
        return Shoppers(hours_cum=NIGHT_HOURS_CUM, basket_rate=basket_rate)
    if habit == "loyal_buyers":
        return Shoppers(
            regulars=rng.randint(5, 30),
            regular_share=rng.uniform(0.6, 0.9),
            basket_rate=basket_rate,
        )
    if habit == "sale_day_surge":
        return Shoppers(sale_day_factor=rng.uniform(3, 8), basket_rate=basket_rate)
    return Shoppers(basket_rate=basket_rate)


def run_honest(w: World, seller: HonestSeller) -> None:
    """One honest store: opening, discounts, sales, the refunds they bring, payouts."""
    rng, tier = w.rng, seller.tier
    if seller.opens_in_window:
        opened_ms = rng.randrange(w.start_ms, w.within(w.end_ms, 2 * DAY_MS) + 1)
    elif seller.habit in ("revived_dormant", "no_store_event"):
        opened_ms = w.start_ms - int(log_uniform(rng, 120, 1500) * DAY_MS)
    else:
        opened_ms = w.start_ms - int(log_uniform(rng, 20, 1000) * DAY_MS)
    category = honest_category(rng)
    deposit_cny = rng.choice((1_000, 1_000, 2_000, 5_000)) * (10 if tier.name == "big" else 1)
    # A store registered before the data starts often has no store event in it, whatever its
    # habit: a live marketplace's feed begins long after most of its stores opened.
    in_data = seller.habit != "no_store_event" and (
        opened_ms >= w.start_ms or rng.random() >= UNRECORDED_OPENING_RATE
    )
    store = w.open_store(
        seller.store_id,
        category,
        opened_ms,
        deposit_cny,
        seller.owner_id,
        seller.bank_account,
        in_data=in_data,
    )
    catalog = w.category_catalog(category, rng.randint(*tier.skus))
    active_ms = max(opened_ms, w.start_ms)
    if seller.habit == "revived_dormant":  # silent for months, then back in business
        active_ms = w.within(w.start_ms + rng.uniform(0.1, 0.6) * w.span_ms, DAY_MS)
    handling_h = (
        rng.uniform(120, 240) if seller.habit == "dropshipper" else rng.uniform(*tier.handling_h)
    )
    cuts = apply_discounts(
        w, store, catalog, _discounts(w, seller, len(catalog), active_ms, opened_ms)
    )
    orders = shop(
        w,
        store,
        catalog,
        log_uniform(rng, *tier.orders_per_day),
        honest_fulfilment(w, store, handling_h),
        from_ms=active_ms,
        shoppers=_shoppers(rng, seller.habit),
    )
    claim_price_protection(w, orders, cuts, SHOPPERS_CLAIM)
    settle_after_sale(w, orders)
    w.log.settle_withdrawals(store.store_id, _payouts(w, seller, store, active_ms))


def _payouts(w: World, seller: HonestSeller, store: Store, from_ms: int) -> list[Payout]:
    """The seller's own cadence and accounts: a daily sweep takes the whole balance, sellers
    with several accounts spread payouts over them, a few move to a new account once."""
    rng = w.rng
    if seller.cadence == "sweep":
        times = payout_times(w, "daily", from_ms, seller.payout_hour)
        return [Payout(ts_ms, 1.0, store.bank_account) for ts_ms in times]
    low_share = 1.0 if seller.cadence == "quick" else 0.8
    switches = seller.habit == "account_switch"
    switch_ms = rng.randrange(from_ms, w.end_ms) if switches else w.end_ms
    new_account = w.ids.bank_account() if switches else store.bank_account
    accounts = [store.bank_account, *seller.extra_accounts]
    payouts = []
    for ts_ms in payout_times(w, seller.cadence, from_ms, seller.payout_hour):
        account = new_account if ts_ms >= switch_ms else rng.choice(accounts)
        payouts.append(Payout(ts_ms, rng.uniform(low_share, 1.0), account))
    return payouts
