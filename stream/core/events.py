"""Input events and output alerts: the records, their JSON coding and their JSON Schemas.

The contract is written once, as the field tables below. The fast validator that every event
goes through and the JSON Schemas published in ``stream/schemas/`` are both derived from those
tables, so they cannot drift apart (``tests/test_events.py`` also runs the published schema
through the ``jsonschema`` library on good and bad events and checks it agrees).

Faust's own ``Record`` classes are not used for input: the agents consume raw bytes so that a
bad message can be dead-lettered with its original bytes and reason instead of failing inside
Faust's deserializer, which would ack and lose it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, NamedTuple, Union

import msgspec

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


class InvalidEventError(ValueError):
    """An input message that cannot become an Event: dead-lettered and counted, never retried.

    ``reason`` is a short stable code (a metric label); the message says what was expected and
    what arrived.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"invalid event ({reason}): {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Event:
    """A validated input event. ``ts_s`` is its event time in epoch seconds (UTC)."""

    type: str
    event_id: str
    store_id: str
    ts_s: float
    fields: dict[str, Any]

    def money(self, name: str) -> float:
        return float(self.fields[name])


@dataclass(frozen=True, slots=True)
class Alert:
    """A verdict that a store behaves like a fraud scheme, with the numbers that say why.

    ``alert_id`` depends only on the store, the detector and the triggering event, so a
    re-processed event yields the same id and downstream readers can drop duplicates.
    """

    alert_id: str
    store_id: str
    detector: str
    severity: str
    score: float
    ts: str
    event_id: str
    reasons: list[str]
    features: dict[str, float]
    detected_at: str
    schema_version: int = SCHEMA_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "alert_id": self.alert_id,
            "store_id": self.store_id,
            "detector": self.detector,
            "severity": self.severity,
            "score": self.score,
            "ts": self.ts,
            "event_id": self.event_id,
            "reasons": list(self.reasons),
            "features": dict(self.features),
            "detected_at": self.detected_at,
            "schema_version": self.schema_version,
        }
        data.update(self.extra)
        return data

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()


# --------------------------------------------------------------------------- time


