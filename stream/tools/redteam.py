"""An independent marketplace generator for testing Storewatch against fraud it was not tuned on.

Why a second generator: a detector developed against one simulator learns that simulator's
habits. This one was written from the public reports on the five schemes alone, without
looking at the detector or the in-house simulator. It has two aims:

* an honest population whose ordinary habits share surface traits with fraud (new stores with
  launch promotions and price-protection claims, deep clearances, flash sales, night-time sales of
  round-priced vouchers, payouts to the seller's own unregistered accounts, daily sweeps of the
  whole balance, one tracking number on a buyer's merged parcel, stores with no store event);
* for each scheme a ``classic`` variant as the reports tell it and evasive variants that each
  change ONE trait a simple rule would key on (depth of a price cut, timing of claims, reuse of
  tracking numbers, the payout account, the pace of a cash-out...).

Labels are ``legit/<habit>`` or ``<scheme>/<variant>``. Every event follows the input contract of
``stream.core.events``; money is kept in integer cents so amounts never carry more than 2 decimals, and
a withdrawal never exceeds the balance (placed - cancelled - refunded - earlier withdrawals).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path
from typing import Any

from stream.core.events import format_ts

HOUR, DAY = 3600.0, 86400.0
LOCAL = 8 * HOUR  # the marketplace lives in UTC+8: shoppers' rhythms follow local hours
PP_WINDOW = 7 * DAY  # price protection covers drops within a week of the purchase

SCHEMES = ("price_protection", "gambling_front", "ghost_supplier", "mule_cashout", "bulk_identity")
VARIANTS: dict[str, tuple[str, ...]] = {
    "price_protection": ("classic", "shallow_cut", "stepped_cut", "spread_claims", "aged_shop"),
    "gambling_front": ("classic", "fresh_tracking", "daytime", "odd_amounts", "delivered"),
    "ghost_supplier": ("classic", "registered_card", "partial_payouts", "seasoned_card"),
    "mule_cashout": ("classic", "spread_burst", "own_account"),
    "bulk_identity": ("classic", "next_day", "split_payouts", "fake_shipping"),
}
# share of the honest population per habit
HABITS: dict[str, float] = {
    "plain": 0.22,
    "merged_parcels": 0.07,
    "several_accounts": 0.07,
    "family_shared": 0.06,
    "launch_promo": 0.06,
    "daily_sweep": 0.07,
    "dropship": 0.07,
    "revived_dormant": 0.05,
    "deep_clearance": 0.05,
    "no_store_event": 0.06,
    "new_store": 0.04,
    "round_vouchers": 0.04,
    "wholesale": 0.03,
    "flash_sale": 0.04,
    "lost_parcels": 0.03,
    "big_ticket": 0.04,
}
CATEGORIES: dict[str, tuple[float, float]] = {  # typical unit price range, CNY
    "apparel": (39, 699),
    "beauty": (29, 899),
    "groceries": (9, 199),
    "home": (19, 1999),
    "electronics": (99, 8999),
    "phones": (999, 9999),
    "toys": (19, 599),
    "books": (12, 159),
    "sports": (49, 2999),
    "jewelry": (199, 19999),
    "luxury": (2999, 39999),
    "pets": (15, 399),
    "auto_parts": (29, 2499),
    "appliances": (199, 12999),
    "tea": (29, 2999),
    "gift_cards": (50, 1000),
}
COURIERS: dict[str, tuple[str, int, str]] = {  # prefix, digits, suffix of a tracking number
    "SF Express": ("SF", 13, ""),
    "YTO Express": ("YT", 13, ""),
    "ZTO Express": ("78", 12, ""),
    "STO Express": ("77", 12, ""),
    "Yunda": ("43", 13, ""),
    "JD Logistics": ("JDV", 12, ""),
    "J&T Express": ("JT", 13, ""),
    "EMS": ("E", 9, "CN"),
    "Best Express": ("55", 12, ""),
}
SHOPPER_HOURS = (
    1.2,
    0.7,
    0.4,
    0.25,
    0.15,
    0.15,
    0.3,
    0.6,
    1.1,
    1.6,
    2.0,
    2.2,
    2.1,
    1.9,
    1.8,
    1.8,
    1.8,
    1.7,
    1.7,
    2.0,
    2.6,
    3.0,
    2.8,
    2.0,
)
NIGHT_HOURS = tuple(
    5.0 if h >= 22 or h < 4 else 1.0 if h in (4, 5, 21) else 0.05 for h in range(24)
)


def ms(ts: float) -> int:
    return math.floor(ts * 1000)


def yuan(cents: int) -> float:
    return round(cents / 100, 2)


def poisson(rng: random.Random, lam: float) -> int:
    """Poisson draw: Knuth's product for small means, a rounded normal for large ones."""
    if lam <= 0:
        return 0
    if lam > 40:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def charm(rng: random.Random, value: float) -> int:
    """A shelf price in cents as sellers write them: 199, 128.9, 128, or an odd 128.37."""
    value = max(value, 1.0)
    style = rng.random()
    if value >= 30 and style < 0.4:
        cents = (math.floor(value / 10) * 10 + 9) * 100
    elif style < 0.7:
        cents = math.floor(value) * 100 + 90
    elif style < 0.85:
        cents = round(value) * 100
    else:
        cents = round(value * 100)
    return max(cents, 1)


