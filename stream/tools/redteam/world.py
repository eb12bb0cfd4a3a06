"""The simulated world: clock and calendar, shoppers' hours, money in cents, shops and orders."""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right, insort
from dataclasses import dataclass
from datetime import datetime
from itertools import accumulate
from typing import Any

from stream.core.records import format_ts

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
