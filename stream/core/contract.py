"""The input contract written once, as field tables: the fields of each event type, their bounds,
and every reason a message is refused.

The fast validator that every event goes through (``stream.core.checks``, ``stream.core.events``)
and the JSON Schemas published in ``stream/schemas/`` (``stream.core.event_schema``) are all
derived from these tables, so they cannot drift apart (``tests/test_events.py`` also runs the
published schema through the ``jsonschema`` library on good and bad events and checks it agrees).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal

SCHEMA_VERSION: Final = 1
MAX_EVENT_BYTES: Final = 16 * 1024
MAX_AMOUNT_CNY: Final = 100_000_000.0
MAX_QUANTITY: Final = 100_000
# Event times before this are refused: no marketplace event predates it.
MIN_TS_S: Final = datetime(2000, 1, 1, tzinfo=UTC).timestamp()

# Event times further ahead of the wall clock than this are refused: a producer's clock error.
MAX_FUTURE_S: Final = 86400.0

# Every reason a message can be refused for (the state adds late, duplicate and unknown_order;
# the engine detector_error).
REJECT_REASONS: Final = (
    "not_json",
    "not_object",
    "bad_utf8",
    "oversize",
    "unknown_type",
    "missing_field",
    "wrong_type",
    "not_finite",
    "bad_amount",
    "bad_value",
    "bad_ts",
    "unknown_status",
    "unknown_reason",
    "wrong_topic",
    "late",
    "duplicate",
    "unknown_order",
    "detector_error",
)

EventType = Literal["store", "order", "price", "refund", "withdrawal"]
ORDER_STATUSES: Final = ("placed", "shipped", "delivered", "cancelled")
REFUND_REASONS: Final = ("price_protection", "not_received", "return", "other")
SEVERITIES: Final = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the contract: its JSON type and the bounds a valid value respects."""

    name: str
    kind: Literal["id", "text", "money", "count"]
    nullable: bool = False
    choices: tuple[str, ...] = ()
    description: str = ""


COMMON_FIELDS: Final = (
    FieldSpec("event_id", "id", description="Unique id of the event; replays reuse it."),
    FieldSpec("store_id", "id", description="The store the event belongs to; the Kafka key."),
)

FIELDS_BY_TYPE: Final[dict[str, tuple[FieldSpec, ...]]] = {
    "store": (
        FieldSpec("owner_id", "id", description="Account that opened the store."),
        FieldSpec("bank_account", "id", description="Registered payout account."),
        FieldSpec("deposit", "money", description="Deposit paid at opening, CNY."),
        FieldSpec("category", "text", description="Main category of goods."),
    ),
    "order": (
        FieldSpec("order_id", "id"),
        FieldSpec("buyer_id", "id"),
        FieldSpec("sku", "id"),
        FieldSpec("unit_price", "money", description="CNY per unit."),
        FieldSpec("quantity", "count"),
        FieldSpec(
            "status",
            "text",
            choices=ORDER_STATUSES,
            description="One event per status change of the same order_id.",
        ),
        FieldSpec("tracking_no", "text", nullable=True, description="Null until shipped."),
        FieldSpec("courier", "text", nullable=True, description="Null until shipped."),
    ),
    "price": (
        FieldSpec("sku", "id"),
        FieldSpec("old_price", "money", description="CNY."),
        FieldSpec("new_price", "money", description="CNY."),
    ),
    "refund": (
        FieldSpec("refund_id", "id"),
        FieldSpec("order_id", "id"),
        FieldSpec("buyer_id", "id"),
        FieldSpec("amount", "money", description="CNY refunded."),
        FieldSpec("reason", "text", choices=REFUND_REASONS),
    ),
    "withdrawal": (
        FieldSpec("withdrawal_id", "id"),
        FieldSpec("amount", "money", description="CNY paid out."),
        FieldSpec("bank_account", "id", description="Account the money goes to."),
    ),
}

MAX_ID_CHARS: Final = 128
MAX_TEXT_CHARS: Final = 256