def cumulate(weights: tuple[float, ...], rng: random.Random, jitter: float) -> list[float]:
    """Cumulative hour weights, perturbed and shifted per store (no two stores alike)."""
    shift = rng.choice((-1, 0, 0, 1))
    return list(
        accumulate(weights[(h - shift) % 24] * rng.lognormvariate(0, jitter) for h in range(24))
    )


class World:
    """One marketplace being generated: the rng, id spaces, the shared buyer pool and the events."""

    def __init__(self, seed: int, start: datetime, days: int, n_stores: int) -> None:
        self.rng = random.Random(seed)
        self.t0 = start.timestamp()
        self.span = days * DAY
        self.t1 = self.t0 + self.span
        self.events: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self._dates: dict[int, str] = {}
        n = max(300, n_stores * 50)
        self.pool = [self.buyer() for _ in range(n)]  # buyers who shop across many stores
        self.pool_cum = list(accumulate(self.rng.paretovariate(1.2) for _ in range(n)))

    def uid(self, prefix: str, digits: int = 0) -> str:
        while True:
            low = 10 ** (digits - 1)
            body = (
                str(low + self.rng.getrandbits(digits * 3) % (9 * low))
                if digits
                else f"{self.rng.getrandbits(48):012x}"
            )
            if (value := prefix + body) not in self.ids:
                self.ids.add(value)
                return value

    def buyer(self) -> str:
        return self.uid("u", 9)

    def bank(self) -> str:
        return self.uid("62", 15)

    def pool_buyer(self) -> str:
        return self.rng.choices(self.pool, cum_weights=self.pool_cum)[0]

    def tracking(self, courier: str) -> str:
        prefix, digits, suffix = COURIERS[courier]
        return self.uid(prefix, digits) + suffix

    def emit(self, ts: float, etype: str, store_id: str, **fields: Any) -> bool:
        """Record an event unless it falls after the end of the data (a live stream's cut)."""
        if ts >= self.t1:
            return False
        self.events.append(
            {
                "type": etype,
                "event_id": self.uid("ev"),
                "ts": self.iso(ms(ts)),
                "store_id": store_id,
                **fields,
            }
        )
        return True

    def iso(self, t_ms: int) -> str:
        """``format_ts(t_ms / 1000)`` with the date part cached: it was most of emit's cost."""
        day, rest = divmod(t_ms, 86_400_000)
        if (date := self._dates.get(day)) is None:
            date = self._dates[day] = format_ts(day * 86400.0)[:11]
        sec, milli = divmod(rest, 1000)
        return f"{date}{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{milli:03d}Z"

    def midnights(self) -> list[float]:
        """Local midnights (as UTC epoch seconds) of every local day the window touches."""
        first = math.floor((self.t0 + LOCAL) / DAY) * DAY - LOCAL
        return [first + i * DAY for i in range(int(self.span // DAY) + 2)]

    def at_hour(self, midnight: float, cum: list[float]) -> float:
        hour = self.rng.choices(range(24), cum_weights=cum)[0]
        return midnight + (hour + self.rng.random()) * HOUR


def weekday(midnight: float) -> int:
    return int((midnight + LOCAL) // DAY + 3) % 7  # 1970-01-01 was a Thursday


@dataclass
class Order:
    oid: str
    buyer: str
    sku: str
    price: int
    qty: int
    placed: float
    cancelled: bool = False
    parcel: tuple[str, str] | None = None
    refunded: int = 0

    @property
    def value(self) -> int:
        return self.price * self.qty


class Shop:
    """One store: emits its events and keeps the ledger that bounds its withdrawals."""

    def __init__(
        self, w: World, label: str, category: str, owner: str | None = None, bank: str | None = None
    ) -> None:
        self.w, self.label, self.category = w, label, category
        self.sid = w.uid("st")
        self.owner = owner or w.uid("ow")
        self.bank = bank or w.bank()
        self.sched: dict[str, list[tuple[float, int]]] = {}
        self.orders: list[Order] = []
        self.credits: list[tuple[int, int]] = []  # (ms, cents) placed orders
        self.debits: list[tuple[int, int]] = []  # (ms, cents) cancellations and refunds
        self.wd: list[tuple[int, int]] = []
        self._sums: tuple[list[int], list[int], list[int], list[int]] | None = None
        self.couriers = w.rng.sample(sorted(COURIERS), w.rng.choice((1, 1, 2, 3)))

    def register(self, ts: float, deposit_cny: float) -> None:
        self.w.emit(
            ts,
            "store",
            self.sid,
            owner_id=self.owner,
            bank_account=self.bank,
            deposit=yuan(round(deposit_cny * 100)),
            category=self.category,
        )

    def add_sku(self, price: int) -> str:
        sku = self.w.uid("sk")
        self.sched[sku] = [(-math.inf, price)]
        return sku

    def price_at(self, sku: str, ts: float) -> int:
        lst = self.sched[sku]
        return lst[bisect_right(lst, (ts, math.inf)) - 1][1]

    def reprice(self, ts: float, sku: str, new: int) -> None:
        """Change a price; callers schedule each sku's changes in time order."""
        old, new = self.price_at(sku, ts), max(new, 1)
        if new != old and self.w.emit(
            ts, "price", self.sid, sku=sku, old_price=yuan(old), new_price=yuan(new)
        ):
            insort(self.sched[sku], (ts, new))

    def _order_event(self, o: Order, ts: float, status: str) -> bool:
        trk, cour = o.parcel if o.parcel and status in ("shipped", "delivered") else (None, None)
        return self.w.emit(
            ts,
            "order",
            self.sid,
            order_id=o.oid,
            buyer_id=o.buyer,
            sku=o.sku,
            unit_price=yuan(o.price),
            quantity=o.qty,
            status=status,
            tracking_no=trk,
            courier=cour,
        )

    def place(self, ts: float, buyer: str, sku: str, qty: int, price: int | None = None) -> Order:
        o = Order(self.w.uid("od"), buyer, sku, price or self.price_at(sku, ts), qty, ts)
        if self._order_event(o, ts, "placed"):
            self.orders.append(o)
            self.credits.append((ms(ts), o.value))
            self._sums = None
        return o

    def ship(self, o: Order, ts: float, parcel: tuple[str, str] | None = None) -> tuple[str, str]:
        if parcel is None:
            courier = self.w.rng.choice(self.couriers)
            parcel = (self.w.tracking(courier), courier)
        o.parcel = parcel
        self._order_event(o, max(ts, o.placed + 60), "shipped")
        return parcel

    def deliver(self, o: Order, ts: float) -> None:
        self._order_event(o, ts, "delivered")

    def cancel(self, o: Order, ts: float) -> None:
        o.cancelled = True
        if self._order_event(o, ts, "cancelled"):
            self.debits.append((ms(ts), -o.value))
            self._sums = None

    def refund(self, o: Order, ts: float, amount: float, reason: str) -> int:
        """Refund up to what is left of the order; never before it was placed."""
        ts = max(ts, o.placed + 60)
        amt = min(int(amount), o.value - o.refunded)
        if (
            amt < 1
            or o.cancelled
            or not self.w.emit(
                ts,
                "refund",
                self.sid,
                refund_id=self.w.uid("rf"),
                order_id=o.oid,
                buyer_id=o.buyer,
                amount=yuan(amt),
                reason=reason,
            )
        ):
            return 0
        o.refunded += amt
        self.debits.append((ms(ts), -amt))
        self._sums = None
        return amt

    def _money(self, t: int) -> int:
        """Credits strictly before t and debits up to t: the conservative side of every tie."""
        if self._sums is None:
            c, d = sorted(self.credits), sorted(self.debits)
            self._sums = (
                [x for x, _ in c],
                [0, *accumulate(v for _, v in c)],
                [x for x, _ in d],
                [0, *accumulate(v for _, v in d)],
            )
            self.credits, self.debits = c, d
        ct, cs, dt, ds = self._sums
        return cs[bisect_left(ct, t)] + ds[bisect_right(dt, t)]

    def available(self, ts: float) -> int:
        """Most that can be paid out at ts without any withdrawal, now or later, overdrawing."""
        m = ms(ts)
        checks = [m, *(t for t, _ in self.wd if t > m)]
        return min(self._money(c) - sum(a for t, a in self.wd if t <= c) for c in checks)

    def withdraw(self, ts: float, amount: float, account: str) -> int:
        amt = min(int(amount), self.available(ts))
        if amt < 100 or not self.w.emit(
            ts,
            "withdrawal",
            self.sid,
            withdrawal_id=self.w.uid("wd"),
            amount=yuan(amt),
            bank_account=account,
        ):
            return 0
        self.wd.append((ms(ts), amt))
        return amt


# --------------------------------------------------------------------------- honest trade


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


@dataclass
class Gang:
    """What a gang's stores share: bought buyer accounts, a drawer of cards, bought tracking
    numbers."""

    buyers: list[str]
    cards: list[str]
    parcels: list[tuple[str, str]] = field(default_factory=list)
    ship_p: float = 0.0


def make_gang(w: World) -> Gang:
    rng = w.rng
    buyers = [w.buyer() for _ in range(rng.randint(8, 60))]
    for buyer in rng.sample(buyers, len(buyers) // 3):  # bought accounts of real people also shop
        w.pool.append(buyer)
        w.pool_cum.append(w.pool_cum[-1] + rng.uniform(0.5, 1.5))
    couriers = rng.sample(sorted(COURIERS), rng.randint(1, 3))
    parcels = [
        (w.tracking(c), c) for c in (rng.choice(couriers) for _ in range(rng.randint(12, 60)))
    ]
    return Gang(buyers, [w.bank() for _ in range(rng.randint(10, 60))], parcels, rng.random())


def spread(rng: random.Random, start: float, dur: float, n: int) -> list[float]:
    return sorted(start + rng.random() * dur for _ in range(n))


def background(shop: Shop, start: float, end: float, per_day: float) -> list[str]:
    """Honest-looking trade a front keeps up; returns its skus."""
    rng = shop.w.rng
    lo, hi = CATEGORIES[shop.category]
    skus = catalogue(shop, rng.randint(3, 15), lo, min(hi, lo * 20))
    organic(
        shop,
        draw_habits(rng),
        start,
        end,
        lambda _d: per_day,
        cumulate(SHOPPER_HOURS, rng, 0.3),
        buyer_picker(shop.w),
        lambda _t: rng.choice(skus),
        lambda: 1 if rng.random() < 0.85 else 2,
    )
    return skus


def price_protection(w: World, variant: str, gang: Gang) -> Shop:
    """Self-buying on a bought licence, a deep cut, price-protection claims; the balance is
    withdrawn to the bound card before the platform collects the claims from the store."""
    rng = w.rng
    shop = Shop(
        w,
        f"price_protection/{variant}",
        rng.choice(("electronics", "phones", "appliances", "jewelry", "luxury")),
    )
    t_s = w.t0 + rng.uniform(0.1, 0.75) * w.span
    if variant == "aged_shop":
        shop.register(w.t0 - rng.uniform(40, 400) * DAY, rng.choice((1000, 2000, 5000)))
        background(shop, w.t0, t_s, rng.uniform(0.3, 4))
        payouts(shop, w.t0, t_s - DAY, "weekly", [shop.bank])
    else:
        shop.register(t_s - rng.uniform(0.3, 4) * DAY, rng.choice((1000, 1000, 1000, 1500, 2000)))
    skus = [shop.add_sku(charm(rng, rng.uniform(2000, 20000))) for _ in range(rng.randint(1, 4))]
    orders = [
        shop.place(
            t, rng.choice(gang.buyers), rng.choice(skus), rng.choices((1, 2, 3), (6, 3, 1))[0]
        )
        for t in spread(rng, t_s, rng.uniform(2, 48) * HOUR, rng.randint(4, 30))
    ]
    for o in orders:
        if rng.random() < gang.ship_p:
            shop.ship(o, o.placed + rng.uniform(1, 24) * HOUR)
            if rng.random() < 0.6:
                shop.deliver(o, o.placed + rng.uniform(1.5, 4) * DAY)
    last = max(o.placed for o in orders)
    t_cut = last + rng.uniform(1, 30) * HOUR
    if variant == "stepped_cut":
        keeps = [rng.uniform(0.25, 0.6) for _ in range(rng.randint(1, 3))]
        keeps.append(min(0.9, rng.uniform(0.01, 0.06) / math.prod(keeps)))
        cuts, t = [], t_cut
        for keep in keeps:  # each step alone looks like a sale; together they take 94-99% off
            cuts.append((t, keep))
            t += rng.uniform(4, 30) * HOUR
    else:
        keep = rng.uniform(0.12, 0.2) if variant == "shallow_cut" else rng.uniform(0.01, 0.05)
        cuts = [(t_cut, keep)]
    claim_p, first_claim = rng.uniform(0.85, 1.0), math.inf
    for i, (t, keep) in enumerate(cuts):
        for sku in skus:
            now = shop.price_at(sku, t) / 100
            shop.reprice(t + rng.uniform(0, 600), sku, charm(rng, now * keep))
        final = i == len(cuts) - 1
        for o in orders:
            if o.cancelled or rng.random() > (claim_p if final else 0.5):
                continue
            now = shop.price_at(o.sku, t + 601)
            if variant == "spread_claims":
                room = max(HOUR, o.placed + PP_WINDOW - t - 2 * HOUR)
                when = t + rng.uniform(0.5 * HOUR, min(6 * DAY, room))
            else:
                when = t + 600 + rng.uniform(300, 6 * HOUR)
            if shop.refund(o, when, (o.price - now) * o.qty - o.refunded, "price_protection"):
                first_claim = min(first_claim, max(when, o.placed + 60))
    first_claim = min(first_claim, t_cut + 600)
    # paid out before the claims land
    t_w = rng.uniform(last + 600, max(last + 700, first_claim - 60))
    for _ in range(rng.choice((1, 1, 2))):
        shop.withdraw(t_w, shop.available(t_w) * rng.uniform(0.92, 1.0), shop.bank)
        t_w += rng.uniform(5, 40) * 60
    return shop


def gambling_front(w: World, variant: str, gang: Gang) -> Shop:
    """Gamblers 'buy' set stakes at night; empty parcels go out on bought tracking numbers that are
    reused and never delivered; takings are cashed out every morning to the gang's cards."""
    rng = w.rng
    shop = Shop(
        w,
        f"gambling_front/{variant}",
        rng.choice(("tea", "gift_cards", "apparel", "beauty", "toys")),
    )
    opened = (
        w.t0 - rng.uniform(5, 120) * DAY
        if rng.random() < 0.5
        else w.t0 + rng.uniform(0, 0.3) * w.span
    )
    shop.register(opened, rng.choice((1000, 2000, 3000, 5000)))
    start = max(opened, w.t0)
    background(shop, start, w.t1, rng.uniform(0.1, 1.5))
    if variant == "odd_amounts":
        stakes = [
            charm(rng, rng.uniform(40, 3000)) + rng.randint(1, 99) for _ in range(rng.randint(4, 8))
        ]
    else:
        faces = (50, 100, 200, 300, 500, 1000, 2000, 5000)
        stakes = [v * 100 for v in rng.sample(faces, rng.randint(3, 6))]
    skus = [shop.add_sku(p) for p in stakes]
    act = start + rng.uniform(0, 0.3) * (w.t1 - start)
    act_end = min(w.t1, act + rng.uniform(0.4, 1.0) * w.span)
    hours = cumulate(SHOPPER_HOURS if variant == "daytime" else NIGHT_HOURS, rng, 0.3)
    per_night, ship_h = rng.uniform(4, 40), rng.uniform(0.5, 14)
    for day in w.midnights():
        for _ in range(poisson(rng, per_night)):
            ts = w.at_hour(day, hours)
            if not act <= ts < act_end:
                continue
            o = shop.place(
                ts,
                rng.choice(gang.buyers),
                rng.choice(skus),
                rng.choices((1, 2, 3, 5), (10, 3, 2, 1))[0],
            )
            ref = None if variant == "fresh_tracking" else rng.choice(gang.parcels)
            if ref is None:
                courier = gang.parcels[0][1]
                ref = (w.tracking(courier), courier)
            shop.ship(o, o.placed + rng.uniform(0.5, ship_h) * HOUR, ref)
            if variant == "delivered":
                shop.deliver(o, o.placed + rng.uniform(1, 3.5) * DAY)
    for day in w.midnights():
        t = day + rng.uniform(6, 12) * HOUR
        if act <= t < act_end + 2 * DAY:
            shop.withdraw(t, shop.available(t) * rng.uniform(0.85, 1.0), rng.choice(gang.cards[:6]))
    return shop


def ghost_supplier(w: World, variant: str, gang: Gang) -> Shop:
    """A shop on a fake identity takes real buyers' money for electronics it never sends, and
    empties the balance to cards from the gang's drawer before complaints arrive."""
    rng = w.rng
    shop = Shop(
        w,
        f"ghost_supplier/{variant}",
        rng.choice(("electronics", "phones", "appliances", "sports")),
    )
    cards = rng.sample(gang.cards, min(len(gang.cards), rng.randint(3, 10)))
    seasoning: list[tuple[float, str]] = []
    if variant == "seasoned_card":
        t_b = w.t0 + rng.uniform(0.55, 0.8) * w.span
        shop.register(w.t0 - rng.uniform(5, 60) * DAY, rng.choice((1000, 2000, 3000)))
        background(shop, w.t0, t_b, rng.uniform(1, 4))
        seasoning = [
            (t, c)
            for t, c in zip(
                spread(rng, w.t0 + DAY, max(DAY, t_b - w.t0 - 12 * DAY), len(cards)),
                cards,
                strict=True,
            )
        ]
    else:
        opened = w.t0 + rng.uniform(0, 0.7) * w.span
        t_b = opened + rng.uniform(0.5, 4) * DAY
        shop.register(opened, rng.choice((1000, 1000, 2000, 3000)))
    skus = catalogue(shop, rng.randint(3, 10), 300, 9000)
    hours = cumulate(SHOPPER_HOURS, rng, 0.3)
    fake_ship_p, end = rng.uniform(0, 0.6), t_b + rng.uniform(12, 48) * HOUR
    victims: list[Order] = []
    for day in w.midnights():
        for _ in range(poisson(rng, rng.uniform(15, 80))):
            ts = w.at_hour(day, hours)
            if t_b <= ts < end:
                buyer = w.buyer() if rng.random() < 0.3 else w.pool_buyer()
                qty = 1 if rng.random() < 0.85 else 2
                victims.append(shop.place(ts, buyer, rng.choice(skus), qty))
    cancel_p, complain_p = rng.uniform(0.1, 0.4), rng.uniform(0.3, 0.8)
    for o in victims:
        if rng.random() < fake_ship_p:
            shop.ship(o, o.placed + rng.uniform(4, 40) * HOUR)
            if rng.random() < complain_p:
                shop.refund(o, o.placed + rng.uniform(7, 14) * DAY, o.value, "not_received")
        elif rng.random() < cancel_p:
            shop.cancel(o, o.placed + rng.uniform(2, 6) * DAY)
    for t, card in seasoning:
        shop.withdraw(t, rng.uniform(50, 500) * 100, card)
    t = t_b + rng.uniform(6, 30) * HOUR
    if variant == "partial_payouts":
        for _ in range(rng.randint(4, 9)):
            shop.withdraw(t, shop.available(t) * rng.uniform(0.2, 0.45), rng.choice(cards))
            t += rng.uniform(3, 14) * HOUR
        return shop
    for i in range(len(cards)):
        left = len(cards) - i
        share = 1.0 if left == 1 else rng.uniform(0.7, 1.2) / left
        account = shop.bank if variant == "registered_card" else cards[i]
        shop.withdraw(t, shop.available(t) * min(1.0, share), account)
        t += rng.uniform(0.3, 6) * HOUR
    return shop


def mule_cashout(w: World, variant: str, gang: Gang) -> Shop:
    """A dormant shop is rented out: a sudden burst of sales, then the money leaves for an
    account the shop never used."""
    rng = w.rng
    shop = Shop(
        w, f"mule_cashout/{variant}", rng.choice([c for c in CATEGORIES if c != "gift_cards"])
    )
    shop.register(w.t0 - rng.uniform(120, 5 * 365) * DAY, rng.choice((1000, 2000, 5000, 10000)))
    t_b = w.t0 + rng.uniform(0.3, 0.85) * w.span
    if rng.random() < 0.6:
        background(shop, w.t0, t_b, rng.uniform(0.02, 0.3))
    skus = catalogue(shop, rng.randint(2, 8), 100, 5000)
    dur = rng.uniform(60, 110) * HOUR if variant == "spread_burst" else rng.uniform(2, 12) * HOUR
    ship_p = rng.uniform(0, 0.8)
    for t in spread(rng, t_b, dur, rng.randint(15, 100)):
        buyer = rng.choice(gang.buyers) if rng.random() < 0.2 else w.buyer()
        o = shop.place(t, buyer, rng.choice(skus), rng.choices((1, 2, 3), (7, 2, 1))[0])
        if rng.random() < ship_p:
            shop.ship(o, t + rng.uniform(2, 24) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, t + rng.uniform(1.5, 4) * DAY)
    t = t_b + dur + rng.uniform(1, 24) * HOUR
    account = shop.bank if variant == "own_account" else w.bank()
    for _ in range(rng.choice((1, 1, 2))):
        shop.withdraw(t, shop.available(t) * rng.uniform(0.9, 1.0), account)
        t += rng.uniform(0.2, 3) * HOUR
    return shop


def bulk_identity(w: World, variant: str, batch_time: float) -> Shop:
    """One of a batch of stores opened in other people's names: a few large orders from fresh
    accounts minutes after opening, all cashed out to the registered account within hours."""
    rng = w.rng
    shop = Shop(w, f"bulk_identity/{variant}", rng.choice(sorted(CATEGORIES)))
    opened = batch_time + rng.uniform(0, 90) * 60
    shop.register(opened, rng.choice((300, 500, 1000, 1000, 1500)))
    t = opened + rng.uniform(3, 60) * 60
    orders = []
    for _ in range(rng.randint(1, 5)):
        price = (
            charm(rng, rng.uniform(3000, 60000))
            if rng.random() < 0.5
            else rng.randint(30, 600) * 10000
        )
        orders.append(shop.place(t, w.buyer(), shop.add_sku(price), 1))
        t += rng.uniform(2, 50) * 60
    if variant == "fake_shipping":
        for o in orders:
            shop.ship(o, o.placed + rng.uniform(1, 5) * HOUR)
            if rng.random() < 0.5:
                shop.deliver(o, o.placed + rng.uniform(1, 2) * DAY)
    delay = rng.uniform(24, 48) if variant == "next_day" else rng.uniform(0.5, 6)
    t = orders[-1].placed + delay * HOUR
    if variant == "split_payouts":
        k = rng.randint(3, 6)
        for i in range(k):
            share = 1.0 if i == k - 1 else rng.uniform(0.7, 1.0)
            shop.withdraw(t, shop.available(t) / (k - i) * share, shop.bank)
            t += rng.uniform(0.2, 2.5) * HOUR
    else:
        shop.withdraw(t, shop.available(t), shop.bank)
    return shop


# --------------------------------------------------------------------------- assembly


def plan(stores: int, fraud_share: float, per_variant: int) -> list[str]:
    """Labels for the population: every variant gets ``per_variant`` stores when there is room
    (so recall can be measured per variant), otherwise ``fraud_share`` of the stores."""
    # interleaved (every scheme's classic first) so that small populations still see all schemes
    variants = [
        f"{s}/{VARIANTS[s][i]}"
        for i in range(max(map(len, VARIANTS.values())))
        for s in SCHEMES
        if i < len(VARIANTS[s])
    ]
    n_fraud = min(stores // 4, max(round(stores * fraud_share), per_variant * len(variants)))
    labels = [variants[i % len(variants)] for i in range(n_fraud)]
    n_honest = stores - n_fraud
    exact = {h: share * n_honest / sum(HABITS.values()) for h, share in HABITS.items()}
    counts = {h: int(x) for h, x in exact.items()}
    for h in sorted(exact, key=lambda h: counts[h] - exact[h])[: n_honest - sum(counts.values())]:
        counts[h] += 1
    return labels + [f"legit/{h}" for h, n in counts.items() for _ in range(n)]


def generate(
    stores: int = 400,
    days: int = 30,
    seed: int = 0,
    start: datetime = datetime(2024, 5, 6, tzinfo=UTC),
    fraud_share: float = 0.10,
    per_variant: int = 4,
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Events sorted by (ts, event_id) and labels store_id -> label; the same for the same seed."""
    w = World(seed, start, days, stores)
    rng = w.rng
    labels = plan(stores, fraud_share, per_variant)
    rng.shuffle(labels)
    shops: list[Shop] = []
    crews: list[tuple[str, Gang, float, list[str]]] = []  # gangs first: their accounts also shop
    for scheme in SCHEMES:
        mine = [lab.split("/", 1)[1] for lab in labels if lab.startswith(scheme + "/")]
        while mine:
            size = rng.randint(3, 8)
            crews.append((scheme, make_gang(w), w.t0 + rng.uniform(0, 0.92) * w.span, mine[:size]))
            mine = mine[size:]
    left = sum(lab == "legit/family_shared" for lab in labels)
    owners: list[tuple[str, str | None]] = []
    while left > 0:  # families: 2-3 stores on one account, sometimes one bank too
        size = left if left <= 3 else rng.randint(2, min(3, left - 2))
        owners += [(w.uid("ow"), w.bank() if rng.random() < 0.5 else None)] * size
        left -= size
    for lab in labels:
        if lab.startswith("legit/"):
            owner, bank = owners.pop() if lab == "legit/family_shared" else (None, None)
            shops.append(honest_store(w, lab.split("/", 1)[1], owner, bank))
    makers = {
        "price_protection": price_protection,
        "gambling_front": gambling_front,
        "ghost_supplier": ghost_supplier,
        "mule_cashout": mule_cashout,
    }
    for scheme, gang, batch, crew in crews:
        for variant in crew:
            shops.append(
                bulk_identity(w, variant, batch)
                if scheme == "bulk_identity"
                else makers[scheme](w, variant, gang)
            )
    events = sorted(w.events, key=lambda e: (e["ts"], e["event_id"]))
    return events, {s.sid: s.label for s in sorted(shops, key=lambda s: s.sid)}


def write(events_path: str | Path, labels_path: str | Path, **kwargs: Any) -> tuple[int, int]:
    """Write events as JSON lines and labels as one JSON object; returns (events, stores)."""
    events, labels = generate(**kwargs)
    with open(events_path, "w", encoding="utf-8") as out:
        out.writelines(
            json.dumps(e, separators=(",", ":"), ensure_ascii=False) + "\n" for e in events
        )
    Path(labels_path).write_text(
        json.dumps(labels, indent=1, sort_keys=True) + "\n", encoding="utf-8"
    )
    return len(events), len(labels)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate an independent labelled marketplace.")
    parser.add_argument("--stores", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", default="2024-05-06", help="first day, UTC (YYYY-MM-DD)")
    parser.add_argument("--fraud-share", type=float, default=0.10)
    parser.add_argument("--per-variant", type=int, default=4)
    parser.add_argument("--out", default="redteam_events.jsonl")
    parser.add_argument("--labels", default="redteam_labels.json")
    args = parser.parse_args(argv)
    start = datetime.fromisoformat(args.start).replace(tzinfo=UTC)
    n_events, n_stores = write(
        args.out,
        args.labels,
        stores=args.stores,
        days=args.days,
        seed=args.seed,
        start=start,
        fraud_share=args.fraud_share,
        per_variant=args.per_variant,
    )
    print(f"{n_events} events, {n_stores} stores -> {args.out}, {args.labels}")


if __name__ == "__main__":
    main()
