"""Labelled marketplace simulator: honest stores and four fraud schemes, as contract events.

Detectors can only be tuned and scored on streams whose truth is known, and labelled marketplace
data cannot be shipped. So the simulation has to be hard the way real data is hard: honest
stores that look suspicious (deep clearance markdowns followed by price-protection refunds, a
sale day, new sellers who cash out daily, families paying out to one bank account, sellers who
change bank account, dormant shops) and fraud stores that vary in size and timing and carry some
honest-looking activity. Events follow ``stream.events`` (the contract); their ``ts`` is UTC,
while daily rhythms follow the marketplace's local time (UTC+8).

Guarantees the tests hold us to:

- the same arguments give the same events, byte for byte once written;
- events are sorted by ``(ts, event_id)``; store events of stores opened before ``start`` come
  first, with their old opening time; every other event lies in ``[start, start + days)``;
- amounts are CNY with at most 2 decimals and above zero;
- a refund names an earlier placed order of its store, and an order's refunds never add up to
  more than was paid; a cancelled order is never refunded (cancelling returns the money);
- a withdrawal never exceeds the store's balance at that moment, counted from the stream:
  placed order value, minus cancelled order value, minus refunds, minus earlier withdrawals.
  Refunds arriving after a cash-out can take a balance below zero: that shortfall is the
  platform's loss, the very thing ghost suppliers and price-protection gangs are after.

Money is kept in integer fen (1/100 CNY) inside, so balances add up exactly.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, NamedTuple

from stream.events import format_ts

__all__ = ["DEFAULT_FRAUD_SHARE", "DEFAULT_START", "LEGIT", "SCHEMES", "Simulation", "simulate",
           "write_events", "write_labels"]

LEGIT = "legit"
SCHEMES = ("price_protection", "gambling_front", "ghost_supplier", "mule_cashout")
DEFAULT_START = datetime(2024, 3, 1, tzinfo=UTC)
DEFAULT_FRAUD_SHARE = 0.07

Event = dict[str, Any]
StrPath = str | os.PathLike[str]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
LOCAL_UTC_OFFSET_MS = 8 * HOUR_MS
PRICE_PROTECTION_WINDOW_MS = 7 * DAY_MS
MIN_WITHDRAWAL_FEN = 10_00
HOURS = range(24)


class Category(NamedTuple):
    low_cny: float
    high_cny: float
    return_rate: float  # share of delivered orders sent back
    honest_weight: float  # how common the category is among honest stores


CATEGORIES = {
    "apparel": Category(39, 599, 0.12, 18),
    "beauty": Category(29, 699, 0.04, 12),
    "electronics": Category(99, 8_999, 0.05, 12),
    "home": Category(19, 999, 0.04, 16),
    "food": Category(9, 299, 0.01, 10),
    "toys": Category(29, 599, 0.04, 7),
    "sports": Category(39, 1_999, 0.06, 8),
    "books": Category(15, 199, 0.02, 6),
    "appliances": Category(199, 12_999, 0.04, 7),
    "luxury": Category(1_500, 30_000, 0.08, 4),
    "gift_cards": Category(50, 1_000, 0.01, 2),
    "digital_goods": Category(5, 300, 0.01, 2),
}
# Courier name and the prefix of its tracking numbers.
COURIERS = {"SF": "SF", "YTO": "YT", "ZTO": "73", "STO": "77", "YUNDA": "43", "JD": "JDV"}
BANK_PREFIXES = ("622202", "621700", "622848", "621483", "622588", "621226")
# Orders by local hour: an evening peak for honest shoppers, small hours for gamblers.
SHOPPER_HOURS_CUM = list(itertools.accumulate(
    (3, 2, 1, .6, .5, .6, 1, 2, 3, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 6, 7, 8, 7, 5)))
GAMBLER_HOURS_CUM = list(itertools.accumulate(
    (9, 10, 10, 9, 7, 4, 1, .3, .2, .2, .2, .2, .3, .3, .3, .3, .3, .3, .5, .8, 1.5, 3, 5, 7)))
WEEKDAY_FACTOR = (0.95, 0.93, 0.97, 1.0, 1.05, 1.15, 1.2)  # Monday first
TOP_UP_PRICES_FEN = (100_00, 200_00, 500_00, 1_000_00, 2_000_00)

CANCEL_RATE = 0.03
LOST_PARCEL_RATE = 0.01
OTHER_REFUND_RATE = 0.008


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` returns: contract events sorted by time, and the truth per store."""

    events: list[Event]
    labels: dict[str, str]


class Parcel(NamedTuple):
    courier: str
    tracking_no: str


class Payout(NamedTuple):
    """A withdrawal a store intends; its amount is settled against the balance at ``ts_ms``."""

    ts_ms: int
    share: float  # of the balance
    bank_account: str


class Cut(NamedTuple):
    ts_ms: int
    sku: str
    new_fen: int


class Discount(NamedTuple):
    """A price factor a SKU carries from ``begin_ms`` until ``end_ms``."""

    begin_ms: int
    end_ms: int
    factor: float


class AfterSale(NamedTuple):
    """A refund an order is due after delivery, or after its parcel went missing."""

    ts_ms: int
    reason: str
    share: float  # of the payment; 1.0 closes the order


class Claimants(NamedTuple):
    """How buyers use price protection: who claims a cut, and how soon after it."""

    chance: float  # of claiming any cut...
    chance_per_depth: float  # ...plus this times the share of the price cut
    min_delay_ms: int
    mean_extra_delay_ms: int


SHOPPERS_CLAIM = Claimants(0.1, 0.6, 10 * MINUTE_MS, 8 * HOUR_MS)
GANG_CLAIMS = Claimants(0.92, 0.0, MINUTE_MS, 20 * MINUTE_MS)


@dataclass(frozen=True)
class Store:
    store_id: str
    owner_id: str
    bank_account: str
    category: str
    opened_ms: int