def format_ts(ts_s: float) -> str:
    """ISO 8601 UTC with milliseconds, the contract's form.

    >>> format_ts(1709294400.0)
    '2024-03-01T12:00:00.000Z'
    """
    return datetime.fromtimestamp(ts_s, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_ts_s(value: Any) -> float:
    """Epoch seconds from ISO 8601 UTC (``...Z`` or ``+00:00``) or from epoch seconds.

    The usual value, an ISO string in UTC after 2000, costs one C parse and one C conversion;
    anything else goes through ``_checked_ts_s``, which also words every refusal.

    >>> parse_ts_s("2024-03-01T12:00:00.000Z"), parse_ts_s(1709294400)
    (1709294400.0, 1709294400.0)
    """
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass  # refused below, with its message
        else:
            # fromisoformat gives the UTC singleton for both Z and +00:00; a datetime's
            # timestamp is always finite
            if parsed.tzinfo is UTC and (ts_s := parsed.timestamp()) >= MIN_TS_S:
                return ts_s
    return _checked_ts_s(value)


def _checked_ts_s(value: Any) -> float:
    """``parse_ts_s`` with every check spelled out: the reference its fast path must agree with."""
    if isinstance(value, bool):
        raise InvalidEventError(
            "bad_ts", f"ts must be ISO 8601 UTC or epoch seconds, got {value!r}"
        )
    if isinstance(value, int | float):
        ts_s = float(value)
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidEventError("bad_ts", f"ts {value[:40]!r} is not ISO 8601") from None
        if parsed.tzinfo is None or parsed.utcoffset() != UTC.utcoffset(None):
            raise InvalidEventError("bad_ts", f"ts {value[:40]!r} must be in UTC (end with Z)")
        ts_s = parsed.timestamp()
    else:
        raise InvalidEventError(
            "bad_ts", f"ts must be ISO 8601 UTC or epoch seconds, got {value!r}"
        )
    if not math.isfinite(ts_s) or ts_s < MIN_TS_S:
        raise InvalidEventError("bad_ts", f"ts {value!r} is before 2000-01-01 or not finite")
    return ts_s


# --------------------------------------------------------------------------- parsing


def _check_field(spec: FieldSpec, value: Any, event_type: str) -> Any:
    """The value a field keeps (counts as int, money as float), or why it is refused."""
    # the common case first and with no work beyond the checks
    kind = spec.kind
    if kind in ("id", "text") and value.__class__ is str:
        if not value or len(value) > (MAX_ID_CHARS if kind == "id" else MAX_TEXT_CHARS):
            limit = MAX_ID_CHARS if kind == "id" else MAX_TEXT_CHARS
            raise InvalidEventError(
                "bad_value", f"{event_type}.{spec.name} must have 1 to " f"{limit} characters"
            )
        if spec.choices and value not in spec.choices:
            raise InvalidEventError(
                f"unknown_{spec.name}",
                f"{event_type}.{spec.name} must be one of "
                f"{list(spec.choices)}, got {value!r:.40}",
            )
        return value
    where = f"{event_type}.{spec.name}"
    if value is None:
        if spec.nullable:
            return None
        raise InvalidEventError("missing_field", f"{where} is required, got null")
    if kind in ("id", "text"):
        raise InvalidEventError("wrong_type", f"{where} must be a string, got {value!r:.40}")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEventError("wrong_type", f"{where} must be a number, got {value!r:.40}")
    if not math.isfinite(value):
        raise InvalidEventError("not_finite", f"{where} must be finite, got {value!r}")
    if kind == "count":
        if value != int(value) or not 1 <= value <= MAX_QUANTITY:
            raise InvalidEventError(
                "bad_amount",
                f"{where} must be a whole number from 1 to {MAX_QUANTITY}, got {value!r}",
            )
        return int(value)
    if not 0 <= value <= MAX_AMOUNT_CNY:
        raise InvalidEventError(
            "bad_amount", f"{where} must lie between 0 and {MAX_AMOUNT_CNY:.0f} CNY, got {value!r}"
        )
    return float(value)


def _checked_event(data: dict[str, Any], event_type: str) -> Event:
    """``event_from_dict`` with every check spelled out, in the contract's order (so an event
    with two faults is refused for the first): the reference its fast path must agree with."""
    if "ts" not in data:
        raise InvalidEventError("missing_field", f"{event_type}.ts is required")
    common = {}
    for spec in COMMON_FIELDS:
        if spec.name not in data:
            raise InvalidEventError("missing_field", f"{event_type}.{spec.name} is required")
        common[spec.name] = _check_field(spec, data[spec.name], event_type)
    fields: dict[str, Any] = {}
    for spec in FIELDS_BY_TYPE[event_type]:
        if spec.name not in data:
            if not spec.nullable:
                raise InvalidEventError("missing_field", f"{event_type}.{spec.name} is required")
            fields[spec.name] = None
            continue
        fields[spec.name] = _check_field(spec, data[spec.name], event_type)
    return Event(
        type=event_type,
        event_id=common["event_id"],
        store_id=common["store_id"],
        ts_s=parse_ts_s(data["ts"]),
        fields=fields,
    )


class _UsualShape(NamedTuple):
    """What a valid event of one type usually looks like, its field table regrouped by check
    so that the fast path sweeps each group with one tight loop."""

    names: tuple[str, ...]  # the type's own fields, in contract order
    strings: tuple[tuple[str, int, tuple[str, ...]], ...]  # name, max chars, choices (or none)
    nullable_strings: tuple[tuple[str, int], ...]  # name, max chars
    numbers: tuple[tuple[str, type, float, float], ...]  # name, exact type, min, max


def _usual_shape(specs: tuple[FieldSpec, ...]) -> _UsualShape:
    max_chars: dict[str, int] = {"id": MAX_ID_CHARS, "text": MAX_TEXT_CHARS}
    number: dict[str, tuple[type, float, float]] = {
        "money": (float, 0.0, MAX_AMOUNT_CNY),
        "count": (int, 1, MAX_QUANTITY),
    }
    return _UsualShape(
        names=tuple(spec.name for spec in specs),
        strings=tuple(
            (spec.name, max_chars[spec.kind], spec.choices)
            for spec in specs
            if spec.kind in max_chars and not spec.nullable
        ),
        nullable_strings=tuple(
            (spec.name, max_chars[spec.kind])
            for spec in specs
            if spec.kind in max_chars and spec.nullable
        ),
        # a kind of neither table fails here, at import, rather than pass unchecked
        numbers=tuple(
            (spec.name, *number[spec.kind]) for spec in specs if spec.kind not in max_chars
        ),
    )


_USUAL_SHAPES: Final = {
    event_type: _usual_shape(specs) for event_type, specs in FIELDS_BY_TYPE.items()
}


def _usual_fields(data: dict[str, Any], shape: _UsualShape) -> dict[str, Any] | None:
    """An event's own fields if each value is already what ``_check_field`` would return for it
    (an exact str, float or int within bounds, or an allowed null); otherwise None, and
    ``_checked_event`` decides. Nothing is converted, so both paths give the same values."""
    try:
        fields = {name: data[name] for name in shape.names}
    except KeyError:  # a nullable field may be absent: rare, left to the full checks
        return None
    for name, max_chars, choices in shape.strings:
        value = fields[name]
        if type(value) is not str or not 0 < len(value) <= max_chars:
            return None
        if choices and value not in choices:
            return None
    for name, max_chars in shape.nullable_strings:
        value = fields[name]
        if value is not None and (type(value) is not str or not 0 < len(value) <= max_chars):
            return None
    for name, exact_type, low, high in shape.numbers:
        value = fields[name]
        if type(value) is not exact_type or not low <= value <= high:  # type: ignore[operator]  # nan is not in bounds
            return None
    return fields


def _is_usual_id(value: Any) -> bool:
    return type(value) is str and 0 < len(value) <= MAX_ID_CHARS


def event_from_dict(data: Any) -> Event:
    """Validate a decoded JSON value against the contract and build the Event.

    A fast path accepts the usual valid event, whose values need no conversion; any doubt
    (a missing optional field, an int amount, a bad value) sends the event through
    ``_checked_event``, which converts what it may and words the refusal.
    """
    if not isinstance(data, dict):
        raise InvalidEventError(
            "not_object", f"an event must be a JSON object, got {type(data).__name__}"
        )
    event_type = data.get("type")
    shape = (
        _USUAL_SHAPES.get(event_type) if isinstance(event_type, str) else None
    )  # [] is unhashable
    if shape is None:
        raise InvalidEventError(
            "unknown_type", f"type must be one of {list(FIELDS_BY_TYPE)}, got {event_type!r:.40}"
        )
    # only JSON's own dicts: a subclass's __missing__ would see lookups the full checks skip
    if type(data) is dict and "ts" in data:
        event_id = data.get("event_id")
        store_id = data.get("store_id")
        if _is_usual_id(event_id) and _is_usual_id(store_id):
            fields = _usual_fields(data, shape)
            if fields is not None:
                return Event(event_type, event_id, store_id, parse_ts_s(data["ts"]), fields)  # type: ignore[arg-type]
    return _checked_event(data, event_type)  # type: ignore[arg-type]


def _refuse_constant(name: str) -> Any:
    raise InvalidEventError("not_finite", f"{name} is not a number JSON allows")


# The C scanner behind json.loads, built once with the decoder's settings.
_SCAN_JSON: Final = json.JSONDecoder(parse_constant=_refuse_constant).scan_once  # type: ignore[attr-defined]


def _decode_json(text: str) -> Any:
    """``json.loads(text, parse_constant=_refuse_constant)``, faster for the usual message.

    ``json.loads`` with an argument builds a new decoder per call, and the decoder runs a
    whitespace regex before and after the value. A message whose value starts at its first
    character and ends at its last needs neither, so the scanner alone decodes it; anything
    else (whitespace around the value, extra data, a BOM, no value) goes through ``json.loads``,
    which decodes it or words the error. A value that is bad halfway raises from the scanner
    exactly as it would inside ``json.loads``, which scans from the same first character.
    """
    if type(text) is str:
        try:
            data, end = _SCAN_JSON(text, 0)
        except StopIteration:  # no value at the first character
            pass
        else:
            if end == len(text):
                return data
    return json.loads(text, parse_constant=_refuse_constant)


# The usual valid event, decoded and validated in one C pass: one msgspec Struct per event type,
# derived from the field tables like everything else, whose constraints accept a subset of
# what the full checks accept, with the same values (money as float, counts as exact ints,
# an absent nullable field as None). Anything msgspec refuses (bad JSON, a wrong type, a count
# written 2.0, a duplicate type key, a BOM) goes through the full checks, which decode it
# with ``json.loads``, convert what they may and word the refusal: the reasons and their
# wording are those of the full checks alone. A Struct ignores unknown fields, as the contract does.
_COMMON_NAMES: Final = ("event_id", "store_id", "ts")


def _typed_field(spec: FieldSpec) -> tuple[str, Any] | tuple[str, Any, Any]:
    kind: Any
    if spec.kind in ("id", "text"):
        limit = MAX_ID_CHARS if spec.kind == "id" else MAX_TEXT_CHARS
        kind = (
            Literal[spec.choices]
            if spec.choices
            else Annotated[str, msgspec.Meta(min_length=1, max_length=limit)]
        )
    elif spec.kind == "count":
        kind = Annotated[int, msgspec.Meta(ge=1, le=MAX_QUANTITY)]
    elif spec.kind == "money":
        kind = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_AMOUNT_CNY)]
    else:  # a kind the fast path does not know fails here, at import, rather than pass unchecked
        raise ValueError(f"field {spec.name!r} has kind {spec.kind!r}, which the decoder lacks")
    return (spec.name, kind | None, None) if spec.nullable else (spec.name, kind)


