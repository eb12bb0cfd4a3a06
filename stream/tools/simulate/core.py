"""The simulated market's ground floor: money records, the event log, identities, the world.

Every generator (honest habits, fraud schemes) writes through ``EventLog``, which keeps the
guarantees the tests hold the simulator to:

- events are sorted by ``(ts, event_id)``; store events of stores opened before the window come
  first, with their old opening time (a store registered before the data starts may also have
  no store event at all, as on a live marketplace); every other event lies in the window;
- amounts are CNY with at most 2 decimals and above zero;
- a refund names an earlier placed order of its store, and an order's refunds never add up to
  more than was paid; a cancelled order is never refunded (cancelling returns the money);
- a withdrawal never exceeds the store's balance at that moment, counted from the stream:
  placed order value, minus cancelled order value, minus refunds, minus earlier withdrawals.
  Refunds arriving after a cash-out can take a balance below zero: that shortfall is the
  platform's loss, the very thing ghost suppliers and price-protection gangs are after.

Money is kept in integer fen (1/100 CNY) inside, so balances add up exactly. Event ``ts`` is
UTC, while daily rhythms follow the marketplace's local time (UTC+8).
"""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from stream.core.events import format_ts

Event = dict[str, Any]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
LOCAL_UTC_OFFSET_MS = 8 * HOUR_MS
PRICE_PROTECTION_WINDOW_MS = 7 * DAY_MS
MIN_WITHDRAWAL_FEN = 10_00


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


class AfterSale(NamedTuple):
    """A refund an order is due after delivery, or after its parcel went missing."""

    ts_ms: int
    reason: str
    share: float  # of the payment; 1.0 closes the order


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

    def __init__(self, start_ms: int, end_ms: int, id_seed: int = 0) -> None:
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._rows: list[tuple[int, str, Event]] = []
        self._credits: dict[str, list[tuple[int, int]]] = {}
        self._debits: dict[str, list[tuple[int, int]]] = {}
        self._id_rng = random.Random(id_seed)
        self._used_ids: set[str] = set()
        self._unrecorded: dict[str, tuple[Store, int]] = {}

    def _next_id(self, prefix: str) -> str:
        """A random unique id: fraud stores are generated first, so serial numbers would tell
        their orders and payouts apart from honest ones."""
        while True:
            candidate = f"{prefix}-{self._id_rng.randrange(10**9):09d}"
            if candidate not in self._used_ids:
                self._used_ids.add(candidate)
                return candidate

    def _add(self, event: Event) -> None:
        """Keep an event whose ``ts`` is still epoch ms; ``sorted_events`` formats it."""
        self._rows.append((event["ts"], event["event_id"], event))

    def open_store(self, store: Store, deposit_fen: int) -> None:
        self._add(
            {
                "type": "store",
                "event_id": f"st-{store.store_id}",
                "ts": store.opened_ms,
                "store_id": store.store_id,
                "owner_id": store.owner_id,
                "bank_account": store.bank_account,
                "deposit": _cny(deposit_fen),
                "category": store.category,
            }
        )

    def leave_out_store(self, store: Store, deposit_fen: int) -> None:
        """Keep a store's opening out of the data, unless the store then does nothing in the
        window: a label must name a store the data shows, so such a store keeps its event."""
        self._unrecorded[store.store_id] = (store, deposit_fen)

    def place(
        self, store_id: str, buyer_id: str, sku: Sku, ts_ms: int, quantity: int = 1
    ) -> Order | None:
        """The placed order, or None when ``ts_ms`` falls outside the window."""
        if not self.start_ms <= ts_ms < self.end_ms:
            return None
        unit_price_fen = sku.price_at(ts_ms)
        order = Order(
            self._next_id("o"),
            store_id,
            buyer_id,
            sku.sku,
            unit_price_fen,
            quantity,
            ts_ms,
            protected_fen=unit_price_fen,
        )
        self._status(order, "placed", ts_ms, None)
        self._credits.setdefault(store_id, []).append((ts_ms, order.paid_fen))
        return order

    def _status(self, order: Order, status: str, ts_ms: int, parcel: Parcel | None) -> None:
        self._add(
            {
                "type": "order",
                "event_id": f"{order.order_id}-{status}",
                "ts": ts_ms,
                "store_id": order.store_id,
                "order_id": order.order_id,
                "buyer_id": order.buyer_id,
                "sku": order.sku,
                "unit_price": _cny(order.unit_price_fen),
                "quantity": order.quantity,
                "status": status,
                "tracking_no": parcel.tracking_no if parcel else None,
                "courier": parcel.courier if parcel else None,
            }
        )

    def ship(
        self, order: Order, shipped_ms: int, parcel: Parcel, delivered_ms: int | None = None
    ) -> None:
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
        self._add(
            {
                "type": "price",
                "event_id": self._next_id("p"),
                "ts": ts_ms,
                "store_id": store_id,
                "sku": sku.sku,
                "old_price": _cny(old_fen),
                "new_price": _cny(new_fen),
            }
        )
        return True

    def refund(self, order: Order, ts_ms: int, amount_fen: int, reason: str) -> int:
        """Refund up to what is left of the order's payment; returns the fen refunded."""
        amount_fen = min(amount_fen, order.paid_fen - order.refunded_fen)
        if order.cancelled or amount_fen <= 0 or not order.placed_ms < ts_ms < self.end_ms:
            return 0
        order.refunded_fen += amount_fen
        refund_id = self._next_id("r")
        self._add(
            {
                "type": "refund",
                "event_id": refund_id,
                "ts": ts_ms,
                "store_id": order.store_id,
                "refund_id": refund_id,
                "order_id": order.order_id,
                "buyer_id": order.buyer_id,
                "amount": _cny(amount_fen),
                "reason": reason,
            }
        )
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
            balance_fen = (
                credit_sums[bisect_left(credit_ms, ts_ms)]
                - debit_sums[bisect_right(debit_ms, ts_ms)]
                - withdrawn_fen
            )
            amount_fen = int(balance_fen * min(share, 1.0))
            if amount_fen < MIN_WITHDRAWAL_FEN:
                continue
            withdrawn_fen += amount_fen
            last_ms = ts_ms
            withdrawal_id = self._next_id("w")
            self._add(
                {
                    "type": "withdrawal",
                    "event_id": withdrawal_id,
                    "ts": ts_ms,
                    "store_id": store_id,
                    "withdrawal_id": withdrawal_id,
                    "amount": _cny(amount_fen),
                    "bank_account": bank_account,
                }
            )

    def sorted_events(self) -> list[Event]:
        """Events by ``(ts, event_id)``, their ``ts`` formatted the contract's way."""
        active = {event["store_id"] for _, _, event in self._rows}
        for store_id, (store, deposit_fen) in self._unrecorded.items():
            if store_id not in active:
                self.open_store(store, deposit_fen)
        self._unrecorded.clear()
        self._rows.sort(key=itemgetter(0, 1))
        day_prefixes: dict[int, str] = {}
        events = []
        for ts_ms, _, event in self._rows:
            event["ts"] = _iso_ts(ts_ms, day_prefixes)
            events.append(event)
        return events