@dataclass
class Sku:
    """A listed item and its price over time, so an order pays the price of its moment."""

    sku: str
    base_fen: int
    change_ms: list[int] = field(default_factory=lambda: [-(2**62)])
    price_fen: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.price_fen.append(self.base_fen)

    def price_at(self, ts_ms: int) -> int:
        return self.price_fen[bisect_right(self.change_ms, ts_ms) - 1]


@dataclass
class Order:
    """A placed order and what the simulation decided about its future."""

    order_id: str
    store_id: str
    buyer_id: str
    sku: str
    unit_price_fen: int
    quantity: int
    placed_ms: int
    refunded_fen: int = 0
    cancelled: bool = False
    protected_fen: int = 0  # unit price price protection has compensated the buyer down to
    after_sale: AfterSale | None = None

    @property
    def paid_fen(self) -> int:
        return self.unit_price_fen * self.quantity

    @property
    def closed_ms(self) -> int | None:
        """When a full refund closes the order: price protection is not claimed after it."""
        if self.after_sale is None or self.after_sale.share < 1:
            return None
        return self.after_sale.ts_ms


def _cny(amount_fen: int) -> float:
    return amount_fen / 100


class EventLog:
    """Events of the window and, per store, the money ledger withdrawals are settled against.

    Events at or after the window's end are dropped here, once, so generators can schedule
    freely: a refund due after the window simply does not happen in the data.
    """

    def __init__(self, start_ms: int, end_ms: int) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._rows: list[tuple[int, str, Event]] = []
        self._credits: dict[str, list[tuple[int, int]]] = {}
        self._debits: dict[str, list[tuple[int, int]]] = {}
        self._serials: dict[str, itertools.count[int]] = {}

    def _next_id(self, prefix: str) -> str:
        serial = self._serials.setdefault(prefix, itertools.count(1))
        return f"{prefix}-{next(serial):06d}"

    def _add(self, event: Event) -> None:
        """Keep an event whose ``ts`` is still epoch ms; ``sorted_events`` formats it."""
        self._rows.append((event["ts"], event["event_id"], event))

    def open_store(self, store: Store, deposit_fen: int) -> None:
        self._add({"type": "store", "event_id": f"st-{store.store_id}", "ts": store.opened_ms,
                   "store_id": store.store_id, "owner_id": store.owner_id,
                   "bank_account": store.bank_account, "deposit": _cny(deposit_fen),
                   "category": store.category})

    def place(self, store_id: str, buyer_id: str, sku: Sku, ts_ms: int,
              quantity: int = 1) -> Order | None:
        """The placed order, or None when ``ts_ms`` falls outside the window."""
        if not self.start_ms <= ts_ms < self.end_ms:
            return None
        unit_price_fen = sku.price_at(ts_ms)
        order = Order(self._next_id("o"), store_id, buyer_id, sku.sku, unit_price_fen, quantity,
                      ts_ms, protected_fen=unit_price_fen)
        self._status(order, "placed", ts_ms, None)
        self._credits.setdefault(store_id, []).append((ts_ms, order.paid_fen))
        return order

    def _status(self, order: Order, status: str, ts_ms: int, parcel: Parcel | None) -> None:
        self._add({"type": "order", "event_id": f"{order.order_id}-{status}", "ts": ts_ms,
                   "store_id": order.store_id, "order_id": order.order_id,
                   "buyer_id": order.buyer_id, "sku": order.sku,
                   "unit_price": _cny(order.unit_price_fen), "quantity": order.quantity,
                   "status": status, "tracking_no": parcel.tracking_no if parcel else None,
                   "courier": parcel.courier if parcel else None})

    def ship(self, order: Order, shipped_ms: int, parcel: Parcel,
             delivered_ms: int | None = None) -> None:
        """Shipped, then delivered if ``delivered_ms`` is given; each only inside the window."""
        for status, ts_ms in (("shipped", shipped_ms), ("delivered", delivered_ms)):
            if ts_ms is not None and ts_ms < self.end_ms:
                self._status(order, status, ts_ms, parcel)

    def cancel(self, order: Order, ts_ms: int) -> None:
        """Cancel an order; it is marked cancelled even past the window so no refund follows."""
        order.cancelled = True
        if ts_ms < self.end_ms:
            self._status(order, "cancelled", ts_ms, None)
            self._debits.setdefault(order.store_id, []).append((ts_ms, order.paid_fen))

    def reprice(self, store_id: str, sku: Sku, ts_ms: int, new_fen: int) -> bool:
        """Change a price inside the window; False when nothing changed."""
        old_fen = sku.price_fen[-1]
        if new_fen == old_fen or not self.start_ms <= ts_ms < self.end_ms:
            return False
        sku.change_ms.append(ts_ms)
        sku.price_fen.append(new_fen)
        self._add({"type": "price", "event_id": self._next_id("p"), "ts": ts_ms,
                   "store_id": store_id, "sku": sku.sku, "old_price": _cny(old_fen),
                   "new_price": _cny(new_fen)})
        return True

    def refund(self, order: Order, ts_ms: int, amount_fen: int, reason: str) -> int:
        """Refund up to what is left of the order's payment; returns the fen refunded."""
        amount_fen = min(amount_fen, order.paid_fen - order.refunded_fen)
        if order.cancelled or amount_fen <= 0 or not order.placed_ms < ts_ms < self.end_ms:
            return 0
        order.refunded_fen += amount_fen
        refund_id = self._next_id("r")
        self._add({"type": "refund", "event_id": refund_id, "ts": ts_ms,
                   "store_id": order.store_id, "refund_id": refund_id, "order_id": order.order_id,
                   "buyer_id": order.buyer_id, "amount": _cny(amount_fen), "reason": reason})
        self._debits.setdefault(order.store_id, []).append((ts_ms, amount_fen))
        return amount_fen

    def settle_withdrawals(self, store_id: str, payouts: Sequence[Payout]) -> None:
        """Turn a store's intended payouts into withdrawals no larger than its balance then.

        Called once per store, after all its orders and refunds. Orders placed in the same
        millisecond as a withdrawal are left out of its balance and refunds of that millisecond
        are counted, so the guarantee holds in file order too.
        """
        credits = sorted(self._credits.pop(store_id, []))
        debits = sorted(self._debits.pop(store_id, []))
        credit_ms = [ts for ts, _ in credits]
        debit_ms = [ts for ts, _ in debits]
        credit_sums = [0, *itertools.accumulate(fen for _, fen in credits)]
        debit_sums = [0, *itertools.accumulate(fen for _, fen in debits)]
        withdrawn_fen = 0
        last_ms = self.start_ms - 1
        for ts_ms, share, bank_account in sorted(payouts):
            ts_ms = max(ts_ms, last_ms + 1)
            if not self.start_ms <= ts_ms < self.end_ms:
                continue
            balance_fen = (credit_sums[bisect_left(credit_ms, ts_ms)]
                           - debit_sums[bisect_right(debit_ms, ts_ms)] - withdrawn_fen)
            amount_fen = int(balance_fen * min(share, 1.0))
            if amount_fen < MIN_WITHDRAWAL_FEN:
                continue
            withdrawn_fen += amount_fen
            last_ms = ts_ms
            withdrawal_id = self._next_id("w")
            self._add({"type": "withdrawal", "event_id": withdrawal_id, "ts": ts_ms,
                       "store_id": store_id, "withdrawal_id": withdrawal_id,
                       "amount": _cny(amount_fen), "bank_account": bank_account})

    def sorted_events(self) -> list[Event]:
        """Events by ``(ts, event_id)``, their ``ts`` formatted the contract's way."""
        self._rows.sort(key=itemgetter(0, 1))
        day_prefixes: dict[int, str] = {}
        events = []
        for ts_ms, _, event in self._rows:
            event["ts"] = _iso_ts(ts_ms, day_prefixes)
            events.append(event)
        return events


