"""What one event adds to its store's state (``StateUpdate``, ``update_for``): pure, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stream.core.facts import Fact
from stream.core.records import Event
from stream.core.windows import METRIC_INDEX


@dataclass(slots=True)  # not frozen, as the state's records (see store_state.Applied): read-only
class StateUpdate:
    """One event's effect on its store's state.

    ``deltas`` are keyed by the metric's index in WINDOW_METRICS. ``profile_times`` are
    (op, field) pairs that keep the event's time in the field: op '<' the earliest, '>' the
    latest; ``profile_sets`` (field, value) pairs set the field. Both apply in their order."""

    store_id: str
    stream: str
    ts_s: float
    deltas: dict[int, float]
    profile_times: tuple[tuple[str, str], ...]
    profile_sets: tuple[tuple[str, str], ...] = ()
    sku: str = ""
    sku_unit_price_cny: float = 0.0
    sku_units: int = 0
    facts: tuple[Fact, ...] = ()
    event_id: str = ""
    placed_order_id: str = ""
    refund_of_order_id: str = ""
    buyer: str = ""  # the buyer of a placed order


_SALES = METRIC_INDEX["sales_cny"]
_PLACED = METRIC_INDEX["orders_placed"]
_CANCELLED = METRIC_INDEX["cancelled_cny"]
_SHIPPED = METRIC_INDEX["orders_shipped"]
_DELIVERED = METRIC_INDEX["orders_delivered"]
_PRICE_CUTS = METRIC_INDEX["price_cuts"]
_WITHDRAWN = METRIC_INDEX["withdrawn_cny"]
_WITHDRAWALS = METRIC_INDEX["withdrawals"]
_NIGHT_SALES = METRIC_INDEX["night_sales_cny"]
_ROUND_SALES = METRIC_INDEX["round_sales_cny"]
_CLAIMS = METRIC_INDEX["claims"]
_PRICE_PROTECTION = METRIC_INDEX["refund_price_protection_cny"]
NIGHT_HOURS: Final = range(0, 6)
DEFAULT_UTC_OFFSET_S: Final = 8 * 3600.0

# when the store was first seen at all, and first seen at work: "quiet all week" needs a week
# of watching
_SEEN: Final = (("<", "first_ts"),)
_OPENED: Final = (*_SEEN, ("<", "opened_ts"), (">", "registered_ts"))
_ACTIVE: Final = (("<", "first_ts"), ("<", "first_activity_ts"))
_SALE: Final = (*_ACTIVE, (">", "last_sale_ts"), ("<", "first_sale_ts"))
_PRICE_CUT: Final = (*_ACTIVE, (">", "last_price_cut_ts"))
_SHIPMENT: Final = (*_ACTIVE, (">", "last_shipment_ts"))


def roundness(value_cny: float) -> float:
    """How round a sum is: 1 for a multiple of 100 CNY, 0.5 of 10, 0 otherwise. Top-ups and
    stakes come in round sums; prices end in .99 or any odd figure.

    >>> roundness(500.0), roundness(230.0), roundness(199.9), roundness(0.0)
    (1.0, 0.5, 0.0, 0.0)
    """
    fen = round(value_cny * 100)
    if fen <= 0:
        return 0.0
    if fen % 10_000 == 0:
        return 1.0
    return 0.5 if fen % 1_000 == 0 else 0.0


def local_hour(ts_s: float, utc_offset_s: float = DEFAULT_UTC_OFFSET_S) -> int:
    """The hour of the day in the marketplace's local time.

    >>> local_hour(0.0), local_hour(0.0, utc_offset_s=0.0)
    (8, 0)
    """
    return int((ts_s + utc_offset_s) // 3600) % 24


def update_for(event: Event, utc_offset_s: float = DEFAULT_UTC_OFFSET_S) -> StateUpdate:
    """What an event adds to its store's windows and profile.

    Every count is keyed by the event's own time and needs no earlier event of the same order,
    so arrival order never changes what a window holds (a refund or a delivery seen before its
    order counts all the same).
    """
    f = event.fields
    times: tuple[tuple[str, str], ...] = _ACTIVE
    sets: tuple[tuple[str, str], ...] = ()
    deltas: dict[int, float] = {}
    sku, price, units = "", 0.0, 0
    facts: tuple[Fact, ...] = ()
    placed = refund_of = buyer = ""
    if event.type == "store":
        # a store opens once: a later store event (a new payout account, a new owner) updates
        # the registration but leaves the store as old as its first one
        times = _OPENED
        sets = (
            ("deposit", repr(f["deposit"])),
            ("bank_account", f["bank_account"]),
            ("owner_id", f["owner_id"]),
            ("category", f["category"]),
        )
        facts = (Fact("bank", f["bank_account"], event.store_id, f["owner_id"]),)
    elif event.type == "order":
        value_cny = f["unit_price"] * f["quantity"]
        status = f["status"]
        if status == "placed":
            deltas = {_SALES: float(value_cny), _PLACED: 1.0}
            if local_hour(event.ts_s, utc_offset_s) in NIGHT_HOURS:
                deltas[_NIGHT_SALES] = float(value_cny)
            round_share = roundness(value_cny)
            if round_share:
                deltas[_ROUND_SALES] = float(value_cny) * round_share
            times = _SALE
            sku, price, units = f["sku"], f["unit_price"], f["quantity"]
            placed, buyer = f["order_id"], f["buyer_id"]
        elif status == "cancelled":
            deltas = {_CANCELLED: float(value_cny)}
        elif status == "shipped":
            deltas = {_SHIPPED: 1.0}
            times = _SHIPMENT
        else:
            deltas = {_DELIVERED: 1.0}
        if f.get("tracking_no"):
            # members are buyers, not orders: one buyer's orders merged into one parcel share a
            # number honestly; a number shared by several buyers or stores is the oddity
            facts = (Fact("trk", f["tracking_no"], f["buyer_id"], event.store_id),)
    elif event.type == "price":
        sku = f["sku"]
        if f["new_price"] < f["old_price"]:
            deltas = {_PRICE_CUTS: 1.0}
            times = _PRICE_CUT
    elif event.type == "refund":
        deltas = {METRIC_INDEX[f"refund_{f['reason']}_cny"]: float(f["amount"])}
        refund_of = f["order_id"]
        if f["reason"] == "price_protection":
            deltas[_CLAIMS] = 1.0
            facts = (Fact("claim", f["buyer_id"], event.store_id),)
    elif event.type == "withdrawal":
        deltas = {_WITHDRAWN: float(f["amount"]), _WITHDRAWALS: 1.0}
        # first use of each payout account: "never used before" and rotation across accounts
        times = (*_ACTIVE, (">", "last_withdrawal_ts"), ("<", f"acct:{f['bank_account']}"))
        facts = (Fact("bank", f["bank_account"], event.store_id),)
    return StateUpdate(
        event.store_id,
        event.type,
        event.ts_s,
        deltas,
        times,
        sets,
        sku,
        price,
        units,
        facts,
        event.event_id,
        placed,
        refund_of,
        buyer,
    )