def _iso_ts(ts_ms: int, day_prefixes: dict[int, str]) -> str:
    """``stream.core.events.format_ts`` for epoch ms, its date part cached per day in ``day_prefixes``.

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

    def open_store(
        self,
        store_id: str,
        category: str,
        opened_ms: int,
        deposit_cny: int,
        owner_id: str | None = None,
        bank_account: str | None = None,
        in_data: bool = True,
    ) -> Store:
        """Open a store; ``in_data=False`` leaves its store event out of the data, as for a
        store registered before the marketplace's feed was recorded (only before the window).
        """
        if not in_data and opened_ms >= self.start_ms:
            raise ValueError(
                f"store {store_id} opens inside the window; its store event "
                "cannot be left out of the data"
            )
        store = Store(
            store_id,
            owner_id or self.ids.owner(),
            bank_account or self.ids.bank_account(),
            category,
            opened_ms,
        )
        if in_data:
            self.log.open_store(store, deposit_cny * 100)
        else:
            self.log.leave_out_store(store, deposit_cny * 100)
        return store

    def catalog(self, prices_fen: Sequence[int]) -> list[Sku]:
        return [Sku(self.ids.sku(), price_fen) for price_fen in prices_fen]

    def category_catalog(self, category: str, count: int) -> list[Sku]:
        low_cny, high_cny = CATEGORIES[category][:2]
        return self.catalog(
            [shelf_price_fen(log_uniform(self.rng, low_cny, high_cny)) for _ in range(count)]
        )

    def random_parcel(self) -> Parcel:
        return self.ids.parcel(self.rng.choice(list(COURIERS)))


def log_uniform(rng: random.Random, low: float, high: float) -> float:
    """A draw whose logarithm is uniform: prices and shop sizes spread over orders of magnitude."""
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def shelf_price_fen(price_cny: float) -> int:
    """A shelf price that ends in 9 the way real ones do, so odd cents give nothing away.

    >>> shelf_price_fen(1234.5), shelf_price_fen(39.2)
    (122900, 3990)
    """
    if price_cny >= 100:
        return (int(round(price_cny, -1)) - 1) * 100
    return int(price_cny) * 100 + 90