def _iso_ts(ts_ms: int, day_prefixes: dict[int, str]) -> str:
    """``stream.events.format_ts`` for epoch ms, its date part cached per day in ``day_prefixes``.

    Without the cache, formatting takes a quarter of the simulation's time.

    >>> _iso_ts(1_709_294_400_123, {})
    '2024-03-01T12:00:00.123Z'
    """
    day, ms_of_day = divmod(ts_ms, DAY_MS)
    prefix = day_prefixes.get(day)
    if prefix is None:
        prefix = day_prefixes[day] = format_ts(day * 86_400)[:11]
    seconds, millis = divmod(ms_of_day, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}Z"


class Identities:
    """Unique random identifiers: random, not sequential, so no id range gives a label away."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._used: set[str] = set()

    def _fresh(self, prefix: str, digits: int) -> str:
        while True:
            candidate = f"{prefix}{self._rng.randrange(10**digits):0{digits}d}"
            if candidate not in self._used:
                self._used.add(candidate)
                return candidate

    def buyer(self) -> str:
        return self._fresh("b", 8)

    def owner(self) -> str:
        return self._fresh("u", 7)

    def sku(self) -> str:
        return self._fresh("k", 8)

    def bank_account(self) -> str:
        return self._fresh(self._rng.choice(BANK_PREFIXES), 13)

    def parcel(self, courier: str) -> Parcel:
        return Parcel(courier, self._fresh(COURIERS[courier], 12))


@dataclass
class World:
    """Everything the store generators share: randomness, the log, the calendar, the crowd."""

    rng: random.Random
    log: EventLog
    ids: Identities
    day0_ms: int  # local midnight on or before the start
    local_days: int  # local days touching the window
    sale_start_ms: int  # local midnight opening the marketplace-wide sale day
    shoppers: list[str]

    @property
    def start_ms(self) -> int:
        return self.log.start_ms

    @property
    def end_ms(self) -> int:
        return self.log.end_ms

    @property
    def span_ms(self) -> int:
        return self.log.end_ms - self.log.start_ms

    def within(self, ts_ms: float, margin_ms: int = 0) -> int:
        """``ts_ms`` moved inside the window, leaving ``margin_ms`` before its end if it can."""
        return int(max(self.start_ms, min(ts_ms, self.end_ms - margin_ms)))

    def delay_ms(self, low_h: float, high_h: float) -> int:
        """A random delay between ``low_h`` and ``high_h`` hours."""
        return int(self.rng.uniform(low_h, high_h) * HOUR_MS)

    def local_day(self, ts_ms: int) -> int:
        return (ts_ms - self.day0_ms) // DAY_MS

    def open_store(self, store_id: str, category: str, opened_ms: int, deposit_cny: int,
                   owner_id: str | None = None, bank_account: str | None = None) -> Store:
        store = Store(store_id, owner_id or self.ids.owner(),
                      bank_account or self.ids.bank_account(), category, opened_ms)
        self.log.open_store(store, deposit_cny * 100)
        return store

    def catalog(self, prices_fen: Sequence[int]) -> list[Sku]:
        return [Sku(self.ids.sku(), price_fen) for price_fen in prices_fen]

    def category_catalog(self, category: str, count: int) -> list[Sku]:
        low_cny, high_cny = CATEGORIES[category][:2]
        return self.catalog([_shelf_price_fen(_log_uniform(self.rng, low_cny, high_cny))
                             for _ in range(count)])

    def random_parcel(self) -> Parcel:
        return self.ids.parcel(self.rng.choice(list(COURIERS)))


# --------------------------------------------------------------------------- small helpers


def _poisson(rng: random.Random, mean: float) -> int:
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


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _shelf_price_fen(price_cny: float) -> int:
    """A shelf price that ends in 9 the way real ones do, so odd cents give nothing away.

    >>> _shelf_price_fen(1234.5), _shelf_price_fen(39.2)
    (122900, 3990)
    """
    if price_cny >= 100:
        return (int(round(price_cny, -1)) - 1) * 100
    return int(price_cny) * 100 + 90


def _discounted_fen(base_fen: int, factor: float) -> int:
    """``base_fen`` times ``factor``, to the 10 fen, never below 1 CNY.

    >>> _discounted_fen(1_299_900, 0.03)
    39000
    """
    return max(100, round(base_fen * factor / 10) * 10)


def _popularity(count: int) -> list[float]:
    """Cumulative Zipf weights: a few best sellers (or most loyal buyers), a long tail."""
    return list(itertools.accumulate(1 / (rank + 1) ** 1.1 for rank in range(count)))


def _honest_category(rng: random.Random) -> str:
    return rng.choices(list(CATEGORIES), [c.honest_weight for c in CATEGORIES.values()])[0]


def _quantity(rng: random.Random, unit_price_fen: int) -> int:
    if unit_price_fen > 1_000_00 or rng.random() < 0.8:
        return 1
    return rng.choice((2, 2, 2, 3, 4, 5))


def _day_times(w: World, day: int, count: int, hours_cum: list[float]) -> list[int]:
    """``count`` moments of a local day, following an hour-of-day profile."""
    day_ms = w.day0_ms + day * DAY_MS
    return [day_ms + hour * HOUR_MS + w.rng.randrange(HOUR_MS)
            for hour in w.rng.choices(HOURS, cum_weights=hours_cum, k=count)]


def _weekday(w: World, day: int) -> int:
    return datetime.fromtimestamp((w.day0_ms + LOCAL_UTC_OFFSET_MS + day * DAY_MS) / 1000,
                                  UTC).weekday()


# --------------------------------------------------------------------------- shared behaviour


def _fulfil_honestly(w: World, order: Order, courier: str, handling_h: float,
                     return_rate: float) -> None:
    """Cancel, or ship and deliver; plan the return, lost parcel or goodwill refund, if any."""
    rng = w.rng
    if rng.random() < CANCEL_RATE:
        w.log.cancel(order, order.placed_ms + w.delay_ms(0.05, 10))
        return
    shipped_ms = order.placed_ms + w.delay_ms(0.3 * handling_h, 1.7 * handling_h) + 5 * MINUTE_MS
    if rng.random() < LOST_PARCEL_RATE:
        w.log.ship(order, shipped_ms, w.ids.parcel(courier))
        order.after_sale = AfterSale(shipped_ms + w.delay_ms(7 * 24, 12 * 24), "not_received", 1)
        return
    delivered_ms = shipped_ms + w.delay_ms(18, 100)
    w.log.ship(order, shipped_ms, w.ids.parcel(courier), delivered_ms)
    draw = rng.random()
    if draw < return_rate:
        order.after_sale = AfterSale(delivered_ms + w.delay_ms(24, 7 * 24), "return", 1)
    elif draw < return_rate + OTHER_REFUND_RATE:
        order.after_sale = AfterSale(delivered_ms + w.delay_ms(2, 5 * 24), "other",
                                     rng.uniform(0.1, 0.5))


def _honest_fulfilment(w: World, store: Store, handling_h: float) -> Callable[[Order], None]:
    courier = w.rng.choice(list(COURIERS))
    return_rate = CATEGORIES[store.category].return_rate
    return lambda order: _fulfil_honestly(w, order, courier, handling_h, return_rate)


def _settle_after_sale(w: World, orders: Sequence[Order]) -> None:
    """Returns, lost parcels and goodwill refunds, after price protection has had its share."""
    for order in orders:
        if order.after_sale is not None:
            ts_ms, reason, share = order.after_sale
            w.log.refund(order, ts_ms, round(order.paid_fen * share), reason)


def _claim_price_protection(w: World, orders: Sequence[Order], cuts: Sequence[Cut],
                            claimants: Claimants) -> None:
    """Buyers who paid more in the week before a cut claim the difference, before a full
    refund closes their order; each claim protects them down to the new price."""
    by_sku: dict[str, list[Order]] = {}
    for order in sorted(orders, key=lambda o: o.placed_ms):
        by_sku.setdefault(order.sku, []).append(order)
    placed_ms = {sku: [o.placed_ms for o in sold] for sku, sold in by_sku.items()}
    for cut in sorted(cuts):
        sold = by_sku.get(cut.sku, [])
        first = bisect_left(placed_ms.get(cut.sku, []), cut.ts_ms - PRICE_PROTECTION_WINDOW_MS)
        for order in sold[first:bisect_left(placed_ms.get(cut.sku, []), cut.ts_ms)]:
            if order.cancelled or order.protected_fen <= cut.new_fen:
                continue
            depth = 1 - cut.new_fen / order.protected_fen
            if w.rng.random() > claimants.chance + claimants.chance_per_depth * depth:
                continue
            claim_ms = cut.ts_ms + claimants.min_delay_ms + int(
                w.rng.expovariate(1 / claimants.mean_extra_delay_ms))
            if order.closed_ms is not None and claim_ms >= order.closed_ms:
                continue
            amount_fen = (order.protected_fen - cut.new_fen) * order.quantity
            if w.log.refund(order, claim_ms, amount_fen, "price_protection"):
                order.protected_fen = cut.new_fen


def _apply_discounts(w: World, store: Store, catalog: Sequence[Sku],
                     discounts: dict[int, list[Discount]]) -> list[Cut]:
    """Emit the price changes that discounts (by catalog index) imply; return the cuts.

    A SKU's price at a moment is its base times every discount active then, so overlapping
    promotions, clearance and the sale day compose without contradicting one another.
    """
    cuts = []
    for index, sku_discounts in sorted(discounts.items()):
        sku = catalog[index]
        bounds_ms = {ts for d in sku_discounts for ts in (d.begin_ms, d.end_ms)}
        for bound_ms in sorted(bounds_ms):
            factor = math.prod(d.factor for d in sku_discounts
                               if d.begin_ms <= bound_ms < d.end_ms)
            new_fen = sku.base_fen if factor == 1 else _discounted_fen(sku.base_fen, factor)
            old_fen = sku.price_fen[-1]
            if w.log.reprice(store.store_id, sku, bound_ms, new_fen) and new_fen < old_fen:
                cuts.append(Cut(bound_ms, sku.sku, new_fen))
    return cuts


def _payout_times(w: World, cadence: str, from_ms: int, local_hour: float) -> list[int]:
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
    return [w.day0_ms + day * DAY_MS + int(local_hour * HOUR_MS) + rng.randrange(45 * MINUTE_MS)
            for day in range(first_day, w.local_days, step_days)]


def _daily_demand(w: World, day: int, opened_ms: int) -> float:
    """Weekly rhythm, the sale day and the dip before it, and a new store's ramp-up."""
    sale_day = w.local_day(w.sale_start_ms)
    factor = WEEKDAY_FACTOR[_weekday(w, day)] * w.rng.lognormvariate(0, 0.25)
    if day == sale_day:
        factor *= w.rng.uniform(2.5, 4)
    elif sale_day - 2 <= day < sale_day:
        factor *= 0.85
    age_days = (w.day0_ms + day * DAY_MS - opened_ms) / DAY_MS
    return factor * min(1.0, 0.3 + max(0.0, age_days) / 10)


