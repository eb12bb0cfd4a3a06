"""The simulated market's ground floor: money records and the event log that keeps its guarantees.

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
import random
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, NamedTuple

from stream.core.records import format_ts

Event = dict[str, Any]

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
LOCAL_UTC_OFFSET_MS = 8 * HOUR_MS
PRICE_PROTECTION_WINDOW_MS = 7 * DAY_MS
MIN_WITHDRAWAL_FEN = 10_00


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
    """``stream.core.records.format_ts`` for epoch ms, its date part cached per day in ``day_prefixes``.

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