def _typed_struct(event_type: str, specs: tuple[FieldSpec, ...]) -> type[msgspec.Struct]:
    # the type's own fields first, in contract order, then the common ones: ``asdict`` then
    # gives the Event's fields in the order the full checks give them, after three pops
    own = [_typed_field(spec) for spec in specs]
    common = [_typed_field(spec) for spec in COMMON_FIELDS] + [("ts", str | int | float)]
    return msgspec.defstruct(
        f"Typed{event_type.title()}", own + common, kw_only=True, tag_field="type", tag=event_type
    )


_TYPED_STRUCTS: Final = tuple(_typed_struct(t, specs) for t, specs in FIELDS_BY_TYPE.items())
_TYPED_DECODER: Final = msgspec.json.Decoder(Union[_TYPED_STRUCTS])  # noqa: UP007 (a runtime tuple of types)
_as_dict: Final = msgspec.structs.asdict


def parse_event(raw: bytes | str) -> Event:
    """Decode and validate one message; raise InvalidEventError saying why it is refused.

    The usual valid event costs one msgspec decode; anything else goes through
    ``parse_event_checked``, which decides alone what is refused and why.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEventError("oversize", f"{len(raw)} bytes, the limit is {MAX_EVENT_BYTES}")
    try:
        typed = _TYPED_DECODER.decode(raw)
    except (msgspec.MsgspecError, ValueError, RecursionError):  # bad UTF-8 is a ValueError
        return parse_event_checked(raw)
    fields = _as_dict(typed)
    ts = fields.pop("ts")
    store_id = fields.pop("store_id")
    event_id = fields.pop("event_id")
    return Event(typed.__struct_config__.tag, event_id, store_id, parse_ts_s(ts), fields)


def parse_event_checked(raw: bytes | str) -> Event:
    """``parse_event`` without its msgspec pass: the reference it must agree with."""
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidEventError("oversize", f"{len(raw)} bytes, the limit is {MAX_EVENT_BYTES}")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidEventError("bad_utf8", f"not UTF-8 at byte {exc.start}") from None
    try:
        data = _decode_json(raw)
    except json.JSONDecodeError as exc:
        raise InvalidEventError("not_json", f"{exc.msg} at char {exc.pos}") from None
    except RecursionError:
        raise InvalidEventError("not_json", "nested too deeply") from None
    return event_from_dict(data)


def event_to_dict(event: Event) -> dict[str, Any]:
    """The contract's JSON object for an Event (ts in ISO form)."""
    return {
        "type": event.type,
        "event_id": event.event_id,
        "ts": format_ts(event.ts_s),
        "store_id": event.store_id,
        **event.fields,
    }