def _shop(w: World, store: Store, catalog: Sequence[Sku], orders_per_day: float,
          fulfil: Callable[[Order], None], until_ms: int | None = None) -> list[Order]:
    """Ordinary shoppers buying from a store until ``until_ms``: regulars and passers-by."""
    rng = w.rng
    popularity = _popularity(len(catalog))
    regulars = rng.sample(w.shoppers, 5)
    until_ms = w.end_ms if until_ms is None else until_ms
    orders = []
    for day in range(max(0, w.local_day(store.opened_ms)), w.local_days):
        count = _poisson(rng, orders_per_day * _daily_demand(w, day, store.opened_ms))
        skus = rng.choices(catalog, cum_weights=popularity, k=count)
        for ts_ms, sku in zip(_day_times(w, day, count, SHOPPER_HOURS_CUM), skus):
            if not store.opened_ms < ts_ms < until_ms:
                continue
            buyer_id = rng.choice(regulars) if rng.random() < 0.2 else rng.choice(w.shoppers)
            order = w.log.place(store.store_id, buyer_id, sku, ts_ms,
                                _quantity(rng, sku.price_at(ts_ms)))
            if order is not None:
                fulfil(order)
                orders.append(order)
    return orders


# --------------------------------------------------------------------------- honest stores


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


