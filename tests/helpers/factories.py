"""Builders of contract events for tests: readable defaults, override what the test is about."""

from __future__ import annotations

import itertools
import json
from typing import Any

from stream.core.records import format_ts

T0 = 1_709_251_200.0  # 2024-03-01T00:00:00Z
HOUR = 3600.0
DAY = 86400.0
_ids = itertools.count()


def _event(kind: str, store_id: str, ts_s: float, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"{kind}-{next(_ids)}",
        "ts": format_ts(ts_s),
        "store_id": store_id,
        **fields,
    }


def store(
    store_id: str, ts_s: float, deposit: float = 1000.0, bank: str = "bank-1", **extra: Any
) -> dict[str, Any]:
    return _event(
        "store",
        store_id,
        ts_s,
        owner_id=f"owner-{store_id}",
        bank_account=bank,
        deposit=deposit,
        category="electronics",
        **extra,
    )


def order(
    store_id: str,
    ts_s: float,
    price: float = 100.0,
    qty: int = 1,
    sku: str = "sku-1",
    status: str = "placed",
    order_id: str | None = None,
    buyer: str = "buyer-1",
    tracking_no: str | None = None,
) -> dict[str, Any]:
    """An order event; a shipped or delivered one gets a tracking number of its own unless
    ``tracking_no`` names one (reused numbers are a fraud signal)."""
    shipped = status in ("shipped", "delivered")
    order_id = order_id or f"o-{next(_ids)}"
    return _event(
        "order",
        store_id,
        ts_s,
        order_id=order_id,
        buyer_id=buyer,
        sku=sku,
        unit_price=price,
        quantity=qty,
        status=status,
        tracking_no=(tracking_no or f"T-{order_id}") if shipped else None,
        courier="SF" if shipped else None,
    )


def price(store_id: str, ts_s: float, old: float, new: float, sku: str = "sku-1") -> dict[str, Any]:
    return _event("price", store_id, ts_s, sku=sku, old_price=old, new_price=new)


def refund(
    store_id: str,
    ts_s: float,
    amount: float,
    reason: str = "price_protection",
    order_id: str = "o-x",
    buyer: str = "buyer-1",
) -> dict[str, Any]:
    return _event(
        "refund",
        store_id,
        ts_s,
        refund_id=f"r-{next(_ids)}",
        order_id=order_id,
        buyer_id=buyer,
        amount=amount,
        reason=reason,
    )


def withdrawal(store_id: str, ts_s: float, amount: float, bank: str = "bank-1") -> dict[str, Any]:
    return _event(
        "withdrawal",
        store_id,
        ts_s,
        withdrawal_id=f"w-{next(_ids)}",
        amount=amount,
        bank_account=bank,
    )


def raw(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode()