# --------------------------------------------------------------------------- schemas


def _field_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind in ("id", "text"):
        limit = MAX_ID_CHARS if spec.kind == "id" else MAX_TEXT_CHARS
        schema = {"type": "string", "minLength": 1, "maxLength": limit}
        if spec.choices:
            schema["enum"] = list(spec.choices)
    elif spec.kind == "count":
        schema = {"type": "integer", "minimum": 1, "maximum": MAX_QUANTITY}
    else:
        schema = {"type": "number", "minimum": 0, "maximum": MAX_AMOUNT_CNY}
    if spec.nullable:
        schema = {"anyOf": [schema, {"type": "null"}]}
    if spec.description:
        schema["description"] = spec.description
    return schema


def event_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the input contract, derived from the field tables."""
    ts_schema = {
        "description": "Event time: ISO 8601 UTC with Z (2024-03-01T12:00:00.000Z) or epoch seconds.",
        "anyOf": [
            {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$"},
            {"type": "number", "minimum": MIN_TS_S},
        ],
    }
    variants = []
    for event_type, specs in FIELDS_BY_TYPE.items():
        all_specs = COMMON_FIELDS + specs
        properties: dict[str, Any] = {"type": {"const": event_type}, "ts": ts_schema}
        properties.update({spec.name: _field_schema(spec) for spec in all_specs})
        required = ["type", "ts"] + [spec.name for spec in all_specs if not spec.nullable]
        variants.append(
            {
                "title": event_type,
                "type": "object",
                "properties": properties,
                "required": required,
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://storewatch.example/schemas/event.schema.json",
        "title": "Storewatch input event",
        "description": "One JSON object per Kafka message (and per line of a .jsonl file). "
        "Unknown extra fields are allowed and ignored.",
        "oneOf": variants,
    }