@dataclass
class HonestSeller:
    """Who runs an honest store and how they are paid, decided before its activity."""

    store_id: str
    tier: Tier
    opens_in_window: bool
    cadence: str
    payout_hour: float
    owner_id: str | None = None
    bank_account: str | None = None


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


def _honest_sellers(w: World, store_ids: Sequence[str]) -> list[HonestSeller]:
    """Sizes, newcomers, cash-out habits, and families paying out to one bank account."""
    rng = w.rng
    sellers = []
    for store_id, tier in zip(store_ids, _assign_tiers(rng, len(store_ids))):
        new = tier.name in ("small", "tiny") and rng.random() < 0.25
        cadence = "quick" if new and rng.random() < 0.5 else rng.choice(tier.cadences)
        sellers.append(HonestSeller(store_id, tier, new, cadence, rng.uniform(8, 22)))
    established = [s for s in sellers
                   if not s.opens_in_window and s.tier.name in ("medium", "small")]
    rng.shuffle(established)
    for _ in range(len(sellers) // 80 if len(sellers) >= 40 else 0):
        size = rng.randint(2, 4)
        family, established = established[:size], established[size:]
        owner_id, bank_account = w.ids.owner(), w.ids.bank_account()
        for seller in family:
            seller.owner_id, seller.bank_account = owner_id, bank_account
            seller.cadence, seller.payout_hour = family[0].cadence, family[0].payout_hour
    return sellers


def _honest_discounts(w: World, seller: HonestSeller, catalog: Sequence[Sku],
                      from_ms: int) -> dict[int, list[Discount]]:
    """Discounts by catalog index: promotions, clearance markdowns (50-80% deep, some in two
    steps, never lifted) and the sale day; dormant shops do none."""
    rng = w.rng
    discounts: dict[int, list[Discount]] = {}
    forever_ms = w.end_ms + DAY_MS
    if seller.tier.name == "dormant":
        return discounts
    for _ in range(_poisson(rng, 1.2 * w.local_days / 30)):
        begin_ms = w.day0_ms + rng.randrange(w.local_days) * DAY_MS + rng.choice((0, 10)) * HOUR_MS
        end_ms = begin_ms + rng.randint(2, 7) * DAY_MS
        factor = rng.choice((0.7, 0.75, 0.8, 0.85, 0.9))
        for index in rng.sample(range(len(catalog)), min(len(catalog), rng.randint(1, 5))):
            discounts.setdefault(index, []).append(Discount(begin_ms, end_ms, factor))
    if rng.random() < 0.15:
        begin_ms = rng.randrange(from_ms, w.end_ms)
        slow_sellers = range(len(catalog) // 2, len(catalog))
        for index in rng.sample(slow_sellers, min(len(slow_sellers), rng.randint(1, 4))):
            target = rng.uniform(0.2, 0.5)
            if rng.random() < 0.35:
                second_ms = begin_ms + w.delay_ms(48, 144)
                discounts.setdefault(index, []).extend([Discount(begin_ms, forever_ms, 0.7),
                                                    Discount(second_ms, forever_ms, target / 0.7)])
            else:
                discounts.setdefault(index, []).append(Discount(begin_ms, forever_ms, target))
    if rng.random() < 0.7 and from_ms < w.sale_start_ms:
        factor = rng.uniform(0.6, 0.9)
        best_sellers = range(min(len(catalog), 40))
        for index in rng.sample(best_sellers, max(1, int(len(best_sellers) * rng.random()))):
            discounts.setdefault(index, []).append(
                Discount(w.sale_start_ms, w.sale_start_ms + DAY_MS, factor))
    return {index: [d for d in sku_discounts if d.begin_ms >= from_ms]
            for index, sku_discounts in discounts.items()}


def _run_honest(w: World, seller: HonestSeller) -> None:
    """One honest store: opening, discounts, sales, the refunds they bring, payouts."""
    rng, tier = w.rng, seller.tier
    if seller.opens_in_window:
        opened_ms = rng.randrange(w.start_ms, w.within(w.end_ms, 6 * HOUR_MS) + 1)
    else:
        opened_ms = w.start_ms - int(_log_uniform(rng, 20, 1000) * DAY_MS)
    category = _honest_category(rng)
    deposit_cny = rng.choice((1_000, 1_000, 2_000, 5_000)) * (10 if tier.name == "big" else 1)
    store = w.open_store(seller.store_id, category, opened_ms, deposit_cny,
                         seller.owner_id, seller.bank_account)
    catalog = w.category_catalog(category, rng.randint(*tier.skus))
    active_ms = max(opened_ms, w.start_ms)
    cuts = _apply_discounts(w, store, catalog, _honest_discounts(w, seller, catalog, active_ms))
    orders = _shop(w, store, catalog, _log_uniform(rng, *tier.orders_per_day),
                   _honest_fulfilment(w, store, rng.uniform(*tier.handling_h)))
    _claim_price_protection(w, orders, cuts, SHOPPERS_CLAIM)
    _settle_after_sale(w, orders)
    w.log.settle_withdrawals(store.store_id, _honest_payouts(w, seller, store, active_ms))


def _honest_payouts(w: World, seller: HonestSeller, store: Store, from_ms: int) -> list[Payout]:
    """The seller's own cadence; a few move to a new bank account during the window."""
    rng = w.rng
    low_share = 1.0 if seller.cadence == "quick" else 0.8
    switch_ms = rng.randrange(w.start_ms, w.end_ms) if rng.random() < 0.03 else w.end_ms
    new_account = w.ids.bank_account() if switch_ms < w.end_ms else store.bank_account
    return [Payout(ts_ms, rng.uniform(low_share, 1.0),
                   store.bank_account if ts_ms < switch_ms else new_account)
            for ts_ms in _payout_times(w, seller.cadence, from_ms, seller.payout_hour)]


# --------------------------------------------------------------------------- fraud schemes


def _run_price_protection_gang(w: World, store_ids: Sequence[str]) -> None:
    """New stores, small deposits, expensive SKUs bought by the gang's own accounts, a price
    cut to a few percent the next day, price-protection claims, cash-out, abandonment."""
    rng = w.rng
    accounts = [w.ids.buyer() for _ in range(rng.randint(4, 15))]
    campaign_ms = w.start_ms + rng.uniform(0, max(0, w.span_ms - 4 * DAY_MS))
    for position, store_id in enumerate(store_ids):
        # Opening, purchases, cut, claims and cash-out take up to about 3.5 days.
        opened_ms = w.within(campaign_ms + position * w.delay_ms(0, 48), 4 * DAY_MS)
        store = w.open_store(store_id, rng.choice(("electronics", "appliances", "luxury")),
                             opened_ms, rng.choice((800, 1_000, 1_000, 1_000, 1_200, 1_500)))
        _price_protection_store(w, store, accounts)


def _price_protection_store(w: World, store: Store, accounts: Sequence[str]) -> None:
    rng = w.rng
    burst_ms = store.opened_ms + w.delay_ms(2, 30)
    if rng.random() < 0.5:  # camouflage: a few cheap, ordinary sales first
        _shop(w, store, w.category_catalog("home", rng.randint(2, 4)), rng.uniform(1, 4),
              _honest_fulfilment(w, store, 12), until_ms=burst_ms)
    expensive = w.catalog([_shelf_price_fen(rng.uniform(5_000, 20_000))
                           for _ in range(rng.randint(1, 3))])
    orders = [order for _ in range(rng.randint(3, 12))
              if (order := w.log.place(store.store_id, rng.choice(accounts), rng.choice(expensive),
                                       burst_ms + w.delay_ms(0, 6), rng.choice((1, 1, 1, 2))))]
    if not orders:  # the window closed before the gang could buy
        return
    if rng.random() < 0.5:
        for order in orders:
            w.log.ship(order, order.placed_ms + w.delay_ms(3, 20), w.random_parcel())
    cut_ms = max(o.placed_ms for o in orders) + w.delay_ms(16, 34)
    cuts = _cut_to_nothing(w, store, expensive, cut_ms)
    _claim_price_protection(w, orders, cuts, GANG_CLAIMS)
    last_cut_ms = max((cut.ts_ms for cut in cuts), default=cut_ms)
    first = Payout(last_cut_ms + w.delay_ms(0.5, 5), rng.uniform(0.95, 1.0), store.bank_account)
    second = first._replace(ts_ms=first.ts_ms + w.delay_ms(1, 3), share=1.0)
    w.log.settle_withdrawals(store.store_id, [first, second] if rng.random() < 0.3 else [first])


def _cut_to_nothing(w: World, store: Store, skus: Sequence[Sku], cut_ms: int) -> list[Cut]:
    """Cut every SKU to 1-5% of its price, at once or in two or three steps minutes apart."""
    rng = w.rng
    steps = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
    factors = sorted((rng.uniform(0.1, 0.6) for _ in range(steps - 1)), reverse=True)
    cuts = []
    for factor in [*factors, rng.uniform(0.01, 0.05)]:
        for sku in skus:
            new_fen = _discounted_fen(sku.base_fen, factor)
            if w.log.reprice(store.store_id, sku, cut_ms, new_fen):
                cuts.append(Cut(cut_ms, sku.sku, new_fen))
        cut_ms += w.delay_ms(0.1, 1)
    return cuts


def _run_gambling_ring(w: World, store_ids: Sequence[str]) -> None:
    """Fronts selling round-sum "top-ups" to repeat night buyers, parcels from a bought batch
    of tracking numbers shared by the ring, balances swept daily to the ring's accounts."""
    rng = w.rng
    gamblers = [w.ids.buyer() for _ in range(rng.randint(15, 80))]
    couriers = rng.sample(list(COURIERS), 2)
    batch = [w.ids.parcel(rng.choice(couriers)) for _ in range(rng.randint(5, 25))]
    sweep_accounts = [w.ids.bank_account() for _ in range(rng.randint(2, 4))]
    for store_id in store_ids:
        if rng.random() < 0.5:
            opened_ms = w.start_ms - int(rng.uniform(30, 300) * DAY_MS)
        else:
            opened_ms = w.within(w.start_ms + rng.uniform(0, 0.3) * w.span_ms, DAY_MS)
        store = w.open_store(store_id, rng.choice(("digital_goods", "gift_cards", "home")),
                             opened_ms, rng.choice((1_000, 2_000, 5_000)))
        _gambling_store(w, store, gamblers, batch, sweep_accounts)


def _gambling_store(w: World, store: Store, gamblers: Sequence[str], batch: Sequence[Parcel],
                    sweep_accounts: Sequence[str]) -> None:
    rng = w.rng
    active_ms = max(store.opened_ms, w.start_ms)
    if rng.random() < 0.4:  # some fronts join the ring later
        active_ms = w.within(active_ms + rng.uniform(0, 0.4) * w.span_ms, DAY_MS)
    if rng.random() < 0.4:  # camouflage: ordinary daytime sales, properly shipped
        _shop(w, store, w.category_catalog("home", rng.randint(2, 6)), rng.uniform(0.5, 3),
              _honest_fulfilment(w, store, 24))
    top_ups = w.catalog(TOP_UP_PRICES_FEN)
    loyalty = _popularity(len(gamblers))
    orders_per_day = rng.uniform(8, 40)
    for day in range(w.local_day(active_ms), w.local_days):
        count = _poisson(rng, orders_per_day * rng.lognormvariate(0, 0.3))
        buyers = rng.choices(gamblers, cum_weights=loyalty, k=count)
        skus = rng.choices(top_ups, weights=(3, 3, 3, 2, 1), k=count)
        for ts_ms, buyer_id, sku in zip(_day_times(w, day, count, GAMBLER_HOURS_CUM), buyers, skus):
            if ts_ms <= active_ms:
                continue
            order = w.log.place(store.store_id, buyer_id, sku, ts_ms, rng.choice((1, 1, 1, 2, 5)))
            if order is None:
                continue
            if rng.random() < 0.01:
                w.log.cancel(order, ts_ms + w.delay_ms(0.05, 0.5))
                continue
            shipped_ms = ts_ms + w.delay_ms(0.08, 1)
            w.log.ship(order, shipped_ms, rng.choice(batch), shipped_ms + w.delay_ms(1, 6))
    w.log.settle_withdrawals(store.store_id, [
        Payout(ts_ms, rng.uniform(0.97, 1.0), rng.choice(sweep_accounts))
        for ts_ms in _payout_times(w, "daily", active_ms, rng.uniform(5, 10))])


def _run_ghost_ring(w: World, store_ids: Sequence[str]) -> None:
    """Stores opened under fake identities one after another, selling electronics that never
    arrive; the cash goes to the ring's rotating bank cards before the refunds come in."""
    rng = w.rng
    cards = [w.ids.bank_account() for _ in range(rng.randint(4, 12))]
    opened_ms = w.start_ms + rng.uniform(0, max(0, w.span_ms - 5 * DAY_MS))
    for store_id in store_ids:
        store = w.open_store(store_id, "electronics", w.within(opened_ms, 2 * DAY_MS),
                             rng.choice((1_000, 2_000, 3_000)))
        _ghost_store(w, store, cards)
        opened_ms += w.delay_ms(6, 48)


def _ghost_store(w: World, store: Store, cards: Sequence[str]) -> None:
    rng = w.rng
    closes_ms = store.opened_ms + w.delay_ms(3 * 24, 9 * 24)
    reputation = rng.randint(0, 3)  # the first sales are shipped, to look real
    fakes_tracking = rng.random() < 0.3
    sold = itertools.count()

    def never_deliver(order: Order) -> None:
        if next(sold) < reputation:
            _fulfil_honestly(w, order, "ZTO", 20, 0.0)
        elif rng.random() < 0.12:  # buyers who tire of waiting
            w.log.cancel(order, order.placed_ms + w.delay_ms(48, 96))
        else:
            if fakes_tracking:
                w.log.ship(order, order.placed_ms + w.delay_ms(24, 72), w.random_parcel())
            if rng.random() < 0.85:
                order.after_sale = AfterSale(order.placed_ms + w.delay_ms(5 * 24, 12 * 24),
                                             "not_received", 1)

    catalog = w.category_catalog("electronics", rng.randint(3, 10))
    orders = _shop(w, store, catalog, rng.uniform(4, 25), never_deliver, until_ms=closes_ms)
    _settle_after_sale(w, orders)
    first_card = rng.randrange(len(cards))
    payouts: list[Payout] = []
    ts_ms = store.opened_ms
    while ts_ms < closes_ms + 12 * HOUR_MS:
        ts_ms += w.delay_ms(8, 24)
        card = cards[(first_card + len(payouts)) % len(cards)]
        payouts.append(Payout(ts_ms, rng.uniform(0.9, 1.0), card))
    w.log.settle_withdrawals(store.store_id, payouts)


def _run_mules(w: World, store_ids: Sequence[str]) -> None:
    """Long-dormant stores that suddenly take a few large orders from a handful of accounts and
    withdraw to a bank account they never used before."""
    for store_id in store_ids:
        _mule_store(w, store_id)


def _mule_store(w: World, store_id: str) -> None:
    rng = w.rng
    category = _honest_category(rng)
    store = w.open_store(store_id, category, w.start_ms - int(rng.uniform(90, 600) * DAY_MS),
                         rng.choice((1_000, 2_000, 5_000)))
    burst_ms = w.within(w.start_ms + rng.uniform(0.25, 1.0) * w.span_ms, 18 * HOUR_MS)
    _shop(w, store, w.category_catalog(category, rng.randint(1, 4)), rng.uniform(0.01, 0.1),
          _honest_fulfilment(w, store, 48), until_ms=burst_ms)
    accounts = [w.ids.buyer() for _ in range(rng.randint(1, 3))]
    big_items = w.catalog([_shelf_price_fen(rng.uniform(2_000, 30_000))
                           for _ in range(rng.randint(1, 3))])
    ships = rng.random() < 0.5
    last_ms = burst_ms
    for _ in range(rng.randint(2, 6)):
        order = w.log.place(store_id, rng.choice(accounts), rng.choice(big_items),
                            burst_ms + w.delay_ms(0, 6))
        if order is not None:
            last_ms = max(last_ms, order.placed_ms)
            if ships:
                shipped_ms = order.placed_ms + w.delay_ms(1, 4)
                w.log.ship(order, shipped_ms, w.random_parcel(), shipped_ms + w.delay_ms(3, 20))
    new_account = w.ids.bank_account()
    first = Payout(last_ms + w.delay_ms(1, 8), rng.uniform(0.9, 1.0), new_account)
    second = first._replace(ts_ms=first.ts_ms + w.delay_ms(1, 4), share=1.0)
    w.log.settle_withdrawals(store_id, [first, second] if rng.random() < 0.4 else [first])


class Scheme(NamedTuple):
    run: Callable[[World, Sequence[str]], None]
    group_sizes: tuple[int, int]  # stores per gang or ring
    share: float  # of the fraud stores beyond each scheme's first group


# In seeding order: when fraud stores are few, the schemes first in line get them.
FRAUD = {
    "price_protection": Scheme(_run_price_protection_gang, (3, 8), 0.3),
    "mule_cashout": Scheme(_run_mules, (1, 1), 0.15),
    "gambling_front": Scheme(_run_gambling_ring, (2, 6), 0.2),
    "ghost_supplier": Scheme(_run_ghost_ring, (3, 12), 0.35),
}


def _fraud_groups(rng: random.Random, stores: int, fraud_share: float) -> list[tuple[str, int]]:
    """Fraud stores by scheme and group: every scheme once there are 100 stores and any fraud.

    >>> sorted({scheme for scheme, _ in _fraud_groups(random.Random(1), 100, 0.01)})
    ['gambling_front', 'ghost_supplier', 'mule_cashout', 'price_protection']
    """
    budget = round(stores * fraud_share)
    if stores >= 100 and fraud_share > 0:
        budget = max(budget, sum(scheme.group_sizes[0] for scheme in FRAUD.values()))
    counts = dict.fromkeys(FRAUD, 0)
    for name, scheme in FRAUD.items():
        if budget - sum(counts.values()) >= scheme.group_sizes[0]:
            counts[name] = scheme.group_sizes[0]
    seeded = [name for name, count in counts.items() if count]
    while seeded and sum(counts.values()) < budget:
        counts[min(seeded, key=lambda name: counts[name] / budget - FRAUD[name].share)] += 1
    groups = []
    for name in seeded:
        low, high = FRAUD[name].group_sizes
        left = counts[name]
        while left:  # split into groups of allowed size, sometimes even when one would do
            splits = left >= 2 * low and (left > high or rng.random() < 0.5)
            size = rng.randint(low, min(high, left - low)) if splits else left
            groups.append((name, size))
            left -= size
    return groups


# --------------------------------------------------------------------------- public API


def simulate(stores: int, days: int, seed: int, start: datetime = DEFAULT_START,
             fraud_share: float = DEFAULT_FRAUD_SHARE) -> Simulation:
    """A labelled marketplace of ``stores`` stores over ``days`` days from ``start``.

    About ``fraud_share`` of the stores run a fraud scheme (every scheme is present from 100
    stores on, unless ``fraud_share`` is 0); labels map every store id to ``"legit"`` or its
    scheme. Store ids are shuffled before labels are dealt, so an id says nothing of its store.
    """
    _check_arguments(stores, days, start, fraud_share)
    rng = random.Random(seed)
    w = _world(rng, stores, days, start)
    store_ids = [f"s{index:05d}" for index in range(stores)]
    rng.shuffle(store_ids)
    labels: dict[str, str] = {}
    for scheme, size in _fraud_groups(rng, stores, fraud_share):
        group, store_ids = store_ids[:size], store_ids[size:]
        FRAUD[scheme].run(w, group)
        labels.update(dict.fromkeys(group, scheme))
    for seller in _honest_sellers(w, store_ids):
        _run_honest(w, seller)
        labels[seller.store_id] = LEGIT
    return Simulation(events=w.log.sorted_events(), labels=dict(sorted(labels.items())))


def _check_arguments(stores: int, days: int, start: datetime, fraud_share: float) -> None:
    if stores < 1:
        raise ValueError(f"stores is {stores}; it must be at least 1")
    if days < 1:
        raise ValueError(f"days is {days}; it must be at least 1")
    if start.tzinfo is None:
        raise ValueError(f"start {start.isoformat()} has no time zone; give it in UTC")
    if not 0 <= fraud_share <= 0.5:
        raise ValueError(f"fraud_share is {fraud_share}; it must lie between 0 and 0.5")


def _world(rng: random.Random, stores: int, days: int, start: datetime) -> World:
    start_ms = round(start.timestamp() * 1000)
    end_ms = start_ms + days * DAY_MS
    day0_ms = (start_ms + LOCAL_UTC_OFFSET_MS) // DAY_MS * DAY_MS - LOCAL_UTC_OFFSET_MS
    local_days = -(-(end_ms - day0_ms) // DAY_MS)
    ids = Identities(rng)
    return World(rng=rng, log=EventLog(start_ms, end_ms), ids=ids, day0_ms=day0_ms,
                 local_days=local_days, sale_start_ms=day0_ms + local_days // 2 * DAY_MS,
                 shoppers=[ids.buyer() for _ in range(max(2_000, stores * 60))])


def write_events(path: StrPath, events: Sequence[Event]) -> None:
    """JSON Lines, one compact object per line, in the order given (the replay order)."""
    encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    with Path(path).open("w", encoding="utf-8", newline="\n") as out:
        out.writelines(encode(event) + "\n" for event in events)


def write_labels(path: StrPath, labels: dict[str, str]) -> None:
    """The truth as one JSON object, store id to ``"legit"`` or scheme, sorted by store id."""
    Path(path).write_text(json.dumps(labels, indent=2, sort_keys=True) + "\n", encoding="utf-8")
