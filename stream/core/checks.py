"""The full checks of an input message: every refusal worded with what was expected and what
arrived, and the fast path for a decoded dict that must agree with them."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from stream.core.contract import (
    COMMON_FIELDS,
    FIELDS_BY_TYPE,
    MAX_AMOUNT_CNY,
    MAX_EVENT_BYTES,
    MAX_ID_CHARS,
    MAX_QUANTITY,
    MAX_TEXT_CHARS,
    MIN_TS_S,
    FieldSpec,
)
from stream.core.records import Event, InvalidEventError


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
